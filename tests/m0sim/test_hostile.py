"""Hostile and careless input (issue 10): every case ends in one line and its documented exit code, host
memory stays bounded, firmware faults like silicon, Ctrl-C stops a run."""

import os
import signal
import subprocess
import sys
import time

import pytest
from elfpatch import ElfPatch
from test_bad_input import FAULT, INPUT, assert_one_line_error

from m0sim import InputError, Machine, memmap
from m0sim.loader import load_program
from m0sim.errors import M0simError

HELLO = '#include <stdio.h>\nint helper(int x){ return x + 1; }\nint main(void){ printf("hi\\n"); return 3; }\n'


@pytest.fixture
def hello(firmware):
    return firmware(HELLO)


def patched(tmp_path, elf, name, edit):
    p = ElfPatch(elf.read_bytes())
    edit(p)
    out = tmp_path / name
    out.write_bytes(p.bytes())
    return out


# --- ELF loading --------------------------------------------------------------------------------------------
def test_five_byte_elf(cli, tmp_path):
    tiny = tmp_path / "tiny.elf"
    tiny.write_bytes(b"\x7fELF\x01")
    assert_one_line_error(cli("exec", tiny), INPUT, "tiny.elf", "truncated ELF header")
    with pytest.raises(InputError):
        load_program(tiny)


def test_symtab_with_another_type(cli, hello, tmp_path):
    bad = patched(tmp_path, hello, "symtab.elf", lambda p: p.section_type(".symtab", 1))  # SHT_PROGBITS
    assert_one_line_error(cli("info", bad), INPUT, ".symtab", "not a symbol table")


def test_initial_sp_outside_sram(cli, hello, tmp_path):
    bad = patched(tmp_path, hello, "sp.elf", lambda p: p.word_at(memmap.XIP.base, 0xF0000000))
    assert_one_line_error(cli("exec", bad), INPUT, "initial SP 0xf0000000")


@pytest.mark.parametrize("symbol", ["__stack_top", "end"])
def test_layout_symbol_outside_sram(cli, hello, tmp_path, symbol):
    bad = patched(tmp_path, hello, "sym.elf", lambda p: p.symbol(symbol, 0xF0000000))
    assert_one_line_error(cli("exec", bad), INPUT, f"'{symbol}'", "outside SRAM")
    assert_one_line_error(cli("profile", bad, "--call", "helper", "1"), INPUT, "outside SRAM")


def test_overlapping_segments(cli, hello, tmp_path):
    bad = patched(tmp_path, hello, "overlap.elf", lambda p: p.segment(1, "p_paddr", memmap.XIP.base + 0x100))
    assert_one_line_error(cli("exec", bad), INPUT, "overlaps")


def test_filesz_larger_than_memsz(cli, hello, tmp_path):
    bad = patched(tmp_path, hello, "filesz.elf", lambda p: p.segment(1, "p_memsz", 4))
    assert_one_line_error(cli("exec", bad), INPUT, "more bytes in the file")


def test_entry_point_is_not_ignored(cli, hello, tmp_path):
    helper = load_program(hello).symbol("helper").addr
    bad = patched(tmp_path, hello, "entry.elf", lambda p: p.header("e_entry", helper | 1))
    assert_one_line_error(cli("exec", bad), INPUT, "entry point", "reset vector")


def test_no_section_headers_runs(cli, hello, tmp_path):
    def strip_headers(p):
        p.header("e_shoff", 0), p.header("e_shnum", 0), p.header("e_shstrndx", 0)
    bare = patched(tmp_path, hello, "bare.elf", strip_headers)
    proc = cli("exec", bare)
    assert (proc.returncode, proc.stdout, proc.stderr) == (3, "hi\n", "")


