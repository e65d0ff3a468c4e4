"""Cortex-M0+ SysTick, counting clk_sys."""

from m0sim import memmap

CSR, RVR, CVR, CALIB = 0x0, 0x4, 0x8, 0xC


class SysTick:
    name = "SysTick"
    read_side_effects = {CSR: "reading clears COUNTFLAG"}  # what a debugger must not read (m0sim.gdbtarget)
    base = memmap.SYSTICK_BASE
    size = 0x10

    def __init__(self, clocked):
        self.clocked = clocked
        self.enabled = False
        self.reload = 0
        self.ctrl = 0
        self.start = 0  # cycle at which the counter last (re)started from 0
        self.frozen = 0  # value while disabled
        self.wraps_seen = 0
        self.on_change = None  # m0sim.exceptions: reschedule the SysTick interrupt after a register write

    def _elapsed(self) -> int:
        return self.clocked.cycles() - self.start

    def _value(self) -> int:
        if not self.enabled:
            return self.frozen
        e = self._elapsed()
        if e == 0:
            return self.frozen
        return self.reload - (e - 1) % (self.reload + 1)

    def _wraps(self) -> int:
        return (self._elapsed() + self.reload) // (self.reload + 1) if self.enabled else 0

    def read32(self, off: int) -> int:
        if off == CSR:
            wraps = self._wraps()
            flag = wraps > self.wraps_seen
            self.wraps_seen = wraps  # COUNTFLAG clears on read
            return (self.ctrl & 0x7) | (int(flag) << 16)
        if off == RVR:
            return self.reload
        if off == CVR:
            return self._value()
        if off == CALIB:
            return 1 << 31  # NOREF: no reference clock
        return 0

    def write32(self, off: int, value: int) -> None:
        if off == CSR:
            was = self.enabled
            self.ctrl = value & 0x7
            self.enabled = bool(value & 1)
            if self.enabled and not was:
                self.start, self.wraps_seen = self.clocked.cycles(), 0
            elif was and not self.enabled:
                self.frozen = self._value()
        elif off == RVR:
            self.reload = value & 0xFFFFFF
        elif off == CVR:  # any write clears the counter and COUNTFLAG
            self.frozen = 0
            self.start, self.wraps_seen = self.clocked.cycles(), 0
        if self.on_change is not None:
            self.on_change()

