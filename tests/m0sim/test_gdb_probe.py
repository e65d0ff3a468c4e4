"""`m0sim gdbserver` used as an OpenOCD user uses a probe, driven by a real gdb-multiarch in batch mode on the
loopback interface (every GDB and server run is bounded by a timeout): `load`, `monitor reset halt`, the
m-profile system registers, detach and reconnect, Ctrl-C in a WFI idle loop, `next` over a SysTick-driven
loop, a watchpoint in an interrupt handler, the emulated budget running out."""

import re
import shutil
import signal
import subprocess
import time

import pytest

from test_gdbstub import STATS, Client, Server, exec_stats, run_cli

GDB_TIMEOUT = 120

# SysTick every 1,000 cycles; a busy loop that waits for ticks, then a WFI loop; the handler's last store is
# the instruction before its exception return (the handler is built with -O2 for that).
TICK = r"""
#include <stdint.h>
#include <stdio.h>

volatile uint32_t ticks;
volatile uint32_t last_tick;
volatile uint32_t spins;

__attribute__((optimize("O2"))) void isr_systick(void)
{
    uint32_t t = ticks + 1;
    ticks = t;
    last_tick = t;
}

static void wait_ticks(uint32_t n)
{
    while (ticks < n) __asm__ volatile("wfi");
}

int main(void)
{
    *(volatile uint32_t *)0xE000E014 = 999;
    *(volatile uint32_t *)0xE000E010 = 7;
    while (ticks < 30) spins++; /* BUSY */
    wait_ticks(60); /* AFTER */
    printf("ticks %lu\n", (unsigned long)ticks);
    return 7;
}
"""

IDLE = r"""
#include <stdint.h>
volatile uint32_t ticks;
void isr_systick(void) { ticks++; }
int main(void)
{
    *(volatile uint32_t *)0xE000E014 = 999;
    *(volatile uint32_t *)0xE000E010 = 7;
    for (;;) __asm__ volatile("wfi");
}
"""

# Another program for `load`: 80 KB of .bss, so its stack and heap lie far from those of TICK.
OTHER = r"""
#include <stdio.h>
static volatile unsigned big[20000];
int main(void)
{
    for (unsigned i = 0; i < 20000; i++) big[i] = i;
    printf("other %u\n", big[19999]);
    return 9;
}
"""


def line_of(marker: str) -> int:
    return next(n for n, text in enumerate(TICK.splitlines(), 1) if marker in text)


@pytest.fixture(scope="module")
def elves(tmp_path_factory):
    if shutil.which("gdb-multiarch") is None:
        pytest.fail("gdb-multiarch missing: run `make setup` (installs Debian's gdb-multiarch)")
    d = tmp_path_factory.mktemp("probe")
    out = {}
    for name, source in (("tick", TICK), ("idle", IDLE), ("other", OTHER)):
        (d / f"{name}.c").write_text(source)
        proc = run_cli("cc", d / f"{name}.c", "-O0", "-o", d / f"{name}.elf")
        assert proc.returncode == 0, proc.stderr
        out[name] = d / f"{name}.elf"
    return out


def gdb(elf, port, *commands, timeout=GDB_TIMEOUT) -> str:
    args = ["gdb-multiarch", "-q", "-batch", "-nx", "-ex", "set pagination off", "-ex", f"target remote :{port}"]
    for c in commands:
        args += ["-ex", c]
    proc = subprocess.run(args + [str(elf)], capture_output=True, text=True, timeout=timeout)
    return proc.stdout + proc.stderr


