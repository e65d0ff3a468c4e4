"""Counts at a stop inside a translation block: the native counter charges a block's XIP fetches when the block
starts, so a run stopped inside it (a debugger's step or breakpoint, an interrupt) must take back the fetches of
the part that did not run -- no miss charged before it happens, no counter wrapping below zero -- and a run in
pieces must end with the counts of an uninterrupted one.  Driven through the machine API: a `Machine.debugger`
that runs the program one instruction at a time, as GDB's `stepi` does."""

import numpy as np
import pytest
from unicorn import arm_const as arm

from m0sim import timing
from m0sim.errors import BudgetExhausted
from m0sim.machine import Machine
from m0sim.pieces import give_back

# Flash code with PC-relative literals, a flash data table (MMIO-mapped flash: each load a lookup in the XIP
# cache model) and calls, from a cold cache: most blocks start with misses.
PROGRAM = r"""
#include <stdint.h>
static const uint32_t table[64] = {
#define R(i) (i) * 2654435761u, (i) * 40503u + 7u, (i) ^ 0x5bd1e995u, (i) << 9
    R(1), R(2), R(3), R(4), R(5), R(6), R(7), R(8), R(9), R(10), R(11), R(12), R(13), R(14), R(15), R(16)
};
__attribute__((noinline)) uint32_t mix(uint32_t h, uint32_t v) { return (h ^ v) * 0x01000193u + 0x12345u; }
int main(void)
{
    uint32_t h = 0x811c9dc5u;
    for (int r = 0; r < 3; r++)
        for (int i = 0; i < 64; i++) h = mix(h, table[(i * 7 + r) & 63]);
    return (int)(h & 0x7f);
}
"""


class Stepper:
    """Runs the program one instruction at a time and records the counters at every stop."""

    def __init__(self):
        self.stops = []  # (pc before, pc after, insns, cycles, xip hits, xip misses)

    def drive(self, m, pc, until):
        s = m._state
        m.uc.ctl_flush_tb()  # Unicorn counts instructions only in blocks translated after a counted start
        while m._exit_code is None:
            m.uc.emu_start(pc, until, count=1)
            if m._exit_code is not None:
                return
            after = m.uc.reg_read(arm.UC_ARM_REG_PC)
            if after == until:
                return
            give_back(m, after)
            self.stops.append((pc & ~1, after, s.insns, s.cycles, s.xip_hits, s.xip_misses))
            pc = after | 1


@pytest.fixture(scope="module")
def stepped(firmware):
    elf = firmware(PROGRAM)
    whole = Machine(elf, stdout=lambda b: None).run()
    m = Machine(elf, stdout=lambda b: None)
    m.debugger = Stepper()
    pieces = m.run()
    return m, whole, pieces


def test_a_run_in_steps_ends_with_the_counts_of_an_uninterrupted_run(stepped):
    _m, whole, pieces = stepped
    assert pieces.exit_code == whole.exit_code
    a, b = whole.stats, pieces.stats
    assert (b.instructions, b.cycles, b.taken_branches, b.xip_hits, b.xip_misses) == \
           (a.instructions, a.cycles, a.taken_branches, a.xip_hits, a.xip_misses)


def test_each_step_costs_only_its_own_instruction(stepped):
    """A step's cycles: its instruction (at most the costliest Thumb-1 row, BL or a POP of the PC, plus a taken
    branch), and the XIP misses of what it fetched and loaded itself: its own line (or two) and one literal or
    data load -- not the misses of the rest of its block."""
    m, _whole, _pieces = stepped
    penalty = timing.XIP_MISS_PENALTY
    worst_instruction = 3 + 8 + timing.TAKEN_EXTRA  # POP {r0-r7, pc}: 3 + N
    steps = m.debugger.stops
    assert len(steps) > 1000
    for (pc, _after, insns, cycles, hits, misses), prev in zip(steps[1:], steps):
        assert insns - prev[2] == 1
        assert 0 <= misses - prev[5] <= 3, hex(pc)
        assert 0 < cycles - prev[3] <= worst_instruction + (misses - prev[5]) * penalty, hex(pc)
        assert hits < 2**62  # never wrapped below zero


def test_no_stop_reads_a_miss_before_it_happens(stepped):
    """The misses at each stop never exceed those of the uninterrupted run, and they grow one fetch at a time:
    before the fix one step on a block's first instruction read every miss of its block."""
    m, whole, _pieces = stepped
    steps = m.debugger.stops
    misses = np.array([s[5] for s in steps], np.int64)
    assert misses.max() <= whole.stats.xip_misses
    assert np.diff(misses).max() <= 3


@pytest.mark.parametrize("budget", [101, 1234, 3001])
def test_a_budget_stop_counts_what_ran(stepped, firmware, budget):
    """The budget check stops the run before the block that crosses it: the counts are of the instructions that
    ran, equal to those of the stepped run after as many instructions."""
    m, _whole, _pieces = stepped
    after = {insns: (cycles, hits, misses) for _pc, _after, insns, cycles, hits, misses in m.debugger.stops}
    run = Machine(firmware(PROGRAM), stdout=lambda b: None)
    with pytest.raises(BudgetExhausted):
        run.run(max_instructions=budget)
    s = run._state
    assert s.insns < budget
    cycles, _hits, misses = after[s.insns]
    assert (s.cycles, s.xip_misses) == (cycles, misses)
