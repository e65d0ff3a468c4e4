"""RP2040 SIO: CPUID and the hardware divider (result ready 8 cycles after an operand write)."""

from m0sim import memmap

CPUID = 0x000
DIV_UDIVIDEND, DIV_UDIVISOR, DIV_SDIVIDEND, DIV_SDIVISOR = 0x060, 0x064, 0x068, 0x06C
DIV_QUOTIENT, DIV_REMAINDER, DIV_CSR = 0x070, 0x074, 0x078
DIVIDER_LATENCY = 8


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


class Sio:
    name = "SIO"
    read_side_effects = {DIV_QUOTIENT: "reading clears the divider's DIRTY flag"}  # (m0sim.gdbtarget)
    base = memmap.SIO.base
    size = memmap.SIO.size

    def __init__(self, clocked):
        self.clocked = clocked
        self.dividend = 0
        self.divisor = 0
        self.signed = False
        self.quotient = 0
        self.remainder = 0
        self.started = -DIVIDER_LATENCY
        self.dirty = False

    def _compute(self):
        n, d = self.dividend, self.divisor
        if self.signed:
            n, d = _s32(n), _s32(d)
            if d == 0:
                q, r = (-1 if n >= 0 else 1), n
            else:
                q = abs(n) // abs(d) * (1 if (n >= 0) == (d >= 0) else -1)  # C truncation
                r = n - q * d
        else:
            q, r = (0xFFFFFFFF, n) if d == 0 else (n // d, n % d)
        self.quotient, self.remainder = q & 0xFFFFFFFF, r & 0xFFFFFFFF
        self.started = self.clocked.cycles()
        self.dirty = True

    def read32(self, off: int) -> int:
        if off == CPUID:
            return 0  # core 0
        if off == DIV_QUOTIENT:
            self.dirty = False
            return self.quotient
        if off == DIV_REMAINDER:
            return self.remainder
        if off == DIV_CSR:
            ready = self.clocked.cycles() - self.started >= DIVIDER_LATENCY
            return int(ready) | (int(self.dirty) << 1)
        if off in (DIV_UDIVIDEND, DIV_SDIVIDEND):
            return self.dividend
        if off in (DIV_UDIVISOR, DIV_SDIVISOR):
            return self.divisor
        return 0

    def write32(self, off: int, value: int) -> None:
        if off in (DIV_UDIVIDEND, DIV_SDIVIDEND):
            self.dividend, self.signed = value, off == DIV_SDIVIDEND
            self._compute()
        elif off in (DIV_UDIVISOR, DIV_SDIVISOR):
            self.divisor, self.signed = value, off == DIV_SDIVISOR
            self._compute()
        elif off == DIV_QUOTIENT:
            self.quotient, self.dirty = value, True
        elif off == DIV_REMAINDER:
            self.remainder, self.dirty = value, True
