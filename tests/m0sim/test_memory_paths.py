"""Unicorn's TLB is filled by m0sim (fast stores): protections, code in SRAM and the counters still hold."""

import numpy as np
import pytest

from m0sim import FirmwareFault, memmap
from m0sim.machine import Machine

PROGRAM = r"""
#include <stdint.h>
int32_t buf[256];
const int32_t table[4] = {3, 1, 4, 1};
/* code in SRAM (copied there by the loader, as crt0 would): it runs, and stores next to itself */
__attribute__((section(".data.ramfunc"), noinline)) int32_t ram_sum(int32_t n)
{
    int32_t s = 0;
    for (int32_t i = 0; i < n; i++) { buf[i & 255] = i; s += buf[(i * 7) & 255] + table[i & 3]; }
    return s;
}
int32_t stores(int32_t n)
{
    int32_t s = 0;
    for (int32_t i = 0; i < n; i++) { buf[i & 255] += i; s ^= buf[(i * 5) & 255]; }
    return s;
}
void poke(uint32_t addr, uint32_t value) { *(volatile uint32_t *)addr = value; }
int main(void) { return 0; }
"""


@pytest.fixture(scope="module")
def elf(firmware):
    return firmware(PROGRAM)


def test_counting_on_and_off_agree_on_store_heavy_code_and_code_in_sram(elf):
    counted, plain = Machine(elf), Machine(elf, counting=False)
    for fn, n in (("stores", 5000), ("ram_sum", 3000)):
        assert counted.call(fn, n) == plain.call(fn, n)
    assert memmap.SRAM.contains(counted.program.symbol("ram_sum").addr)
    counted.call("ram_sum", 100)
    (only,) = counted.last_stats.functions  # counted from the SRAM window, all of it in ram_sum
    assert (only.name, only.calls, only.instructions) == ("ram_sum", 1, counted.last_stats.instructions)


@pytest.mark.parametrize("addr, what", [(0x00000020, "ROM"), (0x10000010, "flash")])
def test_a_store_to_read_only_memory_is_a_fault_with_its_exact_address(elf, addr, what):
    m = Machine(elf)
    with pytest.raises(FirmwareFault, match=rf"write to {what} at 0x{addr:08x} \({what} is read-only.*poke"):
        m.call("poke", addr, 5)
    assert m.read(addr, np.uint32)[0] != 5


def test_exec_stats_prints_the_real_time_factor(cli, firmware):
    elf = firmware("int main(void) { volatile int s = 0; for (int i = 0; i < 20000; i++) s += i; return 0; }")
    proc = cli("exec", "--stats", elf)
    assert proc.returncode == 0, proc.stderr
    assert "M emulated cycles per host second" in proc.stderr and "x real time" in proc.stderr
