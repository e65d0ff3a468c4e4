"""RP2040 TIMER: a 64-bit microsecond counter, derived from the emulated cycle count, and its four alarms.

An alarm fires when the counter's low 32 bits reach ALARMn: INTR bit n is set and the alarm disarms
(datasheet 4.6). The state is brought up to date lazily, whenever a register is read or written;
m0sim.exceptions asks `next_alarm_cycle` when to stop the run for an alarm whose interrupt is enabled and
raises TIMER_IRQ_n (IRQ n) from `irq_lines`.
"""

from m0sim import memmap

TIMEHW, TIMELW, TIMEHR, TIMELR = 0x00, 0x04, 0x08, 0x0C
TIMERAWH, TIMERAWL = 0x24, 0x28
ALARM0, ARMED, INTR, INTE, INTF, INTS = 0x10, 0x20, 0x34, 0x38, 0x3C, 0x40
N_ALARMS = 4


class Timer:
    name = "TIMER"
    read_side_effects = {TIMELR: "reading latches TIMEHR"}  # what a debugger must not read (m0sim.gdbtarget)
    base = memmap.TIMER_BASE
    size = 0x44

    def __init__(self, clocked):
        self.clocked = clocked
        self.offset_us = 0
        self._latched_high = 0
        self._pending_low = 0
        self.alarms = [0] * N_ALARMS
        self._armed_at = [0] * N_ALARMS  # the microsecond each alarm was armed: it fires at the next match
        self.armed = 0
        self.intr = self.inte = self.intf = 0
        self.on_change = None  # m0sim.exceptions: re-evaluate the interrupt lines and the next alarm

    def _alarm_us(self, n: int, now: int) -> int:
        """The first microsecond >= now whose low 32 bits equal ALARMn."""
        return now + ((self.alarms[n] - now) & 0xFFFFFFFF)

    def _cycle_of_us(self, us: int) -> int:
        return -((-(us - self.offset_us) * self.clocked.hz) // 1_000_000)  # ceil: first cycle at that microsecond

    def update(self):
        """Fire the armed alarms whose time has come."""
        now = self.now_us()
        for n in range(N_ALARMS):
            if self.armed >> n & 1 and self._alarm_us(n, self._armed_at[n]) <= now:
                self.armed &= ~(1 << n)
                self.intr |= 1 << n

    def next_alarm_cycle(self):
        """The cycle at which the next armed alarm with its interrupt enabled fires, or None."""
        cycles = [self._cycle_of_us(self._alarm_us(n, self._armed_at[n])) for n in range(N_ALARMS)
                  if self.armed >> n & 1 and self.inte >> n & 1]
        return min(cycles, default=None)

    def irq_lines(self) -> int:
        """TIMER_IRQ_0..3 as a bit mask: INTS = (INTR | INTF) & INTE."""
        return (self.intr | self.intf) & self.inte

    def now_us(self) -> int:
        return (self.clocked.cycles() * 1_000_000 // self.clocked.hz + self.offset_us) & (2**64 - 1)

    def read32(self, off: int) -> int:
        self.update()
        if ALARM0 <= off < ALARM0 + 4 * N_ALARMS:
            return self.alarms[(off - ALARM0) // 4]
        if off in (ARMED, INTR, INTE, INTF, INTS):
            return {ARMED: self.armed, INTR: self.intr, INTE: self.inte, INTF: self.intf,
                    INTS: self.irq_lines()}[off]
        t = self.now_us()
        if off == TIMELR:  # reading the low half latches the high half (datasheet 4.6.2)
            self._latched_high = t >> 32
            return t & 0xFFFFFFFF
        if off == TIMEHR:
            return self._latched_high
        if off == TIMERAWL:
            return t & 0xFFFFFFFF
        if off == TIMERAWH:
            return t >> 32
        return 0

    def write32(self, off: int, value: int) -> None:
        self.update()
        self._write(off, value)
        if self.on_change is not None:
            self.on_change()

    def _write(self, off: int, value: int) -> None:
        if ALARM0 <= off < ALARM0 + 4 * N_ALARMS:  # writing an alarm arms it
            n = (off - ALARM0) // 4
            self.alarms[n] = value
            self.armed |= 1 << n
            self._armed_at[n] = self.now_us()
        elif off == ARMED:  # write 1 to disarm
            self.armed &= ~value
        elif off == INTR:  # write 1 to clear
            self.intr &= ~value
        elif off == INTE:
            self.inte = value & 0xF
        elif off == INTF:
            self.intf = value & 0xF
        elif off == TIMELW:
            self._pending_low = value
        elif off == TIMEHW:  # writing the high half commits both
            target = (value << 32) | self._pending_low
            self.offset_us += target - self.now_us()
