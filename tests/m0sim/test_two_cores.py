"""Both RP2040 cores (m0sim.soc.Pico): SIO FIFOs and spinlocks, the bootrom's launch protocol, WFE/SEV, core 1's
own SysTick and FIFO interrupt, per-core counts that are the same on every run, and single-core programs that
run exactly as on one core."""

import json

import pytest

from m0sim.errors import FirmwareFault
from m0sim.launch import Core1Boot
from m0sim.machine import Machine
from m0sim.peripherals.sio import FIFO_DEPTH, ST_RDY, ST_ROE, ST_VLD, ST_WOF, Sio, SioShared
from m0sim.soc import Pico

# FIFO ping-pong, a shared counter under hardware spinlock 3 (its read-modify-write spans three blocks, so the
# cores can interleave inside it), core 1's SysTick waking its WFE, core 1's FIFO interrupt (SIO_IRQ_PROC1).
TWO_CORES = r"""
#include <stdio.h>
#include "multicore.h"
#define ROUNDS 50
#define INCREMENTS 200
#define TICKS 5
#define IRQ_WORDS 8
#define SYST_CSR (*(volatile uint32_t *)0xe000e010u)
#define SYST_RVR (*(volatile uint32_t *)0xe000e014u)
#define SYST_CVR (*(volatile uint32_t *)0xe000e018u)
#ifndef LOCK
#define LOCK 1
#endif

static uint32_t core1_stack[512];
volatile uint32_t counter, ticks1, irq_sum, irq_words;

void isr_systick(void) { if (get_core_num() == 1) ticks1++; }

void isr_irq16(void) /* SIO_IRQ_PROC1: core 1's FIFO */
{
    while (multicore_fifo_rvalid()) { irq_sum += SIO_FIFO_RD; irq_words++; }
    multicore_fifo_clear_irq();
}

__attribute__((noinline)) uint32_t plus_one(uint32_t v) { __asm__ volatile("" ::: "memory"); return v + 1; }

static void add_many(void)
{
    for (int i = 0; i < INCREMENTS; i++) {
        if (LOCK) spin_lock(3);
        uint32_t v = counter;
        for (int k = 0; k < 4; k++) __asm__ volatile("nop");
        counter = plus_one(v);
        if (LOCK) spin_unlock(3);
    }
}

static void core1_main(void)
{
    for (;;) {
        uint32_t v = multicore_fifo_pop_blocking();
        if (v == 0xffffffffu) break;
        multicore_fifo_push_blocking(v + 1);
    }
    add_many();
    SYST_RVR = 999; SYST_CVR = 0; SYST_CSR = 7;
    while (ticks1 < TICKS) __wfe();
    SYST_CSR = 0;
    multicore_fifo_push_blocking(get_core_num() * 1000 + ticks1);
    irq_set_enabled(SIO_IRQ_PROC1);
    while (irq_words < IRQ_WORDS) __wfe();
    multicore_fifo_push_blocking(irq_sum);
}

int main(void)
{
    multicore_launch_core1_with_stack(core1_main, core1_stack, sizeof core1_stack);
    uint32_t v = 0;
    for (int i = 0; i < ROUNDS; i++) { multicore_fifo_push_blocking(v); v = multicore_fifo_pop_blocking(); }
    multicore_fifo_push_blocking(0xffffffffu);
    add_many();
    uint32_t t = multicore_fifo_pop_blocking();
    for (uint32_t w = 1; w <= IRQ_WORDS; w++) multicore_fifo_push_blocking(w);
    uint32_t sum = multicore_fifo_pop_blocking();
    printf("pingpong %lu counter %lu core1 ticks %lu irq sum %lu\n", (unsigned long)v, (unsigned long)counter,
           (unsigned long)t, (unsigned long)sum);
    return (v != ROUNDS) | (counter != 2 * INCREMENTS) << 1 | (t != 1000 + TICKS) << 2
           | (sum != IRQ_WORDS * (IRQ_WORDS + 1) / 2) << 3;
}
"""
EXPECTED = b"pingpong 50 counter 400 core1 ticks 1005 irq sum 36\n"


def _run(elf, **options):
    out = []
    pico = Pico(elf, stdout=out.append, alignment_faults=True, **options)
    result = pico.run(max_cycles=10**8)
    return result, b"".join(out)


def _counts(stats):
    keys = ("instructions", "cycles", "taken_branches", "xip_hits", "xip_misses", "sleep_cycles")
    return [tuple(getattr(c, k) for k in keys) for c in (stats, *stats.cores)], \
        [(f.name, f.cycles, f.instructions, f.calls) for f in stats.functions]