def test_load_reset_halt_and_system_registers(elves):
    """GDB loads another ELF into flash (memory map + vFlash packets); it runs after `monitor reset halt`
    with its own counts, stack and heap (no false stack overflow), and survives a second reset."""
    server = Server(elves["tick"])
    text = gdb(elves["other"], server.port, "load", "monitor reset halt", "maint flush register-cache",
               "info registers msp primask", "print/x $control", "monitor reset halt", "continue")
    code, out, err = server.finish()
    assert "Loading section .text" in text and "Start address" in text, text
    assert re.search(r"msp\s+0x20042000", text) and re.search(r"primask\s+0x0", text), text
    assert "$1 = 0x0" in text, text
    assert "exited with code 011" in text, text
    assert (code, out) == exec_stats(elves["other"])[:2] == (9, "other 19999\n")
    assert STATS.search(err).groups() == exec_stats(elves["other"])[2], err
    assert "stack overflow" not in err


def test_reset_halt_is_seen_after_a_flush_or_a_stepi(elves):
    """GDB 13 keeps its register cache across `monitor`; `maint flush register-cache` re-reads it, and as with
    OpenOCD's gdb_sync the first `stepi` after a reset runs nothing and shows the reset state."""
    from test_gdbstub import symbol
    reset = symbol(elves["tick"], "Reset_Handler")
    server = Server(elves["tick"])
    text = gdb(elves["tick"], server.port, "break main", "continue", "print/x $pc", "monitor reset halt",
               "maint flush register-cache", "print/x $pc", "continue", "monitor reset halt", "stepi",
               "print/x $pc", "stepi", "print/x $pc", "kill")
    server.finish()
    pcs = [int(v, 16) for v in re.findall(r"\$\d+ = (0x[0-9a-f]+)", text)]
    assert pcs[0] != reset, text  # stopped in main
    assert pcs[1] == reset and pcs[2] == reset and pcs[3] not in (reset, pcs[0]), text
    assert "reset: halted at the reset vector" in text, text


def test_detach_runs_on_as_exec_does(elves):
    """After detach the SysTick + WFI program runs to its end with interrupts, counts equal to `exec`."""
    server = Server(elves["tick"])
    text = gdb(elves["tick"], server.port, "break main", "continue", "delete", "detach")
    code, out, err = server.finish()
    assert "Detaching" in text or "detached" in text, text
    assert (code, out) == exec_stats(elves["tick"])[:2] == (7, "ticks 60\n")
    assert STATS.search(err).groups() == exec_stats(elves["tick"])[2]


def test_detach_then_reconnect_to_the_running_program(elves):
    """The server stays up: a second GDB finds the program (still running after the first detached) halted,
    with its ticks advanced, and can read the system registers."""
    server = Server(elves["idle"], "--max-seconds", "100000", once=False)
    try:
        first = gdb(elves["idle"], server.port, "break isr_systick", "continue", "print ticks", "delete", "detach")
        assert "$1 = 0" in first, first
        time.sleep(0.3)
        second = gdb(elves["idle"], server.port, "print ticks > 10", "info registers msp primask control",
                     "detach")
        assert "$1 = 1" in second, second
        assert re.search(r"msp\s+0x2004[0-9a-f]{4}", second) and re.search(r"control\s+0x0", second), second
    finally:
        server.proc.send_signal(signal.SIGINT)
        _, _, err = server.finish()
    assert err.count("GDB connected") == 2 and "Traceback" not in err, err


