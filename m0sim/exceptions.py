"""ARMv6-M exceptions on the emulated Cortex-M0+: vector table, NVIC and SCB state (their registers are
m0sim.peripherals.ppb), SysTick's interrupt, entry and return.

What is modelled (ARMv6-M ARM, DDI0419, B1.5; Cortex-M0+ TRM, DDI0484):
- entry: the 8-word frame {r0-r3, r12, lr, return address, xPSR} pushed on the main stack, aligned to 8 bytes
  (xPSR bit 9 of the frame records the extra word), LR = EXC_RETURN (0xFFFFFFF1 from handler mode,
  0xFFFFFFF9 from thread mode), IPSR = the exception number, PC from the vector table (VTOR). Charged 15
  cycles: the TRM's interrupt latency for a zero-wait-state system (3.6.1), on top of the instruction that ran.
- return: a BX or POP that loads an EXC_RETURN value in handler mode unstacks the frame, charged
  `EXIT_CYCLES` (an 8-word load plus a pipeline refill, by the TRM's LDM and branch rows; the TRM gives no
  figure for exception return). Pending exceptions are then taken at once (no tail-chaining discount).
- SVC (SVCall, 11), PendSV (14, ICSR.PENDSVSET), SysTick (15, CSR.TICKINT: pending at the cycle the counter
  reaches zero, taken at the first instruction boundary at or after it), NVIC IRQ 0-31 (ISER/ICER/ISPR/ICPR,
  IPR: 2 priority bits) with the TIMER's four alarms as TIMER_IRQ_0..3 (IRQ 0-3, level: pending again after
  the handler while INTR is still set; exact to the instruction like SysTick), SHPR2/SHPR3 priorities,
  PRIMASK (CPSID/CPSIE, MSR) masking everything but HardFault: unmasked, a pending exception is taken at the
  next instruction boundary; ICSR.VECTPENDING the pending exception of the highest priority, then lowest number.
- HardFault (3) taken through the firmware's handler for an undefined instruction, a branch to an even address
  (EPSR.T = 0: the target is the stacked return address, the stacked xPSR has T = 0), an unaligned access
  (refused by the Cortex-M0 core before it changes memory: on by default, `alignment_faults=False` lets them
  through), a vector without its Thumb bit, an SVC at a priority that cannot preempt. When the HardFault vector is
  m0sim's own Default_Handler (no handler in the firmware), or a fault happens in the HardFault handler
  (lockup), m0sim stops with its exit-70 report instead.
- WFI: the core sleeps until the next event (SysTick's next zero, a TIMER alarm with its interrupt enabled):
  the cycles advance to it. A WFI with nothing that can wake the core ends the run with a clear message.
Not modelled here: NMI sources, WFE/SEV events (m0sim.soc's two-core loop models them), the process stack (CONTROL.SPSEL), other
peripherals' IRQs, late arrival and tail-chaining timings, accesses to unmapped memory through HardFault.

How an interrupt runs on the host (one core, no debugger: `run(traps=True)`), all inside one emu_start:
- the native counter (counter.c) sees the next event's cycle reached at a block start, gives the block back and,
  when the event falls inside it, runs it again up to the boundary at its shadow address (m0sim.native.SHADOW_DELTA:
  the same bytes, translated once with a permanent native hook before every instruction, so no hook is added to
  the code and nothing is translated again);
- at the boundary, a SysTick tick into thread mode with nothing else pending is taken natively (native_take);
  anything else goes to the trap, a BKPT whose interrupt hook calls `on_trap`, which decides in Python and goes
  on by writing PC; a return after which nothing can be pending is done by the native interrupt hook
  (m0sim_intr), the rest by `leave`; a WFI sleeps, and an unmasking CPSIE/MSR takes what is pending, inside
  their own hooks. The Python state catches up lazily (`active`, `taken`).
The stop-and-start loop (`handle_stop`, `_run_to_boundary`) serves the two cores running together (m0sim.dualcore),
the debugger, and the events the shadow cannot run (an instruction that reads PC or has a hook of its own): the same
counts.
"""

import bisect
import ctypes

import numpy as np
import unicorn as uc
from unicorn import arm_const as arm

from m0sim import codechange, faults, interrupt, native
from m0sim.decode import disassembler
from m0sim.errors import FirmwareFault
from m0sim.peripherals.ppb import HARDFAULT, IRQ0, N_IRQS, PENDSV, SVCALL, SYSTICK
from m0sim.pieces import give_back
from m0sim.registers import (EXC_RETURN_HANDLER, EXC_RETURN_THREAD_MSP, EXCP_DATA_ABORT, EXCP_EXCEPTION_EXIT,
                             EXCP_SWI, REG_IDS, REG_NAMES, XPSR_ALIGN, XPSR_T)