def test_stripped_elf_no_false_stack_overflow(cli, hello, tmp_path):
    stripped = tmp_path / "stripped.elf"
    subprocess.run(["arm-none-eabi-strip", "-o", str(stripped), str(hello)], check=True)
    proc = cli("exec", "--stats", stripped)
    assert proc.returncode == 3 and proc.stdout == "hi\n", proc.stderr
    assert "overflow" not in proc.stderr and "stack 0." in proc.stderr


# --- options ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("option", [("--max-instructions", str(2**64)), ("--max-seconds", "1e300"),
                                    ("--max-seconds", "nan"), ("--max-seconds", "inf"), ("--clock-mhz", "nan")])
def test_budget_options_range_checked(cli, hello, option):
    proc = cli("exec", *option, hello)
    assert proc.returncode == INPUT and "Traceback" not in proc.stderr and option[0] in proc.stderr


def test_machine_api_checks_clock_and_budgets(hello):
    with pytest.raises(InputError, match="clock_hz"):
        Machine(hello, clock_hz=float("nan"))
    m = Machine(hello)
    with pytest.raises(InputError, match="max_instructions"):
        m.run(max_instructions=2**64)
    with pytest.raises(InputError, match="max_cycles"):
        m.call("helper", 1, max_cycles=-5)


@pytest.mark.parametrize("args", [("priot-s", "--angle", "nan"), ("compare", "--seed", "-1"),
                                  ("compare", "--angle-range", "nan", "nan"), ("compare", "--angle", "nan")])
def test_experiment_options_refuse_nan_and_negative_seed(cli, args):
    proc = cli("run", *args)
    assert proc.returncode == INPUT and "Traceback" not in proc.stderr, proc.stderr


@pytest.mark.parametrize("name", ["priot-s", "compare", "cost"])
def test_json_destination_checked_before_the_run(cli, tmp_path, name):
    proc = cli("run", name, "--json", tmp_path / "missing" / "out.json")
    assert_one_line_error(proc, INPUT, "missing", "does not exist")


def test_compare_bad_data_is_exit_2(cli, tmp_path):
    junk = tmp_path / "mnist.npz"
    junk.write_bytes(b"not a zip")
    assert_one_line_error(cli("run", "compare", "--dataset", "mnist", "--data-path", junk), INPUT, "mnist.npz")


# --- m0sim cc -----------------------------------------------------------------------------------------------
def test_cc_output_may_not_be_a_source_or_directory(cli, tmp_path):
    src = tmp_path / "x.c"
    src.write_text("int main(void){return 0;}\n")
    assert_one_line_error(cli("cc", src, "-o", src), INPUT, "source")
    assert src.read_text() == "int main(void){return 0;}\n"
    assert_one_line_error(cli("cc", src, "-o", tmp_path), INPUT, "directory")


def test_cc_links_libraries_after_sources(cli, tmp_path):
    src = tmp_path / "sq.c"
    src.write_text('#include <math.h>\n#include <stdio.h>\nvolatile double x = 2.0;\n'
                   'int main(void){ printf("%d\\n", (int)(1000 * sqrt(x))); return 0; }\n')
    elf = tmp_path / "sq.elf"
    proc = cli("cc", src, "-lm", "-o", elf)
    assert proc.returncode == 0, proc.stderr
    assert cli("exec", elf).stdout == "1414\n"


def test_cc_last_optimisation_flag_wins(cli, tmp_path):
    src = tmp_path / "o.c"
    src.write_text("#ifdef __OPTIMIZE__\n#error optimised\n#endif\nint main(void){return 0;}\n")
    assert cli("cc", src, "-O2", "-O0", "-o", tmp_path / "o.elf").returncode == 0
    assert cli("cc", src, "-O0", "-O2", "-o", tmp_path / "o.elf").returncode == INPUT