def test_two_cores_give_expected_results_and_identical_counts_every_run(firmware):
    elf = firmware(TWO_CORES)
    first, out1 = _run(elf)
    second, out2 = _run(elf)
    assert first.exit_code == 0 and out1 == EXPECTED
    assert second.exit_code == 0 and out2 == EXPECTED
    assert _counts(first.stats) == _counts(second.stats)
    total, core0, core1 = first.stats, *first.stats.cores
    assert total.instructions == core0.instructions + core1.instructions
    assert total.cycles >= core0.cycles > core1.cycles > 0
    assert core0.sleep_cycles > 0 and core1.sleep_cycles > 0  # both waited in WFE for the other
    names = {f.name for f in core1.functions}
    assert {"core1_main", "isr_irq16", "isr_systick"} <= names and "main" not in names


def test_the_spinlock_is_what_keeps_the_shared_counter_exact(firmware):
    """Without the lock the cores interleave inside the read-modify-write and lose increments."""
    result, out = _run(firmware(TWO_CORES, "-DLOCK=0"))
    lost = int(out.split()[3])
    assert lost < 400 and result.exit_code == 2


@pytest.mark.parametrize("quantum", [8, 1000])
def test_results_do_not_depend_on_the_quantum(firmware, quantum):
    result, out = _run(firmware(TWO_CORES), quantum=quantum)
    assert result.exit_code == 0 and out == EXPECTED


SINGLE = r"""
#include <stdio.h>
#include "multicore.h"
int main(void)
{
    volatile uint32_t x = 0;
    for (int i = 0; i < 3000; i++) x += i * get_core_num() + i;
    printf("%lu\n", (unsigned long)x);
    return 0;
}
"""


def test_a_program_that_never_launches_core_1_counts_as_on_one_core(firmware):
    elf = firmware(SINGLE)
    one = Machine(elf, stdout=lambda b: None, alignment_faults=True).run()
    two = Pico(elf, stdout=lambda b: None, alignment_faults=True).run()
    assert two.stats.cores == [] and two.stats.sleep_cycles == 0
    assert _counts(one.stats) == _counts(two.stats)


RELAUNCH = r"""
#include "multicore.h"
static uint32_t stack1[256];
volatile uint32_t seen;
static void report(void) { multicore_fifo_push_blocking(0x100 + get_core_num()); }
int main(void)
{
    uint32_t total = 0;
    for (int i = 0; i < 3; i++) {   /* core 1 returns to the bootrom's wait each time and is launched anew */
        multicore_launch_core1_with_stack(report, stack1, sizeof stack1);
        total += multicore_fifo_pop_blocking();
    }
    return total == 3 * 0x101 && get_core_num() == 0 ? 0 : 1;
}
"""


def test_core_1_returns_to_the_bootrom_and_is_launched_again(firmware):
    result, _ = _run(firmware(RELAUNCH))
    assert result.exit_code == 0
    assert result.stats.cores[1].instructions > 0


def test_wfe_with_nothing_to_wake_the_core_is_reported(firmware):
    elf = firmware("int main(void) { __asm__ volatile(\"wfe\"); __asm__ volatile(\"wfe\"); return 0; }")
    with pytest.raises(FirmwareFault, match=r"core 0 waits for an event \(WFE\) that nothing can send"):
        Pico(elf).run(max_cycles=10**6)


def test_sev_before_wfe_lets_it_pass(firmware):
    elf = firmware("int main(void) { __asm__ volatile(\"sev\\n wfe\"); return 7; }")
    assert Pico(elf).run(max_cycles=10**6).exit_code == 7


def test_a_fault_on_core_1_names_core_1(firmware):
    src = r"""
#include "multicore.h"
static uint32_t stack1[128];
static void bad(void) { *(volatile uint32_t *)0x30000000 = 1; }
int main(void) { multicore_launch_core1_with_stack(bad, stack1, sizeof stack1); for (;;) __wfe(); }
"""
    with pytest.raises(FirmwareFault, match=r"^core 1: invalid memory write of 4 bytes at 0x30000000"):
        Pico(firmware(src)).run(max_cycles=10**6)