ENTRY_CYCLES = 15  # Cortex-M0+ TRM 3.6.1: worst-case latency, zero wait states
EXIT_CYCLES = 1 + 8 + 2  # LDM of 8 words (1+N) and a refill (a taken branch); the TRM gives no figure
NAMES = {2: "NMI", HARDFAULT: "HardFault", SVCALL: "SVCall", PENDSV: "PendSV", SYSTICK: "SysTick"}
NO_EVENT = 2**63
WFI = b"\x30\xbf"
CPSIE = b"\x62\xb6"
MSR_FIRST, MSR_PRIMASK_SECOND = 0xF380, 0x8810  # MSR PRIMASK, Rn: 0xF380 | Rn, then 0x8800 | SYSm (16)
WFI_CYCLES = 2  # the instruction itself, as decode charges it


def name(n: int) -> str:
    return NAMES.get(n, f"IRQ {n - IRQ0}" if n >= IRQ0 else f"exception {n}")



def _native_field(name: str, doc: str = "") -> property:
    """A property of Exceptions that reads and writes field ``name`` of the machine's native counter state."""
    return property(lambda self: getattr(self.m._state, name), lambda self, v: setattr(self.m._state, name, v),
                    doc=doc)

class Exceptions:
    """The exception state of one core, and what the run loop asks of it between pieces of execution."""

    def __init__(self, machine):
        self.m = machine
        self.vtor = machine.program.vector_table
        self.pending: set[int] = set()
        self._active: list[int] = []  # nesting stack of exception numbers (see `active`)
        self.enabled = 0  # NVIC ISER bits
        self.irq_priority = [0] * N_IRQS
        self.shpr2 = 0  # SVCall priority in bits 31:30
        self.shpr3 = 0  # PendSV 23:22, SysTick 31:30
        self._taken = {}  # exception number -> times entered (see `taken`)
        self.real_cycle_budget = NO_EVENT
        self.systick = next(p for p in machine.bus.peripherals if p.name == "SysTick")
        self.systick.on_change = self.reschedule
        self.timer = next(p for p in machine.bus.peripherals if p.name == "TIMER")
        self.timer.on_change = self.reschedule
        self._next_tick = self._next_event = NO_EVENT  # kept in the native state (counter.c moves them too)
        self._wake = None  # the WFI the run stopped at to sleep until the next event (or True after CPSIE)
        self.slept_cycles = 0  # cycles spent asleep in WFI (beyond the instruction's own), for m0sim.energy
        self._hook_sites = set(machine.python_hook_sites)  # instructions with a Python hook: see _shadow_can_run
        # A debugger (m0sim.gdbstub) stopped the core before an instruction while _run_to_boundary ran it to an
        # event: the event is taken at its own boundary, after the resume, not where the debugger stopped.
        self.held = False
        for addr in machine.instruction_sites(WFI):  # a code hook on each WFI
            machine.uc.hook_add(uc.UC_HOOK_CODE, self._on_wfi, begin=addr, end=addr)
            self._hook_sites.add(addr)
        for after in self._unmasking_sites():  # a pending exception may come in at the next boundary
            machine.uc.hook_add(uc.UC_HOOK_CODE, self._after_cpsie, begin=after, end=after)
            self._hook_sites.add(after)
        self._shadow_blockers = {}  # id(window) -> (window, its sorted blocker addresses)
        self._trapping = False  # events go to `on_trap` (see `run`)
        self._resume = None  # (pc, stall) of an event on_trap left to `run`
        ptr, u32 = ctypes.c_void_p, ctypes.c_uint32
        self._native_entry = native.in_hook("m0sim_exception_entry",
                                            [ptr, ptr, u32, u32, u32, u32, ptr, ctypes.c_int32])
        self._native_return = native.in_hook("m0sim_exception_return", [ptr, ptr, ptr, ctypes.c_int32], u32)
        self._native_boundary = native.in_hook("m0sim_boundary", [ptr, u32, ctypes.c_int64], u32)
        self._state_ref = ctypes.byref(machine._state)
        self._status_ids = ctypes.byref(machine._state.status_ids)

    @property
    def active(self) -> list[int]:
        """The nesting stack of exception numbers, after the entries and returns counter.c did alone: it enters
        SysTick only from thread mode, so after one of its entries the stack is that SysTick or nothing (by its
        depth), and otherwise its returns popped the innermost."""
        self._catch_up()
        return self._active

    @property
    def taken(self) -> dict[int, int]:
        """Exception number -> times entered, for tests and `monitor stats`."""
        self._catch_up()
        return self._taken

    def _catch_up(self):
        s = self.m._state
        if s.native_entries:
            self._active[:] = [SYSTICK] * s.active_depth
            self._taken[SYSTICK] = self._taken.get(SYSTICK, 0) + s.native_entries
        elif s.native_returns:
            del self._active[len(self._active) - s.native_returns:]
        s.native_entries = s.native_returns = 0

    # The event cycles live in the native counter's state (m0sim/native/counter.c reads and moves them itself).
    real_cycle_budget = _native_field(
        "real_cycle_budget", """The run's own cycle budget (the native one is shared with the next event); set by `begin`,
        and by m0sim.dualcore and the debugger, which stop a core by it. The native counter keeps a copy: a budget
        that is the real one never goes to the trap.""")
    _next_tick = _native_field("tick_cycle")
    _next_event = _native_field("event_cycle")

    def _unmasking_sites(self):
        """The instruction boundaries right after each CPSIE and each MSR to PRIMASK (ARMv6-M B4.2.3: a write
        to PRIMASK takes effect for the next instruction)."""
        m = self.m
        for addr in m.instruction_sites(CPSIE):
            yield addr + 2
        for rn in range(15):
            for addr in m.instruction_sites((MSR_FIRST | rn).to_bytes(2, "little")):
                if m.read_word(addr) >> 16 == MSR_PRIMASK_SECOND:
                    yield addr + 4

    # --- priorities ---------------------------------------------------------------------------------------
    def priority(self, n: int) -> int:
        if n == HARDFAULT:
            return -1
        if n == SVCALL:
            return self.shpr2 >> 30
        if n == PENDSV:
            return (self.shpr3 >> 22) & 3
        if n == SYSTICK:
            return self.shpr3 >> 30
        return self.irq_priority[n - IRQ0]

    def execution_priority(self, primask: int | None = None) -> int:
        active = self.active
        prio = min(map(self.priority, active)) if active else 4
        if prio > 0 and (self.m._regs.read(arm.UC_ARM_REG_PRIMASK) if primask is None else primask) & 1:
            prio = 0
        return prio

    def highest_pending(self):
        """ICSR.VECTPENDING: the pending exception (an IRQ only when enabled) of the highest priority, then the
        lowest number; PRIMASK and the current execution priority do not count (ARMv6-M B3.2.4)."""
        best, best_key = None, None
        for n in self.pending:
            if n >= IRQ0 and not self.enabled >> (n - IRQ0) & 1:
                continue
            key = (self.priority(n), n)
            if best_key is None or key < best_key:
                best, best_key = n, key
        return best

    def _ready(self, primask: int | None = None):
        """The pending exception that would preempt now, if any (lowest priority value, then lowest number)."""
        if not self.pending:
            return None
        best = self.highest_pending()
        return best if best is not None and self.priority(best) < self.execution_priority(primask) else None

    # --- scheduling: what makes the run loop stop --------------------------------------------------------
    def begin(self):
        """`Machine._execute` set the native budgets; the cycle budget is shared with the next event."""
        self.real_cycle_budget = self.m._state.cycle_budget
        self.reschedule()

    def reschedule(self):
        st, s, timer = self.systick, self.m._state, self.timer
        now = s.cycles
        next_tick = NO_EVENT
        period = st.reload + 1 if st.enabled and st.ctrl & 2 and st.reload else 0
        if period:
            # max: a stop inside the block that enabled SysTick gives back cycles charged before the write
            # (m0sim.pieces), so `now` may lie a few cycles before `start`: the first tick is still a period on
            next_tick = st.start + (max(now - st.start, 0) // period + 1) * period
        s.tick_period, s.tick_start, s.vtor = period, st.start, self.vtor  # for counter.c's native_take
        self._next_tick = self._next_event = next_tick
        if timer.armed or timer.intr or timer.intf:  # nothing to raise or schedule otherwise
            self._raise_timer_lines()
            alarm = timer.next_alarm_cycle()
            if alarm is not None:
                self._next_event = min(self._next_event, alarm)
        real = self.real_cycle_budget
        budget = min(real, self._next_event)
        ready = bool(self.pending) and self._ready() is not None
        if ready:
            budget = min(budget, now)
        s.cycle_budget = budget
        s.trap_event = self._trapping and budget < real
        s.event_cycle, s.none_ready = self._next_event, not ready
        s.any_pending, s.timer_quiet = bool(self.pending), not (timer.armed or timer.intr or timer.intf)

    def _raise_timer_lines(self):
        """TIMER_IRQ_n is a level: pending whenever it is asserted and its handler is not running."""
        self.timer.update()
        lines = self.timer.irq_lines()
        for n in range(4):
            if lines >> n & 1 and IRQ0 + n not in self.active:
                self.pending.add(IRQ0 + n)

    def event_due(self) -> bool:
        """After a stop of the native cycle budget or a WFI: is it an event of ours (not the real budget)?"""
        return self._wake is not None or self.m.cycles() >= self._next_event or self._ready() is not None

    def run(self, pc: int, until: int, traps: bool = False):
        """`Machine._execute`'s run loop: one emu_start until the program ends, or more when exceptions stop it.
        With `traps` (one core, no debugger), an event's moment goes to `on_trap` inside the emu_start instead."""
        self._trapping = traps
        s = self.m._state
        s.trap_event = traps and s.cycle_budget < self.real_cycle_budget
        s.native_exceptions = traps
        try:
            self._run(pc, until)
        finally:
            self._trapping = False
            s = self.m._state
            s.trap_event = s.shadow_stop = s.shadow_trap = s.native_exceptions = 0
            self._leave_shadow()

    def _leave_shadow(self) -> int:
        """PC in real addresses after a run that may have stopped in the shadow of code (a fault, Ctrl-C), or
        on its way to the trap (the block it left was given back)."""
        regs, s = self.m._regs, self.m._state
        pc = regs.read(arm.UC_ARM_REG_PC)
        if native.in_shadow(pc):
            pc -= native.SHADOW_DELTA
            regs.write(arm.UC_ARM_REG_PC, pc | 1)
        elif pc == native.TRAP_ADDR and s.trap_kind:
            pc, s.trap_kind = s.trap_pc, 0
            regs.write(arm.UC_ARM_REG_PC, pc | 1)
        return pc

    def _run(self, pc: int, until: int):
        m = self.m
        while True:
            self._wake = None
            try:
                m.uc.emu_start(pc, until)
            except uc.UcError as exc:
                self._leave_shadow()
                if exc.errno != uc.UC_ERR_INSN_INVALID:
                    raise
                if not self.on_invalid_instruction(m.uc.reg_read(arm.UC_ARM_REG_PC)):
                    if self.invalid_state():
                        raise FirmwareFault(self.invalid_state_report()) from None
                    raise
                pc = m.uc.reg_read(arm.UC_ARM_REG_PC) | 1
                continue
            m._state.shadow_stop = m._state.shadow_trap = 0
            if native.in_shadow(m._regs.read(arm.UC_ARM_REG_PC)):
                give_back(m, self._leave_shadow())  # stopped inside a shadow run: [pc, end) did not run
            if interrupt.requested():
                raise KeyboardInterrupt  # Ctrl-C (m0sim.interrupt), even if its own exception was lost in a hook
            if self._resume is not None:  # on_trap stopped the run: the event's boundary needs a hook
                (pc, stall), self._resume = self._resume, None
                pc = self.handle_stop(pc, until, stall)
                if pc is None:
                    return
                pc |= 1
                continue
            if m._exit_code is not None:
                return
            if codechange.after_stop(m):  # code run or overwritten in SRAM: decoded anew, then on
                pc = m.uc.reg_read(arm.UC_ARM_REG_PC) | 1
                continue
            if self.route_unaligned():
                pc = m.uc.reg_read(arm.UC_ARM_REG_PC) | 1
                continue
            reason = native.STOP_REASONS.get(m._state.stop_reason)
            if not (self._wake is not None or reason == "budget") or not self.event_due():
                if reason == "budget":  # stopped before a block it charged: count only what ran
                    give_back(m, m.uc.reg_read(arm.UC_ARM_REG_PC))
                return
            pc = self.handle_stop(m.uc.reg_read(arm.UC_ARM_REG_PC), until)
            if pc is None:
                return
            pc |= 1

    def handle_stop(self, pc: int, until: int, stall: int | None = None):
        """The run stopped before instruction pc for an event: give back the rest of the block (unless that was
        done, taking back `stall`), run on to the first instruction boundary at or after the event's cycle, then
        take what is pending. Returns where to go on (None: the program ended or stopped for another reason on
        the way)."""
        m, s = self.m, self.m._state
        s.stop_reason = 0
        if stall is None:
            stall = give_back(m, pc)
        if self._wake is not None and self._wake is not True:  # sleep in the WFI at pc until the next tick
            pc = self._sleep(pc)
            m.uc.reg_write(arm.UC_ARM_REG_PC, pc | 1)
        elif self._ready() is None and m.cycles() < self._next_event:
            pc = self._run_to_boundary(pc, until, stall)
            if pc is None:
                return None
        if m.cycles() >= self._next_tick:
            self.pending.add(SYSTICK)
        self._raise_timer_lines()
        self.take_ready(pc)
        self.reschedule()
        return m.uc.reg_read(arm.UC_ARM_REG_PC)

    def _run_to_boundary(self, pc: int, until: int, stall: int = 0):
        """Run the block starting at pc up to the instruction where the cycle count reaches the next tick
        (found from the decode tables, counting the block's XIP stall `stall`, which give_back took back, as
        paid up front), or to the next block start when that is where it is reached. A stop that falls short
        of the tick (the stall was spread over the block's lines) comes back here from the next block."""
        m, s = self.m, self.m._state
        stop_at = self._boundary(pc, stall)
        if stop_at is None:
            resume = pc
        else:
            resume = self._run_shadow(pc, stop_at, until) if self._shadow_can_run(pc, stop_at) else pc
        if resume is not None:
            self._run_hooked(resume, stop_at, until)
        if m._exit_code is not None:
            return None
        if self.held and not s.stop_reason:
            if m.uc.reg_read(arm.UC_ARM_REG_PC) != stop_at:
                return None  # stopped before the event's boundary: it stays due for the resume
            self.held = False  # the debugger stopped at the boundary itself: the event is taken first
        if s.stop_reason and not (stop_at is None and native.STOP_REASONS.get(s.stop_reason) == "budget"
                                  and self.event_due()):
            return None
        s.stop_reason = 0
        pc = m.uc.reg_read(arm.UC_ARM_REG_PC)
        if pc == until:
            return None
        give_back(m, pc)
        return pc

    def _boundary(self, pc: int, stall: int):
        """The instruction of the block at pc before which the cycle count reaches the next event (see
        `_run_to_boundary`), with the cycle budget set for the run there; None when it is reached at the block's
        end (the budget then stops the run at the next block's start)."""
        m, s = self.m, self.m._state
        need = self._next_event - s.cycles - stall
        stop_at = self._native_boundary(self._state_ref, pc, need)
        if stop_at:
            s.cycle_budget = self.real_cycle_budget
            s.trap_event = 0
            return stop_at
        t, start, size = m.current_block()
        rest = int(t.cycles_prefix[(start + size - t.base) // 2]) - int(t.cycles_prefix[(pc - t.base) // 2])
        s.cycle_budget = budget = min(self.real_cycle_budget, s.cycles + rest + stall + 1)
        s.trap_event = self._trapping and budget < self.real_cycle_budget
        return None

    def on_trap(self):
        """The native counter sent the core to the trap (m0sim.native.TRAP_ADDR) inside the emu_start: the next
        event's cycle was reached at a block start (TRAP_BUDGET), or a shadow run reached the instruction boundary
        at or after it (TRAP_SHADOW). Does what `handle_stop` and `_run_to_boundary` do, and goes on by writing
        PC, without leaving the emu_start; where that cannot be done (the shadow may not run), it stops the run
        as the native budget would have, and `run` takes over."""
        m, s = self.m, self.m._state
        pc, kind = s.trap_pc, s.trap_kind
        s.trap_kind = 0
        if kind == native.TRAP_BUDGET:
            stall = s.trap_stall  # the native counter gave the block at pc back (and went on itself if it could)
            self._fill_shadow_ok(m._windows[s.cur_window])
            if s.cycles < self._next_event and self._ready() is None:
                stop_at = self._boundary(pc, stall)
                if stop_at is None:  # the budget stops at the next block start
                    m._regs.write(arm.UC_ARM_REG_PC, pc | 1)
                    return
                if not self._shadow_can_run(pc, stop_at):  # `run` goes on with a hook at stop_at
                    self._resume = (pc, stall)
                    m._regs.write(arm.UC_ARM_REG_PC, pc | 1)
                    m.uc.emu_stop()
                    return
                s.shadow_stop, s.shadow_trap = stop_at + native.SHADOW_DELTA, 1
                m._regs.write(arm.UC_ARM_REG_PC, (pc + native.SHADOW_DELTA) | 1)
                return
        else:  # the native counter gave back the rest of the block
            self._after_shadow()
        if s.cycles >= self._next_tick:
            self.pending.add(SYSTICK)
        timer = self.timer
        if timer.armed or timer.intr or timer.intf:
            self._raise_timer_lines()
        if not self.take_ready(pc, s.trap_primask):
            m._regs.write(arm.UC_ARM_REG_PC, pc | 1)
        self.reschedule()

    def _run_hooked(self, pc: int, stop_at, until: int):
        """Run from pc to stop_at (None: until the budget stops it) with a code hook at stop_at: the block
        holding it is translated again with the hook (and once more after it goes: Unicorn drops blocks a
        deleted hook covered), which costs tens of microseconds; `_run_shadow` avoids it where it can."""
        m = self.m
        hook = None
        if stop_at is not None:
            hook = m.uc.hook_add(uc.UC_HOOK_CODE, lambda u, *_: u.emu_stop(), begin=stop_at, end=stop_at)
            m.uc.ctl_remove_cache(stop_at, stop_at + 2)
        try:
            m.uc.emu_start(pc | 1, until)
            while m._exit_code is None and codechange.after_stop(m):  # code run or overwritten in SRAM
                m.uc.emu_start(m.uc.reg_read(arm.UC_ARM_REG_PC) | 1, until)
        finally:
            if hook is not None:  # the block keeps its call into the hook list, which no longer stops here
                m.uc.hook_del(hook)

    def _shadow_can_run(self, pc: int, stop_at: int) -> bool:
        """Whether [pc, stop_at) may run at its shadow address (m0sim.native.SHADOW_DELTA): not under a
        debugger (its breakpoints and steps are hooks on the real addresses; it is set on the Pico, core 0, whose
        memory core 1 maps), and no instruction in it, nor the one at stop_at, that reads PC other than as a
        literal load (ADR; ADD, CMP or MOV with PC) or that has a hook of its own (m0sim_align_sp, WFI, after
        CPSIE or MSR PRIMASK, _sbrk)."""
        if (self.m._memory_owner or self.m).debugger is not None:
            return False
        sites = self._blockers(self.m._windows[self.m._state.cur_window])
        i = bisect.bisect_left(sites, pc)
        return i == len(sites) or sites[i] > stop_at

    def _fill_shadow_ok(self, win):
        """The native counter's copy of `_shadow_can_run`'s blockers for window `win` (0 where a shadow run may not
        go; all 0, as a window starts, sends every event to Python)."""
        if not win.shadow_ok_filled:
            win.shadow_ok[:] = 1
            base = win.table.base
            for a in self._blockers(win):
                if base <= a < base + 2 * len(win.shadow_ok):
                    win.shadow_ok[(a - base) // 2] = 0
            win.shadow_ok_filled = True

    def _blockers(self, win) -> list:
        cached = self._shadow_blockers.get(id(win))
        if cached is None or cached[0] is not win:
            cached = (win, self._blockers_of(win))
            self._shadow_blockers[id(win)] = cached
        return cached[1]

    def _blockers_of(self, win) -> list:
        """Sorted addresses in window `win` that a shadow run must not cover (see `_shadow_can_run`)."""
        m, t = self.m, win.table
        n = len(t.base_cycles)
        sites = set(t.sp_writes) | self._hook_sites
        if n:
            code = np.frombuffer(m._read_bytes(t.base, 2 * n), "<u2").astype(np.int64)
            starts = np.diff(t.insns_prefix.astype(np.int64)) != 0
            adr = (code & 0xF800) == 0xA000
            hi_reg = (code & 0xFC00) == 0x4400  # ADD, CMP, MOV, BX, BLX on high registers
            rm, rdn = (code >> 3) & 15, ((code >> 4) & 8) | (code & 7)
            reads_pc = starts & (adr | (hi_reg & ((rm == 15) | (rdn == 15))))
            sites.update((t.base + 2 * np.flatnonzero(reads_pc)).tolist())
        return sorted(sites)

    def _after_shadow(self):
        """A shadow run that loaded literals (m0sim_boundary noted it) left readable TLB entries of the shadow:
        dropped, so that the program's own accesses there fault as before (its fetch-only entries are harmless)."""
        if self.m._state.shadow_literals:
            codechange.flush_tlb(self.m)

    def _run_shadow(self, pc: int, stop_at: int, until: int):
        """Run [pc, stop_at) at its shadow address, where a permanent native hook before every instruction stops
        at stop_at: no code is translated again. Returns None when done (PC at stop_at, or wherever a fault or a
        stop left it, in real addresses), or where to go on with `_run_hooked` after a store changed code."""
        m, s = self.m, self.m._state
        s.shadow_stop = stop_at + native.SHADOW_DELTA
        try:
            m.uc.emu_start((pc + native.SHADOW_DELTA) | 1, until)
        finally:
            s.shadow_stop = 0
            now = self._leave_shadow()
            self._after_shadow()
        if now != stop_at and native.STOP_REASONS.get(s.stop_reason) == "code write":
            give_back(m, now)  # a store changed code: stopped at the next instruction, [now, end) did not run
            codechange.after_stop(m)
            return now
        return None

    # --- entry and return ---------------------------------------------------------------------------------
    def take_ready(self, return_addr: int, primask: int | None = None) -> bool:
        """Take the exception ready to preempt, if any (PRIMASK as given, or read); whether one was taken."""
        n = self._ready(primask)
        if n is None:
            return False
        self.enter(n, return_addr)
        return True

    def has_handler(self, n: int) -> bool:
        vector = self._vector(n)
        default = self.m.program.symbols.get("Default_Handler")
        return not (default is not None and vector & ~1 == default.addr)

    def _vector(self, n: int) -> int:
        return self.m.read_word(self.vtor + 4 * n)

    def enter(self, n: int, return_addr: int, thumb: bool = True):
        """Take exception n: stack the frame (return address, and xPSR with EPSR.T = `thumb`: 0 only for a fault
        of the invalid state), switch to handler mode, jump to the vector."""
        if n == HARDFAULT and HARDFAULT in self.active:
            raise FirmwareFault(f"lockup: a fault in the HardFault handler at {self.m._where(return_addr)}")
        vector = self._vector(n)
        if not vector & 1:
            self._check_main_stack(n, return_addr)
            if n == HARDFAULT:
                raise FirmwareFault(f"lockup: the HardFault vector 0x{vector:08x} has no Thumb bit")
            return self.fault(f"the {name(n)} vector 0x{vector:08x} has no Thumb bit", return_addr)
        xpsr_t = XPSR_T if thumb else 0
        done = self._native_entry(self.m.uc._uch, self._state_ref, return_addr, xpsr_t, vector, n,
                                  self._status_ids, ENTRY_CYCLES)  # checks CONTROL.SPSEL first (2: set)
        if done != 1:
            self._check_main_stack(n, return_addr)
            self._stack(n, return_addr, xpsr_t, vector)
            self.m.adjust_cycles(ENTRY_CYCLES)
        self.pending.discard(n)
        active = self.active
        active.append(n)
        self.m._state.active_depth = len(active)
        self._taken[n] = self._taken.get(n, 0) + 1

    def _check_main_stack(self, n: int, return_addr: int):
        if self.m._regs.read(arm.UC_ARM_REG_CONTROL) & 2:
            raise FirmwareFault(f"{name(n)} taken in thread mode on the process stack (CONTROL.SPSEL), which "
                                f"m0sim does not model, at {self.m._where(return_addr)}")

    def _stack(self, n: int, return_addr: int, xpsr_t: int, vector: int):
        """Entry's stacking in Python, for a frame the native one leaves (outside SRAM, or on a page of code)."""
        u = self.m.uc
        xpsr = u.reg_read(arm.UC_ARM_REG_XPSR) & ~XPSR_T | xpsr_t
        sp = u.reg_read(arm.UC_ARM_REG_SP)
        if sp & 4:
            sp -= 4
            xpsr |= XPSR_ALIGN
        else:
            xpsr &= ~XPSR_ALIGN
        regs = [u.reg_read(r) for r in (arm.UC_ARM_REG_R0, arm.UC_ARM_REG_R1, arm.UC_ARM_REG_R2,
                                        arm.UC_ARM_REG_R3, arm.UC_ARM_REG_R12, arm.UC_ARM_REG_LR)]
        frame = regs + [return_addr & ~1, xpsr]
        sp -= 32
        self.m._write_bytes(sp, b"".join((w & 0xFFFFFFFF).to_bytes(4, "little") for w in frame))
        u.reg_write(arm.UC_ARM_REG_SP, sp)
        handler_mode = bool(u.reg_read(arm.UC_ARM_REG_IPSR))
        u.reg_write(arm.UC_ARM_REG_LR, EXC_RETURN_HANDLER if handler_mode else EXC_RETURN_THREAD_MSP)
        self._write_ipsr(n)
        u.reg_write(arm.UC_ARM_REG_PC, vector | 1)

    def leave(self, exc_return: int):
        if exc_return not in (EXC_RETURN_HANDLER, EXC_RETURN_THREAD_MSP) or not self.active:
            raise FirmwareFault(f"exception return with EXC_RETURN 0x{exc_return:08x}, which m0sim does not "
                                f"model (active: {', '.join(map(name, self.active)) or 'none'})")
        self.active.pop()
        self.m._state.active_depth = len(self._active)
        back = self._native_return(self.m.uc._uch, self._state_ref, self._status_ids, EXIT_CYCLES)
        if back == 1:
            back = self._unstack()
            self.m.adjust_cycles(EXIT_CYCLES)
        if self.timer.armed or self.timer.intr or self.timer.intf:
            self._raise_timer_lines()
        if self.pending:
            self.take_ready(back)
        self.reschedule()

    def _unstack(self) -> int:
        """Return's unstacking in Python, for a frame the native one leaves; returns the return address."""
        u = self.m.uc
        sp = u.reg_read(arm.UC_ARM_REG_SP)
        words = [self.m.read_word(sp + 4 * i) for i in range(8)]
        for reg, value in zip((arm.UC_ARM_REG_R0, arm.UC_ARM_REG_R1, arm.UC_ARM_REG_R2, arm.UC_ARM_REG_R3,
                               arm.UC_ARM_REG_R12, arm.UC_ARM_REG_LR), words):
            u.reg_write(reg, value)
        xpsr = words[7]
        sp += 32 + (4 if xpsr & XPSR_ALIGN else 0)
        u.reg_write(arm.UC_ARM_REG_SP, sp)
        u.reg_write(arm.UC_ARM_REG_XPSR, xpsr & ~XPSR_ALIGN)
        self._write_ipsr(xpsr & 0x3F)
        u.reg_write(arm.UC_ARM_REG_PC, words[6] | 1)
        return words[6]

    def _write_ipsr(self, n: int):
        """IPSR, and Unicorn's cached view of it: on the Cortex-M0 core, whether a BX to EXC_RETURN is an exception
        return is decided when a block is translated, from flags that a register write rebuilds only for the
        APSR flags: rewriting those (unchanged) makes the core see the new mode."""
        u = self.m.uc
        u.reg_write(arm.UC_ARM_REG_IPSR, n)
        u.reg_write(arm.UC_ARM_REG_APSR_NZCV, u.reg_read(arm.UC_ARM_REG_APSR_NZCV))

    def fault(self, why: str, return_addr: int):
        """A fault escalates to HardFault: through the firmware's handler when it has one."""
        if not self.has_handler(HARDFAULT) or HARDFAULT in self.active:
            raise FirmwareFault(f"{why} (hard fault) at {self.m._where(return_addr)}")
        self.enter(HARDFAULT, return_addr)

    # --- hooks the machine forwards -----------------------------------------------------------------------
    def on_interrupt(self, intno: int, pc: int) -> bool:
        """Unicorn's CPU exceptions that are ARMv6-M exceptions; False leaves the rest to the machine."""
        if intno == EXCP_EXCEPTION_EXIT:
            self.leave(pc | 1 if pc & ~0xF == 0xFFFFFFF0 else pc)
            return True
        if intno == EXCP_DATA_ABORT:
            return self._on_unaligned(pc)
        if intno == EXCP_SWI:  # PC is already past the SVC
            give_back(self.m, pc)
            if self.priority(SVCALL) < self.execution_priority():
                self.enter(SVCALL, pc)
            elif self.m.uc.reg_read(arm.UC_ARM_REG_PRIMASK) & 1:
                self.fault("SVC with PRIMASK set (CPSID I): SVCall escalates to HardFault", pc - 2)
            else:
                self.fault(f"SVC at execution priority {self.execution_priority()}: SVCall (priority "
                           f"{self.priority(SVCALL)}) cannot preempt, so it escalates to HardFault", pc - 2)
            return True
        return False

    def _on_unaligned(self, pc: int) -> bool:
        """The Cortex-M0 core refused an unaligned access before making it (nothing written, PC on the load or
        store, the registers as the instruction found them): stop the run with the access recorded, as
        `route_unaligned` and the machine's report expect it."""
        m, s = self.m, self.m._state
        regs = {n: m.uc.reg_read(r) for n, r in zip(REG_NAMES, REG_IDS)}
        insn = next(disassembler().disasm(m._read_bytes(pc, 4), pc, 1), None)
        span = faults.access_range(insn, regs) if insn is not None else None
        if span is None:
            return False
        lo, hi = span
        s.stop_addr = lo
        s.fault_size = min(hi - lo, 4)  # LDM/STM: the first word is the one out of line
        s.fault_write = int(insn.mnemonic.startswith(faults.STORES))
        for k, n in enumerate(REG_NAMES):
            s.fault_regs[k] = regs[n]
        s.stop_reason = native.CONSTANTS["STOP_UNALIGNED"]
        m.uc.emu_stop()
        return True

    def route_unaligned(self) -> bool:
        """An unaligned access stopped the run (`_on_unaligned`; m0sim.faults names the instruction): HardFault,
        when the firmware has a handler, with the registers as they were at the access."""
        m, s = self.m, self.m._state
        if native.STOP_REASONS.get(s.stop_reason) != "unaligned" or not self.has_handler(HARDFAULT) \
                or HARDFAULT in self.active:
            return False
        regs = {n: int(v) & 0xFFFFFFFF for n, v in zip(REG_NAMES, s.fault_regs)}
        kind = "write" if s.fault_write else "read"
        fault = m._fault_record(f"unaligned {kind}", s.stop_addr, s.fault_size, regs)
        for n, reg in zip(REG_NAMES, REG_IDS):
            if n != "pc":
                m.uc.reg_write(reg, regs[n])
        s.stop_reason = 0
        give_back(m, fault.pc)
        self.enter(HARDFAULT, fault.pc)
        return True

    def on_invalid_instruction(self, pc: int) -> bool:
        """Unicorn refused an instruction (UDF, or any at all after a branch that cleared EPSR.T): HardFault, when
        the firmware has a handler. The invalid state is stacked as it is (ARMv6-M B1.5.6): the return address
        is the branch's target, the stacked xPSR has T = 0."""
        if not self.has_handler(HARDFAULT) or HARDFAULT in self.active:
            return False
        give_back(self.m, pc)
        self.enter(HARDFAULT, pc, thumb=not self.invalid_state())
        return True

    def invalid_state(self) -> bool:
        """Whether the core stopped because EPSR.T is 0 (a BX/BLX/POP to an even address), not at an UDF."""
        return not self.m.uc.reg_read(arm.UC_ARM_REG_XPSR) & XPSR_T

    def invalid_state_report(self) -> str:
        """The one line for a branch to an even address with no HardFault handler to take it."""
        pc = self.m.uc.reg_read(arm.UC_ARM_REG_PC)
        return (f"invalid state: a branch to ARM state (a BX, BLX or POP into PC to 0x{pc:08x}, an address without "
                f"the Thumb bit) cleared EPSR.T and the next instruction HardFaults (INVSTATE; the Cortex-M0+ runs "
                f"Thumb only) at {self.m._where(pc)}; {self.m.registers()}")

    def _on_wfi(self, u, addr, _size, _user):
        """Sleep: before the WFI, advance the cycles to the next event and take it, here when events go to the
        trap (`run`), else by stopping the run for `handle_stop`."""
        if self._ready() is not None:
            return  # an exception is already waiting: WFI does not sleep
        if self._next_event == NO_EVENT:
            self.m._stop_with(f"the core waits for an interrupt (WFI) that nothing can raise (no SysTick or TIMER "
                              f"alarm interrupt enabled, no pending exception) at {self.m._where(addr)}")
        if self._trapping:
            give_back(self.m, addr)
            self._take(self._sleep(addr))
            return
        self._wake = addr
        u.emu_stop()

    def _sleep(self, pc: int) -> int:
        """The WFI at pc (its block given back) runs and sleeps until the next event; returns the next address."""
        m, s = self.m, self.m._state
        now = s.cycles + WFI_CYCLES
        slept = max(0, self._next_event - now)
        self.slept_cycles += slept
        m.adjust_cycles(WFI_CYCLES + slept)
        s.insns += 1
        return pc + 2

    def _take(self, pc: int):
        """At the instruction boundary pc: pend SysTick if its tick has come, raise the TIMER's lines, take what is
        ready (or go on at pc), reschedule."""
        if self.m._state.cycles >= self._next_tick:
            self.pending.add(SYSTICK)
        self._raise_timer_lines()
        self.m._regs.write(arm.UC_ARM_REG_PC, pc | 1)
        self.take_ready(pc)
        self.reschedule()

    def _after_cpsie(self, u, addr, _size, _user):
        """PRIMASK unmasked: a pending exception is taken at this boundary (here when events go to the trap)."""
        if self.pending and self._ready() is not None:
            if self._trapping:
                give_back(self.m, addr)
                self._take(addr)
                return
            self._wake = True
            u.emu_stop()
