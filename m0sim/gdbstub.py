"""`m0sim gdbserver`: debug a program in the emulated Pico from GDB (gdb-multiarch) over the remote protocol.

The debugger plugs into `Machine._execute` (its `debugger` attribute): where a plain run makes one
`emu_start`, the debugger serves GDB and runs the program in pieces between stops. No hook is added to a run
without a debugger; with one, breakpoints are per-address code hooks, a single step is Unicorn's count of 1,
Ctrl-C is polled at least every POLL_SECONDS of host time between slices (cut by the native instruction
budget, by each interrupt and by each WFI sleep), and watchpoints add memory hooks on their range (plus a
code hook on every instruction while any watchpoint is set, to stop right after the access).

As with a probe: `load` writes flash through the vFlash packets (m0sim.gdbflash) and the loaded image is
the program from then on (`monitor reset` included); after `detach` (or `quit`) the program runs on exactly
as `m0sim exec` runs it, interrupts and WFI included, and the next GDB that connects halts it; a single step
does not stop in an interrupt handler taken during it (OpenOCD's `cortex_m maskisr auto`): the handler runs
and the step ends where it would have without the interrupt.

Counting stays exact: every stop gives back the unexecuted rest of the block charged last (m0sim.pieces), so
the cycles after any mix of steps, breakpoints and continues equal those of an uninterrupted run
(tests/m0sim/test_gdbstub.py).

Both cores (m0sim.gdbcores): core 0 is thread 1, core 1 thread 2. While core 1 waits in the bootrom the program
runs as above, on core 0 alone; once it is launched, every resume runs the two-core loop (m0sim.dualcore) in
all-stop mode: both cores run in their rounds, a breakpoint stops whichever core reaches it (the other stops
where its round had it) and the stop names that core's thread, so the counts of a run stopped at breakpoints
equal those of an uninterrupted one. A step of one core runs the rounds until that core has retired one
instruction (with `maskisr auto`, not counting an interrupt handler it entered meanwhile): the other core runs
on with it as the rounds let it, up to a quantum; the order in which GDB resumes does not freeze it
(no scheduler locking). Watchpoints watch core 0's accesses.
"""

import sys
import time
from dataclasses import dataclass

import numpy as np
import unicorn as uc
from unicorn import arm_const as arm

from m0sim import codechange, interrupt, memmap, native
from m0sim.errors import BudgetExhausted, FirmwareFault
from m0sim.exceptions import PENDSV
from m0sim.gdbcores import Threads
from m0sim.gdbflash import FlashLoad
from m0sim.gdbtarget import MEMORY_MAP_XML, REGISTER_NUMBER, REGISTERS, TARGET_XML, Refused, peek_peripheral
from m0sim.pieces import give_back, retired
from m0sim.rsp import INTERRUPT, Connection, Disconnected, unescape
from m0sim.stats import RunStats

SLICE = 2_000_000  # instructions per emu_start at most, so that Ctrl-C is noticed between slices
POLL_SECONDS = 0.05  # host time between two looks for Ctrl-C (or a new GDB, while detached)
SIGINT, SIGILL, SIGTRAP, SIGSEGV = 2, 4, 5, 11
# The emulated budget (--max-seconds) ran out: SIGXCPU, "CPU time limit exceeded", is what happened (the
# emulated CPU's time limit), GDB names it, and unlike SIGILL it says nothing is wrong with the program.
SIGXCPU = 24
WATCH_KINDS = {2: "watch", 3: "rwatch", 4: "awatch"}
MASKISR_MODES = ("auto", "off")
MONITOR_HELP = ("monitor commands: reset [halt] (restart from the reset vector, halted), cycles, stats, "
                "maskisr [auto|off] (auto: a step does not stop in an interrupt handler), help\n")
RESET_NOTE = ("m0sim: reset: halted at the reset vector. GDB shows the registers it read before until "
              "`maint flush register-cache` or a `stepi` (which runs nothing after a reset)\n")


class Reset(Exception):
    """`monitor reset` or a finished `load`: the server builds a fresh machine (of the loaded program, if any)
    and serves the same GDB from reset; `ram_writes` are GDB's writes to SRAM that belong to the load."""

    def __init__(self, program=None, ram_writes=()):
        self.program = program
        self.ram_writes = list(ram_writes)


class Killed(Exception):
    """GDB killed the program."""


class Gone(Exception):
    """With --once: GDB disconnected without detaching; the server ends."""


@dataclass
class Watch:
    addr: int
    length: int
    kind: int  # 2 write, 3 read, 4 access
    hook: int


