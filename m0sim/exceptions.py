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
"""

import unicorn as uc
from unicorn import arm_const as arm

from m0sim import codechange, faults, native
from m0sim.decode import disassembler
from m0sim.errors import FirmwareFault
from m0sim.peripherals.ppb import HARDFAULT, IRQ0, N_IRQS, PENDSV, SVCALL, SYSTICK
from m0sim.pieces import give_back
from m0sim.registers import EXCP_DATA_ABORT, EXCP_EXCEPTION_EXIT, EXCP_SWI, REG_IDS, REG_NAMES

ENTRY_CYCLES = 15  # Cortex-M0+ TRM 3.6.1: worst-case latency, zero wait states
EXIT_CYCLES = 1 + 8 + 2  # LDM of 8 words (1+N) and a refill (a taken branch); the TRM gives no figure
EXC_RETURN_HANDLER, EXC_RETURN_THREAD_MSP, EXC_RETURN_THREAD_PSP = 0xFFFFFFF1, 0xFFFFFFF9, 0xFFFFFFFD
XPSR_ALIGN = 1 << 9
XPSR_T = 1 << 24  # EPSR.T: the core executes Thumb; 0 after a branch to an even address (invalid state)
NAMES = {2: "NMI", HARDFAULT: "HardFault", SVCALL: "SVCall", PENDSV: "PendSV", SYSTICK: "SysTick"}
NO_EVENT = 2**63
WFI = b"\x30\xbf"
CPSIE = b"\x62\xb6"
MSR_FIRST, MSR_PRIMASK_SECOND = 0xF380, 0x8810  # MSR PRIMASK, Rn: 0xF380 | Rn, then 0x8800 | SYSm (16)
WFI_CYCLES = 2  # the instruction itself, as decode charges it


def name(n: int) -> str:
    return NAMES.get(n, f"IRQ {n - IRQ0}" if n >= IRQ0 else f"exception {n}")


class Exceptions:
    """The exception state of one core, and what the run loop asks of it between pieces of execution."""

    def __init__(self, machine):
        self.m = machine
        self.vtor = machine.program.vector_table
        self.pending: set[int] = set()
        self.active: list[int] = []  # nesting stack of exception numbers
        self.enabled = 0  # NVIC ISER bits
        self.irq_priority = [0] * N_IRQS
        self.shpr2 = 0  # SVCall priority in bits 31:30
        self.shpr3 = 0  # PendSV 23:22, SysTick 31:30
        self.taken = {}  # exception number -> times entered, for tests and `monitor stats`
        self.real_cycle_budget = NO_EVENT
        self.systick = next(p for p in machine.bus.peripherals if p.name == "SysTick")
        self.systick.on_change = self.reschedule
        self.timer = next(p for p in machine.bus.peripherals if p.name == "TIMER")
        self.timer.on_change = self.reschedule
        self._next_tick = self._next_event = NO_EVENT
        self._wake = None  # the WFI the run stopped at to sleep until the next event (or True after CPSIE)
        self.slept_cycles = 0  # cycles spent asleep in WFI (beyond the instruction's own), for m0sim.energy
        # A debugger (m0sim.gdbstub) stopped the core before an instruction while _run_to_boundary ran it to an
        # event: the event is taken at its own boundary, after the resume, not where the debugger stopped.
        self.held = False
        for addr in machine.instruction_sites(WFI):  # a code hook on each WFI
            machine.uc.hook_add(uc.UC_HOOK_CODE, self._on_wfi, begin=addr, end=addr)
        for after in self._unmasking_sites():  # a pending exception may come in at the next boundary
            machine.uc.hook_add(uc.UC_HOOK_CODE, self._after_cpsie, begin=after, end=after)

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

    def execution_priority(self) -> int:
        prio = min((self.priority(n) for n in self.active), default=4)
        if self.m.uc.reg_read(arm.UC_ARM_REG_PRIMASK) & 1:
            prio = min(prio, 0)
        return prio

    def highest_pending(self):
        """ICSR.VECTPENDING: the pending exception (an IRQ only when enabled) of the highest priority, then the
        lowest number; PRIMASK and the current execution priority do not count (ARMv6-M B3.2.4)."""
        candidates = [n for n in self.pending if n < IRQ0 or self.enabled >> (n - IRQ0) & 1]
        return min(candidates, key=lambda n: (self.priority(n), n), default=None)

    def _ready(self):
        """The pending exception that would preempt now, if any (lowest priority value, then lowest number)."""
        best = self.highest_pending()
        return best if best is not None and self.priority(best) < self.execution_priority() else None

    # --- scheduling: what makes the run loop stop --------------------------------------------------------
    def begin(self):
        """`Machine._execute` set the native budgets; the cycle budget is shared with the next event."""
        self.real_cycle_budget = self.m._state.cycle_budget
        self.reschedule()

    def reschedule(self):
        st = self.systick
        self._next_tick = NO_EVENT
        if st.enabled and st.ctrl & 2 and st.reload:
            period = st.reload + 1
            now = self.m.cycles()
            # max: a stop inside the block that enabled SysTick gives back cycles charged before the write
            # (m0sim.pieces), so `now` may lie a few cycles before `start`: the first tick is still a period on
            self._next_tick = st.start + (max(now - st.start, 0) // period + 1) * period
        self._raise_timer_lines()
        alarm = self.timer.next_alarm_cycle()
        self._next_event = min(self._next_tick, NO_EVENT if alarm is None else alarm)
        stop_now = self._ready() is not None
        self.m._state.cycle_budget = min(self.real_cycle_budget, self._next_event,
                                         self.m.cycles() if stop_now else NO_EVENT)

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

    def run(self, pc: int, until: int):
        """`Machine._execute`'s run loop: one emu_start until the program ends, or more when exceptions stop it."""
        m = self.m
        while True:
            self._wake = None
            try:
                m.uc.emu_start(pc, until)
            except uc.UcError as exc:
                if exc.errno != uc.UC_ERR_INSN_INVALID:
                    raise
                if not self.on_invalid_instruction(m.uc.reg_read(arm.UC_ARM_REG_PC)):
                    if self.invalid_state():
                        raise FirmwareFault(self.invalid_state_report()) from None
                    raise
                pc = m.uc.reg_read(arm.UC_ARM_REG_PC) | 1
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

    def handle_stop(self, pc: int, until: int):
        """The run stopped before instruction pc for an event: give back the rest of the block, run on to the
        first instruction boundary at or after the event's cycle, then take what is pending. Returns where to
        go on (None: the program ended or stopped for another reason on the way)."""
        m, s = self.m, self.m._state
        s.stop_reason = 0
        stall = give_back(m, pc)
        if self._wake is not None and self._wake is not True:  # sleep in the WFI at pc until the next tick
            now = m.cycles() + WFI_CYCLES
            slept = max(0, self._next_event - now)
            self.slept_cycles += slept
            m.adjust_cycles(WFI_CYCLES + slept)
            s.insns += 1
            pc += 2
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
        t, start, size = m.current_block()
        end = start + size
        j = (pc - t.base) // 2
        need = self._next_event - m.cycles() - stall
        stop_at = None
        for k in range(j + 1, (end - t.base) // 2):
            if t.insns_prefix[k + 1] == t.insns_prefix[k]:
                continue  # not an instruction start
            if int(t.cycles_prefix[k]) - int(t.cycles_prefix[j]) >= need:
                stop_at = t.base + 2 * k
                break
        hook = None
        if stop_at is not None:
            hook = m.uc.hook_add(uc.UC_HOOK_CODE, lambda u, *_: u.emu_stop(), begin=stop_at, end=stop_at)
            m.uc.ctl_remove_cache(stop_at, stop_at + 2)
        if stop_at is None:  # the event falls at the block's end: run the block, stop at the next one's start
            rest = int(t.cycles_prefix[(end - t.base) // 2]) - int(t.cycles_prefix[j])
            s.cycle_budget = min(self.real_cycle_budget, m.cycles() + rest + stall + 1)
        else:
            s.cycle_budget = self.real_cycle_budget
        try:
            m.uc.emu_start(pc | 1, until)
            while m._exit_code is None and codechange.after_stop(m):  # code run or overwritten in SRAM
                m.uc.emu_start(m.uc.reg_read(arm.UC_ARM_REG_PC) | 1, until)
        finally:
            if hook is not None:  # the block keeps its call into the hook list, which no longer stops here
                m.uc.hook_del(hook)
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

    # --- entry and return ---------------------------------------------------------------------------------
    def take_ready(self, return_addr: int):
        n = self._ready()
        if n is not None:
            self.enter(n, return_addr)

    def has_handler(self, n: int) -> bool:
        vector = self._vector(n)
        default = self.m.program.symbols.get("Default_Handler")
        return not (default is not None and vector & ~1 == default.addr)

    def _vector(self, n: int) -> int:
        return self.m.read_word(self.vtor + 4 * n)

    def enter(self, n: int, return_addr: int, thumb: bool = True):
        """Take exception n: stack the frame (return address, and xPSR with EPSR.T = `thumb`: 0 only for a fault
        of the invalid state), switch to handler mode, jump to the vector."""
        u = self.m.uc
        if n == HARDFAULT and HARDFAULT in self.active:
            raise FirmwareFault(f"lockup: a fault in the HardFault handler at {self.m._where(return_addr)}")
        if u.reg_read(arm.UC_ARM_REG_CONTROL) & 2:
            raise FirmwareFault(f"{name(n)} taken in thread mode on the process stack (CONTROL.SPSEL), which "
                                f"m0sim does not model, at {self.m._where(return_addr)}")
        vector = self._vector(n)
        if not vector & 1:
            if n == HARDFAULT:
                raise FirmwareFault(f"lockup: the HardFault vector 0x{vector:08x} has no Thumb bit")
            return self.fault(f"the {name(n)} vector 0x{vector:08x} has no Thumb bit", return_addr)
        self.pending.discard(n)
        xpsr = u.reg_read(arm.UC_ARM_REG_XPSR) & ~XPSR_T | (XPSR_T if thumb else 0)
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
        self.active.append(n)
        self.taken[n] = self.taken.get(n, 0) + 1
        self.m.adjust_cycles(ENTRY_CYCLES)

    def leave(self, exc_return: int):
        u = self.m.uc
        if exc_return not in (EXC_RETURN_HANDLER, EXC_RETURN_THREAD_MSP) or not self.active:
            raise FirmwareFault(f"exception return with EXC_RETURN 0x{exc_return:08x}, which m0sim does not "
                                f"model (active: {', '.join(map(name, self.active)) or 'none'})")
        sp = u.reg_read(arm.UC_ARM_REG_SP)
        words = [self.m.read_word(sp + 4 * i) for i in range(8)]
        for reg, value in zip((arm.UC_ARM_REG_R0, arm.UC_ARM_REG_R1, arm.UC_ARM_REG_R2, arm.UC_ARM_REG_R3,
                               arm.UC_ARM_REG_R12, arm.UC_ARM_REG_LR), words):
            u.reg_write(reg, value)
        xpsr = words[7]
        sp += 32 + (4 if xpsr & XPSR_ALIGN else 0)
        self.active.pop()
        u.reg_write(arm.UC_ARM_REG_SP, sp)
        u.reg_write(arm.UC_ARM_REG_XPSR, xpsr & ~XPSR_ALIGN)
        self._write_ipsr(xpsr & 0x3F)
        u.reg_write(arm.UC_ARM_REG_PC, words[6] | 1)
        self.m.adjust_cycles(EXIT_CYCLES)
        self._raise_timer_lines()
        self.take_ready(words[6])
        self.reschedule()

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
        """Sleep: stop before the WFI; the run loop advances the cycles to the next event and takes it."""
        if self._ready() is not None:
            return  # an exception is already waiting: WFI does not sleep
        if self._next_event == NO_EVENT:
            self.m._stop_with(f"the core waits for an interrupt (WFI) that nothing can raise (no SysTick or TIMER "
                              f"alarm interrupt enabled, no pending exception) at {self.m._where(addr)}")
        self._wake = addr
        u.emu_stop()

    def _after_cpsie(self, u, _addr, _size, _user):
        if self.pending and self._ready() is not None:
            self._wake = True
            u.emu_stop()
