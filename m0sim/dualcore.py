"""Two cores in lockstep: each runs a quantum of cycles in turn, so neither gets more than a quantum ahead.

Both cores count cycles on one time base (core 1's count starts at core 0's when it is launched). In each round
core 0 then core 1 runs until its count reaches the round's end (`quantum` cycles on); a core stops only between
translation blocks, so it may overshoot by one block. A FIFO word, a spinlock or a store to SRAM is seen by the
other core at once: a handshake between the cores resolves within a quantum and a block of where silicon would
resolve it, and the same program gives the same bits and counts on every run (nothing depends on the host).
While one core sleeps in WFE with no event of its own due, the other runs without rounds until it does
something that can wake the sleeper (SEV, a FIFO word, a TIMER write): nothing else it does is seen by a core
that runs no instructions.

Events (ARMv6-M B1.5.18, RP2040 2.3.1: each core's SEV reaches the other core): SEV sets the event register of
both cores; WFE with the register set clears it and goes on, otherwise the core sleeps (its cycles advance, it runs
no instructions) until the other core's SEV, or an interrupt or a SysTick/TIMER event of its own, which also sets
the register. With one core running and nothing that can wake it, the run ends with a clear message.

Not modelled: contention between the cores on the bus fabric and the SRAM banks (each core's accesses cost what
they cost alone), the bootrom's own instructions on core 1 (m0sim.launch), WFI woken by the other core (WFI
sleeps until a SysTick or TIMER event of its own core: m0sim.exceptions).

Under a debugger (m0sim.gdbstub) the same loop runs in pieces: a code hook of the debugger's calls `halt(k, pc)`,
the loop stops with core k before pc and the other core wherever the round had it, and `advance` goes on from
there as if nothing had happened: a round interrupted by a breakpoint is finished the way it would have been, so
the counts of a run stopped at breakpoints equal those of an uninterrupted one.
"""

import ctypes

import unicorn as uc
from unicorn import arm_const as arm

from m0sim import interrupt, native
from m0sim.errors import BudgetExhausted, FirmwareFault
from m0sim.peripherals.ppb import IRQ0
from m0sim.peripherals.sio import SIO_IRQ_PROC
from m0sim.pieces import give_back

# Cycles per round: the two-core test program's elapsed count at 64 is within 0.6% of its count at 8; a
# larger quantum runs faster and suits work split in long phases (measurements: docs/two-cores-notes.md).
DEFAULT_QUANTUM = 64
# Cycles a core running alone runs between two of a debugger's looks for Ctrl-C (Ctrl-C answered in 0.02-0.04 s
# on a core spinning alone beside a sleeping one: tests/m0sim/test_gdb_two_cores.py's SPIN).
ALONE_PIECE = 1 << 21
WFE = b"\x20\xbf"
SEV = b"\x40\xbf"
NEVER = 2**63 - 1


