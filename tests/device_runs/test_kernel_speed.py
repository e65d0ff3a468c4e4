"""The MAC loop's cost on the Cortex-M0+ model: an exact cycle count, not a timing."""

from pathlib import Path

import numpy as np
import pytest

from m0sim.machine import Machine
from m0sim.toolchain import compile_program

KERNELS = Path(__file__).resolve().parents[2] / "kernels" / "priot"
HARNESS = """
#include <stdint.h>
#include "dot.h"
int8_t a[1024] __attribute__((aligned(4)));
int8_t b[1024] __attribute__((aligned(4)));
int main(void) { return 0; }
"""


@pytest.fixture(scope="module")
def machine(tmp_path_factory):
    d = tmp_path_factory.mktemp("dot")
    (d / "h.c").write_text(HARNESS)
    return Machine(compile_program([d / "h.c", KERNELS / "dot_m0.S"], d / "dot.elf", ["-I", str(KERNELS)]))


def test_dot_words_is_exact_and_costs_49_cycles_per_8_macs(machine):
    rng = np.random.default_rng(0)
    a = rng.integers(-128, 128, 1024).astype(np.int8)
    b = rng.integers(-128, 128, 1024).astype(np.int8)
    machine.write("a", a)
    machine.write("b", b)
    pa, pb = machine.program.symbol("a").addr, machine.program.symbol("b").addr
    cycles = {}
    for words in (64, 128, 129):
        machine.call("dot_s8_words", pa, pb, words)  # warm the XIP cache
        got = machine.call("dot_s8_words", pa, pb, words)
        got = got - (1 << 32) if got & 0x80000000 else got
        n = 4 * words
        assert got == int(a[:n].astype(np.int32) @ b[:n].astype(np.int32))
        cycles[words] = machine.last_stats.cycles
    assert cycles[128] - cycles[64] == 32 * 49  # 32 more word pairs: 6.125 cycles per multiply-accumulate
    assert cycles[129] - cycles[128] == 24  # the odd word first: 2 loads, 20 ALU, 1 add, BPL not taken (-1)
