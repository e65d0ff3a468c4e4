"""How an interrupt reaches the program: inside the one emu_start of a run, with no hook added and no translation
dropped (the native counter sends the core to a trap; a boundary inside a block is reached at the code's shadow
address), and with the same counts as the older ways m0sim still uses (under a debugger, two cores)."""

import signal
import sys
import threading
import time

import pytest
import unicorn as uc
from test_exceptions import REGS

from m0sim import interrupt
from m0sim.errors import Interrupted
from m0sim.exceptions import Exceptions
from m0sim.machine import Machine
from m0sim.soc import Pico

# A mix of short and long blocks, literal loads, calls and a table, with a SysTick period that is no multiple of
# anything in it: its interrupts land on many different instruction boundaries. With `others`, every 8th tick pends
# PendSV (taken when the SysTick handler returns), and masked stretches (CPSID/CPSIE) and SVCs get in its way.
TICKED = REGS + r"""
volatile uint32_t ticks, pendsvs, svcs;
static int others;
void isr_systick(void) { if ((++ticks & 7) == 0 && others) ICSR = 1u << 28; }
void isr_pendsv(void) { pendsvs++; }
void isr_svcall(void) { svcs++; }
static const uint16_t table[8] = {3, 1, 4, 1, 5, 9, 2, 6};
__attribute__((noinline)) static uint32_t mix(uint32_t x, int i)
{
    x ^= 0x9E3779B9u + (x << 6) + (x >> 2);
    return x + table[i & 7] * 2654435761u;
}
uint32_t ticked(int reps, uint32_t period, int with_others)
{
    ticks = 0;
    others = with_others;
    SYST_RVR = period - 1;
    SYST_CVR = 0;
    SYST_CSR = 7;
    uint32_t x = 1;
    for (int i = 0; i < reps; i++) {
        x = mix(x, i);
        if (x & 1) x = x * 3 + 0x12345678u; else x >>= 1;
        if (others && (i & 63) == 0) { __asm__ volatile("cpsid i"); x = mix(x, i + 1); __asm__ volatile("cpsie i"); }
        if (others && (i & 255) == 0) __asm__ volatile("svc #1");
    }
    SYST_CSR = 0;
    return x;
}
uint32_t idle(uint32_t n, uint32_t period)
{
    ticks = 0;
    others = 0;
    SYST_RVR = period - 1;
    SYST_CVR = 0;
    SYST_CSR = 7;
    while (ticks < n) __asm__ volatile("wfi");
    SYST_CSR = 0;
    return ticks;
}
int main(void) { return (int)((ticked(10, 1000, 1) + idle(3, 1000)) & 0); }
"""
PERIOD = 997
REPS = 20_000


@pytest.fixture(scope="module")
def elf(firmware):
    return firmware(TICKED)


@pytest.mark.parametrize("kind", [Machine, Pico])  # Pico: both cores, as `m0sim exec` runs, core 1 idle
def test_interrupts_are_taken_inside_one_emu_start(elf, kind):
    m = kind(elf)
    starts = []
    start = m.uc.emu_start
    m.uc.emu_start = lambda *a, **k: (starts.append(a), start(*a, **k))[1]
    m.call("ticked", REPS, PERIOD, 0)
    ticks = int(m.read("ticks", "<u4", 1)[0])
    assert ticks > 100
    assert len(starts) == 1  # one per interrupt or two, before the trap


def test_interrupts_add_no_hook_and_drop_no_translation(elf):
    m = Machine(elf)
    m.call("ticked", 100, PERIOD, 0)  # everything translated once
    calls = []
    for name in ("hook_add", "hook_del", "ctl_remove_cache"):
        real = getattr(m.uc, name)
        setattr(m.uc, name, lambda *a, _name=name, _real=real, **k: (calls.append(_name), _real(*a, **k))[1])
    m.call("ticked", REPS, PERIOD, 0)
    assert int(m.read("ticks", "<u4", 1)[0]) > 100
    assert calls == []  # a hook on the code was added, then deleted, for each interrupt inside a block


def _counts(m, reps, period):
    result = m.call("ticked", reps, period, 1)
    st = m.last_stats
    return (result, int(m.read("ticks", "<u4", 1)[0]), st.instructions, st.cycles, st.taken_branches,
            st.xip_hits, st.xip_misses, [(f.name, f.instructions, f.cycles) for f in st.functions],
            dict(m.exceptions.taken))


