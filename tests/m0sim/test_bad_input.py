"""Every bad input ends in one clear line, a distinct exit code, no traceback, and nothing half-written."""

import os
import subprocess
import sys

import pytest

INPUT, FAULT, BUDGET = 2, 70, 124


def assert_one_line_error(proc, code, *fragments):
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("m0sim: error: "), proc.stderr
    for f in fragments:
        assert f in lines[0], lines[0]


def test_missing_file(cli, tmp_path):
    assert_one_line_error(cli("exec", tmp_path / "nope.elf"), INPUT, "nope.elf", "not found")


def test_not_an_elf(cli, tmp_path):
    bad = tmp_path / "bad.elf"
    bad.write_text("hello, I am text")
    assert_one_line_error(cli("exec", bad), INPUT, "bad.elf", "not an ELF")
    assert_one_line_error(cli("info", bad), INPUT, "not an ELF")


def test_x86_64_elf(cli):
    host_binary = os.path.realpath(sys.executable)  # the interpreter itself: a 64-bit host ELF
    assert_one_line_error(cli("exec", host_binary), INPUT, "64-bit")


def test_truncated_elf(cli, firmware, tmp_path):
    cut = tmp_path / "cut.elf"
    cut.write_bytes(firmware("int main(void){return 0;}").read_bytes()[:600])
    assert_one_line_error(cli("exec", cut), INPUT, "cut.elf")


def test_big_endian_elf(cli, tmp_path):
    src = tmp_path / "be.c"
    src.write_text("int f(int a){return a;}\n")
    obj = tmp_path / "be.o"
    subprocess.run(["arm-none-eabi-gcc", "-mbig-endian", "-c", str(src), "-o", str(obj)], check=True)
    assert_one_line_error(cli("exec", obj), INPUT, "big-endian")


def test_segment_outside_memory(cli, tmp_path):
    src = tmp_path / "far.c"
    src.write_text("void _start(void){ for(;;); }\n")
    elf = tmp_path / "far.elf"
    subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m0plus", "-mthumb", "-nostdlib", "-Wl,-Ttext=0x30000000",
                    str(src), "-o", str(elf)], check=True)
    assert_one_line_error(cli("exec", elf), INPUT, "0x30000000", "outside flash")


def test_cortex_m3_program_refused(cli, firmware):
    # Division compiles to SDIV on a Cortex-M3: a Thumb-2 instruction a Cortex-M0+ does not have.
    elf = firmware("volatile int n = 1000, d = 7;\nint divide(void){ return n / d; }\n"
                   "int main(void){ return divide(); }\n", "-mcpu=cortex-m3")
    proc = cli("exec", elf)
    # The start-up code, built for the M3 too, is the first to be caught: address, symbol and instruction.
    assert_one_line_error(proc, FAULT, "outside ARMv6-M", "at 0x1000", "(Reset_Handler+0x")
    proc = cli("profile", elf, "--call", "divide")
    assert_one_line_error(proc, FAULT, "outside ARMv6-M", "(divide+0x", "sdiv")


def test_missing_symbol_and_call_arguments(cli, firmware):
    elf = firmware("int f(int a){return a;}\nint main(void){return 0;}\n")
    assert_one_line_error(cli("disasm", elf, "nope"), INPUT, "symbol 'nope' not found")
    assert_one_line_error(cli("profile", elf, "--call", "nope"), INPUT, "symbol 'nope' not found")
    assert_one_line_error(cli("profile", elf, "--call", "f", *map(str, range(17))), INPUT, "17 arguments")
    assert_one_line_error(cli("profile", elf, "--call", "f", "x"), INPUT, "integers")


def test_firmware_that_never_ends(cli, firmware):
    elf = firmware("int main(void){ for(;;) __asm__ volatile(\"nop\"); }\n")
    proc = cli("exec", elf, "--max-instructions", "100000")
    assert_one_line_error(proc, BUDGET, "budget exhausted", "(main+0x")


def test_firmware_reading_unmapped_memory(cli, firmware):
    elf = firmware("int main(void){ return *(volatile int *)0x30000010; }\n")
    proc = cli("exec", elf)
    assert_one_line_error(proc, FAULT, "invalid memory read of 4 bytes at 0x30000010", "(main+0x", "ldr", "r0=")


def test_firmware_writing_flash(cli, firmware):
    elf = firmware("int main(void){ *(volatile int *)0x10000400 = 1; return 0; }\n")
    assert_one_line_error(cli("exec", elf), FAULT, "write", "0x10000400")


def test_undefined_instruction(cli, firmware):
    elf = firmware("int main(void){ __asm__ volatile(\"udf #3\"); return 0; }\n")
    assert_one_line_error(cli("exec", elf), FAULT, "(main+0x")


def test_unknown_experiment_lists_known(cli):
    assert_one_line_error(cli("run", "no-such-experiment"), INPUT, "unknown experiment 'no-such-experiment'",
                          "known experiments")


def test_failed_compile_leaves_nothing(cli, tmp_path):
    src = tmp_path / "broken.c"
    src.write_text("int main(void) { return syntax error; }\n")
    out = tmp_path / "broken.elf"
    proc = cli("cc", src, "-o", out)
    assert proc.returncode == INPUT and "Traceback" not in proc.stderr
    assert "compilation failed" in proc.stderr
    assert not out.exists()


def test_cc_bad_arguments(cli, tmp_path):
    src = tmp_path / "ok.c"
    src.write_text("int main(void) { return 0; }\n")
    assert_one_line_error(cli("cc", src), INPUT, "missing -o OUTPUT.elf")
    assert_one_line_error(cli("cc", "-o", tmp_path / "x.elf"), INPUT, "no C source files")
    assert_one_line_error(cli("cc", src, "-o", tmp_path / "x.elf", "--stack-size", "12"), INPUT, "at least 256")
    assert_one_line_error(cli("cc", tmp_path / "missing.c", "-o", tmp_path / "x.elf"), INPUT, "not found")
    assert not (tmp_path / "x.elf").exists()


def test_bad_option(cli, firmware):
    elf = firmware("int main(void){return 0;}\n")
    proc = cli("exec", elf, "--max-instructions", "-5")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
