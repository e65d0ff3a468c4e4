"""Both cores through `m0sim gdbserver` as two GDB threads (thread 1 core 0, thread 2 core 1): a real gdb-multiarch
in batch mode for `info threads`, `thread 2`, breakpoints that stop the core that reaches them (GDB's own
`break f thread 2` filter included) and the exit code; the protocol client for the thread packets, stepping a core
and Ctrl-C while one core runs alone."""

import re
import shutil
import time

import pytest

from test_gdb_probe import GDB_TIMEOUT, gdb
from test_gdbstub import STATS, Client, Server, exec_stats, symbol

# core1_only runs on core 1 only; square runs on both (core 0 first: core 1 waits for core 0's word).
DUAL = r"""
#include <stdio.h>
#include "multicore.h"
static uint32_t core1_stack[256];

__attribute__((noinline)) uint32_t square(uint32_t v) { __asm__ volatile("" ::: "memory"); return v * v; }
__attribute__((noinline)) uint32_t core1_only(uint32_t v) { __asm__ volatile("" ::: "memory"); return square(v) + 1; }

static void core1_main(void)
{
    uint32_t v = multicore_fifo_pop_blocking();
    multicore_fifo_push_blocking(core1_only(v));
}

int main(void)
{
    multicore_launch_core1_with_stack(core1_main, core1_stack, sizeof core1_stack);
    uint32_t mine = square(3);
    multicore_fifo_push_blocking(6);
    uint32_t theirs = multicore_fifo_pop_blocking();
    printf("mine %lu theirs %lu\n", (unsigned long)mine, (unsigned long)theirs);
    return mine == 9 && theirs == 37 ? 5 : 1;
}
"""

# Core 1 spins forever; core 0 sleeps in a WFE that nothing ends before the budget: core 1 runs alone.
SPIN = r"""
#include "multicore.h"
static uint32_t core1_stack[128];
volatile uint32_t spins;
static void spin(void) { for (;;) spins++; }
int main(void)
{
    multicore_launch_core1_with_stack(spin, core1_stack, sizeof core1_stack);
    for (;;) __wfe();
}
"""

# Core 1 in straight-line code with its SysTick every 98 cycles: interrupts fall due inside the blocks stepped.
TICKING = r"""
#include <stdio.h>
#include "multicore.h"
#define SYST_CSR (*(volatile uint32_t *)0xe000e010u)
#define SYST_RVR (*(volatile uint32_t *)0xe000e014u)
#define SYST_CVR (*(volatile uint32_t *)0xe000e018u)
static uint32_t core1_stack[256];
volatile uint32_t ticks, sink;
void isr_systick(void) { ticks++; }
__attribute__((noinline)) void busy(void)
{
    uint32_t a = 1, b = 2, c = 3, d = 4;
    for (int i = 0; i < 300; i++) {
        a += b; b ^= c; c += d; d ^= a; a += 3; b += 5; c ^= 7; d += 11;
        a ^= d; b += a; c ^= b; d += c; a += 13; b ^= 17; c += 19; d ^= 23;
    }
    sink = a + b + c + d;
}
static void core1_main(void)
{
    SYST_RVR = 97; SYST_CVR = 0; SYST_CSR = 7;
    busy();
    SYST_CSR = 0;
    multicore_fifo_push_blocking(ticks);
}
int main(void)
{
    multicore_launch_core1_with_stack(core1_main, core1_stack, sizeof core1_stack);
    uint32_t t = multicore_fifo_pop_blocking();
    printf("ticks %lu sink %lu\n", (unsigned long)t, (unsigned long)sink);
    return 0;
}
"""

ONE_CORE = r"""
int main(void) { volatile int x = 2; return x + 1; }
"""


@pytest.fixture(scope="module")
def elves(firmware):
    if shutil.which("gdb-multiarch") is None:
        pytest.fail("gdb-multiarch missing: run `make setup` (installs Debian's gdb-multiarch)")
    out = {name: firmware(source, opt="-O0") for name, source in
           (("dual", DUAL), ("spin", SPIN), ("one", ONE_CORE))}
    out["ticking"] = firmware(TICKING, opt="-O2")
    return out


def test_info_threads_a_breakpoint_on_core_1_and_the_exit_code(elves):
    """Two threads from reset (core 1 in the bootrom), a breakpoint in a function only core 1 runs stops with
    thread 2 selected, each thread shows its own core's registers, steps of core 1, and the run ends with the
    program's exit code and exactly the counts of `m0sim exec`."""
    server = Server(elves["dual"])
    text = gdb(elves["dual"], server.port, "info threads", "break core1_only", "continue", "info threads",
               "thread 2", "info registers pc", "thread 1", "info registers pc", "thread 2", "stepi", "next",
               "delete", "continue")
    code, out, err = server.finish()
    before, after = text.split("Breakpoint 1 at", 1)
    assert re.search(r"^\*\s*1\s+Thread 1 \(core 0\)", before, re.M), text
    assert re.search(r"^\s+2\s+Thread 2 \(core 1 \(in the bootrom, waiting to be launched\)\)", before, re.M), text
    assert "Thread 2 hit Breakpoint 1, core1_only (v=6)" in after, text
    assert re.search(r"^\*\s*2\s+Thread 2 \(core 1\)\s+core1_only", after, re.M), text
    pcs = re.findall(r"^pc\s+0x[0-9a-f]+\s+0x[0-9a-f]+ <(\w+)", after, re.M)
    assert pcs[0] == "core1_only" and pcs[1] != "core1_only", text
    assert "exited with code 05" in text, text
    assert (code, out) == exec_stats(elves["dual"])[:2] == (5, "mine 9 theirs 37\n")
    assert STATS.search(err).groups() == exec_stats(elves["dual"])[2], err


