"""Run-time costs: XIP cache behaviour, TIMER/SysTick/divider against the counters, exact counts, memory."""

import numpy as np
import pytest
import unicorn

from m0sim import FirmwareFault, timing
from m0sim.machine import Machine

XIP = r"""
#include <stdint.h>
#define BIG (32 * 1024 / 4)
const uint32_t big[BIG] = {1};           /* 32 KB in flash: twice the cache */
const uint32_t small[2 * 1024] = {2};    /* 8 KB in flash: fits */
uint32_t sum_words(const volatile uint32_t *p, int n) { uint32_t s = 0; for (int i = 0; i < n; i++) s += p[i]; return s; }
uint32_t spin(int n) { volatile uint32_t s = 0; for (int i = 0; i < n; i++) s += i; return s; }
int main(void) { return 0; }
"""


@pytest.fixture(scope="module")
def xip(firmware):
    return Machine(firmware(XIP))


def _stream(m, name, alias=0):
    addr = m.program.symbol(name).addr + alias
    n = m.program.symbol(name).size // 4
    m.call("sum_words", addr, n)
    return m.last_stats


def test_loop_that_fits_hits(xip):
    xip.call("spin", 10)
    xip.call("spin", 5000)
    st = xip.last_stats
    assert st.xip_misses == 0 and st.xip_hits > 5000


def test_small_stream_hits_on_second_pass(xip):
    first = _stream(xip, "small")
    second = _stream(xip, "small")
    lines = xip.program.symbol("small").size // timing.XIP_LINE_BYTES
    assert first.xip_misses >= lines
    assert second.xip_misses == 0
    assert first.cycles - second.cycles == first.xip_misses * timing.XIP_MISS_PENALTY


def test_stream_larger_than_cache_misses(xip):
    _stream(xip, "big")
    second = _stream(xip, "big")
    lines = xip.program.symbol("big").size // timing.XIP_LINE_BYTES
    assert second.xip_misses >= lines  # LRU over a 2x-sized stream evicts every line before reuse


def test_nocache_alias_always_misses(xip):
    _stream(xip, "small")
    again = _stream(xip, "small", alias=0x0200_0000)  # XIP_NOCACHE
    assert again.xip_misses >= xip.program.symbol("small").size // 4  # every word read misses


def test_miss_penalty_is_a_parameter(firmware):
    m = Machine(firmware(XIP), xip_miss_penalty=7)
    a = _stream(m, "small")
    b = _stream(m, "small")
    assert a.cycles - b.cycles == 7 * a.xip_misses


CLOCKS = r"""
#include <stdint.h>
#define TIMERAWL (*(volatile uint32_t *)0x40054028)
#define SYST_CSR (*(volatile uint32_t *)0xE000E010)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018)
#define SIO ((volatile uint32_t *)0xD0000000)
volatile uint32_t sink;
uint32_t timed_loop(int n) { uint32_t t0 = TIMERAWL; for (int i = 0; i < n; i++) sink += i; return TIMERAWL - t0; }
uint32_t systick_loop(int n) {
    SYST_RVR = 0xFFFFFF; SYST_CVR = 0; SYST_CSR = 5;
    uint32_t a = SYST_CVR; for (int i = 0; i < n; i++) sink += i; uint32_t b = SYST_CVR;
    return (a - b) & 0xFFFFFF;
}
int32_t sdiv(int32_t a, int32_t b) {
    SIO[0x68 / 4] = a; SIO[0x6c / 4] = b;
    while (!(SIO[0x78 / 4] & 1)) ;
    int32_t r = SIO[0x74 / 4]; int32_t q = SIO[0x70 / 4];
    sink = r; return q;
}
uint32_t cpuid(void) { return SIO[0] | *(volatile uint32_t *)0xE000ED00; }
int main(void) { return 0; }
"""


@pytest.fixture(scope="module")
def clocks(firmware):
    return Machine(firmware(CLOCKS))


@pytest.mark.parametrize("n", [1000, 100000])
def test_timer_agrees_with_counters(clocks, n):
    clocks.call("timed_loop", 10)
    us = clocks.call("timed_loop", n)
    counted_us = clocks.last_stats.cycles / 125
    # the firmware reads TIMER at block granularity: within a few microseconds of the whole call
    assert abs(us - counted_us) <= 2 + 20 / 125


def test_timer_scales_with_clock(firmware):
    m = Machine(firmware(CLOCKS), clock_hz=50_000_000)
    m.call("timed_loop", 10)
    us = m.call("timed_loop", 50000)
    assert abs(us - m.last_stats.cycles / 50) <= 3