@pytest.mark.skipif(not os.path.isdir("/dev/shm"), reason="needs a second filesystem for TMPDIR")
def test_cc_with_tmpdir_on_another_filesystem(tmp_path):
    if os.stat("/dev/shm").st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("/dev/shm is on the same filesystem here")
    src = tmp_path / "x.c"
    src.write_text("int main(void){return 0;}\n")
    env = dict(os.environ, TMPDIR="/dev/shm")
    proc = subprocess.run([sys.executable, "-m", "m0sim", "cc", str(src), "-o", str(tmp_path / "x.elf")],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.c", "x.elf"]  # no temporary left behind


# --- firmware behaviour like silicon ------------------------------------------------------------------------
FAULTING = """
__attribute__((noinline)) unsigned f(volatile unsigned *ok, volatile unsigned *bad)
{ unsigned a = ok[0]; a += ok[1]; a += ok[2]; bad[3] = a; return a + ok[4]; }
int main(void){ return f((unsigned *)0x20001000, (unsigned *)0x30000000); }
"""


def test_fault_names_the_faulting_store(cli, firmware):
    elf = firmware(FAULTING)
    store = next(line for line in cli("disasm", elf, "f").stdout.splitlines() if " str " in line)
    addr = store.split(":")[0]
    assert_one_line_error(cli("exec", elf), FAULT, "write of 4 bytes at 0x3000000c", f"by {addr} (f+0x", "str ")


UNALIGNED = """
#include <stdio.h>
unsigned char buf[16] __attribute__((aligned(4))) = {1, 2, 3, 4, 5, 6, 7, 8};
static const unsigned char fl[16] __attribute__((aligned(4))) = {1, 2, 3, 4, 5, 6, 7, 8};
__attribute__((noinline)) unsigned half(volatile unsigned short *p){ return p[0] + 1; }
__attribute__((noinline)) unsigned store(volatile unsigned *p, unsigned v){ unsigned a = v + 3; p[1] = a; return a; }
__attribute__((noinline)) unsigned word(const volatile unsigned *p){ return p[0] + 7; }
__attribute__((noinline)) unsigned multiple(unsigned *p)
{ unsigned a, b; __asm__ volatile("ldm %2!, {%0, %1}" : "=l"(a), "=l"(b), "+l"(p)); return a + b; }
volatile int off = 1;
int main(void){ unsigned x;
  switch (CASE) {
  case 0: x = half((unsigned short *)(buf + off)); break;
  case 1: x = store((unsigned *)(buf + 2 * off), 5); break;
  case 2: x = word((const unsigned *)(fl + off)); break;
  case 3: x = multiple((unsigned *)(buf + 2 * off)); break;
  default: x = word((const unsigned *)(buf + 4 * off)); }
  printf("%u\\n", x); return 0; }
"""


@pytest.mark.parametrize("case, fragments", [
    (0, ("unaligned read of 2 bytes", "(half+0x", "ldrh")),
    (1, ("unaligned write of 4 bytes", "(store+0x", "str r")),
    (2, ("unaligned read of 4 bytes at 0x1000", "(word+0x", "ldr r")),  # flash data
    (3, ("unaligned read of 4 bytes", "(multiple+0x", "ldm")),
])
def test_unaligned_access_faults(cli, firmware, case, fragments):
    elf = firmware(UNALIGNED.replace("CASE", str(case)))
    assert_one_line_error(cli("exec", elf), FAULT, *fragments)
    assert cli("exec", "--no-alignment-check", elf).returncode == 0  # Unicorn alone completes it
    with pytest.raises(M0simError, match="unaligned"):
        Machine(elf, alignment_faults=True, stdout=lambda b: None).run()


def test_aligned_accesses_pass_the_check(cli, firmware):
    proc = cli("exec", firmware(UNALIGNED.replace("CASE", "4")))
    assert proc.returncode == 0 and proc.stdout == f"{0x08070605 + 7}\n", proc.stderr


def test_malloc_to_the_heap_limit_is_not_a_stack_overflow(cli, firmware):
    elf = firmware("#include <stdlib.h>\n#include <stdio.h>\n"
                   "int main(void){ int n = 0; while (malloc(1024)) n++; printf(\"%d\\n\", n); return 0; }\n")
    proc = cli("exec", elf)
    assert proc.returncode == 0 and int(proc.stdout) > 200, proc.stderr


def test_wfi_loop_says_so(cli, firmware):
    elf = firmware('int main(void){ for (;;) __asm__ volatile("wfi"); }\n')
    assert_one_line_error(cli("exec", elf), FAULT, "waits for an interrupt (WFI)", "(main+0x0)", "wfi")


SEMIHOST = """
#include <stdint.h>
static int sh(int op, void *arg)
{ register int r0 __asm__("r0") = op; register void *r1 __asm__("r1") = arg;
  __asm__ volatile("bkpt #0xab" : "+r"(r0) : "r"(r1) : "memory"); return r0; }
extern const char __vectors[];
int main(void){ uint32_t a[3] = {%s}; return sh(%s, %s) == -1; }
"""


def test_semihosting_write_length_is_bounded(cli, firmware):
    # handle 3 is rdimon's stdout (after the features file and stdin); 0xFFFFFFF0 bytes would make the host allocate 4 GB
    elf = firmware(SEMIHOST % ("3, 0x20000000, 0xFFFFFFF0", "0x05", "a"))
    assert_one_line_error(cli("exec", elf), FAULT, "SYS_WRITE reads 4294967280 bytes", "outside")


@pytest.mark.parametrize("call", [("(uint32_t)__vectors", "0x16", "a"),  # HEAPINFO: r1 points to the block's address
                                  ("0", "0x30", "(void *)__vectors")])  # ELAPSED: r1 is where the count goes
def test_semihosting_cannot_write_flash(cli, firmware, call):
    elf = firmware(SEMIHOST % call)
    assert_one_line_error(cli("exec", elf), FAULT, "would write", "XIP flash", "only SRAM")


def test_semihosting_time_is_deterministic(cli, firmware):
    elf = firmware('#include <stdio.h>\n#include <time.h>\nint main(void){ printf("%ld\\n", (long)time(0)); return 0; }\n')
    outs = {cli("exec", elf).stdout for _ in range(2)}
    assert outs == {"0\n"}


# --- Ctrl-C -------------------------------------------------------------------------------------------------
def test_ctrl_c_stops_a_long_emulation(firmware):
    elf = firmware('int main(void){ for (;;) __asm__ volatile("nop"); }\n')
    proc = subprocess.Popen([sys.executable, "-m", "m0sim", "exec", "--max-seconds", "1e6", str(elf)],
                            stderr=subprocess.PIPE, text=True)
    time.sleep(2.0)  # imported and running
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=30)  # without the stop it would run for hours of budget
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("Ctrl-C did not stop the emulation")
    assert proc.returncode == 130, err
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1 and "interrupted" in lines[0] and "Aborted" not in err, err


def test_ctrl_c_from_python_is_an_m0sim_error_and_a_keyboard_interrupt(firmware):
    elf = firmware('int main(void){ for (;;) __asm__ volatile("nop"); }\n')
    m = Machine(elf)
    timer = __import__("threading").Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(M0simError) as info:
        m.run(max_cycles=2**62)
    timer.join()
    assert isinstance(info.value, KeyboardInterrupt) and info.value.exit_code == 130


def test_ctrl_c_in_an_experiment_is_one_line_and_130():
    """`m0sim run` used to hand Ctrl-C to click, which printed "Aborted!" and exited 1."""
    proc = subprocess.Popen([sys.executable, "-m", "m0sim", "run", "priot-s"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    time.sleep(6.0)  # inside the run: data, backbone, firmware, then device steps
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("Ctrl-C did not stop the experiment")
    assert proc.returncode == 130, err
    lines = [l for l in err.splitlines() if l.strip() and not l.startswith("epoch ")]
    assert len(lines) == 1 and "interrupted" in lines[0] and "Aborted" not in err, err
