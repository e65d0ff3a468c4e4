"""Fuzz the loader and a short run with seeded mutations of a real ELF: the only exception allowed is an
M0simError (one line at the command line), and no case may kill the process with a signal."""

import subprocess
import sys

import pytest
from elf_mutator import Mutator

from m0sim import Machine
from m0sim.loader import load_program
from m0sim.errors import M0simError

SOURCE = ('#include <stdio.h>\n#include <stdlib.h>\nint twice(int x){ return 2 * x; }\n'
          'int main(void){ char *p = malloc(64); printf("%d\\n", twice(21)); free(p); return 0; }\n')
BUDGET = 20_000  # instructions: reaches main through the start-up code


def exercise(path):
    """Load and run one mutated ELF the way `m0sim info` and `m0sim exec` would."""
    try:
        program = load_program(path)
        program.footprint()
        m = Machine(program, stdout=lambda b: None, stderr=lambda b: None)
        m.run(max_instructions=BUDGET)
    except M0simError:
        pass


def fuzz(firmware, tmp_path, seed, cases):
    base = firmware(SOURCE).read_bytes()
    mutator = Mutator(base)
    path = tmp_path / "case.elf"
    for i in range(cases):
        path.write_bytes(mutator.case(seed, i))
        try:
            exercise(path)
        except Exception as exc:  # anything but M0simError is a bug: say which case reproduces it
            pytest.fail(f"case {i} of seed {seed}: {type(exc).__name__}: {exc}")


def test_fuzz_in_process(firmware, tmp_path):
    fuzz(firmware, tmp_path, seed=1, cases=200)


def test_fuzz_no_signal_at_the_command_line(firmware, tmp_path):
    """A sample through the real command line in one subprocess: a SIGSEGV/SIGBUS would kill it."""
    base = firmware(SOURCE).read_bytes()
    mutator = Mutator(base)
    paths = []
    for i in range(30):
        p = tmp_path / f"case{i}.elf"
        p.write_bytes(mutator.case(2, i))
        paths.append(str(p))
    script = ("import sys\nsys.path.insert(0, sys.argv[1])\nfrom test_fuzz_elf import exercise\n"
              "for p in sys.argv[2:]:\n    exercise(p)\nprint('done')\n")
    proc = subprocess.run([sys.executable, "-c", script, str(__import__("pathlib").Path(__file__).parent), *paths],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout == "done\n", (proc.returncode, proc.stderr[-2000:])


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(3, 8))
def test_fuzz_thousands(firmware, tmp_path, seed):
    fuzz(firmware, tmp_path, seed=seed, cases=1000)
