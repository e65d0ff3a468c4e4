"""m0sim.energy: the estimate against a hand computation from the datasheet's figures, and the inputs it refuses."""

import json
import math

import pytest

from m0sim import energy
from m0sim.energy import CoreCycles
from m0sim.errors import InputError
from m0sim.machine import Machine


def test_two_cores_match_a_hand_computation_from_the_datasheet_figures():
    # RP2040 datasheet, Table 'Power Consumption' (typical DVDD): Popcorn 10.9 mA at 48 MHz, Dormant 0.18 mA;
    # Table 'Power Supply Specifications': DVDD 1.1 V. Per active core cycle: (10.9 - 0.18) mA / 2 cores / 48 MHz
    # = 1.11666...e-10 C, times 1.1 V = 1.228333e-10 J.
    per_cycle_j = (10.9e-3 - 0.18e-3) / 2 / 48e6 * 1.1
    assert per_cycle_j == pytest.approx(1.2283333e-10, rel=1e-6)
    # core 0 busy for 1,000,000 cycles; core 1 busy 400,000 and asleep 600,000; at 125 MHz that is 8 ms
    e = energy.estimate([CoreCycles(1_000_000), CoreCycles(400_000, 600_000)], 125e6)
    assert e.seconds == pytest.approx(8e-3)
    assert e.cores_mj[0] == pytest.approx(0.1228333, rel=1e-6)  # 1e6 * 1.228333e-10 J
    assert e.cores_mj[1] == pytest.approx(0.0491333, rel=1e-6)  # 4e5 * 1.228333e-10 J
    assert e.leakage_mj == pytest.approx(0.001584, rel=1e-9)  # 1.1 V * 0.18 mA * 8 ms
    assert e.total_mj == pytest.approx(0.1735507, rel=1e-6)
    assert e.mean_mw == pytest.approx(0.1735507 / 8e-3, rel=1e-6)


def test_the_clock_changes_only_the_leakage():
    # linear dynamic current (assumption A1): a cycle costs the same charge at any clock; the leakage runs for
    # the elapsed time, so halving the clock doubles it: 1.1 V * 0.18 mA * (1e6 / 62.5 MHz = 16 ms) = 3.168 uJ
    fast, slow = energy.of_run(1_000_000, 125e6), energy.of_run(1_000_000, 62.5e6)
    assert fast.cores_mj == slow.cores_mj
    assert slow.leakage_mj == pytest.approx(0.003168, rel=1e-9) and slow.leakage_mj == 2 * fast.leakage_mj


def test_a_sleeping_core_pays_only_the_leakage():
    e = energy.of_run(1_000_000, 125e6, sleeping=1_000_000)
    assert e.cores_mj == (0.0,) and e.total_mj == pytest.approx(0.001584, rel=1e-9)


@pytest.mark.parametrize("clock", [0, -125e6, math.nan, math.inf, "fast", None])
def test_a_bad_clock_is_refused_with_one_line(clock):
    with pytest.raises(InputError, match=r"^energy estimate: the clock must be a positive finite frequency"):
        energy.estimate([CoreCycles(1000)], clock)


@pytest.mark.parametrize("cores, match", [([], "has 2 cores, not 0"), ([CoreCycles(1)] * 3, "has 2 cores, not 3"),
                                          ([CoreCycles(-1)], "core 0 has negative cycles")])
def test_bad_counters_are_refused(cores, match):
    with pytest.raises(InputError, match=match):
        energy.estimate(cores, 125e6)


def test_the_record_names_itself_an_estimate():
    d = energy.of_run(125_000_000, 125e6).to_dict()
    assert "estimate" in d["estimate"] and d["seconds"] == 1.0 and d["dvdd_volts"] == 1.1
    assert "an estimate" in energy.of_run(10, 125e6).summary()


# a busy loop, then 50 SysTick periods asleep in WFI (the handler wakes the core each period)
SLEEPER = r"""
#include <stdint.h>
#define SYST_CSR (*(volatile uint32_t *)0xE000E010)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018)
volatile uint32_t ticks;
void isr_systick(void) { ticks++; }
int main(void)
{
    volatile uint32_t x = 0;
    for (int i = 0; i < 20000; i++) x += i;
    SYST_RVR = 12500 - 1;
    SYST_CVR = 0;
    SYST_CSR = 7;
    while (ticks < 50) __asm__ volatile("wfi");
    SYST_CSR = 0;
    return 0;
}
"""


def test_wfi_sleep_is_counted_and_costs_only_the_leakage(firmware, cli):
    m = Machine(firmware(SLEEPER))
    stats = m.run().stats
    slept = m.exceptions.slept_cycles
    # 50 periods of 12,500 cycles, less the handler and the loop test each period: mostly asleep
    assert 45 * 12_500 < slept < 50 * 12_500 < stats.cycles
    awake = energy.of_run(stats.cycles, stats.clock_hz)
    asleep = energy.of_run(stats.cycles, stats.clock_hz, sleeping=slept)
    assert asleep.leakage_mj == awake.leakage_mj
    assert asleep.cores_mj[0] == pytest.approx(awake.cores_mj[0] * (stats.cycles - slept) / stats.cycles)
    # the command line prints the same estimate (exec --stats) and records it (profile --json)
    proc = cli("exec", "--stats", firmware(SLEEPER))
    assert proc.returncode == 0 and asleep.summary() in proc.stderr, proc.stderr
    proc = cli("profile", "--json", firmware(SLEEPER))
    record = json.loads(proc.stdout)["energy"]
    assert record["total_mj"] == pytest.approx(asleep.total_mj) and "estimate" in record["estimate"]