def test_ctrl_c_in_a_wfi_idle_loop(elves):
    server = Server(elves["idle"], "--max-seconds", "100000")
    proc = subprocess.Popen(["gdb-multiarch", "-q", "-batch", "-nx", "-ex", f"target remote :{server.port}",
                             "-ex", "continue", "-ex", "print ticks > 0", "-ex", "kill", str(elves["idle"])],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(2.0)  # connected and running the idle loop
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    text = proc.communicate(timeout=GDB_TIMEOUT)[0]
    answered = time.monotonic() - sent
    code, _, err = server.finish()
    assert "Program received signal SIGINT" in text and "$1 = 1" in text, text
    assert answered < 2.0, f"Ctrl-C answered after {answered:.1f} s"  # the bound; was 31.7 s
    assert code == 0 and "Traceback" not in err


def test_next_over_a_systick_loop_does_not_enter_the_handler(elves):
    busy, after = line_of("/* BUSY */"), line_of("/* AFTER */")
    server = Server(elves["tick"])
    text = gdb(elves["tick"], server.port, f"break tick.c:{busy}", "continue", "next", "print ticks >= 30",
               "monitor maskisr off", "kill")
    server.finish()
    assert re.search(rf"^{after}\s+wait_ticks", text, re.M), text
    assert "isr_systick" not in text.split("Breakpoint 1, main")[1], text
    assert "$1 = 1" in text and "maskisr off" in text, text


def test_next_with_maskisr_off_stops_in_the_handler(elves):
    """The other side of the default: `monitor maskisr off` follows the interrupt into its handler."""
    busy = line_of("/* BUSY */")
    server = Server(elves["tick"])
    text = gdb(elves["tick"], server.port, "monitor maskisr off", f"break tick.c:{busy}", "continue", "next",
               "kill")
    server.finish()
    assert re.search(r"^isr_systick \(\) at .*tick\.c:\d+", text, re.M), text


def test_watchpoint_in_a_handler_stops_in_the_handler(elves):
    server = Server(elves["tick"])
    text = gdb(elves["tick"], server.port, "watch last_tick", "continue", "backtrace", "continue", "print $pc",
               "kill")
    server.finish()
    stops = re.findall(r"Old value = (\d+)\s+New value = (\d+)\s+(0x[0-9a-f]+) in (\w+)", text)
    assert [s[:2] for s in stops] == [("0", "1"), ("1", "2")], text
    assert all(s[3] == "isr_systick" for s in stops), text  # not back in main: the store's own context
    assert "<signal handler called>" in text, text


def test_budget_running_out_is_sigxcpu_and_can_go_on(elves):
    server = Server(elves["idle"], "--max-seconds", "0.001")
    text = gdb(elves["idle"], server.port, "continue", "print ticks", "continue", "print ticks", "kill")
    code, _, err = server.finish()
    assert text.count("Program received signal SIGXCPU") == 2, text
    assert "budget exhausted after" in text and "grants the same budget again" in text, text
    first, second = (int(v) for v in re.findall(r"\$\d+ = (\d+)", text))
    assert 0 < first < second, text
    assert code == 0 and "Traceback" not in err


def test_peripheral_reads_without_side_effects(elves):
    """SysTick's reload register reads for the debugger; CSR (reading clears COUNTFLAG) is refused, with the
    reason on the server's stderr; a TIMER read does not change what the program reads."""
    server = Server(elves["tick"])
    c = Client(server.port)
    c.cmd("?")
    from test_gdbstub import symbol
    assert c.cmd(f"Z0,{symbol(elves['tick'], 'wait_ticks'):x},2") == "OK"
    assert c.cmd("c").startswith("T05")
    assert c.cmd("me000e014,4") == (999).to_bytes(4, "little").hex()  # SYST_RVR
    assert c.cmd("me000e010,4").startswith("E")  # SYST_CSR: reading clears COUNTFLAG
    assert c.cmd("m40054028,4") == c.cmd("m40054028,4")  # TIMERAWL: time does not move while halted
    assert c.cmd("m40054000,4").startswith("E") is False
    c.raw(b"$k#6b")
    c.sock.close()
    _, _, err = server.finish()
    assert "0xe000e010 (SysTick +0x0) is not read for the debugger: reading clears COUNTFLAG" in err, err


def test_monitor_stats_never_wraps(elves):
    server = Server(elves["tick"])
    c = Client(server.port)
    c.cmd("?")
    c.cmd("s")
    numbers = [int(n.replace(",", "")) for n in re.findall(r"[\d,]+\d", c.monitor("stats"))]
    assert numbers and max(numbers) < 2**32, numbers
    c.raw(b"$k#6b")
    c.sock.close()
    server.finish()
