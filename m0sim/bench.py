"""Emulation speed, measured side by side in one run against the true ceiling: plain Unicorn.

Usage: python -m m0sim.bench DOTPROD.elf BRANCHY.elf TICKS.elf  (built by `make kernels` from kernels/bench/).

Every workload runs the same image in five ways: plain Unicorn (the same Cortex-M0 core, flash/SRAM mapped as
RAM, no hooks, nothing of m0sim's set-up), m0sim with counting off, m0sim counted (the default: alignment check
on), m0sim counted with the alignment check off (`alignment_faults=False`), and a Python block hook adding the
same per-block costs. All return values must agree. Two rows follow, each against its target: the alignment
check's cost (the on/off ratio of the counted runs, worst workload), and the host cost of one interrupt
(TICKS.elf's CoreMark-like mix with a SysTick every 1,000 cycles against none) with what a 1 kHz SysTick costs
in speed, beside what one call from Unicorn into Python costs in a minimal Unicorn script: the least an
interrupt costs whose entry Python decides (a SysTick tick into thread mode with nothing else pending, this
row's case, is taken and returned from natively, see m0sim.exceptions), on a Machine and on the Pico that
`m0sim exec` runs. The machine is shared and noisy, so the modes run in turn, several rounds, each timed in CPU
seconds of this process (time spent descheduled does not count), and the best round of each is kept; the
ratios matter, not the absolute numbers.
"""

import sys
import time

import unicorn as uc
from unicorn import arm_const as arm

from m0sim import memmap
from m0sim.loader import load_program
from m0sim.errors import M0simError
from m0sim.machine import RETURN_ADDR, Machine, unicorn_engine
from m0sim.soc import Pico

ROUNDS = 5
ALIGNMENT_CHECK_TARGET = 1.5  # at most this much slower with the check on (issue 17)
INTERRUPT_US_TARGET = 10.0  # host microseconds per interrupt, entry to return
SYSTICK_1KHZ_TARGET = 1.0  # percent of speed a 1 kHz SysTick may cost
TICK_PERIOD = 1000  # cycles between SysTick interrupts in the interrupt row
TICK_REPS = 20  # repetitions of TICKS.elf's mix per timed call
PYTHON_HOOK_SHARE = 20  # the Python hook runs 1/20 of the repetitions (it is that slow), scaled back up
SEMIHOST_CALLS = 20_000  # BKPT 0xAB calls per timed semihosting round

# (ELF argument index, function, repetitions, what it is)
WORKLOADS = (
    (0, "bench_sram", 4000, "byte loop, data in SRAM"),
    (0, "bench_flash", 1000, "byte loop, weights in flash"),
    (0, "words_sram", 8000, "PRIOT loop, data in SRAM"),
    (0, "words_flash", 2000, "PRIOT loop, weights in flash"),
    (1, "crc_sram", 300, "bitwise CRC-32, 1 KB in SRAM"),
    (1, "calls_mix", 2000, "calls: recursive, pointer, table"),
)


class PlainUnicorn:
    """The ceiling: Unicorn with the same CPU model and the image loaded, no hooks, no MMIO, no counters."""

    def __init__(self, elf: str):
        self.program = load_program(elf)
        self.uc = unicorn_engine()
        for region in (memmap.ROM, memmap.XIP, memmap.SRAM):
            self.uc.mem_map(region.base, region.size, uc.UC_PROT_ALL)
        for seg in self.program.segments:
            if seg.data:
                self.uc.mem_write(seg.paddr, seg.data)
                if seg.vaddr != seg.paddr:
                    self.uc.mem_write(seg.vaddr, seg.data)

    def call(self, function: str, arg: int) -> int:
        self.uc.reg_write(arm.UC_ARM_REG_R0, arg)
        self.uc.reg_write(arm.UC_ARM_REG_SP, memmap.SRAM.end)
        self.uc.reg_write(arm.UC_ARM_REG_LR, RETURN_ADDR | 1)
        self.uc.emu_start(self.program.symbol(function).addr | 1, RETURN_ADDR)
        return self.uc.reg_read(arm.UC_ARM_REG_R0)


def _with_python_hook(machine):
    """The slow alternative: a Python UC_HOOK_BLOCK adding the same per-block costs."""
    tables = [w.table for w in machine._windows]
    totals = [0, 0]

    def on_block(_uc, address, size, _user):
        for t in tables:
            if t.base <= address < t.end:
                i, j = (address - t.base) // 2, (address + size - t.base) // 2
                totals[0] += int(t.insns_prefix[j] - t.insns_prefix[i])
                totals[1] += int(t.cycles_prefix[j] - t.cycles_prefix[i])
                return

    machine.uc.hook_add(uc.UC_HOOK_BLOCK, on_block)
    return machine