def test_exec_stats_and_profile_json_show_both_cores(cli, firmware):
    elf = firmware(TWO_CORES)
    proc = cli("exec", elf, "--stats")
    assert proc.returncode == 0, proc.stderr
    assert "core 0:" in proc.stderr and "core 1:" in proc.stderr
    out = cli("profile", elf, "--json").stdout
    data = json.loads(out[out.index("{"):])  # after the program's own output
    assert [c["instructions"] for c in data["cores"]] and len(data["cores"]) == 2
    assert data["instructions"] == sum(c["instructions"] for c in data["cores"])
    assert len(data["energy"]["cores_mj"]) == 2 and min(data["energy"]["cores_mj"]) > 0  # both cores' work costs energy


# --- the SIO block and the launch protocol on their own -----------------------------------------------------------
class _Clock:
    def cycles(self):
        return 0


def test_fifo_status_bits_overflow_and_errors():
    shared = SioShared()
    core0, core1 = Sio(_Clock(), 0, shared), Sio(_Clock(), 1, shared)
    assert core0.read32(0x000) == 0 and core1.read32(0x000) == 1
    core0.write32(0x054, 0)  # core 1 waits in the bootrom: the word comes back at once
    assert core0.read32(0x050) == ST_VLD | ST_RDY and core0.read32(0x058) == 0
    shared.consumers[1] = None  # core 1 runs: words wait in its FIFO
    assert core0.read32(0x050) == ST_RDY
    for w in range(FIFO_DEPTH):
        core0.write32(0x054, w)
    assert core0.read32(0x050) == 0 and core1.read32(0x050) & (ST_VLD | ST_RDY) == ST_VLD | ST_RDY
    core0.write32(0x054, 99)  # full: lost, WOF on the writer
    assert core0.read32(0x050) == ST_WOF
    assert [core1.read32(0x058) for _ in range(FIFO_DEPTH)] == list(range(FIFO_DEPTH))
    assert core1.read32(0x058) == 0 and core1.read32(0x050) & ST_ROE  # read on empty
    core0.write32(0x050, 0)
    core1.write32(0x050, 0)
    assert core0.read32(0x050) == ST_RDY and core1.read32(0x050) == ST_RDY


def test_spinlocks_claim_on_read_release_on_write():
    shared = SioShared()
    core0, core1 = Sio(_Clock(), 0, shared), Sio(_Clock(), 1, shared)
    assert core0.read32(0x100 + 4 * 5) == 1 << 5  # claimed
    assert core1.read32(0x100 + 4 * 5) == 0 and core0.read32(0x100 + 4 * 5) == 0
    assert core1.read32(0x05C) == 1 << 5
    assert core1.read32(0x17C) == 1 << 31
    core1.write32(0x100 + 4 * 5, 0)
    assert core0.read32(0x05C) == 1 << 31


def test_launch_sequence_echoes_every_word_and_restarts_on_a_wrong_one():
    echoed, launched, events = [], [], []
    boot = Core1Boot(echoed.append, lambda: events.append(1), lambda *a: launched.append(a))
    for w in (0, 0, 7, 0, 0, 1, 0x10000000, 0x20001000):
        boot(w)
    assert launched == []
    boot(0x10000101)
    assert launched == [(0x10000000, 0x20001000, 0x10000101)]
    assert echoed == [0, 0, 7, 0, 0, 1, 0x10000000, 0x20001000, 0x10000101] and len(events) == 9


def test_a_one_core_machine_refuses_a_launch_clearly(firmware):
    with pytest.raises(FirmwareFault, match=r"launches core 1 \(entry 0x1000[0-9a-f]{4}\), but this machine "
                                            r"emulates core 0 alone"):
        Machine(firmware(RELAUNCH), stdout=lambda b: None).run(max_cycles=10**6)


WORKER = r"""
#include "multicore.h"
static uint32_t stack1[256];
static void worker(void)
{
    for (;;) {
        uint32_t n = multicore_fifo_pop_blocking();
        uint32_t s = 0;
        for (uint32_t i = 1; i <= n; i++) s += i * i;
        multicore_fifo_push_blocking(s);
    }
}
void start(void) { multicore_launch_core1_with_stack(worker, stack1, sizeof stack1); }
uint32_t squares_on_core1(uint32_t n) { multicore_fifo_push_blocking(n); return multicore_fifo_pop_blocking(); }
int main(void) { return 0; }
"""


def test_core_1_keeps_running_between_calls(firmware):
    """A worker started by one call serves the next ones (how firmware hands work to core 1)."""
    pico = Pico(firmware(WORKER))
    pico.call("start")
    assert pico.call("squares_on_core1", 10) == 385
    first = pico.last_stats.cores[1]
    assert pico.call("squares_on_core1", 100) == 338350
    total, core0, core1 = pico.last_stats, *pico.last_stats.cores
    assert core1.instructions > first.instructions > 0
    # core 1 slept in its WFE between the calls; that sleep belongs to the call it happened in
    assert core0.cycles <= total.cycles and core1.cycles <= total.cycles
    assert core1.sleep_cycles < core0.cycles


