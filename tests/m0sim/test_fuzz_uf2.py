"""Fuzz the UF2 reader, code discovery and a short run with seeded mutations of a real UF2, in a subprocess
under an address-space cap: the only exception allowed is an M0simError (one line at the command line), no
case may end the process with a signal, and no case may allocate more than the cap (the block-count field
drove a 2.3 GB allocation)."""

import subprocess
import sys
from pathlib import Path

import pytest
from test_bad_input import assert_one_line_error

from m0sim import uf2
from m0sim.loader import load_program

HERE = Path(__file__).parent
SOURCE = "static int twice(int x) { return 2 * x; }\nint main(void) { return twice(21) - 42; }\n"  # small: fast cases
BUDGET = 20_000  # instructions: reaches main through the start-up code
# Address space of the fuzzing process: a Machine reserves ~1 GB (Unicorn's code cache), freed by gc.collect
# after each case; the old reader's allocation for a huge block count (2.1-2.3 GB) does not fit.
MEMORY_CAP = 2 << 30
EXIT_CODES = {0, 2, 70, 124}  # success, bad input, firmware fault, budget (the README's table)


def exercise(path):
    """Load and run one UF2 the way `m0sim info` and `m0sim exec` would; M0simError is the only way out."""
    from m0sim import Machine
    from m0sim.errors import M0simError
    try:
        program = load_program(path)
        program.footprint()
        Machine(program, stdout=lambda b: None, stderr=lambda b: None).run(max_instructions=BUDGET)
    except M0simError:
        pass


RUNNER = """
import gc, resource, sys, traceback
resource.setrlimit(resource.RLIMIT_AS, ({cap}, {cap}))
sys.path.insert(0, {here!r})
from uf2_mutator import Mutator
from test_fuzz_uf2 import exercise
from pathlib import Path
mutator = Mutator(Path({base!r}).read_bytes())
path = Path({case!r})
for i in range({first}, {last}):
    path.write_bytes(mutator.case({seed}, i))
    try:
        exercise(path)
    except BaseException as exc:
        print(f"case {{i}} of seed {seed}: {{type(exc).__name__}}: {{exc}}")
        traceback.print_exc()
        sys.exit(1)
    gc.collect()  # drop the case's Machine (and its Unicorn) before the next one
try:  # the cap binds
    bytearray({cap})
except MemoryError:
    print("done")
"""


@pytest.fixture(scope="module")
def base_uf2(firmware, tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz_uf2") / "base.uf2"
    return uf2.write_uf2(load_program(firmware(SOURCE)), path)


def fuzz(base_uf2, tmp_path, seed, cases):
    script = RUNNER.format(cap=MEMORY_CAP, here=str(HERE), base=str(base_uf2), case=str(tmp_path / "case.uf2"),
                           first=0, last=cases, seed=seed)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0 and proc.stdout.endswith("done\n"), (proc.returncode, proc.stdout[-3000:],
                                                                     proc.stderr[-3000:])


def test_fuzz_uf2_under_a_memory_cap(base_uf2, tmp_path):
    fuzz(base_uf2, tmp_path, seed=1, cases=300)


def test_fuzz_uf2_at_the_command_line(base_uf2, tmp_path, cli):
    """A sample through the real command line: one line and a documented exit code, never a traceback."""
    from uf2_mutator import Mutator
    mutator = Mutator(base_uf2.read_bytes())
    for i in range(8):
        path = tmp_path / f"case{i}.uf2"
        path.write_bytes(mutator.case(2, i))
        for command in ("info", "exec"):
            proc = cli(command, path, *(["--max-instructions", str(BUDGET)] if command == "exec" else []))
            assert "Traceback" not in proc.stderr, (i, command, proc.stderr)
            if "m0sim: error:" in proc.stderr:
                assert_one_line_error(proc, proc.returncode)
                assert proc.returncode in EXIT_CODES, (i, command, proc.stderr)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(3, 8))
def test_fuzz_uf2_thousands(base_uf2, tmp_path, seed):
    fuzz(base_uf2, tmp_path, seed=seed, cases=1000)
