"""RP2040 SIO (datasheet 2.3.1): one block both cores see at the same address, with per-core registers.

Per core (`Sio`, one on each core's bus): CPUID (0 or 1) and the hardware divider (result ready 8 cycles after an
operand write). Shared by the two cores (`SioShared`): the two inter-core FIFOs (8 words each way) with their
status bits and the SIO_IRQ_PROCn lines, and the 32 hardware spinlocks. A FIFO word written by one core is seen
by the other at once (the two cores advance in lockstep quanta: m0sim.dualcore).
"""

from collections import deque

from m0sim import memmap
from m0sim.errors import FirmwareFault
from m0sim.launch import Core1Boot

CPUID = 0x000
FIFO_ST, FIFO_WR, FIFO_RD = 0x050, 0x054, 0x058
SPINLOCK_ST = 0x05C
DIV_UDIVIDEND, DIV_UDIVISOR, DIV_SDIVIDEND, DIV_SDIVISOR = 0x060, 0x064, 0x068, 0x06C
DIV_QUOTIENT, DIV_REMAINDER, DIV_CSR = 0x070, 0x074, 0x078
SPINLOCK0 = 0x100
N_SPINLOCKS = 32
DIVIDER_LATENCY = 8
FIFO_DEPTH = 8
ST_VLD, ST_RDY, ST_WOF, ST_ROE = 1, 2, 4, 8  # FIFO_ST: RX not empty, TX not full, write-on-full, read-on-empty
SIO_IRQ_PROC = (15, 16)  # the NVIC line of each core's FIFO interrupt (datasheet 2.3.2, IRQ table)


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


class SioShared:
    """The SIO state both cores share: FIFOs (rx[n] is what core n reads), error flags, spinlocks.

    `on_fifo_irq(n, level)` is told core n's FIFO interrupt line after every change that can move it;
    `consumers[n]`, when set, takes
    the words written to core n's RX FIFO at once: core 1's bootrom wait loop (m0sim.launch), which answers the
    launch protocol and, on a machine that emulates core 0 alone, refuses the launch with a clear message
    (m0sim.soc.Pico installs its own, which starts core 1)."""

    def __init__(self):
        self.rx = (deque(), deque())
        self.wof = [False, False]
        self.roe = [False, False]
        self.locks = 0  # SPINLOCK_ST: bit n set while spinlock n is claimed
        self.consumers = [None, Core1Boot(echo=lambda word: self.push(1, word), signal=lambda: None,
                                          launch=_core0_alone)]
        self.on_fifo_irq = None
        self.on_push = None  # told (core written to) after every FIFO write: the lockstep loop's wake-up hint

    def irq_line(self, core: int) -> bool:
        """SIO_IRQ_PROCn: core n's RX FIFO holds data, or one of its error flags is set."""
        return bool(self.rx[core]) or self.wof[core] or self.roe[core]

    def status(self, core: int) -> int:
        other = 1 - core
        return ((ST_VLD if self.rx[core] else 0) | (ST_RDY if len(self.rx[other]) < FIFO_DEPTH else 0)
                | (ST_WOF if self.wof[core] else 0) | (ST_ROE if self.roe[core] else 0))

    def push(self, core: int, value: int):
        """Core `core` writes FIFO_WR: the word goes to the other core's RX FIFO (lost, with WOF set, when full)."""
        other = 1 - core
        if len(self.rx[other]) >= FIFO_DEPTH:
            self.wof[core] = True
            self._irq(core)
            return
        self.rx[other].append(value & 0xFFFFFFFF)
        if self.on_push is not None:
            self.on_push(other)
        consumer = self.consumers[other]
        if consumer is not None:
            while self.rx[other] and self.consumers[other] is consumer:
                consumer(self.rx[other].popleft())
        else:
            self._irq(other)

    def pop(self, core: int) -> int:
        if not self.rx[core]:
            self.roe[core] = True
            self._irq(core)
            return 0
        word = self.rx[core].popleft()
        self._irq(core)
        return word

    def clear_errors(self, core: int):
        self.wof[core] = self.roe[core] = False
        self._irq(core)

    def claim(self, n: int) -> int:
        """A read of SPINLOCKn: non-zero (1 << n) if the lock was free and is now claimed by the reader, else 0."""
        bit = 1 << n
        if self.locks & bit:
            return 0
        self.locks |= bit
        return bit

    def release(self, n: int):
        self.locks &= ~(1 << n)

    def _irq(self, core: int):
        if self.on_fifo_irq is not None:
            self.on_fifo_irq(core, self.irq_line(core))


def _core0_alone(_vtor, _sp, entry):
    raise FirmwareFault(f"the program launches core 1 (entry 0x{entry:08x}), but this machine emulates core 0 "
                        f"alone: run it with `m0sim exec` or m0sim.soc.Pico")


class Sio:
    """One core's view of SIO: its CPUID and divider, and the shared FIFOs and spinlocks."""

    name = "SIO"
    read_side_effects = {DIV_QUOTIENT: "reading clears the divider's DIRTY flag"}  # (m0sim.gdbtarget)
    base = memmap.SIO.base
    size = memmap.SIO.size

    def __init__(self, clocked, core: int = 0, shared: SioShared | None = None):
        self.clocked = clocked
        self.core = core
        self.shared = shared if shared is not None else SioShared()
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
            return self.core
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
        if off == FIFO_ST:
            return self.shared.status(self.core)
        if off == FIFO_RD:
            return self.shared.pop(self.core)
        if off == SPINLOCK_ST:
            return self.shared.locks
        if SPINLOCK0 <= off < SPINLOCK0 + 4 * N_SPINLOCKS:
            return self.shared.claim((off - SPINLOCK0) // 4)
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
        elif off == FIFO_WR:
            self.shared.push(self.core, value)
        elif off == FIFO_ST:  # any write clears WOF and ROE
            self.shared.clear_errors(self.core)
        elif SPINLOCK0 <= off < SPINLOCK0 + 4 * N_SPINLOCKS:
            self.shared.release((off - SPINLOCK0) // 4)
