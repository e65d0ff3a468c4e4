"""RP2040 TIMER: a 64-bit microsecond counter, derived from the emulated cycle count."""

from m0sim import memmap

TIMEHW, TIMELW, TIMEHR, TIMELR = 0x00, 0x04, 0x08, 0x0C
TIMERAWH, TIMERAWL = 0x24, 0x28


class Timer:
    name = "TIMER"
    base = memmap.TIMER_BASE
    size = 0x44

    def __init__(self, clocked):
        self.clocked = clocked
        self.offset_us = 0
        self._latched_high = 0
        self._pending_low = 0

    def now_us(self) -> int:
        return (self.clocked.cycles() * 1_000_000 // self.clocked.hz + self.offset_us) & (2**64 - 1)

    def read32(self, off: int) -> int:
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
        if off == TIMELW:
            self._pending_low = value
        elif off == TIMEHW:  # writing the high half commits both
            target = (value << 32) | self._pending_low
            self.offset_us += target - self.now_us()
