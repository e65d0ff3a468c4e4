"""`m0sim gdbserver`: debug a program in the emulated Pico from GDB (gdb-multiarch) over the remote protocol.

The debugger plugs into `Machine._execute` (its `debugger` attribute): where a plain run makes one
`emu_start`, the debugger serves GDB and runs the program in pieces between stops. No hook is added to a run
without a debugger; with one, breakpoints are per-address code hooks, a single step is Unicorn's count of 1,
Ctrl-C is polled between slices cut by the native instruction budget, and watchpoints add memory hooks on
their range (plus a code hook on every instruction while any watchpoint is set, to stop right after the
access).

Counting stays exact: every stop gives back the unexecuted rest of the block charged last (m0sim.pieces), so
the cycles after any mix of steps, breakpoints and continues equal those of an uninterrupted run
(tests/m0sim/test_gdbstub.py).
"""

import sys
from dataclasses import dataclass

import numpy as np
import unicorn as uc
from unicorn import arm_const as arm

from m0sim import codechange, memmap, native
from m0sim.errors import FirmwareFault
from m0sim.pieces import give_back
from m0sim.registers import GDB_REG_IDS as UC_REGS, GDB_REGS
from m0sim.rsp import INTERRUPT, Connection, Disconnected, unescape
from m0sim.stats import RunStats

SLICE = 2_000_000  # instructions between Ctrl-C polls
SIGINT, SIGILL, SIGTRAP, SIGSEGV = 2, 4, 5, 11
TARGET_XML = ('<?xml version="1.0"?><!DOCTYPE target SYSTEM "gdb-target.dtd"><target version="1.0">'
              '<architecture>arm</architecture><feature name="org.gnu.gdb.arm.m-profile">'
              + "".join(f'<reg name="r{i}" bitsize="32"/>' for i in range(13))
              + '<reg name="sp" bitsize="32" type="data_ptr"/><reg name="lr" bitsize="32"/>'
                '<reg name="pc" bitsize="32" type="code_ptr"/><reg name="xpsr" bitsize="32"/>'
                '</feature></target>')
WATCH_KINDS = {2: "watch", 3: "rwatch", 4: "awatch"}
MONITOR_HELP = "monitor commands: cycles, stats, reset, help\n"


class Reset(Exception):
    """`monitor reset`: the server builds a fresh machine and serves the same GDB from reset."""


class Detached(Exception):
    """GDB detached or killed the program."""

    def __init__(self, run_on: bool):
        self.run_on = run_on


@dataclass
class Watch:
    addr: int
    length: int
    kind: int  # 2 write, 3 read, 4 access
    hook: int