SHARED_XIP = r"""
#include "multicore.h"
#define R4(x) x x x x
static uint32_t stack1[256];
volatile uint32_t v;
__attribute__((noinline)) void long_body(void) { R4(R4(R4(v += 3; v ^= 5;))) }   /* about 1 KB of code */
static void on_core1(void) { long_body(); multicore_fifo_push_blocking(v); }
int main(void)
{
    if (WARM) long_body();
    multicore_launch_core1_with_stack(on_core1, stack1, sizeof stack1);
    multicore_fifo_pop_blocking();
    return 0;
}
"""


@pytest.mark.parametrize("warm", [0, 1])
def test_the_cores_share_one_xip_cache(firmware, warm):
    """Code core 0 has run is in the cache when core 1 runs it: core 1 fetches it without misses."""
    stats = Pico(firmware(SHARED_XIP, f"-DWARM={warm}")).run().stats
    misses = stats.cores[1].xip_misses
    assert misses < 16 if warm else misses > 100


ACCESSES = r"""
#include "multicore.h"
static uint32_t stack1[256];
volatile uint32_t buf[1000];
static void bump(void)
{
    for (int i = 0; i < 1000; i++) buf[i] = buf[i] + 1;   /* a load and a store each */
    multicore_fifo_push_blocking(1);
}
int main(void)
{
    multicore_launch_core1_with_stack(bump, stack1, sizeof stack1);
    return multicore_fifo_pop_blocking() == 1 ? 0 : 1;
}
"""


def test_contention_bound_counts_each_cores_loads_and_stores(firmware, cli):
    elf = firmware(ACCESSES)
    pico = Pico(elf)
    assert pico.run().exit_code == 0
    bound = pico.contention_bound()
    core0, core1 = bound.accesses
    assert 2000 <= core1 <= 2000 + 40  # the loop's, then the FIFO push and the return
    assert bound.cycles == min(core0, core1) and bound.elapsed_cycles == pico.last_stats.cycles
    assert "contention between the cores could add at most" in cli("exec", elf, "--stats").stderr


EDGE = r"""
#include <stdio.h>
#include <stdlib.h>
#include "multicore.h"
static uint32_t stack1[1024];
static void on_core1(void)
{
#if SPIN
    for (;;) {}
#else
    printf("hello from core %lu\n", (unsigned long)get_core_num());
    exit(42);
#endif
}
int main(void) { multicore_launch_core1_with_stack(on_core1, stack1, sizeof stack1); for (;;) __wfe(); }
"""


def test_core_1_prints_and_exits_through_semihosting(cli, firmware):
    proc = cli("exec", firmware(EDGE, "-DSPIN=0"))
    assert proc.returncode == 42 and proc.stdout == "hello from core 1\n"


def test_core_1_running_out_of_budget_is_a_budget_error(cli, firmware):
    proc = cli("exec", firmware(EDGE, "-DSPIN=1"), "--max-seconds", "0.001")
    assert proc.returncode == 124 and proc.stderr.startswith("m0sim: error: core 1: budget exhausted")


STACK = r"""
#include "multicore.h"
static uint32_t stack1[512];                     /* 2 KB */
__attribute__((noinline)) uint32_t deep(void)
{
    volatile uint8_t buf[DEPTH];
    for (int i = 0; i < DEPTH; i++) buf[i] = i;
    return buf[DEPTH / 2];
}
static void on_core1(void) { multicore_fifo_push_blocking(deep()); }
int main(void)
{
    multicore_launch_core1_with_stack(on_core1, stack1, sizeof stack1);
    return multicore_fifo_pop_blocking() == (DEPTH / 2) % 256 ? 0 : 1;
}
"""


def test_core_1_stack_high_water_mark(firmware):
    """Measured in the static array core 1's SP was given: deeper locals, deeper stack, within 2 KB."""
    depth = {}
    for n in (64, 1024):
        result = Pico(firmware(STACK, f"-DDEPTH={n}")).run()
        assert result.exit_code == 0
        depth[n] = result.stats.cores[1].stack_bytes
    assert 64 <= depth[64] < 256 and 1024 <= depth[1024] < 2048
    assert abs(depth[1024] - depth[64] - (1024 - 64)) <= 8  # the frame is kept 8-byte aligned


