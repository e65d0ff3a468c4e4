"""`m0sim gdbserver`: a real gdb-multiarch in batch mode, a small protocol client for exact counting, Ctrl-C and
bad input (port in use, malformed packets, a GDB that goes away)."""

import functools
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_bad_input import INPUT, assert_one_line_error

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args):
    """The real command line in a subprocess (as the `cli` fixture, usable from module-scoped fixtures)."""
    return subprocess.run([sys.executable, "-m", "m0sim", *map(str, args)], capture_output=True, text=True,
                          cwd=REPO)


# The README tour's demo program: the session below is the one the README shows.
PROGRAM = (REPO / "kernels" / "demo" / "sum_scaled.c").read_text()

LONG_LOOP = r"""
#include <stdio.h>
volatile unsigned sink;
int main(void)
{
    unsigned x = 1;
    for (unsigned i = 0; i < 6000000; i++) x = x * 1664525u + 1013904223u;
    sink = x;
    printf("x = %u\n", x);
    return 3;
}
"""

STATS = re.compile(r"m0sim: \S+: ([\d,]+) instructions, ([\d,]+) cycles .*?([\d,]+) taken branches, "
                   r"XIP ([\d,]+) hits / ([\d,]+) misses")


@pytest.fixture(scope="module")
def programs(tmp_path_factory):
    d = tmp_path_factory.mktemp("gdb")
    out = {}
    for name, source, opt in (("dbg", PROGRAM, "-O0"), ("loop", LONG_LOOP, "-O2")):
        (d / f"{name}.c").write_text(source)
        proc = run_cli("cc", d / f"{name}.c", opt, "-o", d / f"{name}.elf")
        assert proc.returncode == 0, proc.stderr
        out[name] = d / f"{name}.elf"
    return out


@functools.cache
def exec_stats(elf):
    proc = run_cli("exec", "--stats", elf)
    return proc.returncode, proc.stdout, STATS.search(proc.stderr).groups()