def test_break_thread_2_skips_core_0_through_gdbs_own_filter(elves):
    """`break square thread 2`: core 0 reaches square first and the stub reports that stop on thread 1; GDB's
    thread filter resumes it, and the stop GDB shows is core 1's, with core 1's argument."""
    server = Server(elves["dual"], "--trace")
    text = gdb(elves["dual"], server.port, "break main", "continue", "break square thread 2", "continue",
               "print v", "kill")
    _, _, err = server.finish()
    assert "Thread 2 hit Breakpoint 2, square (v=6)" in text and "$1 = 6" in text, text
    assert not re.search(r"Thread 1 hit Breakpoint", text.split("Breakpoint 2 at")[1]), text
    # the stops that answered GDB's continues: at main, core 0 at square (filtered out by GDB), core 1 at square
    stops = re.findall(r"-> b'vCont;c'\nm0sim: rsp <- b'(T05thread:\d;)'", err)
    assert stops == ["T05thread:1;", "T05thread:1;", "T05thread:2;"], stops


def test_stepping_a_core_through_its_interrupts_keeps_the_counts_exact(elves):
    """Forty steps of core 1 while its SysTick falls due inside the blocks stepped (and at the breakpoint's own
    instruction): each interrupt is taken at its own instruction boundary, none is lost, and the run ends with
    exactly the counts of `m0sim exec`."""
    server = Server(elves["ticking"])
    text = gdb(elves["ticking"], server.port, "break busy", "continue", *["stepi"] * 40, "delete", "continue")
    code, out, err = server.finish()
    assert "Thread 2 hit Breakpoint 1, busy" in text and "exited normally" in text, text
    assert (code, out) == exec_stats(elves["ticking"])[:2]
    assert STATS.search(err).groups() == exec_stats(elves["ticking"])[2], err


def test_thread_packets_and_stepping_a_core(elves):
    """The protocol: thread list and names, Hg selecting the core whose registers p reads, core 1's boot state
    (not writable), a step of core 1 before its launch runs to its first instruction, a step of core 1 after it,
    a thread that does not exist."""
    server = Server(elves["dual"])
    c = Client(server.port)
    assert c.cmd("qfThreadInfo") == "m1,2" and c.cmd("qsThreadInfo") == "l"
    assert c.cmd("?") == "T05thread:1;"
    assert bytes.fromhex(c.cmd("qThreadExtraInfo,2")).decode() == "core 1 (in the bootrom, waiting to be launched)"
    assert c.cmd("Hg2") == "OK" and c.reg(15) == 0x104  # the bootrom's wait (m0sim.soc.CORE1_RETURN)
    assert c.cmd("P0=01000000") == "E01"  # core 1's registers are set by its launch
    assert c.cmd("Hg3") == "E01" and c.cmd("T3") == "E01"
    entry = symbol(elves["dual"], "core1_main")
    assert c.cmd("vCont;s:2;c") == "T05thread:2;"
    assert c.cmd("Hg2") == "OK" and c.reg(15) == entry
    assert c.cmd("qC") == "QC2"
    assert bytes.fromhex(c.cmd("qThreadExtraInfo,2")).decode() == "core 1"
    assert c.cmd("vCont;s:2;c") == "T05thread:2;" and c.reg(15) == entry + 2  # one instruction (a PUSH)
    assert c.cmd("Hg1") == "OK" and c.reg(15) != entry
    assert c.cmd("vCont;c") == "W05"
    c.sock.close()
    assert server.finish()[0] == 5


def test_a_one_core_program_stays_one_thread(elves):
    server = Server(elves["one"])
    c = Client(server.port)
    assert c.cmd("qfThreadInfo") == "m1" and c.cmd("?") == "S05"
    assert c.cmd("Hg2") == "E01"
    assert c.cmd("vCont;c") == "W03"
    c.sock.close()
    assert server.finish()[0] == 3


def test_ctrl_c_while_core_1_runs_alone(elves):
    """Core 0 asleep for good, core 1 spinning: the run goes on alone on core 1 (in pieces under GDB), and a
    Ctrl-C stops it promptly with both threads inspectable."""
    server = Server(elves["spin"], "--max-seconds", "100000")
    c = Client(server.port)
    c.raw(b"$vCont;c#a8")
    assert c.ack() == b"+"
    time.sleep(1.0)
    sent = time.monotonic()
    c.raw(b"\x03")
    reply = c.reply()
    answered = time.monotonic() - sent
    assert reply.startswith("T02"), reply
    assert answered < GDB_TIMEOUT / 60, f"Ctrl-C answered after {answered:.1f} s"
    assert bytes.fromhex(c.cmd("qThreadExtraInfo,1")).decode() == "core 0 (asleep in WFE)"
    c.raw(b"$k#6b")
    assert server.finish()[0] == 0