def test_systick_counts_clk_sys(clocks):
    clocks.call("systick_loop", 10)
    elapsed = clocks.call("systick_loop", 20000)
    assert 0 < clocks.last_stats.cycles - elapsed < 60  # the setup and reads outside the measured span


@pytest.mark.parametrize("a,b", [(1000, 7), (-1000, 7), (7, -2), (-2**31, -1), (5, 0), (-5, 0)])
def test_hardware_divider(clocks, a, b):
    q = clocks.call("sdiv", a, b)
    r = int(clocks.read("sink", np.int32)[0])
    q = q - (1 << 32) if q & 0x80000000 else q
    if b == 0:
        assert (q, r) == ((-1 if a >= 0 else 1), a)
    else:
        exp_q = int(a / b) if abs(a) < 2**31 else 2**31 * (1 if (a < 0) == (b < 0) else -1)
        exp_q = ((exp_q + 2**31) % 2**32) - 2**31
        assert q == exp_q and r == ((a - exp_q * b + 2**31) % 2**32) - 2**31


def test_cpuid_registers(clocks):
    assert clocks.call("cpuid") == 0x410CC601


def test_counts_equal_a_slow_reference(firmware):
    """The native block counter against a Python per-instruction hook, on a real compiled program."""
    import pathlib
    hello = pathlib.Path(__file__).resolve().parents[2] / "kernels" / "demo" / "hello.c"
    elf = firmware(hello.read_text())
    m = Machine(elf, stdout=lambda b: None)
    seen = [0]

    def count(_uc, _addr, _size, _user):
        seen[0] += 1

    m.uc.hook_add(unicorn.UC_HOOK_CODE, count)
    stats = m.run().stats
    assert stats.instructions == seen[0] > 10000


GUARD = r"""
__asm__(".syntax unified\n.thumb\n.text\n.global wide\n.type wide, %function\n.thumb_func\n"
        "wide: .inst.w 0xf2412034\n bx lr\n");  /* movw r0, #0x1234: the assembler refuses it for an M0+ */
int wide(void);
int hot(int n) { volatile int s = 0; for (int i = 0; i < n; i++) s += i; return n > 100 ? wide() : s; }
int main(void) { return 0; }
"""


def test_thumb2_guard_on_the_fast_path(firmware):
    m = Machine(firmware(GUARD))
    m.call("hot", 100)  # M0 code only: runs, counted
    ok = m.last_stats.instructions
    with pytest.raises(FirmwareFault, match=r"outside ARMv6-M.*\(wide\+0x0\): .*movw r0, #0x1234"):
        m.call("hot", 101)
    assert m.instructions() - ok > ok  # the loop ran counted before the guard stopped the wide instruction


MEMORY = r"""
#include <stdlib.h>
#include <string.h>
#ifndef BSS
#define BSS 4096
#endif
char big_bss[BSS];
int deep(int n) { volatile char frame[256]; for (int i = 0; i < 256; i++) frame[i] = n; return n ? deep(n - 1) + frame[0] : 0; }
int heap(int n) { char *p = malloc(n); memset(p, 1, n); int r = p[n - 1]; free(p); return r; }
int main(void) { return 0; }
"""


def test_stack_and_heap_high_water(firmware):
    m = Machine(firmware(MEMORY, opt="-O1"))
    m.call("deep", 4)
    shallow = m.last_stats.stack_bytes
    m.call("deep", 40)
    assert m.last_stats.stack_bytes - shallow >= 36 * 256
    assert m.last_stats.static_ram >= 4096
    m.call("heap", 10000)
    assert m.last_stats.heap_bytes >= 10000
    st = m.last_stats
    assert st.peak_ram == st.static_ram + st.stack_bytes + st.heap_bytes


def test_stack_overflow_into_static_data_is_reported(firmware):
    m = Machine(firmware(MEMORY, "-DBSS=250000", opt="-O1"))  # leaves ~20 KB between .bss and the stack top
    m.call("deep", 20)
    with pytest.raises(FirmwareFault, match=r"stack overflow: .*depth at least \d+ bytes"):
        m.call("deep", 100)  # ~26 KB of frames: runs into .bss


def test_stack_overflow_past_sram_is_reported(firmware):
    m = Machine(firmware(MEMORY, opt="-O1"))
    with pytest.raises(FirmwareFault, match="stack overflow: .*below the start of SRAM"):
        m.call("deep", 2000)  # 2000 x 256 bytes > 264 KB of SRAM
