"""Ctrl-C at any moment of `m0sim exec` and `m0sim cc` (start-up imports, parsing, the run, shutdown): either the
command finished, or one line "m0sim: interrupted" and exit 130 (or, in the interpreter's last moments,
the silent stop by SIGINT that a shell also reports as 130); never a KeyboardInterrupt traceback."""

import signal
import subprocess
import sys
import time

import pytest
from test_bad_input import INPUT

from m0sim import sigint

HELLO = '#include <stdio.h>\nint main(void){ printf("hi\\n"); return 3; }\n'


def startup_seconds():
    """How long this machine takes to start Python with numpy's neighbours on the path (no m0sim): Ctrl-C before
    that is Python's own start, not m0sim's."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - start


def interrupt_at(args, delay):
    proc = subprocess.Popen([sys.executable, "-m", "m0sim", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


@pytest.mark.parametrize("command", ["exec", "cc"])
def test_ctrl_c_at_any_moment_is_one_line_or_nothing(firmware, tmp_path, command):
    elf = firmware(HELLO)
    src = tmp_path / "hello.c"
    src.write_text(HELLO)
    args = ["exec", elf] if command == "exec" else ["cc", src, "-o", tmp_path / "hello.elf"]
    finished = 3 if command == "exec" else 0
    first = 2 * startup_seconds()
    outcomes = set()
    for step in range(14):
        code, out, err = interrupt_at(args, first + 0.04 * step)
        assert "Traceback" not in err and "KeyboardInterrupt" not in err, (step, err)
        lines = [line for line in err.splitlines() if line.strip()]
        if code == sigint.EXIT_CODE:  # one line: the start-up's, or the run's (which says where it stopped)
            assert len(lines) == 1 and lines[0].startswith("m0sim:") and "interrupted" in lines[0], (step, err)
        elif code == -signal.SIGINT:  # in Python's own finalisation, which restores the default action: a stop
            # that shells report as 130 too (128 + SIGINT), after the one line when the command had already caught
            # the first Ctrl-C (seen on a loaded machine), else silent
            assert len(lines) <= 1 and all("interrupted" in line for line in lines), (step, err)
        else:
            assert code == finished, (step, code, err)
        outcomes.add(code)
    assert sigint.EXIT_CODE in outcomes  # the loop did interrupt some runs


def test_usage_errors_are_one_line(cli, tmp_path):
    for args in (["exec", "--max-seconds", "nan", "x.elf"], ["gdbserver", "--frobnicate"], ["bogus"]):
        proc = cli(*args)
        assert proc.returncode == INPUT and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert proc.stderr.startswith("m0sim: error: m0sim"), proc.stderr


@pytest.mark.parametrize("option", [("--clock-mhz", "nan"), ("--max-seconds", "nan"), ("--max-seconds", "inf"),
                                    ("--max-seconds", "1e300"), ("--max-seconds", "-1")])
def test_gdbserver_refuses_bad_numbers_before_listening(cli, firmware, option):
    proc = subprocess.run([sys.executable, "-m", "m0sim", "gdbserver", *option, "--port", "0",
                           str(firmware(HELLO))], capture_output=True, text=True, timeout=60)
    assert proc.returncode == INPUT and proc.stdout == "", proc.stdout  # it never printed its port
    assert proc.stderr.count("\n") == 1 and option[0] in proc.stderr, proc.stderr