class Server:
    """`m0sim gdbserver --port 0` in a subprocess; the port is read from its first line."""

    def __init__(self, elf, *extra, once=True):
        once_flag = ["--once"] if once else []
        self.proc = subprocess.Popen([sys.executable, "-m", "m0sim", "gdbserver", str(elf), "--port", "0", *once_flag,
                                      *extra],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
        self.first_line = self.proc.stderr.readline()
        match = re.search(r"127\.0\.0\.1:(\d+)", self.first_line)
        assert match, self.first_line
        self.port = int(match.group(1))

    def finish(self, timeout=60):
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out, self.first_line + err


class Client:
    """Just enough of GDB's side of the protocol to drive the stub from a test."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def _read(self):
        data = self.sock.recv(65536)
        assert data, "the stub closed the connection"
        self.buf += data

    def raw(self, data: bytes):
        self.sock.sendall(data)

    def ack(self) -> bytes:
        while not self.buf:
            self._read()
        a, self.buf = self.buf[:1], self.buf[1:]
        return a

    def reply(self) -> str:
        while b"#" not in self.buf or len(self.buf) < self.buf.index(b"#") + 3:
            self._read()
        start, end = self.buf.index(b"$"), self.buf.index(b"#")
        payload, self.buf = self.buf[start + 1:end], self.buf[end + 3:]
        self.sock.sendall(b"+")
        return payload.decode()

    def cmd(self, text: str) -> str:
        payload = text.encode()
        self.raw(b"$" + payload + b"#%02x" % (sum(payload) & 0xFF))
        assert self.ack() == b"+"
        reply = self.reply()
        while reply.startswith("O") and reply != "OK":  # console output of monitor commands
            reply = self.reply()
        return reply

    def monitor(self, text: str) -> str:
        payload = ("qRcmd," + text.encode().hex()).encode()
        self.raw(b"$" + payload + b"#%02x" % (sum(payload) & 0xFF))
        assert self.ack() == b"+"
        out = ""
        while True:
            r = self.reply()
            if r == "OK":
                return out
            out += bytes.fromhex(r[1:]).decode()

    def reg(self, n: int) -> int:
        return int.from_bytes(bytes.fromhex(self.cmd(f"p{n:x}")), "little")


def symbol(elf, name):
    from m0sim.loader import load_program
    return load_program(elf).symbol(name).addr


def test_gdb_multiarch_session(programs):
    if shutil.which("gdb-multiarch") is None:
        pytest.fail("gdb-multiarch missing: run `make setup` (installs Debian's gdb-multiarch)")
    elf = programs["dbg"]
    server = Server(elf)
    script = elf.with_suffix(".gdb")
    script.write_text("\n".join([
        "set pagination off", f"target remote :{server.port}", "break work", "continue", "step", "step", "step",
        "next", "print doubled", "print x", "print/x $pc", "info registers sp", "watch total", "continue",
        "monitor cycles", "delete", "continue", ""]))
    gdb = subprocess.run(["gdb-multiarch", "-q", "-batch", "-nx", "-x", str(script), str(elf)],
                         capture_output=True, text=True, timeout=120)
    code, out, err = server.finish()
    text = gdb.stdout + gdb.stderr
    assert "Breakpoint 1, work (n=5) at" in text, text
    assert re.search(r"scale \(x=0\) at .*dbg\.c:\d+\s+\d+\s+int doubled", text), text  # stepped into scale
    assert "$1 = 0" in text and "$2 = 0" in text, text  # the local and the argument
    pc = int(re.search(r"\$3 = (0x[0-9a-f]+)", text).group(1), 16)
    assert symbol(elf, "scale") < pc < symbol(elf, "work"), text
    assert re.search(r"sp\s+0x2004[0-9a-f]{4}", text), text
    assert re.search(r"Hardware watchpoint 2: total\s+Old value = 0\s+New value = 25", text), text
    assert re.search(r"^\d+ cycles, \d+ instructions", text, re.M), text
    assert "exited with code 031" in text, text  # GDB prints the exit code (25) in octal
    assert (code, out) == (25, "total = 25\n")
    assert STATS.search(err).groups() == exec_stats(elf)[2]  # debugging did not change the counts


def test_counting_exact_across_steps_breakpoints_watchpoints(programs):
    elf = programs["dbg"]
    code, out, counts = exec_stats(elf)
    server = Server(elf)
    c = Client(server.port)
    assert c.cmd("?").startswith("S05")
    scale, work, total = symbol(elf, "scale"), symbol(elf, "work"), symbol(elf, "total")
    assert c.cmd(f"Z0,{work:x},2") == "OK"
    assert c.cmd(f"Z1,{scale + 4:x},2") == "OK"  # a breakpoint inside a block, not at its start
    assert c.cmd("c").startswith("T05") and c.reg(15) == work
    for _ in range(7):
        assert c.cmd("s").startswith("T05")
    assert c.cmd("vCont;c").startswith("T05") and c.reg(15) == scale + 4
    cycles_then = int(c.monitor("cycles").split()[0])
    assert c.cmd(f"z1,{scale + 4:x},2") == "OK" and c.cmd(f"z0,{work:x},2") == "OK"
    assert c.cmd(f"Z2,{total:x},4") == "OK"
    stop = c.cmd("c")
    assert stop.startswith("T05") and f"watch:{total:x}" in stop
    assert int(c.cmd(f"m{total:x},4")[:2], 16) == 25  # the write has happened when GDB is told
    assert int(c.monitor("cycles").split()[0]) > cycles_then
    for _ in range(5):
        c.cmd("vCont;s:1")
    assert c.cmd(f"z2,{total:x},4") == "OK"
    assert c.cmd("c") == "W19"
    c.sock.close()
    rc, sout, err = server.finish()
    assert (rc, sout) == (code, out)
    assert STATS.search(err).groups() == counts


def test_ctrl_c_interrupts_and_counts_stay_exact(programs):
    elf = programs["loop"]
    code, out, counts = exec_stats(elf)
    server = Server(elf)
    c = Client(server.port)
    c.cmd("?")
    c.raw(b"$c#63")
    assert c.ack() == b"+"
    time.sleep(0.05)
    c.raw(b"\x03")
    assert c.reply() == "T02"
    assert 0 < int(c.monitor("cycles").split()[0])
    regs = c.cmd("g")
    assert len(regs) == 21 * 8
    assert c.cmd("c") == "W03"
    c.sock.close()
    rc, sout, err = server.finish()
    assert (rc, sout) == (code, out)
    assert STATS.search(err).groups() == counts


def test_registers_memory_and_target_description(programs):
    elf = programs["dbg"]
    server = Server(elf)
    c = Client(server.port)
    assert "qXfer:features:read+" in c.cmd("qSupported:multiprocess+;swbreak+")
    xml = c.cmd("qXfer:features:read:target.xml:0,3fff")
    assert xml.startswith("l") and "org.gnu.gdb.arm.m-profile" in xml and '"xpsr"' in xml
    assert c.reg(16) & (1 << 24)  # xPSR's Thumb bit
    sp = c.reg(13)
    assert c.cmd("P0=78563412") == "OK" and c.reg(0) == 0x12345678
    assert c.cmd("M20000100,4:deadbeef") == "OK" and c.cmd("m20000100,4") == "deadbeef"
    assert c.cmd("X20000104,2:}\x03}]") == "OK" and c.cmd("m20000104,2") == "237d"  # escaped # and }
    assert c.cmd("X10000000,0:") == "OK"  # GDB's probe for the X packet, before its first write (`load`)
    assert c.cmd("M10000100,2:00be") == "OK" and c.cmd("m10000100,2") == "00be"  # flash code, as `load` may
    assert c.cmd("m40000000,4").startswith("E")  # an unmodelled peripheral: not read
    assert c.cmd(f"m{sp - 4:x},4") is not None
    out = c.monitor("stats")
    assert "instructions" in out and "cycles" in out
    assert "unknown monitor command" in c.monitor("frobnicate")
    c.raw(b"$k#6b")
    c.sock.close()
    assert server.finish()[0] == 0


def test_monitor_reset_starts_again(programs):
    elf = programs["dbg"]
    code, out, counts = exec_stats(elf)
    server = Server(elf)
    c = Client(server.port)
    c.cmd("?")
    reset_pc = c.reg(15)
    for _ in range(20):
        c.cmd("s")
    assert c.reg(15) != reset_pc
    c.monitor("reset")
    assert c.reg(15) == reset_pc and int(c.monitor("cycles").split()[0]) == 0
    assert c.cmd("c") == "W19"
    c.sock.close()
    rc, sout, err = server.finish()
    assert rc == code and sout.endswith(out)
    assert STATS.search(err).groups() == counts


def test_malformed_packets_are_nakked(programs):
    server = Server(programs["dbg"])
    c = Client(server.port)
    c.raw(b"$g#00")  # wrong checksum
    assert c.ack() == b"-"
    c.raw(b"$g#zz")  # not hex
    assert c.ack() == b"-"
    c.raw(b"garbage without a packet")
    assert len(c.cmd("g")) == 21 * 8  # still serving
    assert c.cmd("vFrobnicate") == ""  # unknown packets: the empty reply
    assert c.cmd("mzz,4").startswith("E")
    c.sock.close()
    rc, _, err = server.finish()
    assert rc == 0 and "GDB disconnected" in err and "Traceback" not in err


def test_disconnect_mid_run_exits_cleanly(programs):
    server = Server(programs["loop"])
    c = Client(server.port)
    c.cmd("?")
    c.raw(b"$c#63")
    c.sock.close()
    rc, _, err = server.finish()
    assert rc == 0 and "GDB disconnected" in err and "Traceback" not in err


def test_port_in_use(programs):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        proc = run_cli("gdbserver", programs["dbg"], "--port", busy.getsockname()[1])
    finally:
        busy.close()
    assert_one_line_error(proc, INPUT, "cannot listen on 127.0.0.1:", "in use")


def test_firmware_fault_stops_for_inspection_then_ends_with_70(firmware):
    elf = firmware("int main(void){ *(volatile int *)0x60000000 = 1; return 0; }")
    server = Server(elf)
    c = Client(server.port)
    c.cmd("?")
    assert c.cmd("c") == "T0b"  # SIGSEGV: GDB can look at the registers and memory where it happened
    assert len(c.cmd("g")) == 21 * 8
    assert c.cmd("c") == "X0b"
    c.sock.close()
    rc, _, err = server.finish()
    assert rc == 70 and "invalid memory write" in err and "0x60000000" in err and "Traceback" not in err


def test_uf2_can_be_debugged(programs, tmp_path):
    uf2 = tmp_path / "dbg.uf2"
    (tmp_path / "dbg.c").write_text(PROGRAM)
    assert run_cli("cc", tmp_path / "dbg.c", "-O0", "-o", uf2).returncode == 0
    server = Server(uf2)
    c = Client(server.port)
    work = symbol(programs["dbg"], "work")  # same source and flags: same addresses
    assert c.cmd(f"Z0,{work:x},2") == "OK"
    assert c.cmd("c").startswith("T05") and c.reg(15) == work
    assert c.cmd("c") == "W19"
    c.sock.close()
    assert server.finish()[0] == 25


def test_counting_exact_with_interrupts_under_the_debugger(firmware):
    elf = firmware(r"""
#include <stdint.h>
#include <stdio.h>
volatile uint32_t ticks;
void isr_systick(void) { ticks++; }
int main(void)
{
    *(volatile uint32_t *)0xE000E014 = 999;
    *(volatile uint32_t *)0xE000E010 = 7;
    volatile uint32_t x = 0;
    for (int i = 0; i < 3000; i++) x += i;
    while (ticks < 40) __asm__ volatile("wfi");
    printf("ticks %lu\n", (unsigned long)ticks);
    return 0;
}
""")
    code, out, counts = exec_stats(elf)
    server = Server(elf)
    c = Client(server.port)
    c.cmd("?")
    isr = symbol(elf, "isr_systick")
    assert c.cmd(f"Z0,{isr:x},2") == "OK"
    for _ in range(3):
        assert c.cmd("c").startswith("T05") and c.reg(15) == isr
        assert c.reg(16) & 0x3F == 15  # IPSR: in the SysTick handler
        assert c.reg(14) == 0xFFFFFFF9  # LR: EXC_RETURN to thread mode
        for _ in range(3):
            c.cmd("s")  # through the handler and its exception return
    assert c.cmd(f"z0,{isr:x},2") == "OK"
    assert c.cmd("c") == "W00"
    c.sock.close()
    rc, sout, err = server.finish()
    assert (rc, sout) == (code, out)
    assert STATS.search(err).groups() == counts


def test_stepping_runs_handlers_but_stops_at_a_breakpoint_in_one(firmware):
    """maskisr auto: steps go past SysTick interrupts (their handlers run: ticks advance); a breakpoint on the
    handler's first instruction still stops a step that takes the interrupt."""
    elf = firmware(r"""
#include <stdint.h>
volatile uint32_t ticks, spins;
void isr_systick(void) { ticks++; }
int main(void)
{
    *(volatile uint32_t *)0xE000E014 = 299;
    *(volatile uint32_t *)0xE000E010 = 7;
    while (ticks < 1000) spins++;
    return 0;
}
""", opt="-O0")
    server = Server(elf)
    c = Client(server.port)
    c.cmd("?")
    isr, main, ticks = symbol(elf, "isr_systick"), symbol(elf, "main"), symbol(elf, "ticks")
    assert c.cmd(f"Z0,{main:x},2") == "OK" and c.cmd("c").startswith("T05")
    assert c.cmd(f"z0,{main:x},2") == "OK"
    for _ in range(300):  # about 4 ticks' worth of instructions
        c.cmd("s")
        assert c.reg(15) != isr and c.reg(16) & 0x3F == 0  # never stopped in the handler
    assert int.from_bytes(bytes.fromhex(c.cmd(f"m{ticks:x},4")), "little") > 0  # but the handlers ran
    assert c.cmd(f"Z0,{isr:x},2") == "OK"
    for _ in range(300):
        c.cmd("s")
        if c.reg(15) == isr:
            break
    assert c.reg(15) == isr and c.reg(16) & 0x3F == 15
    c.raw(b"$k#6b")
    c.sock.close()
    server.finish()


def test_a_step_into_a_fault_stops_in_the_hardfault_handler(firmware):
    """maskisr auto runs only interrupt handlers through a step: a fault's handler (here one that never
    returns) is where the step stops."""
    elf = firmware(r"""
volatile int reached;
void isr_hardfault(void) { for (;;) reached = 1; }
int main(void)
{
    __asm__ volatile("udf #0");
    return 0;
}
""", opt="-O0")
    server = Server(elf)
    c = Client(server.port)
    c.cmd("?")
    main, hardfault = symbol(elf, "main"), symbol(elf, "isr_hardfault")
    assert c.cmd(f"Z0,{main:x},2") == "OK" and c.cmd("c").startswith("T05")
    for _ in range(20):
        assert c.cmd("s").startswith("T05")
        if c.reg(15) == hardfault:
            break
    assert c.reg(15) == hardfault and c.reg(16) & 0x3F == 3  # IPSR: HardFault
    c.raw(b"$k#6b")
    c.sock.close()
    server.finish()


def test_a_fault_after_detach_ends_as_exec_does(firmware):
    elf = firmware("int main(void){ *(volatile int *)0x60000000 = 1; return 0; }")
    server = Server(elf)
    c = Client(server.port)
    c.cmd("?")
    assert c.cmd("D") == "OK"
    c.sock.close()
    rc, _, err = server.finish()
    exec_run = run_cli("exec", elf)
    assert rc == exec_run.returncode == 70
    assert exec_run.stderr.strip().splitlines()[-1] in err and "Traceback" not in err


def test_a_program_that_cannot_run_is_refused_before_listening(programs, tmp_path):
    from elfpatch import ElfPatch
    bad = tmp_path / "sp.elf"
    patch = ElfPatch(programs["dbg"].read_bytes())
    patch.word_at(0x10000000, 0xF0000000)  # an initial SP outside SRAM
    bad.write_bytes(patch.bytes())
    proc = subprocess.run([sys.executable, "-m", "m0sim", "gdbserver", str(bad), "--port", "0", "--once"],
                          capture_output=True, text=True, cwd=REPO, timeout=60)
    assert_one_line_error(proc, INPUT, "initial SP 0xf0000000")  # no "listening" line: nobody waits for GDB