class _BindingRegisters:
    """The Unicorn binding's own ``reg_read``/``reg_write``: how the interrupt hook read registers before
    ``m0sim.registers.FastRegs`` (kept here for the side-by-side semihosting row)."""

    def __init__(self, engine):
        self.read, self.write = engine.reg_read, engine.reg_write


def semihost_calls_per_second(elf: str, reps: int = SEMIHOST_CALLS, rounds: int = ROUNDS) -> dict:
    """Best-of-`rounds` semihosting calls served per host CPU second: m0sim as it is, and with the register
    access the hook had before (the binding's generic reg_read/reg_write), in turn."""
    machines = {"m0sim": Machine(elf), "binding registers": Machine(elf)}
    machines["binding registers"]._regs = _BindingRegisters(machines["binding registers"].uc)
    best = {name: float("inf") for name in machines}
    for _ in range(rounds):
        for name, m in machines.items():
            m.call("semihost_calls", 1)
            t0 = time.process_time()
            got = m.call("semihost_calls", reps)
            best[name] = min(best[name], time.process_time() - t0)
            if got < reps:
                raise M0simError(f"semihost_calls({reps}) returned {got} under {name}")
    return {name: reps / dt for name, dt in best.items()}


MODES = {
    "plain Unicorn": PlainUnicorn,
    "m0sim uncounted": lambda elf: Machine(elf, counting=False),
    "m0sim counted": Machine,
    "alignment check off": lambda elf: Machine(elf, alignment_faults=False),
    "Python block hook": lambda elf: _with_python_hook(Machine(elf, counting=False)),
}