class DualCore:
    """The run loop of a `m0sim.soc.Pico`: core 0 alone while core 1 waits in the bootrom, both in rounds after."""

    def __init__(self, pico, quantum: int = DEFAULT_QUANTUM):
        self.pico = pico
        self.quantum = quantum
        self.cores = [pico, None]
        self.parked = [False, True]  # core 1 waits in the bootrom until launched
        self.asleep = [None, None]  # the WFE a sleeping core stopped at
        self.event = [False, False]  # each core's event register
        self.event_at = [0, 0]  # the cycle its last setting happened at (on the setter's clock)
        self.kicked_at = [0, 0]  # the cycle of the last FIFO word sent to each core
        self.sleep_cycles = [0, 0]
        self._quantum_over = False  # the last stop was the end of the round's quantum
        self._alone = None  # the core running on its own while the other sleeps (see _run_alone)
        self._cut = False  # that run was cut short: it did something that may wake the sleeper
        self._due = [False, False]  # woken at the cycle of an event of its own: Exceptions takes it first
        self._stop = [None, None]  # why a core stopped: ("wfe", addr), ("launch", None) or ("halt", addr)
        self._alone_until = None  # (core, limit) of a run alone that a debugger's halt interrupted
        self._was_cut = False  # `cut` happened since the last piece of a run alone began
        self.halted = None  # the core a debugger's `halt` stopped the loop for (see `advance`)
        self.polled = False  # the debugger's `poll` stopped the loop between rounds
        self.poll = None  # a debugger's "stop now?" (Ctrl-C), asked between rounds; None: never stop
        self.running = 0  # the core that runs (or ran last): whose fault an exception out of the loop is
        self._holder = 0  # the core whose XIP cache is the current one (the cache is shared: see _share_xip)
        self._xip_mark = 0  # the holder's xip_changes when it became the holder
        self.time = 0  # the current round's start
        self.watch(0)

    # --- hooks ---------------------------------------------------------------------------------------------
    def watch(self, k: int):
        """Code hooks on the WFE and SEV instructions of core k's decoded code."""
        core = self.cores[k]
        for addr in core.instruction_sites(WFE):
            core.uc.hook_add(uc.UC_HOOK_CODE, self._on_wfe, k, begin=addr, end=addr)
        for addr in core.instruction_sites(SEV):
            core.uc.hook_add(uc.UC_HOOK_CODE, self._on_sev, k, begin=addr, end=addr)

    def _on_wfe(self, u, addr, _size, k):
        """Stop before every WFE (Unicorn cannot execute one): `_after_slice` completes it or puts the core to
        sleep."""
        self._stop[k] = ("wfe", addr)
        u.emu_stop()

    def _on_sev(self, _u, _addr, _size, k):
        self.signal(k)

    def signal(self, k: int):
        """Core k's SEV: sets the event register of both cores, at core k's cycle."""
        now = self.cores[k].cycles() if self.cores[k] is not None else self.pico.cycles()
        for j in (0, 1):
            self.event[j] = True
            self.event_at[j] = now
        self.cut()

    def fifo_irq(self, k: int, level: bool):
        """SIO_IRQ_PROCk is a level: a high line pends the IRQ on core k's NVIC, which keeps it pending; while
        its handler runs, the pending bit follows the line, so the handler is entered again on return exactly
        when the line is still high then (the FIFO is only changed by SIO accesses, which all come here)."""
        core = self.cores[k]
        if core is None or self.parked[k]:
            return
        n = IRQ0 + SIO_IRQ_PROC[k]
        exc = core.exceptions
        if level:
            exc.pending.add(n)
        elif n in exc.active:
            exc.pending.discard(n)
        else:
            return
        exc.reschedule()

    def pushed(self, k: int):
        """A FIFO word was sent to core k: an interrupt it raises cannot wake core k before the sender's cycle."""
        sender = self.cores[1 - k]
        self.kicked_at[k] = sender.cycles() if sender is not None else self.pico.cycles()
        self.cut()

    def halt(self, k: int, addr: int):
        """A debugger's code hook stops core k before the instruction at addr (the hook calls emu_stop)."""
        self._stop[k] = ("halt", addr)

    def cut(self):
        """Something that may wake a sleeping core happened (SEV, a FIFO word, a TIMER write): a core running
        alone stops at its next block so the sleeper is looked at. (Not emu_stop: from an MMIO callback it
        would run the access again.)"""
        self._was_cut = True
        if self._alone is not None:
            core = self.cores[self._alone]
            core.exceptions.real_cycle_budget = core._state.cycle_budget = core.cycles()
            self._cut = True

    def launched(self, core1):
        """Core 1 leaves the bootrom (m0sim.launch), in core 0's store to FIFO_WR: stop core 0 so the rounds
        begin."""
        first = self.cores[1] is None
        self.cores[1] = core1
        self.parked[1] = False
        self.asleep[1] = None
        if first:
            self.watch(1)
        self._copy_xip(0, 1)
        self._stop[0] = ("launch", None)
        # Not emu_stop: inside an MMIO callback it would run the store again. The cycle budget stops core 0 at
        # its next block, also when m0sim.exceptions reschedules before then.
        p = self.pico
        p.exceptions.real_cycle_budget = p._state.cycle_budget = p.cycles()

    # --- the run loop --------------------------------------------------------------------------------------
    def run(self, pc: int, until: int):
        """`Machine._execute`'s run loop for both cores."""
        p = self.pico
        self.budget = p.exceptions.real_cycle_budget  # set from max_cycles by `_execute`
        self.until = (until, p.core1_return)
        p.uc.reg_write(arm.UC_ARM_REG_PC, pc)
        self.asleep[0], self._stop[0] = None, None  # core 0 starts afresh; core 1 goes on as it was
        self.time = max(self.time, p.cycles())
        self.advance()
        self._catch_up()

    def advance(self, solo: bool = True) -> bool:
        """Run on from where the cores are: True when the run ends; False when a debugger's `halt` stopped core
        `halted`, its `poll` asked to stop (`polled`), or, with `solo` False, core 1 went back to the bootrom
        (then a debugger runs core 0 alone itself)."""
        self.halted, self.polled = None, False
        while True:
            if self.parked[1]:
                if not solo:
                    return False
                if self._solo():
                    return self.halted is None
                continue
            with interrupt.stoppable(self.cores[1].uc):
                if self._rounds():
                    return self.halted is None and not self.polled

    def _catch_up(self):
        """At the end of a run, a sleeping core's clock joins the others (up to its own next event, where it
        wakes in the next run): its sleep counts in the run it happened in."""
        now = max(c.cycles() for c, parked in zip(self.cores, self.parked) if c is not None and not parked)
        for k in (0, 1):
            if self.parked[k] or self.asleep[k] is None:
                continue
            core = self.cores[k]
            until = now if self.event[k] else min(now, self._next_wake(k, now))
            delta = until - core.cycles()
            if delta > 0:
                core.adjust_cycles(delta)
                self.sleep_cycles[k] += delta

    def _solo(self) -> bool:
        """Core 0 alone until it ends, launches core 1 (False) or sleeps (woken here)."""
        p = self.pico
        self.running = 0
        self._share_xip(0)
        if self.asleep[0] is not None:
            self._wake_alone()
        self._set_budget(0, self.budget)
        p.exceptions.run(p.uc.reg_read(arm.UC_ARM_REG_PC) | 1, self.until[0], traps=True)  # one core: as a Machine
        done = self._after_slice(0)
        if not done and not self.parked[1]:
            self.time = p.cycles()
        return done

    def _wake_alone(self):
        """Core 0 sleeps in a WFE with core 1 in the bootrom: only its own interrupts can wake it."""
        p = self.pico
        if self.event[0]:  # sent before core 1 went back to the bootrom
            self._wake(0, max(p.cycles(), self.event_at[0]), False)
            return
        t = self._next_wake(0, NEVER)
        if t == NEVER:
            raise FirmwareFault(f"core 0 waits for an event (WFE) that nothing can send (core 1 is not running, "
                                f"no interrupt can wake it) at {p._where(self.asleep[0])}; {p.registers()}")
        if t >= self.budget:
            raise BudgetExhausted(f"budget exhausted while core 0 sleeps in a WFE at {p._where(self.asleep[0])}")
        self._wake(0, t, True)

    def _rounds(self) -> bool:
        """Rounds of both cores until the run ends (True) or core 1 returns to the bootrom (False)."""
        while not self.parked[1]:
            if self.poll is not None and self.poll():
                self.polled = True
                return True
            if self._run_alone():
                return True
            end = min(self.time + self.quantum, self.budget)
            for k in (0, 1):
                if self.parked[k]:
                    continue
                if self.asleep[k] is not None and not self._try_wake(k, end):
                    continue
                if self.cores[k].cycles() >= end:
                    continue
                if self._slice(k, end):
                    return True
            if all(self.asleep[k] is not None for k in (0, 1) if not self.parked[k]):
                self.time = max(end, self._earliest_wake())
            else:
                self.time = end
        return False

    def _run_alone(self) -> bool:
        """One core awake, the other asleep in WFE with no event of its own for a while: the awake core runs
        without rounds (nothing it does is seen by a sleeping core) until it may wake the sleeper (`cut`) or the
        sleeper's own next event. True: the run ends."""
        awake = [k for k in (0, 1) if self.asleep[k] is None]
        if len(awake) != 1 or self.parked[1]:
            return False
        k, j = awake[0], 1 - awake[0]
        if self._alone_until is not None and self._alone_until[0] == k:
            limit = self._alone_until[1]  # resumed after a debugger's halt: the same run alone goes on
        else:
            if self.event[j]:
                return False
            limit = min(self._next_wake(j, self.budget), self.budget)
            if limit - self.cores[k].cycles() <= 2 * self.quantum:
                return False
        self._alone_until, self._alone = (k, limit), k
        try:
            while True:  # in pieces under a debugger, so that it can look for Ctrl-C in between
                piece = limit if self.poll is None else min(limit, self.cores[k].cycles() + ALONE_PIECE)
                self._cut = self._was_cut = False
                done = self._slice(k, piece)
                if done or piece == limit or self._was_cut or self.asleep[k] is not None or self.parked[1]:
                    break
                if self.poll():
                    self.polled = done = True
                    break
        finally:
            self._alone = None
        if not (self.halted is not None or self.polled):
            self._alone_until = None
        self.time = max(self.time, min(self.cores[k].cycles(), limit))
        return done

    def _slice(self, k: int, end: int) -> bool:
        """Run core k until its cycle count reaches `end` (or it stops for another reason); True: the run ends."""
        core = self.cores[k]
        self.running = k
        self._share_xip(k)
        while True:
            self._set_budget(k, end)
            pc = core.uc.reg_read(arm.UC_ARM_REG_PC) | 1
            if k == 0:
                core.exceptions.run(pc, self.until[0])
            else:
                try:
                    core.exceptions.run(pc, self.until[1])
                except uc.UcError as exc:
                    self._core1_fault(lambda exc=exc: core._raise_fault(exc))
                except FirmwareFault as fault:  # raised in one of core 1's hooks
                    raise type(fault)(f"core 1: {fault}") from None
            self._quantum_over = False
            if self._after_slice(k, end):
                return True
            if self._quantum_over or self.asleep[k] is not None or self.parked[k] or core.cycles() >= end:
                return False  # else a WFE completed: go on

    def _set_budget(self, k: int, end: int):
        """Run core k up to cycle `end`. A core woken at the cycle of its own SysTick/TIMER event stops at once
        so that m0sim.exceptions takes the event (rescheduling first would look past it)."""
        core = self.cores[k]
        if self._due[k]:
            self._due[k] = False
            core.exceptions.real_cycle_budget = end
            core._state.cycle_budget = core.cycles()
        else:
            core._state.cycle_budget = end
            core.exceptions.begin()

    def _after_slice(self, k: int, end: int | None = None) -> bool:
        """Sort out why core k stopped: True when the run is over."""
        p, core = self.pico, self.cores[k]
        s = core._state
        pc = core.uc.reg_read(arm.UC_ARM_REG_PC)
        if core._exit_code is not None:
            p._exit_code = core._exit_code
            return True
        why, self._stop[k] = self._stop[k], None
        reason = native.STOP_REASONS.get(s.stop_reason)
        if why is not None and why[0] == "wfe" and why[1] == pc:  # (a stale one: Exceptions went on running)
            give_back(core, why[1])
            if self.event[k]:  # WFE consumes the event and completes as a hint
                self.event[k] = False
                self._complete(core, why[1])
            else:
                core.uc.reg_write(arm.UC_ARM_REG_PC, why[1] | 1)
                self.asleep[k] = why[1]
            return False
        if why is not None and why[0] == "halt" and why[1] == pc:  # (a stale one: Exceptions went on running)
            give_back(core, pc)
            s.stop_reason = 0
            self.halted = k
            return True
        if why is not None and why[0] == "launch":
            give_back(core, pc)
            s.stop_reason = 0
            return False
        # A cycle-budget stop that m0sim.exceptions handed back is the slice's end (it counts only what ran, so
        # the core may be a block short of `end`), the run's own budget only when `end` is that budget.
        if reason == "budget" and end is not None and s.insns < s.insn_budget \
                and (self._cut or end < self.budget):
            give_back(core, pc)
            s.stop_reason = 0
            self._quantum_over, self._cut = True, False
            return False
        if pc == self.until[k] and reason is None:
            if k == 1:  # core 1's entry function returned: back to the bootrom's wait state
                self.pico.park_core1()
                self.parked[1] = True
                return False
            return True
        if k == 1:
            self._core1_fault(lambda: core._check_stop(None))
        return True

    @staticmethod
    def _complete(core, addr: int):
        """Count the instruction at addr (a WFE, stopped before) as run, at its decoded cost, and go past it."""
        t, _start, _size = core.current_block()
        j = (addr - t.base) // 2
        core.adjust_cycles(int(t.cycles_prefix[j + 1]) - int(t.cycles_prefix[j]))
        core._state.insns += 1
        core.uc.reg_write(arm.UC_ARM_REG_PC, (addr + 2) | 1)

    def _core1_fault(self, report):
        try:
            report()
        except FirmwareFault as fault:  # or a BudgetExhausted, kept as such
            raise type(fault)(f"core 1: {fault}") from None
        raise FirmwareFault(f"core 1 stopped at {self.cores[1]._where()}")

    # --- sleeping ------------------------------------------------------------------------------------------
    def _next_wake(self, k: int, limit: int) -> int:
        """When core k, asleep, is woken by its own interrupts or SysTick/TIMER events, if before `limit`."""
        core = self.cores[k]
        s = core._state
        s.cycle_budget = limit
        core.exceptions.begin()  # the budget becomes the next event's cycle, or now when one is ready
        t = s.cycle_budget
        if t < limit and t <= s.cycles:  # ready now: an interrupt sent by the other core, not before it was sent
            t = max(s.cycles, self.kicked_at[k])
        return t

    def _try_wake(self, k: int, end: int) -> bool:
        s = self.cores[k]._state
        if self.event[k]:
            t, own = max(s.cycles, self.event_at[k]), False
        else:
            t, own = self._next_wake(k, end), True
        if t >= end:
            return False
        self._wake(k, t, own)
        return True

    def _wake(self, k: int, t: int, own_event: bool):
        """Core k wakes at cycle t: the wake-up sets its event register, so the WFE it sleeps in completes."""
        core = self.cores[k]
        self._due[k] = own_event
        delta = t - core.cycles()
        if delta > 0:
            core.adjust_cycles(delta)
            self.sleep_cycles[k] += delta
        self.event[k] = True
        self.asleep[k] = None

    def _earliest_wake(self) -> int:
        """Every running core sleeps: the first cycle one of them wakes (a deadlock ends the run clearly)."""
        times = []
        for k in (0, 1):
            if self.parked[k] or self.asleep[k] is None:
                continue
            times.append(max(self.cores[k].cycles(), self.event_at[k]) if self.event[k]
                         else self._next_wake(k, NEVER))
        t = min(times)
        if t == NEVER:
            where = "; ".join(f"core {k} at {self.cores[k]._where(self.asleep[k])}" for k in (0, 1)
                              if self.asleep[k] is not None)
            raise FirmwareFault(f"both cores wait for an event (WFE) that nothing can send: {where}")
        if t >= self.budget:
            raise BudgetExhausted(f"budget exhausted while both cores sleep in WFE after "
                                  f"{self.pico.cycles():,} cycles")
        return t

    # --- the XIP cache both cores share ----------------------------------------------------------------------
    def _share_xip(self, k: int):
        """The cache lives in each core's native state; the core about to run gets the last runner's copy
        when that changed it (one core runs at a time, so the copy is the shared cache)."""
        if self._holder == k:
            return
        if self.cores[self._holder]._state.xip_changes != self._xip_mark:
            self._copy_xip(self._holder, k)
        else:  # unchanged since it took over: both copies are equal
            self._holder, self._xip_mark = k, self.cores[k]._state.xip_changes

    def _copy_xip(self, src: int, dst: int):
        a, b = self.cores[src]._state, self.cores[dst]._state
        for name in ("xip_tags", "xip_lru"):
            ctypes.memmove(ctypes.addressof(getattr(b, name)), ctypes.addressof(getattr(a, name)),
                           ctypes.sizeof(getattr(a, name)))
        b.xip_changes += 1  # its blocks' replay stamps are stale now
        self._holder = dst
        self._xip_mark = b.xip_changes