ALARM = r"""
#include "multicore.h"
#define TIMERAWL (*(volatile uint32_t *)0x40054028u)
#define ALARM0 (*(volatile uint32_t *)0x40054010u)
#define INTR (*(volatile uint32_t *)0x40054034u)
#define INTE (*(volatile uint32_t *)0x40054038u)
static uint32_t stack1[256];
volatile uint32_t woke_at, armed_for, ready;
void isr_irq0(void) { INTR = 1; if (get_core_num() == 1) woke_at = TIMERAWL; }   /* TIMER_IRQ_0 */
static void sleeper(void)
{
    irq_set_enabled(0);
    ready = 1;
    while (!woke_at) __wfe();
    multicore_fifo_push_blocking(woke_at);
}
int main(void)
{
    multicore_launch_core1_with_stack(sleeper, stack1, sizeof stack1);
    while (!ready) {}
    for (volatile int i = 0; i < 1000; i++) {}        /* core 1 is asleep in its WFE by now */
    armed_for = TIMERAWL + 50;
    INTE = 1;                                          /* core 0 does not enable IRQ 0: only core 1 takes it */
    ALARM0 = armed_for;
    for (volatile int i = 0; i < 20000; i++) {}        /* 0.8 ms of work alone: no SEV, no FIFO word */
    uint32_t t = multicore_fifo_pop_blocking();
    return t - armed_for;
}
"""


def test_an_alarm_armed_by_core_0_wakes_core_1_on_time(firmware):
    """Core 1 sleeps while core 0 works alone: the TIMER write makes the lockstep look at the sleeper again."""
    assert Pico(firmware(ALARM)).run().exit_code == 0  # core 1's handler ran in the alarm's microsecond


JOBS = r"""
#include <stdio.h>
#include "multicore.h"
#define N 600
static uint32_t worker_stack[256];
static int32_t x[N];
struct half { int lo, hi; int32_t sum; };
static uint32_t sum_half(void *arg)
{
    struct half *h = arg;
    int32_t s = 0;
    for (int i = h->lo; i < h->hi; i++) s += x[i] * x[i];
    h->sum = s;
    return get_core_num();
}
int32_t split_sum(void)
{
    struct half a = {0, N / 2, 0}, b = {N / 2, N, 0};
    multicore_run_on_core1(sum_half, &b);
    sum_half(&a);
    uint32_t ran_on = multicore_join_core1();
    return ran_on == 1 ? a.sum + b.sum : -1;
}
int main(void)
{
    for (int i = 0; i < N; i++) x[i] = i - 300;
    multicore_start_worker(worker_stack, sizeof worker_stack);
    int32_t first = split_sum(), second = split_sum();
    printf("%ld %ld\n", (long)first, (long)second);
    return first == second && first > 0 ? 0 : 1;
}
"""


def test_jobs_handed_to_a_core_1_worker(firmware):
    """multicore.h's worker: core 1 runs its half of each job (twice: the worker sleeps between jobs)."""
    out = []
    result = Pico(firmware(JOBS), stdout=out.append).run()
    expected = sum((i - 300) ** 2 for i in range(600))
    assert result.exit_code == 0 and b"".join(out) == f"{expected} {expected}\n".encode()
    names = {f.name for f in result.stats.cores[1].functions}
    assert "sum_half" in names and "split_sum" not in names


LEVEL = r"""
#include "multicore.h"
static uint32_t stack1[256];
volatile uint32_t entries, total, words;
void isr_irq16(void) { total += SIO_FIFO_RD; words++; entries++; }   /* one word per entry */
static void on_core1(void)
{
    irq_set_enabled(SIO_IRQ_PROC1);
    multicore_fifo_push_blocking(0);                    /* ready */
    while (words < 3) __wfe();
    multicore_fifo_push_blocking(entries * 100 + total);
}
int main(void)
{
    multicore_launch_core1_with_stack(on_core1, stack1, sizeof stack1);
    multicore_fifo_pop_blocking();
    SIO_FIFO_WR = 1; SIO_FIFO_WR = 2; SIO_FIFO_WR = 3;    /* three words at once, one SEV */
    __sev();
    return multicore_fifo_pop_blocking() == 306 ? 0 : 1;
}
"""


def test_the_fifo_interrupt_is_a_level(firmware):
    """A handler that reads one word per entry is entered again while words remain: three entries, all words."""
    assert Pico(firmware(LEVEL)).run(max_cycles=10**6).exit_code == 0