def measure(elf: str, function: str, reps: int, rounds: int = ROUNDS) -> dict:
    """Best-of-`rounds` host seconds per mode for `function(reps)`, with the counted run's instructions/cycles."""
    counted = Machine(elf)
    counted.call(function, 1)
    expected = counted.call(function, reps)
    insns, cycles = counted.last_stats.instructions, counted.last_stats.cycles
    emulators = {name: make(elf) for name, make in MODES.items()}
    best = {name: float("inf") for name in MODES}
    for _ in range(rounds):
        for name, emu in emulators.items():
            emu.call(function, 1)  # translate first: the timed call measures execution
            n = reps if name != "Python block hook" else max(reps // PYTHON_HOOK_SHARE, 1)
            t0 = time.process_time()
            got = emu.call(function, n)
            dt = (time.process_time() - t0) * reps / n
            if n == reps and got != expected:
                raise M0simError(f"{name} returned {got:#x} from {function}({reps}), m0sim counted {expected:#x}")
            best[name] = min(best[name], dt)
    return {"function": function, "instructions": insns, "cycles": cycles, "seconds": best,
            "mips": {name: insns / dt / 1e6 for name, dt in best.items()},
            "ratio": {name: best["plain Unicorn"] / dt for name, dt in best.items()},
            "pico_multiple": cycles / best["m0sim counted"] / memmap.CLOCK_HZ}


def measure_interrupts(elf: str, rounds: int = ROUNDS, make=Machine) -> dict:
    """Host cost of one interrupt: `ticked(reps, period)` with a SysTick every TICK_PERIOD cycles against the
    same call without (best of `rounds` interleaved), divided by the interrupts taken, on `make(elf)`."""
    m = make(elf)
    m.call("ticked", 1, TICK_PERIOD)  # translate first
    best, stats, ticks = {}, {}, 0
    for _ in range(rounds):
        for period in (0, TICK_PERIOD):
            t0 = time.process_time()
            m.call("ticked", TICK_REPS, period)
            dt = time.process_time() - t0
            if dt < best.get(period, float("inf")):
                best[period], stats[period] = dt, m.last_stats
            if period:
                ticks = int(m.read("ticks", "<u4", 1)[0])
    if not ticks:
        raise M0simError(f"{elf}: ticked({TICK_REPS}, {TICK_PERIOD}) took no SysTick interrupt")
    per_interrupt = (best[TICK_PERIOD] - best[0]) / ticks
    host_per_emulated_second = best[0] / stats[0].seconds
    return {"ticks": ticks, "us_per_interrupt": per_interrupt * 1e6,
            "systick_1khz_percent": 1000 * per_interrupt / host_per_emulated_second * 100,
            "pico_multiple": 1 / host_per_emulated_second,
            "seconds": best, "cycles": {p: st.cycles for p, st in stats.items()}}


CALLBACK_LOOPS = 20_000  # SVCs per timed round of the Python-callback floor


def python_callback_us(loops: int = CALLBACK_LOOPS, rounds: int = ROUNDS) -> float:
    """The floor of an interrupt whose entry Python decides: host microseconds of one call from Unicorn into a
    Python hook, measured with a minimal script (the same Cortex-M0 core, nothing of m0sim): a loop of SVCs with
    an empty UC_HOOK_INTR against the same loop with NOPs, best of `rounds`."""
    base = memmap.XIP.base
    best = {}
    for first in (b"\x00\xdf", b"\x00\xbf"):  # svc #0 / nop; then subs r0, #1; bne back to it
        engine = unicorn_engine()
        engine.mem_map(base, 4096, uc.UC_PROT_ALL)
        engine.mem_write(base, first + b"\x01\x38\xfc\xd1")
        engine.hook_add(uc.UC_HOOK_INTR, lambda *_: None)
        for _ in range(rounds):
            engine.reg_write(arm.UC_ARM_REG_R0, loops)
            t0 = time.process_time()
            engine.emu_start(base | 1, base + 6)
            best[first] = min(best.get(first, float("inf")), time.process_time() - t0)
    return (best[b"\x00\xdf"] - best[b"\x00\xbf"]) / loops * 1e6


def main(argv):
    if len(argv) != 4:
        print("usage: python -m m0sim.bench DOTPROD.elf BRANCHY.elf TICKS.elf", file=sys.stderr)
        return 2
    elfs = argv[1:]
    print("Guest instructions per host second, and each mode's speed as a fraction of plain Unicorn (same image, "
          f"same CPU model, no hooks); best of {ROUNDS} interleaved rounds of CPU time.\n"
          "bench_*: gcc's int8 byte loop; words_*: PRIOT's inner loop (dot_m0.S); *_flash: weights in flash, every "
          "load a lookup in the XIP cache model;\ncrc_sram: bitwise CRC-32; calls_mix: recursion, calls through "
          "function pointers, a table-driven state machine.")
    head = (f"{'kernel':<13}{'plain M/s':>10}{'uncounted':>11}{'counted':>9}{'check off':>11}{'Python hook':>13}"
            f"{'x real Pico':>13}")
    print(head)
    check_cost = []
    for index, function, reps, _what in WORKLOADS:
        r = measure(elfs[index], function, reps)
        ratio = r["ratio"]
        check_cost.append(r["seconds"]["m0sim counted"] / r["seconds"]["alignment check off"])
        print(f"{function:<13}{r['mips']['plain Unicorn']:>10.0f}{ratio['m0sim uncounted']:>11.2f}"
              f"{ratio['m0sim counted']:>9.2f}{ratio['alignment check off']:>11.2f}{ratio['Python block hook']:>13.3f}"
              f"{r['pico_multiple']:>13.2f}",
              flush=True)
    worst = max(check_cost)
    print(f"\nalignment check (on by default): CPU time on/off {worst:.2f}x on the worst workload "
          f"(target <= {ALIGNMENT_CHECK_TARGET}x): {'met' if worst <= ALIGNMENT_CHECK_TARGET else 'NOT met'}")
    irq = measure_interrupts(elfs[2])
    pico = measure_interrupts(elfs[2], make=Pico)
    floor = python_callback_us()
    us, percent = irq["us_per_interrupt"], irq["systick_1khz_percent"]
    allowed = us * SYSTICK_1KHZ_TARGET / percent if percent > 0 else float("inf")  # us per interrupt for 1%
    print(f"interrupts: {us:.2f} us of host CPU per interrupt (SysTick every {TICK_PERIOD} cycles, "
          f"{irq['ticks']:,} taken; target <= {INTERRUPT_US_TARGET:g} us): "
          f"{'met' if us <= INTERRUPT_US_TARGET else 'NOT met'} ({pico['us_per_interrupt']:.2f} us on the Pico "
          f"`m0sim exec` runs); taken and returned from natively (one call from Unicorn into Python, what an "
          f"interrupt Python must decide costs at least: {floor:.2f} us in a minimal Unicorn script)", flush=True)
    print(f"  a 1 kHz SysTick costs {percent:.2f}% of speed (target < {SYSTICK_1KHZ_TARGET:g}%): "
          f"{'met' if percent < SYSTICK_1KHZ_TARGET else 'NOT met'}; at this workload's speed "
          f"({irq['pico_multiple']:.1f}x a real Pico) 1% allows {allowed:.2f} us per interrupt", flush=True)
    calls = semihost_calls_per_second(elfs[1])
    print(f"semihosting (SYS_CLOCK): {calls['m0sim']:,.0f} calls per host CPU second "
          f"({calls['binding registers']:,.0f} with the binding's reg_read/reg_write, as before)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except M0simError as exc:
        print(f"m0sim bench: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
