"""The whole RP2040: core 0 (a `Machine`) and core 1, which shares its flash, SRAM, XIP cache, TIMER, SIO FIFOs and
spinlocks and has its own registers, NVIC, SCB, SysTick, exceptions and SIO divider.

Core 1 exists from reset and waits in the bootrom (m0sim.launch) until core 0 sends it the launch sequence over
the FIFO; only then is its emulator built (a program that never launches it runs exactly as on one core). The
two cores then run in lockstep (m0sim.dualcore). Counts are kept per core; a run's `RunStats` has both cores in
`cores` and their totals at the top level when core 1 ran.
"""

import functools

import numpy as np
from unicorn import arm_const as arm

from m0sim import memmap
from m0sim.contention import ContentionBound, bus_accesses
from m0sim.errors import InputError
from m0sim.launch import Core1Boot
from m0sim.dualcore import DEFAULT_QUANTUM, DualCore
from m0sim.machine import RETURN_ADDR, STACK_PAINT, Machine
from m0sim.peripherals.sio import Sio
from m0sim.stats import RunStats

CORE1_RETURN = RETURN_ADDR + 4  # core 1's LR at launch: its entry function returns into the bootrom's wait
MAX_QUANTUM = 1 << 20


class Pico(Machine):
    """An RP2040 with both cores; as a `Machine` it is core 0. `quantum`: cycles per lockstep round."""

    core1_return = CORE1_RETURN

    def __init__(self, program, *, quantum: int = DEFAULT_QUANTUM, **options):
        if not isinstance(quantum, int) or not 1 <= quantum <= MAX_QUANTUM:
            raise InputError(f"quantum must be an integer from 1 to {MAX_QUANTUM} cycles, got {quantum!r}")
        super().__init__(program, **options)
        self._core1_options = {k: v for k, v in options.items() if k not in ("stdout", "stderr", "stdin")}
        self.core1: Machine | None = None
        self.dualcore = DualCore(self, quantum)
        sio = self._sio(self)
        self.shared_sio = sio.shared
        self.shared_sio.on_fifo_irq = self.dualcore.fifo_irq
        self.shared_sio.on_push = self.dualcore.pushed
        self._boot = Core1Boot(echo=lambda word: self.shared_sio.push(1, word),
                               signal=lambda: self.dualcore.signal(1), launch=self._launch)
        self.park_core1()
        self._core1_mark = None
        self._core1_waited = 0  # cycles core 1 spent in the bootrom's wait state between launches
        self._core1_stack = None  # (lowest address, initial SP) of core 1's stack when it is a named object

    @staticmethod
    def _sio(core) -> Sio:
        return next(p for p in core.bus.peripherals if p.name == "SIO")

    # --- core 1 --------------------------------------------------------------------------------------------
    def park_core1(self):
        """Core 1 back in the bootrom's wait state: the FIFO words to it go to the launch protocol."""
        self.shared_sio.consumers[1] = self._boot

    def _build_core1(self) -> Machine:
        """Core 1's emulator over this one's memory; its SIO view, the TIMER and semihosting are shared."""
        core1 = Machine(self.program, memory_of=self, **self._core1_options)
        bus = core1.bus
        own_sio = self._sio(core1)
        timer = next(p for p in self.bus.peripherals if p.name == "TIMER")
        bus.peripherals = sorted([Sio(own_sio.clocked, core=1, shared=self.shared_sio) if p is own_sio
                                  else timer if p.name == "TIMER" else p for p in bus.peripherals],
                                 key=lambda p: p.base)
        core1.exceptions.timer = timer
        both = (self.exceptions.reschedule, core1.exceptions.reschedule, self.dualcore.cut)
        timer.on_change = lambda: [f() for f in both]  # an alarm armed for a sleeping core may wake it
        core1.semihost = self.semihost
        return core1

    def _launch(self, vtor: int, sp: int, entry: int):
        """The bootrom hands core 1 over: VTOR, MSP and a jump to the entry point, returning into the bootrom."""
        core1 = self.core1
        if core1 is None:
            core1 = self.core1 = self._build_core1()
            for win in core1._windows:
                win.clear()
            self._core1_mark = self._core1_counts()
        self._paint_core1_stack(sp)
        u = core1.uc
        u.reg_write(arm.UC_ARM_REG_SP, sp)
        u.reg_write(arm.UC_ARM_REG_LR, CORE1_RETURN | 1)
        u.reg_write(arm.UC_ARM_REG_PC, entry | 1)
        core1.exceptions.vtor = vtor & 0xFFFFFF00
        s = core1._state
        s.stop_reason, s.prev_end, s.prev_block = 0, 0, 0
        if self.cycles() > s.cycles:  # one time base: core 1 starts at core 0's cycle
            self._core1_waited += self.cycles() - s.cycles
            s.cycles = self.cycles()
        self.shared_sio.consumers[1] = None
        self.dualcore.launched(core1)

    def _paint_core1_stack(self, sp: int):
        """Core 1's stack is the SRAM object its initial SP ends (the pico-sdk way: a static array), painted at
        launch so that its high-water mark can be read after a run; without such an object it is not measured."""
        lo = next((sym.addr for sym in self.program.symbols.values()
                   if sym.kind == "object" and sym.addr < sp <= sym.addr + sym.size
                   and memmap.SRAM.contains(sym.addr, sym.size)), None)
        self._core1_stack = None if lo is None else ((lo + 3) & ~3, sp & ~3)
        if self._core1_stack is not None:
            lo, top = self._core1_stack
            self._sram[(lo - memmap.SRAM.base) // 4:(top - memmap.SRAM.base) // 4] = STACK_PAINT

    def _core1_stack_bytes(self) -> int:
        """Core 1's stack high-water mark since its launch: bytes below its initial SP that were written."""
        if self._core1_stack is None:
            return 0
        lo, top = self._core1_stack
        touched = np.flatnonzero(self._sram[(lo - memmap.SRAM.base) // 4:(top - memmap.SRAM.base) // 4]
                                 != STACK_PAINT)
        return top - (lo + 4 * int(touched[0])) if touched.size else 0

    # --- runs ----------------------------------------------------------------------------------------------
    def _run_cores(self, pc: int, until: int):
        self.dualcore.run(pc, until)

    def _core1_counts(self):
        s = self.core1._state
        return (s.insns, s.cycles - self._core1_waited, s.taken, s.xip_hits, s.xip_misses,
                self.dualcore.sleep_cycles[1])

    def _execute(self, pc, sp, max_instructions, max_cycles, stop_at) -> RunStats:
        if self.core1 is not None:
            for win in self.core1._windows:
                win.clear()
            self._core1_mark = self._core1_counts()
        start = self.dualcore.sleep_cycles[0], self.cycles()
        if self.core1 is not None:  # a core 1 still running from an earlier call may lag behind core 0
            start = start[0], min(start[1], self.core1.cycles())
        stats = super()._execute(pc, sp, max_instructions, max_cycles, stop_at)
        stats.sleep_cycles = self.dualcore.sleep_cycles[0] - start[0]
        stats.stall_cycles = _stalls(self)
        if self.core1 is None or self._core1_counts() == self._core1_mark:  # core 1 neither ran nor slept
            return stats
        stats = self._both(stats, start[1])
        self.last_stats = stats
        return stats

    def contention_bound(self) -> ContentionBound:
        """What contention for the bus between the cores could add to the last run, at most (m0sim.contention)."""
        if getattr(self, "last_stats", None) is None:
            raise InputError("contention_bound() describes the last run or call: run the program first")
        cores = [self] + ([self.core1] if self.last_stats.cores else [])
        return ContentionBound([bus_accesses(c) for c in cores], self.last_stats.cycles)

    def _both(self, core0: RunStats, start_cycle: int) -> RunStats:
        """Per-core stats of this run and their totals: instructions, taken branches, XIP accesses and sleep add
        up, `cycles` is the run's elapsed time (from the earlier core's first cycle to the later core's last)."""
        now, mark = self._core1_counts(), self._core1_mark
        counts = [win.snapshot() for win in self.core1._windows]
        core1 = RunStats(now[0] - mark[0], now[1] - mark[1], self.clock.hz, now[2] - mark[2],
                         now[3] - mark[3], now[4] - mark[4], core0.static_ram, self._core1_stack_bytes(), 0,
                         functools.partial(self.core1._profile, counts), sleep_cycles=now[5] - mark[5],
                         stall_cycles=_stalls(self.core1))
        total = core0.merged(core1)
        total.cycles = max(self.cycles(), self.core1.cycles()) - start_cycle
        # core 1's stack is static data (counted in static_ram) or unmeasured: the peak is core 0's
        total.stack_bytes, total.heap_bytes = core0.stack_bytes, core0.heap_bytes
        total.sleep_cycles = core0.sleep_cycles + core1.sleep_cycles
        total.stall_cycles = core0.stall_cycles + core1.stall_cycles
        total.cores = [core0, core1]
        return total


def _stalls(core: Machine) -> int:
    """Cycles of this run charged at run time rather than from the decode (the windows' stall arrays)."""
    return sum(int(win.stall_at.sum()) for win in core._windows)
