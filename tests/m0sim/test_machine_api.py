"""The Machine API: AAPCS calls with 0-6 arguments, typed memory round trips, semihosting output."""

import numpy as np
import pytest

from m0sim import InputError
from m0sim.machine import Machine

CALLS = r"""
#include <stdint.h>
int8_t  bytes[16];
int16_t halves[8] = {1, -2, 3, -4, 5, -6, 7, -8};
int32_t words[4];
const uint32_t in_flash[4] = {0xdeadbeef, 1, 2, 3};
int f0(void) { return 42; }
int f1(int a) { return a + 1; }
int f2(int a, int b) { return a - b; }
int f3(int a, int b, int c) { return a * b + c; }
int f4(int a, int b, int c, int d) { return a + 2 * b + 3 * c + 4 * d; }
int f5(int a, int b, int c, int d, int e) { return a + 2 * b + 3 * c + 4 * d + 5 * e; }
int f6(int a, int b, int c, int d, int e, int f) { return a + 2 * b + 3 * c + 4 * d + 5 * e + 6 * f; }
int32_t sum_bytes(void) { int32_t s = 0; for (int i = 0; i < 16; i++) s += bytes[i]; return s; }
void negate_words(void) { for (int i = 0; i < 4; i++) words[i] = -words[i]; }
int main(void) { return 0; }
"""


@pytest.fixture(scope="module")
def machine(firmware):
    return Machine(firmware(CALLS))


def test_calls_with_zero_to_six_arguments(machine):
    assert machine.call("f0") == 42
    assert machine.call("f1", 41) == 42
    assert machine.call("f2", 5, 7) == (5 - 7) & 0xFFFFFFFF
    assert machine.call("f3", 6, 7, -2) == 40
    assert machine.call("f4", 1, 2, 3, 4) == 1 + 4 + 9 + 16
    assert machine.call("f5", 1, 2, 3, 4, 5) == 1 + 4 + 9 + 16 + 25
    assert machine.call("f6", 1, 2, 3, 4, 5, -6) == 1 + 4 + 9 + 16 + 25 - 36


def test_call_counts_cost(machine):
    machine.call("f6", 1, 2, 3, 4, 5, 6)
    assert machine.last_stats.instructions > 0
    assert machine.last_stats.cycles >= machine.last_stats.instructions


def test_typed_round_trips(machine):
    b = np.arange(-8, 8, dtype=np.int8)
    machine.write("bytes", b)
    assert np.array_equal(machine.read("bytes", np.int8), b)
    assert machine.call("sum_bytes") == (int(b.sum()) & 0xFFFFFFFF)
    assert np.array_equal(machine.read("halves", np.int16), [1, -2, 3, -4, 5, -6, 7, -8])
    w = np.array([2**31 - 1, -2**31 + 1, 0, -5], dtype=np.int32)
    machine.write("words", w)
    machine.call("negate_words")
    assert np.array_equal(machine.read("words", np.int32), -w)
    addr = machine.program.symbol("words").addr
    machine.write(addr, np.array([7, 8], dtype=np.uint16))
    assert list(machine.read(addr, np.uint16, 2)) == [7, 8]
    assert machine.read("in_flash", np.uint32)[0] == 0xDEADBEEF


def test_data_is_initialised_without_reset(machine):
    # .data is placed where it runs as well as in flash, so `call` works before any reset.
    assert machine.read("halves", np.int16)[1] == -2


def test_bad_call_inputs(machine):
    with pytest.raises(InputError, match="symbol 'nope' not found"):
        machine.call("nope")
    with pytest.raises(InputError, match="17 arguments"):
        machine.call("f6", *range(17))
    with pytest.raises(InputError, match="not a function"):
        machine.call("words")
    with pytest.raises(InputError, match="holds 16 bytes"):
        machine.write("bytes", np.zeros(17, np.int8))
    with pytest.raises(InputError, match="outside"):
        machine.read(0x3000_0000, np.uint32, 1)


def test_run_from_reset_prints_and_exits(firmware):
    out = []
    elf = firmware('#include <stdio.h>\nint main(void){ printf("x=%d\\n", 5); return 7; }')
    result = Machine(elf, stdout=out.append).run()
    assert b"".join(out) == b"x=5\n"
    assert result.exit_code == 7


def test_semihosting_console_and_clock(firmware):
    src = r"""
#include <stdio.h>
#include <time.h>
int main(void) {
    char line[32];
    if (!fgets(line, sizeof line, stdin)) return 9;
    volatile unsigned s = 0;
    for (unsigned i = 0; i < 3000000; i++) s += i;     /* ~0.1 s of Pico time */
    printf("got %s", line);
    fprintf(stderr, "clock %ld\n", (long)clock());
    return time(0) == 0 ? 4 : 5;  /* emulated seconds since reset from 1970: the same on every run */
}
"""
    out, err = [], []
    result = Machine(firmware(src), stdout=out.append, stderr=err.append, stdin=b"pico\n").run()
    assert b"".join(out) == b"got pico\n"
    centiseconds = int(b"".join(err).split()[1])
    assert centiseconds > 0  # emulated time: the loop alone is several centiseconds of Pico time
    assert abs(centiseconds - result.stats.cycles * 100 // 125_000_000) <= 1
    assert result.exit_code == 4
