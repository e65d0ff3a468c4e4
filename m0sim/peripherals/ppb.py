"""The Cortex-M0+ NVIC and SCB registers (ARMv6-M B3.2, B3.4): the register view of m0sim.exceptions' state.

Both read and write the exception state object they are given (`Exceptions`: pending, active, enabled,
priorities, VTOR) and ask it to reschedule after a write; the machine puts them on its bus.
"""

from m0sim import memmap

# Exception numbers (ARMv6-M B1.5.2) the registers address.
HARDFAULT, SVCALL, PENDSV, SYSTICK = 3, 11, 14, 15
IRQ0 = 16
N_IRQS = 32
ICSR_PENDSVSET, ICSR_PENDSVCLR, ICSR_PENDSTSET, ICSR_PENDSTCLR = 1 << 28, 1 << 27, 1 << 26, 1 << 25


class Nvic:
    """NVIC registers (ARMv6-M B3.4): ISER, ICER, ISPR, ICPR at 0xE000E100/180/200/280, IPR0-7 at 0xE000E400."""

    name = "NVIC"
    base = memmap.NVIC_BASE
    size = 0x400

    def __init__(self, exc):
        self.exc = exc

    def _pending_bits(self) -> int:
        return sum(1 << (n - IRQ0) for n in self.exc.pending if n >= IRQ0)

    def read32(self, off: int) -> int:
        e = self.exc
        if off in (0x000, 0x080):
            return e.enabled
        if off in (0x100, 0x180):
            return self._pending_bits()
        if 0x300 <= off < 0x320:
            first = (off - 0x300)
            return sum((e.irq_priority[first + k] << 6) << (8 * k) for k in range(4))
        return 0

    def write32(self, off: int, value: int) -> None:
        e = self.exc
        if off == 0x000:
            e.enabled |= value
        elif off == 0x080:
            e.enabled &= ~value
        elif off == 0x100:
            e.pending |= {IRQ0 + k for k in range(N_IRQS) if value >> k & 1}
        elif off == 0x180:
            e.pending -= {IRQ0 + k for k in range(N_IRQS) if value >> k & 1}
        elif 0x300 <= off < 0x320:
            first = off - 0x300
            for k in range(4):
                e.irq_priority[first + k] = (value >> (8 * k + 6)) & 3
        e.reschedule()


class Scb:
    """System control block (ARMv6-M B3.2): CPUID, ICSR, VTOR, AIRCR, SCR, CCR, SHPR2, SHPR3 at 0xE000ED00."""

    name = "SCB"
    base = memmap.SCB_BASE
    size = 0x40

    def __init__(self, exc):
        self.exc = exc

    def read32(self, off: int) -> int:
        e = self.exc
        if off == 0x00:
            return memmap.CORTEX_M0PLUS_CPUID
        if off == 0x04:
            active = e.active[-1] if e.active else 0
            pend = [n for n in e.pending]
            return (active | (max(pend, default=0) << 12) | (ICSR_PENDSVSET if PENDSV in e.pending else 0)
                    | (ICSR_PENDSTSET if SYSTICK in e.pending else 0))
        if off == 0x08:
            return e.vtor
        if off == 0x0C:
            return 0xFA050000
        if off == 0x1C:
            return e.shpr2
        if off == 0x20:
            return e.shpr3
        return 0

    def write32(self, off: int, value: int) -> None:
        e = self.exc
        if off == 0x04:
            if value & ICSR_PENDSVSET:
                e.pending.add(PENDSV)
            if value & ICSR_PENDSVCLR:
                e.pending.discard(PENDSV)
            if value & ICSR_PENDSTSET:
                e.pending.add(SYSTICK)
            if value & ICSR_PENDSTCLR:
                e.pending.discard(SYSTICK)
        elif off == 0x08:
            e.vtor = value & 0xFFFFFF00
        elif off == 0x1C:
            e.shpr2 = value & 0xC0000000
        elif off == 0x20:
            e.shpr3 = value & 0xC0C00000
        e.reschedule()