class Debugger:
    """Serves one GDB connection for one Machine run (see `Machine._execute`)."""

    def __init__(self, conn: Connection, breakpoints=None, watches=None, err=None):
        self.conn = conn
        self.err = err or (lambda text: print(text, file=sys.stderr, flush=True))
        self.m = None
        self.breaks: dict[int, int] = {}  # address -> hook handle
        self.watches: dict[tuple, Watch] = {}
        self._wanted_breaks = dict.fromkeys(breakpoints or ())
        self._wanted_watches = list(watches or ())
        self._skip_break_at = None
        self._watch_hit = None  # (kind, addr) of an access seen; stop before the next instruction
        self._stop_pending = None
        self._step_hook = None
        self._fault = None  # FirmwareFault reported to GDB as a signal; the run ends on the next resume

    # --- plugged into Machine._execute --------------------------------------------------------------------
    def drive(self, machine, pc: int, until: int):
        self.m = machine
        machine.uc.reg_write(arm.UC_ARM_REG_PC, pc)
        for addr in self._wanted_breaks:
            self._add_break(addr)
        for addr, length, kind in self._wanted_watches:
            self._add_watch(addr, length, kind)
        self.until = until
        self._budget = (machine._state.insn_budget, machine._state.cycle_budget)
        self._serve()

    # --- the command loop ---------------------------------------------------------------------------------
    def _serve(self):
        while True:
            packet = self.conn.receive()
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
                self.conn.send(reply)

    def _handle(self, text: str, raw: bytes):
        cmd = text[:1]
        if text.startswith("qSupported"):
            return "PacketSize=4000;qXfer:features:read+;vContSupported+"
        if text.startswith("qXfer:features:read:target.xml:"):
            off, length = (int(x, 16) for x in text.rsplit(":", 1)[1].split(","))
            chunk = TARGET_XML[off:off + length]
            return ("l" if off + length >= len(TARGET_XML) else "m") + chunk
        if text == "?":
            return f"S{SIGTRAP:02x}"
        if text in ("qAttached",):
            return "1"
        if text.startswith(("Hg", "Hc")) or text == "qSymbol::":
            return "OK"
        if text == "qC":
            return "QC1"
        if text == "qfThreadInfo":
            return "m1"
        if text == "qsThreadInfo":
            return "l"
        if text.startswith("T"):  # is thread alive
            return "OK"
        if text == "vCont?":
            return "vCont;c;C;s;S"
        if text.startswith("vCont;"):
            action = text[6:].split(";")[0].split(":")[0]
            return self._resume(step=action[:1] in ("s", "S"))
        if cmd in ("c", "C", "s", "S"):
            if cmd in "cs" and len(text) > 1:  # optional resume address
                self.m.uc.reg_write(arm.UC_ARM_REG_PC, int(text[1:], 16) | 1)
            return self._resume(step=cmd in "sS")
        if cmd == "g":
            return "".join(_hex32(self._reg(i)) for i in range(len(GDB_REGS)))
        if cmd == "G":
            data = bytes.fromhex(text[1:])
            for i in range(min(len(data) // 4, len(GDB_REGS))):
                self._set_reg(i, int.from_bytes(data[4 * i:4 * i + 4], "little"))
            return "OK"
        if cmd == "p":
            n = int(text[1:], 16)
            return _hex32(self._reg(n)) if n < len(GDB_REGS) else "E00"
        if cmd == "P":
            n, value = text[1:].split("=")
            n = int(n, 16)
            if n >= len(GDB_REGS):
                return "E00"
            self._set_reg(n, int.from_bytes(bytes.fromhex(value), "little"))
            return "OK"
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
        if cmd == "k":
            raise Detached(run_on=False)
        if cmd == "D":
            self.conn.send("OK")
            raise Detached(run_on=True)
        return ""  # not supported: GDB falls back or does without

    # --- registers and memory -----------------------------------------------------------------------------
    def _reg(self, n: int) -> int:
        value = self.m.uc.reg_read(UC_REGS[n])
        if GDB_REGS[n] == "xpsr":
            value |= 1 << 24  # the Thumb bit: always set on ARMv6-M
        return value

    def _set_reg(self, n: int, value: int):
        if GDB_REGS[n] == "pc":
            value |= 1
        self.m.uc.reg_write(UC_REGS[n], value)

    @staticmethod
    def _debuggable(addr: int, length: int) -> bool:
        """ROM, flash and SRAM only: a debugger read of a peripheral would have side effects and cost cycles."""
        return length >= 0 and any(r.contains(addr, max(length, 1)) for r in memmap.MEMORY_REGIONS)

    def _read(self, addr, length):
        if not self._debuggable(addr, length):
            return None
        return self.m._read_bytes(addr, length)

    def _write(self, addr, data) -> bool:
        if not self._debuggable(addr, len(data)) or addr < memmap.ROM.end:  # ROM: read-only, as on the Pico
            return False
        self.m._write_bytes(addr, data)
        return True

    # --- breakpoints and watchpoints ----------------------------------------------------------------------
    def _point(self, insert: bool, kind: int, addr: int, length: int = 2):
        if kind in (0, 1):
            addr &= ~1
            if insert:
                self._wanted_breaks[addr] = None
                self._add_break(addr)
            else:
                self._wanted_breaks.pop(addr, None)
                hook = self.breaks.pop(addr, None)
                if hook is not None:
                    self.m.uc.hook_del(hook)
                    self.m.uc.ctl_remove_cache(addr, addr + 2)
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
                w = self.watches.pop(key, None)
                if w is not None:
                    self.m.uc.hook_del(w.hook)
                if not self.watches and self._step_hook is not None:
                    self.m.uc.hook_del(self._step_hook)
                    self._step_hook = None
                    self.m.uc.ctl_flush_tb()
            return "OK"
        return ""

    def _add_break(self, addr: int):
        if addr in self.breaks:
            return
        self.breaks[addr] = self.m.uc.hook_add(uc.UC_HOOK_CODE, self._on_break, begin=addr, end=addr)
        self.m.uc.ctl_remove_cache(addr, addr + 2)  # blocks translated before must call the new hook

    def _on_break(self, u, addr, _size, _user):
        if self._skip_break_at == addr:  # resuming from this very breakpoint
            self._skip_break_at = None
            return
        self._stop_pending = SIGTRAP, ""
        u.emu_stop()

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

    def _on_access(self, _u, _access, _addr, _size, _value, key):
        if self._watch_hit is None:
            self._watch_hit = key

    def _after_access(self, u, _addr, _size, _user):
        """Runs before every instruction while watchpoints exist: stop here if the last one hit one."""
        if self._watch_hit is not None:
            addr, _length, kind = self._watch_hit
            self._watch_hit = None
            self._stop_pending = SIGTRAP, f"{WATCH_KINDS[kind]}:{addr:x};"
            u.emu_stop()

    # --- running ------------------------------------------------------------------------------------------
    def _resume(self, step: bool):
        if self._fault is not None:
            self.conn.send(f"X{self._fault[0]:02x}")
            raise self._fault[1]
        m, s = self.m, self.m._state
        pc = m.uc.reg_read(arm.UC_ARM_REG_PC)
        self._skip_break_at = pc if pc in self.breaks else None
        self._stop_pending = None
        while True:
            s.insn_budget = min(self._budget[0], s.insns + SLICE)
            if step:
                m.uc.ctl_flush_tb()  # Unicorn's instruction count only reaches blocks translated after it is set
            m.exceptions._wake = None
            try:
                m.uc.emu_start(pc | 1, self.until, count=1 if step else 0)
            except uc.UcError as exc:
                pc = m.uc.reg_read(arm.UC_ARM_REG_PC)
                if exc.errno == uc.UC_ERR_INSN_INVALID and m.exceptions.on_invalid_instruction(pc):
                    pc = m.uc.reg_read(arm.UC_ARM_REG_PC)  # HardFault through the firmware's handler
                    if step:
                        return f"T{SIGTRAP:02x}"
                    continue
                return self._report_fault(_fault_of(lambda: m._raise_fault(exc)))
            except FirmwareFault as fault:  # raised in one of the machine's hooks (a BKPT that is no call)
                return self._report_fault(fault)
            finally:
                s.insn_budget = self._budget[0]
            self._skip_break_at = None
            if m._exit_code is not None:
                self.conn.send(f"W{m._exit_code & 0xFF:02x}")
                return _RESUMED
            if codechange.after_stop(m):  # code run or overwritten in SRAM: decoded anew, then on
                pc = m.uc.reg_read(arm.UC_ARM_REG_PC)
                continue
            reason = native.STOP_REASONS.get(s.stop_reason)
            pc = m.uc.reg_read(arm.UC_ARM_REG_PC)
            if (m.exceptions._wake is not None or reason == "budget") and m.exceptions.event_due():
                pc = m.exceptions.handle_stop(pc, self.until)  # an interrupt: taken, then on
                if pc is None:
                    if m._exit_code is not None:
                        self.conn.send(f"W{m._exit_code & 0xFF:02x}")
                        return _RESUMED
                    pc = m.uc.reg_read(arm.UC_ARM_REG_PC)
                    reason = native.STOP_REASONS.get(s.stop_reason)
                elif step:
                    return f"T{SIGTRAP:02x}"
                else:
                    continue
            if reason == "budget" and s.insns < self._budget[0] and s.cycles < self._budget[1]:
                s.stop_reason = 0
                self._give_back(pc)
                if self.conn.poll_interrupt():
                    return f"T{SIGINT:02x}"
                continue
            if reason == "unaligned" and m.exceptions.route_unaligned():
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

    def _report_fault(self, fault: FirmwareFault):
        """Tell GDB with a signal so the state can be inspected; the run ends when GDB resumes."""
        self.err(f"m0sim: firmware fault: {fault}")
        sig = SIGSEGV if "memory" in str(fault) or "stack" in str(fault) else SIGILL
        self._fault = (sig, fault)
        return f"T{sig:02x}"

    def _give_back(self, pc: int):
        give_back(self.m, pc)

    # --- monitor commands ---------------------------------------------------------------------------------
    def _monitor(self, command: str):
        m, s = self.m, self.m._state
        if command == "cycles":
            out = f"{s.cycles} cycles, {s.insns} instructions ({s.cycles / m.clock.hz * 1e3:.6f} ms at " \
                  f"{m.clock.hz / 1e6:g} MHz)\n"
        elif command == "stats":
            out = self.stats().summary() + "\n"
        elif command == "reset":
            self.conn.send(_console("resetting: the program restarts from the reset vector\n"))
            self.conn.send("OK")
            raise Reset()
        elif command in ("help", ""):
            out = MONITOR_HELP
        else:
            out = f"unknown monitor command '{command}'; " + MONITOR_HELP
        self.conn.send(_console(out))
        return "OK"

    def stats(self) -> RunStats:
        """The --stats figures of the run so far."""
        m, s = self.m, self.m._state
        heap_base, _limit, top, _ = m._heapinfo()
        sp = int(m.read(m.program.vector_table, np.uint32, 1)[0])
        try:
            stack = m._stack_used((heap_base + 3) & ~3, sp)
        except FirmwareFault:
            stack = 0
        return RunStats(s.insns, s.cycles, m.clock.hz, s.taken, s.xip_hits, s.xip_misses,
                        m.program.footprint()["static_ram"], stack, m._brk_max, [])


_RESUMED = object()


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


def serve(program, port: int, clock_hz: int, max_cycles_seconds: float, out=None, log=None) -> int:
    """Listen on localhost:port, serve one GDB until the program exits, GDB detaches or disconnects.

    Returns the exit code for the command line: the program's own, or 0 when GDB went away first.
    """
    from m0sim.machine import Machine
    from m0sim.rsp import listen
    err = out or (lambda text: print(text, file=sys.stderr, flush=True))
    server = listen(port)
    err(f"m0sim: gdbserver for {program.path} listening on 127.0.0.1:{server.getsockname()[1]} "
        f"(gdb-multiarch {program.path} -ex 'target remote :{server.getsockname()[1]}')")
    try:
        sock, _ = server.accept()
    finally:
        server.close()
    conn = Connection(sock, log=log)
    breaks, watches = {}, []
    try:
        while True:
            machine = Machine(program, clock_hz=clock_hz, alignment_faults=True)  # as `m0sim exec` runs it
            dbg = Debugger(conn, breaks, watches, err=err)
            machine.debugger = dbg
            try:
                result = machine.run(max_cycles=int(max_cycles_seconds * clock_hz))
            except Reset:
                breaks, watches = dbg._wanted_breaks, dbg._wanted_watches
                continue
            err(f"m0sim: {program.path.name}: {result.stats.summary()}")
            _wait_for_goodbye(conn)
            return result.exit_code & 0xFF
    except Disconnected:
        err("m0sim: GDB disconnected; stopping")
        return 0
    except Detached as d:
        if not d.run_on:
            err("m0sim: GDB killed the program")
            return 0
        err("m0sim: GDB detached; the program runs on")
        return _run_on(machine, dbg, max_cycles_seconds, clock_hz)
    finally:
        sock.close()


def _run_on(machine, dbg, max_seconds, clock_hz) -> int:
    """After a detach: finish the run without the debugger's hooks."""
    for hook in list(dbg.breaks.values()) + [w.hook for w in dbg.watches.values()] + \
            ([dbg._step_hook] if dbg._step_hook else []):
        machine.uc.hook_del(hook)
    machine.uc.ctl_flush_tb()
    s = machine._state
    s.insn_budget = dbg._budget[0]
    pc = machine.uc.reg_read(arm.UC_ARM_REG_PC)
    try:
        machine.uc.emu_start(pc | 1, dbg.until)
    except uc.UcError as exc:
        machine._raise_fault(exc)
    machine._check_stop(None)
    if machine._exit_code is None:
        raise FirmwareFault(f"{machine.program.path}: program stopped without exiting")
    return machine._exit_code & 0xFF


def _wait_for_goodbye(conn: Connection):
    """After the exit report GDB may still ask a question or two, then closes the connection."""
    try:
        while True:
            packet = conn.receive().decode("latin-1")
            if packet in ("k", "D"):
                return
            conn.send("OK" if packet.startswith("D") else "")
    except Disconnected:
        return
