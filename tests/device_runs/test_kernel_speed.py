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


def test_dot_words_is_exact_and_costs_95_cycles_per_16_macs(machine):
    rng = np.random.default_rng(0)
    a = rng.integers(-128, 128, 1024).astype(np.int8)
    b = rng.integers(-128, 128, 1024).astype(np.int8)
    machine.write("a", a)
    machine.write("b", b)
    pa, pb = machine.program.symbol("a").addr, machine.program.symbol("b").addr
    cycles = {}
    for words in (1, 2, 3, 64, 128, 129, 130, 131):
        machine.call("dot_s8_words", pa, pb, words)  # warm the XIP cache
        got = machine.call("dot_s8_words", pa, pb, words)
        got = got - (1 << 32) if got & 0x80000000 else got
        n = 4 * words
        assert got == int(a[:n].astype(np.int32) @ b[:n].astype(np.int32))
        cycles[words] = machine.last_stats.cycles
    assert cycles[128] - cycles[64] == 16 * 95  # 16 more loop turns of 4 words: 5.94 cycles per multiply-accumulate
    assert cycles[129] - cycles[128] == 23  # the odd word first: 2 one-word LDMs (4), 20 ALU, BPL not taken (-1)
    assert cycles[130] - cycles[128] == 45  # an odd word pair: 2 LDM (6), 40 ALU, BPL not taken (-1)
