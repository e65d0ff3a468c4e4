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


C1_HARNESS = """
#include <stdint.h>
#include "layers.h"
int8_t x[28 * 28] __attribute__((aligned(4)));
int8_t w[8 * 9] __attribute__((aligned(4)));
int32_t bias[8];
int8_t out[28 * 28 * 8] __attribute__((aligned(4)));
int8_t col[28 * 28 * 12] __attribute__((aligned(4)));
int8_t row[12] __attribute__((aligned(4)));
int32_t conv(int32_t h, int32_t wd, int32_t shift)
{
    conv_dims_t d = {h, wd, 1, 8};
    conv3x3_forward(x, &d, w, 0, 0, bias, shift, out, 0, col, (int32_t)sizeof col, row);
    return out[0];
}
int main(void) { return 0; }
"""


@pytest.fixture(scope="module")
def c1_machine(tmp_path_factory):
    d = tmp_path_factory.mktemp("c1")
    (d / "h.c").write_text(C1_HARNESS)
    kernels = [p for p in sorted([*KERNELS.glob("*.c"), *KERNELS.glob("*.S")]) if p.name != "priot_device.c"]
    return Machine(compile_program([d / "h.c", *kernels], d / "c1.elf", ["-I", str(KERNELS), "-O2"]))


def test_first_conv_layer_costs_62_cycles_per_output_and_under_8_per_mac(c1_machine):
    """One input channel (conv3x3_c1_m0.S): 9 products, requantization and store in 62 cycles per output, 8 more
    per pixel; the whole 28x28x1->8 layer (widening, weight table, call) stays under 8 cycles per MAC."""
    m = c1_machine
    rng = np.random.default_rng(1)
    m.write("x", rng.integers(-8, 8, 28 * 28).astype(np.int8))  # small values and a large shift: no saturation
    m.write("w", rng.integers(-8, 8, 72).astype(np.int8))
    m.write("bias", rng.integers(-64, 64, 8).astype(np.int32))

    def loop_cycles(h, wd):
        m.call("conv", h, wd, 12)  # warm the XIP cache
        m.call("conv", h, wd, 12)
        return sum(f.cycles for f in m.last_stats.functions if f.name == "conv3x3_c1_pixels")

    assert loop_cycles(8, 16) - loop_cycles(8, 8) == 8 * 8 * (8 * 62 + 8)
    m.call("conv", 28, 28, 7)
    assert m.last_stats.cycles / (28 * 28 * 8 * 9) <= 8.0