class Debugger:
    """Serves GDB for one Machine run (see `Machine._execute`), across detaches and reconnections: `lobby`
    (m0sim.gdbserver.Lobby) holds the connected GDB, if any, and accepts the next one."""

    def __init__(self, lobby, breakpoints=None, watches=None, err=None, once=False, ram_writes=(),
                 maskisr="auto", sync=False):
        self.lobby = lobby
        self.err = err or (lambda text: print(text, file=sys.stderr, flush=True))
        self.once = once
        self.maskisr = maskisr
        self.m = None
        self.breaks: dict[int, int] = {}  # address -> hook handle, on core 0
        self.breaks1: dict[int, int] = {}  # the same on core 1, once it exists
        self.threads = None  # m0sim.gdbcores.Threads of the machine served
        self._g_core = 0  # the core whose registers g/G/p/P read and write (Hg)
        self._c_core = 0  # the core a `c`/`s` packet resumes (Hc)
        self._stopped = 0  # the core the last stop reply named
        self._reported = 0  # the same when the current resume began
        self._step = None  # (core, instructions retired, exception depth) of a step on two cores
        self._in_rounds = False  # the two-core loop is running: a stop goes through its `halt`
        self.watches: dict[tuple, Watch] = {}
        self._wanted_breaks = dict.fromkeys(breakpoints or ())
        self._wanted_watches = list(watches or ())
        self._pending_ram_writes = list(ram_writes)
        self._ram_writes = []  # GDB's SRAM writes since the last resume: part of a `load` if one follows
        self._flash_load = None
        self._skip_break_at = [None, None]  # per core: resuming from a breakpoint at this address
        self._watch_hit = None  # (kind, addr) of an access seen; stop before the next instruction
        self._stop_pending = None
        self._step_hook = None
        self._fault = None  # FirmwareFault reported to GDB as a signal; the run ends on the next resume
        self._hits_owed = 0  # XIP hits given back at this stop that the resumed block counts again
        # The next single step is answered without running anything (OpenOCD's `gdb_sync`): after a watchpoint
        # stop, GDB (which takes ARM watchpoints to stop before the access) steps over the access, which m0sim
        # has already run, stopping right after it in its context; after a reset or load, that step is how GDB
        # comes to show the new registers.
        self._step_answered = sync
        self.detached = False

    @property
    def conn(self) -> Connection | None:
        return self.lobby.conn

    # --- plugged into Machine._execute --------------------------------------------------------------------
    def drive(self, machine, pc: int, until: int):
        self.m = machine
        self.threads = Threads(machine)
        machine.uc.reg_write(arm.UC_ARM_REG_PC, pc)
        for addr, data in self._pending_ram_writes:
            machine._write_bytes(addr, data)
        self._sync_breaks()
        for addr, length, kind in self._wanted_watches:
            self._add_watch(addr, length, kind)
        self.until = until
        s = machine._state
        # what the run's budget (--max-seconds) grants; granted again each time it runs out under GDB
        self._allowance = (s.insn_budget - s.insns, machine.exceptions.real_cycle_budget - s.cycles)
        self._insn_budget = s.insn_budget
        self._cycle_budget = machine.exceptions.real_cycle_budget
        if self.threads.dual is not None:
            self.threads.dual.budget = self._cycle_budget
            self.threads.dual.until = (until, machine.core1_return)
        self._serve()

    # --- the command loop ---------------------------------------------------------------------------------
    def _serve(self):
        while True:
            if self.detached:
                if self._run_on():
                    return  # the program ended while no GDB was connected
                continue
            conn = self.lobby.wait()
            try:
                packet = conn.receive()
                if packet == bytes([INTERRUPT]):
                    continue  # the target is already stopped
                try:
                    reply = self._handle(packet.decode("latin-1"), packet)
                except (ValueError, IndexError, TypeError):  # TypeError: too few fields ("Z0")
                    reply = "E01"  # a packet GDB would not send: refuse it, keep serving
                if reply is _RESUMED:
                    if self.m._exit_code is not None:
                        return
                    continue
                if reply is not None:
                    conn.send(reply)
            except Disconnected:
                self.lobby.drop()
                if self.once:
                    raise Gone() from None
                self.err("m0sim: GDB disconnected; the program stays halted for the next GDB")

    def _handle(self, text: str, raw: bytes):
        cmd = text[:1]
        if text.startswith("qSupported"):
            return "PacketSize=4000;qXfer:features:read+;qXfer:memory-map:read+;vContSupported+"
        if text.startswith("qXfer:features:read:target.xml:"):
            return _xfer(TARGET_XML, text)
        if text.startswith("qXfer:memory-map:read::"):
            return _xfer(MEMORY_MAP_XML, text)
        if text == "?":
            return self._with_thread(f"T{SIGTRAP:02x}") if self.threads.two else f"S{SIGTRAP:02x}"
        if text in ("qAttached",):
            return "1"
        if text.startswith(("Hg", "Hc")):
            k = self.threads.core_of(text[2:], self._stopped)
            if text[1] == "g":
                self._g_core = k
            else:
                self._c_core = k
            return "OK"
        if text == "qSymbol::":
            return "OK"
        if text == "qC":
            return f"QC{self._stopped + 1:x}"
        if text == "qfThreadInfo":
            return "m" + ",".join(f"{t:x}" for t in self.threads.ids())
        if text == "qsThreadInfo":
            return "l"
        if text.startswith("qThreadExtraInfo,"):
            return self.threads.describe(self.threads.core_of(text[17:], self._stopped)).encode().hex()
        if text.startswith("T"):  # is thread alive
            self.threads.core_of(text[1:], self._stopped)
            return "OK"
        if text == "vCont?":
            return "vCont;c;C;s;S"
        if text.startswith("vCont;"):
            return self._resume(self._vcont_step(text[6:]))
        if text.startswith("vFlash"):
            return self._flash(text, raw)
        if cmd in ("c", "C", "s", "S"):
            if cmd in "cs" and len(text) > 1:  # optional resume address
                if not self.threads.set_reg(self._c_core, REGISTER_NUMBER["pc"], int(text[1:], 16)):
                    return "E01"
            return self._resume(self._c_core if cmd in "sS" else None)
        if cmd == "g":
            return "".join(_hex32(self._reg(i)) for i in range(len(REGISTERS)))
        if cmd == "G":
            data = bytes.fromhex(text[1:])
            for i in range(min(len(data) // 4, len(REGISTERS))):
                if not self._set_reg(i, int.from_bytes(data[4 * i:4 * i + 4], "little")):
                    return "E01"
            return "OK"
        if cmd == "p":
            n = int(text[1:], 16)
            return _hex32(self._reg(n)) if n < len(REGISTERS) else "E00"
        if cmd == "P":
            n, value = text[1:].split("=")
            n = int(n, 16)
            if n >= len(REGISTERS):
                return "E00"
            return "OK" if self._set_reg(n, int.from_bytes(bytes.fromhex(value), "little")) else "E01"
        if cmd == "m":
            addr, length = (int(x, 16) for x in text[1:].split(","))
            data = self._read(addr, length)
            return data.hex() if data is not None else "E14"
        if cmd == "M":
            head, data = text[1:].split(":", 1)
            addr, _length = (int(x, 16) for x in head.split(","))
            return "OK" if self._write(addr, bytes.fromhex(data)) else "E14"
        if cmd == "X":
            colon = raw.index(b":")
            addr, _length = (int(x, 16) for x in raw[1:colon].decode().split(","))
            return "OK" if self._write(addr, unescape(raw[colon + 1:])) else "E14"
        if cmd in ("Z", "z"):
            return self._point(cmd == "Z", *(int(x, 16) for x in text[1:].split(";")[0].split(",")[:3]))
        if text.startswith("qRcmd,"):
            return self._monitor(bytes.fromhex(text[6:]).decode(errors="replace").strip())
        if cmd == "k" or text.startswith("vKill"):
            if text.startswith("vKill"):
                self.conn.send("OK")
            raise Killed()
        if cmd == "D":
            self.conn.send("OK")
            self._detach()
            return None
        return ""  # not supported: GDB falls back or does without

    # --- registers and memory -----------------------------------------------------------------------------
    def _reg(self, n: int) -> int:
        return self.threads.reg(self._g_core, n)

    def _set_reg(self, n: int, value: int) -> bool:
        return self.threads.set_reg(self._g_core, n, value)

    def _vcont_step(self, actions: str) -> int | None:
        """The core a vCont's actions step (`s:2`, or `s` for the current one), None when they only continue.
        In all-stop mode the other core runs with the step whatever its action (see the module docstring)."""
        for action in actions.split(";"):
            kind, _, tid = action.partition(":")
            if kind[:1] in ("s", "S"):
                return self.threads.core_of(tid, self._c_core) if tid else self._c_core
        return None

    def _with_thread(self, reply):
        """A stop reply with the thread of the core that stopped, when the program has two threads (which GDB then
        selects: so does the stub)."""
        if isinstance(reply, str) and reply.startswith("T") and self.threads.two and "thread:" not in reply:
            self._g_core = self._c_core = self._stopped
            return f"{reply}thread:{self._stopped + 1:x};"
        return reply

    @staticmethod
    def _memory(addr: int, length: int) -> bool:
        return length >= 0 and any(r.contains(addr, max(length, 1)) for r in memmap.MEMORY_REGIONS)

    def _read(self, addr, length):
        if self._memory(addr, length):
            return self.m._read_bytes(addr, length)
        try:  # a peripheral register (of the selected core): only one that reads without side effects, at no cost
            return peek_peripheral((self.threads.core(self._g_core) or self.m).bus, addr, length)
        except Refused as why:
            self.err(f"m0sim: GDB read refused: {why}")
            return None

    def _write(self, addr, data) -> bool:
        if not data:
            return True  # GDB's probe for the X packet (a zero-length write)
        if not self._memory(addr, len(data)) or addr < memmap.ROM.end:  # ROM: read-only, as on the Pico
            return False
        self.m._write_bytes(addr, data)
        if memmap.SRAM.contains(addr, len(data)):
            self._ram_writes.append((addr, bytes(data)))
        return True

    # --- load: flash erase and write ----------------------------------------------------------------------
    def _flash(self, text: str, raw: bytes):
        if text.startswith("vFlashErase:"):
            addr, length = (int(x, 16) for x in text[12:].split(","))
            self._flash_load = self._flash_load or FlashLoad()
            return "OK" if self._flash_load.erase(self.m, addr, length) else "E01"
        if text.startswith("vFlashWrite:"):
            colon = raw.index(b":", 12)
            self._flash_load = self._flash_load or FlashLoad()
            return "OK" if self._flash_load.write(self.m, int(raw[12:colon], 16), unescape(raw[colon + 1:])) \
                else "E01"
        if text == "vFlashDone":
            load, self._flash_load = self._flash_load, None
            if load is None:
                return "OK"
            program = load.program(self.m, self.m.program.path)
            self.err(f"m0sim: GDB loaded {program.path.name}; the program restarts from its reset vector")
            self.conn.send("OK")
            raise Reset(program, self._ram_writes)
        return ""

    # --- breakpoints and watchpoints ----------------------------------------------------------------------
    def _point(self, insert: bool, kind: int, addr: int, length: int = 2):
        if kind in (0, 1):
            if not 0 <= addr < 1 << 32:
                return "E01"  # not an address of the core: refused now, not when the core resumes
            addr &= ~1
            if insert:  # the hooks follow when the core resumes (_sync_breaks)
                self._wanted_breaks[addr] = None
            else:
                self._wanted_breaks.pop(addr, None)
            return "OK"
        if kind in WATCH_KINDS:
            if not memmap.SRAM.contains(addr, max(length, 1)):
                return "E01"  # watchpoints are served for SRAM
            key = (addr, length, kind)
            if insert:
                self._wanted_watches.append(key)
                self._add_watch(addr, length, kind)
            else:
                if key in self._wanted_watches:
                    self._wanted_watches.remove(key)
                self._remove_watch(key)
            return "OK"
        return ""

    def _sync_breaks(self):
        """Give each core a code hook at exactly the wanted breakpoints, changing only the difference. GDB
        removes every breakpoint at each stop and inserts them all again at each resume (each step of a
        `next` too): hooking and unhooking them all each time, with the retranslation every change forces,
        made thousands of breakpoints crawl; an unchanged set now costs nothing."""
        for k in (0, 1):
            if self._core(k) is None:
                continue
            for addr in [a for a in self._hooks(k) if a not in self._wanted_breaks]:
                self._remove_break(addr, k)
            for addr in self._wanted_breaks:
                self._add_break(addr, k)

    def _hooks(self, k: int) -> dict[int, int]:
        return self.breaks1 if k else self.breaks

    def _core(self, k: int):
        """Core k's Machine (core 1's once it exists)."""
        return self.m if k == 0 else self.threads.core(1) if self.threads is not None else None

    def _add_break(self, addr: int, k: int = 0):
        hooks, u = self._hooks(k), self._core(k).uc
        if addr in hooks:
            return
        if k:
            hooks[addr] = u.hook_add(uc.UC_HOOK_CODE, self._on_break, user_data=k, begin=addr, end=addr)
        else:
            hooks[addr] = u.hook_add(uc.UC_HOOK_CODE, self._on_break, begin=addr, end=addr)
        u.ctl_remove_cache(addr, addr + 2)  # blocks translated before must call the new hook

    def _remove_break(self, addr: int, k: int = 0):
        hook = self._hooks(k).pop(addr, None)
        if hook is not None:
            u = self._core(k).uc
            u.hook_del(hook)
            u.ctl_remove_cache(addr, addr + 2)

    def _on_break(self, u, addr, _size, k):
        k = k or 0  # core 0's hooks carry no user data
        if self._skip_break_at[k] == addr:  # resuming from this very breakpoint
            self._skip_break_at[k] = None
            return
        self._stop_pending = SIGTRAP, ""
        self._halt(u, k, addr)

    def _halt(self, u, k: int, addr: int):
        """Stop core k before the instruction at addr (through the two-core loop while it runs); an interrupt
        due later in the block waits for the resume (m0sim.exceptions: held)."""
        if self._in_rounds:
            self.threads.dual.halt(k, addr)
        self._core(k).exceptions.held = True
        u.emu_stop()

    def _on_step(self, u, addr, _size, k):
        """A step on two cores: stop core k at the first instruction boundary after it retired one (with maskisr
        auto, not inside an interrupt handler entered during the step)."""
        _core, start, depth = self._step
        core = self.threads.core(k)
        if retired(core, addr) <= start:
            return
        exc = core.exceptions
        if self.maskisr == "auto" and len(exc.active) > depth and exc.active[-1] >= PENDSV:
            return
        self._stop_pending = SIGTRAP, ""
        self._halt(u, k, addr)

    def _add_watch(self, addr: int, length: int, kind: int):
        key = (addr, length, kind)
        if key in self.watches:
            return
        types = {2: uc.UC_HOOK_MEM_WRITE, 3: uc.UC_HOOK_MEM_READ, 4: uc.UC_HOOK_MEM_READ | uc.UC_HOOK_MEM_WRITE}
        hook = self.m.uc.hook_add(types[kind], self._on_access, user_data=key, begin=addr,
                                  end=addr + max(length, 1) - 1)
        self.watches[key] = Watch(addr, length, kind, hook)
        if self._step_hook is None:
            self._step_hook = self.m.uc.hook_add(uc.UC_HOOK_CODE, self._after_access)
        self.m.uc.ctl_flush_tb()

    def _remove_watch(self, key):
        w = self.watches.pop(key, None)
        if w is not None:
            self.m.uc.hook_del(w.hook)
        if not self.watches and self._step_hook is not None:
            self.m.uc.hook_del(self._step_hook)
            self._step_hook = None
            self.m.uc.ctl_flush_tb()

    def _on_access(self, _u, _access, _addr, _size, _value, key):
        if self._watch_hit is None:
            self._watch_hit = key

    def _after_access(self, u, pc, _size, _user):
        """Runs before every instruction while watchpoints exist: stop here if the last one hit one."""
        if self._watch_hit is not None:
            self._stop_for_watch(u, pc)

    def _stop_for_watch(self, u, pc: int):
        addr, _length, kind = self._watch_hit
        self._watch_hit = None
        self._stop_pending = SIGTRAP, f"{WATCH_KINDS[kind]}:{addr:x};"
        self._halt(u, 0, pc)

    # --- running ------------------------------------------------------------------------------------------
    def _resume(self, step_core: int | None):
        """Resume (a step of core `step_core`, or a continue when None) and answer with the stop reply."""
        if self._fault is not None:
            self.conn.send(f"X{self._fault[0]:02x}")
            raise self._fault[1]
        self._ram_writes = []
        answered, self._step_answered = self._step_answered, False
        if step_core is not None and answered:
            return self._with_thread(f"T{SIGTRAP:02x}")
        self._hits_owed = 0
        self._reported, self._stopped = self._stopped, 0
        if self.threads.both_running():
            reply = self._run_both(step_core, self.conn.poll_interrupt)
        else:
            step = step_core == 0
            active = len(self.m.exceptions.active)
            reply = self._run(step_core, self.conn.poll_interrupt)
            exc = self.m.exceptions
            if step and self.maskisr == "auto" and reply == f"T{SIGTRAP:02x}" and len(exc.active) > active \
                    and exc.active[-1] >= PENDSV and not self.threads.both_running():
                reply = self._finish_handlers(active)  # an interrupt (a fault or an SVC is the step's own doing)
        if reply is _RESUMED:
            self.conn.send(f"W{self.m._exit_code & 0xFF:02x}")
        self._step_answered = isinstance(reply, str) and "watch:" in reply
        return self._with_thread(reply)

    def _finish_handlers(self, depth: int):
        """maskisr auto: the step took an interrupt (PendSV, SysTick or an IRQ: what a Cortex-M's C_MASKINTS
        masks; faults and SVC are the step's own doing and stop in their handler); run its handler (and any it
        lets in) to the return to the stepped code, where the step ends. A breakpoint, watchpoint or Ctrl-C on
        the way still stops there."""
        m = self.m
        if m.uc.reg_read(arm.UC_ARM_REG_PC) in self.breaks:
            return f"T{SIGTRAP:02x}"  # a breakpoint on the handler's first instruction: it stops there
        sp = m.uc.reg_read(arm.UC_ARM_REG_SP)
        back = int.from_bytes(m._read_bytes(sp + 24, 4), "little") & ~1  # the frame's return address
        exc = m.exceptions

        def arrived(u, _addr, _size, _user):
            if len(exc.active) <= depth:
                self._stop_pending = SIGTRAP, ""
                u.emu_stop()
        hook = m.uc.hook_add(uc.UC_HOOK_CODE, arrived, begin=back, end=back)
        m.uc.ctl_remove_cache(back, back + 2)
        try:
            return self._run(None, self.conn.poll_interrupt)
        finally:
            m.uc.hook_del(hook)
            m.uc.ctl_remove_cache(back, back + 2)

    def _run(self, step_core: int | None, poll):
        """Run core 0 alone (core 1 waits in the bootrom) until a stop GDB should hear of; its stop reply, or
        _RESUMED when the program exited. A step of core 1 runs until core 1 is launched."""
        step = step_core == 0
        self._sync_breaks()
        m, s = self.m, self.m._state
        exc = m.exceptions
        dual = self.threads.dual
        if dual is not None and dual.cores[1] is not None:  # back from the rounds: as m0sim.dualcore's _solo
            dual._share_xip(0)
            try:
                if dual.asleep[0] is not None:
                    dual.budget = self._cycle_budget
                    dual._wake_alone()
            except FirmwareFault as fault:  # asleep in a WFE nothing can end, or past the budget
                return self._report_fault(fault)
            dual._set_budget(0, self._cycle_budget)  # in the rounds it was a slice's end
        pc = m.uc.reg_read(arm.UC_ARM_REG_PC)
        self._skip_break_at[0] = pc if pc in self.breaks else None
        exc.held = False
        self._stop_pending = None
        next_poll = time.monotonic() + POLL_SECONDS
        while True:
            if time.monotonic() >= next_poll:  # the state is consistent here: stopped before pc
                next_poll = time.monotonic() + POLL_SECONDS
                if poll():
                    return f"T{SIGINT:02x}"
            s.insn_budget = min(self._insn_budget, s.insns + SLICE)
            if step:
                m.uc.ctl_flush_tb()  # Unicorn's instruction count only reaches blocks translated after it is set
            exc._wake = None
            try:
                m.uc.emu_start(pc | 1, self.until, count=1 if step else 0)
            except uc.UcError as err:
                pc = m.uc.reg_read(arm.UC_ARM_REG_PC)
                if err.errno == uc.UC_ERR_INSN_INVALID and exc.on_invalid_instruction(pc):
                    pc = m.uc.reg_read(arm.UC_ARM_REG_PC)  # HardFault through the firmware's handler
                    if step:
                        return f"T{SIGTRAP:02x}"
                    continue
                return self._report_fault(_fault_of(lambda err=err: m._raise_fault(err)))
            except FirmwareFault as fault:  # raised in one of the machine's hooks (a BKPT that is no call)
                return self._report_fault(fault)
            finally:
                s.insn_budget = self._insn_budget
            if interrupt.requested():
                raise KeyboardInterrupt  # Ctrl-C to the server itself (m0sim.interrupt)
            self._skip_break_at[0] = None
            if m._exit_code is not None:
                return _RESUMED
            if codechange.after_stop(m):  # code run or overwritten in SRAM: decoded anew, then on
                pc = m.uc.reg_read(arm.UC_ARM_REG_PC)
                continue
            try:
                handled = dual is not None and self._core0_event(dual)
            except FirmwareFault as fault:  # asleep in a WFE nothing can end, or past the budget
                return self._report_fault(fault)
            if handled:
                if not dual.parked[1]:  # core 1 was launched: both cores run from here
                    self._sync_breaks()
                    if step or step_core == 1:  # the launching store was the step / core 1's first stop
                        self._stopped = step_core
                        return f"T{SIGTRAP:02x}"
                    return self._run_both(None, poll)
                pc_now = m.uc.reg_read(arm.UC_ARM_REG_PC)
                if step and dual.asleep[0] is None and pc_now != pc:
                    return f"T{SIGTRAP:02x}"  # the stepped WFE completed
                pc = pc_now
                continue
            reason = native.STOP_REASONS.get(s.stop_reason)
            pc = m.uc.reg_read(arm.UC_ARM_REG_PC)
            if self._watch_hit is not None and self._stop_pending is None:
                # the access was the last instruction that ran (an exception return, the end of a step or
                # slice, a stop for an event): report it here, in the context of the access
                self._watch_hit, (addr, _length, kind) = None, self._watch_hit
                self._give_back(pc)
                s.stop_reason = 0
                return f"T{SIGTRAP:02x}{WATCH_KINDS[kind]}:{addr:x};"
            if (exc._wake is not None or reason == "budget") and exc.event_due():
                pc = exc.handle_stop(pc, self.until)  # an interrupt: taken, then on
                if pc is None:
                    if m._exit_code is not None:
                        return _RESUMED
                    pc = m.uc.reg_read(arm.UC_ARM_REG_PC)
                    reason = native.STOP_REASONS.get(s.stop_reason)
                elif step:
                    return f"T{SIGTRAP:02x}"
                else:
                    continue
            if reason == "budget" and s.insns < self._insn_budget and s.cycles < exc.real_cycle_budget:
                s.stop_reason = 0
                self._give_back(pc)
                continue  # the end of a slice
            if reason == "budget":
                return self._budget_spent(pc)
            if reason == "unaligned" and exc.route_unaligned():
                pc = m.uc.reg_read(arm.UC_ARM_REG_PC)  # HardFault through the firmware's handler
                if step:
                    return f"T{SIGTRAP:02x}"
                continue
            if reason is not None or (pc & ~1) == self.until:
                fault = _fault_of(lambda: m._check_stop(None)) or FirmwareFault(
                    f"{m.program.path.name}: the program left its code at {m._where()}")
                return self._report_fault(fault)
            self._give_back(pc)
            sig, why = self._stop_pending or (SIGTRAP, "")
            return f"T{sig:02x}{why}"

    def _core0_event(self, dual) -> bool:
        """After core 0 stopped alone: was it for the two-core loop (m0sim.dualcore) -- a WFE, which completes or
        sleeps until core 0's own next event, or the store that launched core 1? Handled here if so."""
        m = self.m
        why, pc = dual._stop[0], m.uc.reg_read(arm.UC_ARM_REG_PC)
        if why is None or (why[0] == "wfe" and why[1] != pc) or why[0] == "halt":
            dual._stop[0] = None  # a stale one: m0sim.exceptions went on running after it
            return False
        dual._after_slice(0)
        if dual.asleep[0] is not None:
            dual.budget = self._cycle_budget
            dual._wake_alone()  # the cycles jump to the wake-up; a WFE nothing can end is a fault (raised)
        if not dual.parked[1]:
            dual.time = m.cycles()  # the rounds start at the launch
        dual._set_budget(0, self._cycle_budget)  # the launch had set core 0's budget to stop at once
        return True

    def _run_both(self, step_core: int | None, poll):
        """Both cores in their rounds (m0sim.dualcore) until a breakpoint, the end of a step of core
        `step_core`, a poll that asks to stop (Ctrl-C, a GDB arriving), a fault or the end of the program."""
        m, dual = self.m, self.threads.dual
        self._sync_breaks()
        for k in (0, 1):  # the core whose stop GDB heard of resumes from its breakpoint, if it stopped at one
            pc = self.threads.pc(k)
            self._skip_break_at[k] = pc if k == self._reported and pc in self._hooks(k) else None
            self.threads.core(k).exceptions.held = False
        dual.budget, dual.until = self._cycle_budget, (self.until, m.core1_return)
        m._state.insn_budget = self._insn_budget
        self._stop_pending = None
        next_poll = time.monotonic() + POLL_SECONDS

        def due() -> bool:
            nonlocal next_poll
            if time.monotonic() < next_poll:
                return False
            next_poll = time.monotonic() + POLL_SECONDS
            return poll()
        stepped, hook = None, None
        if step_core is not None:
            stepped = self.threads.core(step_core)
            self._step = (step_core, stepped._state.insns, len(stepped.exceptions.active))
            hook = stepped.uc.hook_add(uc.UC_HOOK_CODE, self._on_step, step_core)
            stepped.uc.ctl_flush_tb()  # blocks translated before must call the new hook
        dual.poll, self._in_rounds = due, True
        try:
            ended = dual.advance(solo=False)
        except uc.UcError as err:  # core 0's (the loop reports core 1's as a FirmwareFault)
            return self._report_fault(_fault_of(lambda err=err: m._raise_fault(err)))
        except BudgetExhausted as spent:
            self._stopped = dual.running
            return self._grant_budget(spent)
        except FirmwareFault as fault:
            self._stopped = dual.running
            return self._report_fault(fault)
        finally:
            dual.poll, self._in_rounds, self._step = None, False, None
            if hook is not None:
                stepped.uc.hook_del(hook)
                stepped.uc.ctl_flush_tb()
        if interrupt.requested():
            raise KeyboardInterrupt  # Ctrl-C to the server itself (m0sim.interrupt)
        if m._exit_code is not None:
            dual._catch_up()  # as a run without GDB ends
            return _RESUMED
        if dual.polled:
            return f"T{SIGINT:02x}"
        if dual.halted is not None:
            self._stopped = dual.halted
            sig, why = self._stop_pending or (SIGTRAP, "")
            return f"T{sig:02x}{why}"
        if ended:  # core 0 stopped for a reason of its own: its budget, or it left its code
            fault = _fault_of(lambda: m._check_stop(None)) or FirmwareFault(
                f"{m.program.path.name}: the program left its code at {m._where()}")
            if isinstance(fault, BudgetExhausted):
                return self._grant_budget(fault)
            return self._report_fault(fault)
        if step_core == 1:  # core 1 went back to the bootrom: that ends its step
            self._stopped = 1
            return f"T{SIGTRAP:02x}"
        return self._run(step_core, poll)  # core 0 goes on alone

    def _budget_spent(self, pc: int):
        """The emulated time (--max-seconds) ran out: a stop GDB shows as SIGXCPU with a line saying so; going
        on grants the same budget again. Without GDB (detached) the run ends as `exec`'s does (exit 124)."""
        fault = _fault_of(lambda: self.m._check_stop(None))
        if self.detached:
            raise fault
        self._give_back(pc)
        return self._grant_budget(fault)

    def _grant_budget(self, fault: BudgetExhausted):
        if self.detached:
            raise fault
        m = self.m
        for k in (0, 1):
            if self.threads.core(k) is not None:
                self.threads.core(k)._state.stop_reason = 0
        insns, cycles = self._allowance
        self._insn_budget = min(self._insn_budget + insns, 2**63)
        self._cycle_budget = min(self._cycle_budget + cycles, 2**63)
        m.exceptions.real_cycle_budget = self._cycle_budget
        m.exceptions.reschedule()
        self.conn.send(_console(f"m0sim: {fault}; `continue` grants the same budget again\n"))
        return f"T{SIGXCPU:02x}"

    def _report_fault(self, fault: FirmwareFault):
        """Tell GDB with a signal so the state can be inspected; the run ends when GDB resumes. Without GDB
        (detached) the run ends at once, as `exec`'s does."""
        if self.detached:
            raise fault
        self.err(f"m0sim: firmware fault: {fault}")
        self.conn.send(_console(f"m0sim: firmware fault: {fault}\n"))
        sig = SIGSEGV if "memory" in str(fault) or "stack" in str(fault) else SIGILL
        self._fault = (sig, fault)
        return f"T{sig:02x}"

    def _give_back(self, pc: int):
        before = self.m._state.xip_hits
        give_back(self.m, pc)
        self._hits_owed += (before - self.m._state.xip_hits) % 2**64

    # --- detach: the program runs on until it ends or a GDB connects -------------------------------------
    def _detach(self):
        for k in (0, 1):
            for addr in list(self._hooks(k)):
                self._remove_break(addr, k)
        for key in list(self.watches):
            self._remove_watch(key)
        self._wanted_breaks.clear()
        self._wanted_watches.clear()
        self.lobby.drop()
        self.detached = True
        self.err("m0sim: GDB detached; the program runs on")

    def _run_on(self) -> bool:
        """Run detached: True when the program ended, False when a GDB connected (the program halts for it)."""
        self._hits_owed = 0
        run = self._run_both if self.threads.both_running() else self._run
        reply = run(None, self.lobby.arrived)
        if reply is _RESUMED:
            return True
        self.detached = False  # a new GDB: it finds the program halted (its `?` is answered with a stop)
        return False

    # --- monitor commands ---------------------------------------------------------------------------------
    def _monitor(self, command: str):
        m, s = self.m, self.m._state
        words = command.split()
        if command == "cycles":
            out = f"{s.cycles} cycles, {s.insns} instructions ({s.cycles / m.clock.hz * 1e3:.6f} ms at " \
                  f"{m.clock.hz / 1e6:g} MHz)\n"
        elif command == "stats":
            out = self.stats().summary() + "\n"
        elif words in (["reset"], ["reset", "halt"]):
            self.conn.send(_console(RESET_NOTE))
            self.conn.send("OK")
            raise Reset()
        elif words[:1] == ["maskisr"] and len(words) <= 2 and (len(words) == 1 or words[1] in MASKISR_MODES):
            if len(words) == 2:
                self.maskisr = words[1]
            out = f"maskisr {self.maskisr}\n"
        elif command in ("help", ""):
            out = MONITOR_HELP
        else:
            out = f"unknown monitor command '{command}'; " + MONITOR_HELP
        self.conn.send(_console(out))
        return "OK"

    def stats(self) -> RunStats:
        """The --stats figures of the run so far (the XIP hits the resumed block counts again included)."""
        m, s = self.m, self.m._state
        heap_base, _limit, top, _ = m._heapinfo()
        sp = int(m.read(m.program.vector_table, np.uint32, 1)[0])
        try:
            stack = m._stack_used((heap_base + 3) & ~3, sp)
        except FirmwareFault:
            stack = 0
        hits = (s.xip_hits + self._hits_owed) % 2**64
        return RunStats(s.insns, s.cycles, m.clock.hz, s.taken, hits, s.xip_misses,
                        m.program.footprint()["static_ram"], stack, m._brk_max, [])


_RESUMED = object()


def _xfer(document: str, text: str) -> str:
    off, length = (int(x, 16) for x in text.rsplit(":", 1)[1].split(","))
    return ("l" if off + length >= len(document) else "m") + document[off:off + length]


def _fault_of(action) -> FirmwareFault | None:
    try:
        action()
    except FirmwareFault as fault:
        return fault
    return None


def _hex32(value: int) -> str:
    return (value & 0xFFFFFFFF).to_bytes(4, "little").hex()


def _console(text: str) -> str:
    return "O" + text.encode().hex()