def test_the_trap_the_shadow_and_the_hook_give_the_same_counts(elf, monkeypatch):
    """The default (trap and shadow, inside one emu_start), the stop-and-start loop the two-core lockstep and the
    debugger use, and that loop without the shadow (a hook on the code, as under GDB) count alike: totals, and
    each function's instructions and cycles (its `calls` count a block given back and run again as two)."""
    cases = ((REPS, PERIOD), (300, 1000), (2000, 50))
    m = Machine(elf)
    starts = []
    start = m.uc.emu_start
    m.uc.emu_start = lambda *a, **k: (starts.append(a), start(*a, **k))[1]
    default = [_counts(m if case == cases[0] else Machine(elf), *case) for case in cases]
    assert len(starts) == 1  # masked stretches, SVCs, PendSV: all inside the emu_start
    assert all({11, 14, 15} <= set(c[-1]) for c in default)  # SVCall, PendSV and SysTick were all taken
    monkeypatch.setattr(Machine, "_run_cores", lambda self, pc, until: self.exceptions.run(pc, until))
    stopping = [_counts(Machine(elf), *case) for case in cases]
    monkeypatch.setattr(Exceptions, "_shadow_can_run", lambda self, pc, stop_at: False)
    hooked = [_counts(Machine(elf), *case) for case in cases]
    assert default[0][1] > 100
    assert default == stopping == hooked


def test_ctrl_c_that_finds_the_engine_between_two_runs_still_stops_it(firmware):
    """Ctrl-C's stop (m0sim.interrupt) arriving while the run loop is between two emu_starts, which Unicorn
    ignores, and Python's own KeyboardInterrupt not delivered (lost in a hook, or not yet due): the run still
    ends at once, as interrupted, instead of running on to its budget."""
    m = Machine(firmware("int main(void){ for (;;) ; }"))
    start = m.uc.emu_start

    def late_start(*args, **kwargs):
        m.uc.emu_start = start
        threading.Thread(target=interrupt.stop_all, daemon=True).start()
        time.sleep(0.05)  # its first stop lands before the run
        return start(*args, **kwargs)

    m.uc.emu_start = late_start
    budget = 300_000_000
    with pytest.raises(Interrupted, match="interrupted at"):
        m.run(max_instructions=budget)
    assert m.instructions() < budget  # stopped by the Ctrl-C, not at its budget


def test_ctrl_c_on_the_first_line_of_a_hook_is_noted_not_printed_and_lost():
    """Python runs its SIGINT handler at the next line it executes: during a run, often the first line of a
    Unicorn hook's ctypes callback, outside the binding's guard, where a KeyboardInterrupt is printed as ignored
    (a traceback) and lost. Inside a `stoppable` body the handler only notes the request there (the watcher's
    stops and the run loop's `requested` end the run), and raises KeyboardInterrupt anywhere else."""
    engine = uc.Uc(uc.UC_ARCH_ARM, uc.UC_MODE_THUMB)
    engine.mem_map(0, 0x1000)
    engine.mem_write(0, b"\x00\xbf" * 4)  # NOPs
    noted = []

    def hook(_u, _addr, _size, _user):
        wrapper = sys._getframe(1)  # the binding's callback wrapper: its first line is where Ctrl-C lands
        signal.getsignal(signal.SIGINT)(signal.SIGINT, wrapper)
        noted.append(interrupt.requested())

    engine.hook_add(uc.UC_HOOK_CODE, hook)
    try:
        with interrupt.stoppable(engine):
            engine.emu_start(1, 8, count=1)
            with pytest.raises(KeyboardInterrupt):
                signal.getsignal(signal.SIGINT)(signal.SIGINT, sys._getframe())
        assert noted == [True]
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored after the body
    finally:
        interrupt._requested.clear()  # no Ctrl-C really came: later runs outside a body must not see one


def _idle(m):
    m.call("idle", 300, PERIOD)
    st = m.last_stats
    return st.instructions, st.cycles, m.exceptions.slept_cycles, dict(m.exceptions.taken)


def test_a_wfi_idle_loop_sleeps_inside_one_emu_start_with_the_same_counts(elf, monkeypatch):
    m = Machine(elf)
    starts = []
    start = m.uc.emu_start
    m.uc.emu_start = lambda *a, **k: (starts.append(a), start(*a, **k))[1]
    default = _idle(m)
    assert len(starts) == 1  # one per WFI, before it slept in its hook
    monkeypatch.setattr(Machine, "_run_cores", lambda self, pc, until: self.exceptions.run(pc, until))
    assert _idle(Machine(elf)) == default
    assert default[2] > 250 * PERIOD // 2 and default[3][15] == 300
