"""Emulation speed, measured side by side in one run: no hooks, m0sim's native counters (alone, and with the
alignment check's memory hook), a Python block hook.

Usage: python -m m0sim.bench KERNEL.elf  (built by `make kernels` from kernels/bench/dotprod.c).
The ratios matter, not the absolute numbers: the machine is shared and noisy, so each mode is run in turn,
several rounds, and the best round of each is kept.
"""

import sys
import time

import unicorn as uc

from m0sim import memmap
from m0sim.errors import M0simError
from m0sim.machine import Machine

ROUNDS = 3


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


def measure(elf: str, function: str, reps: int) -> dict:
    counted = Machine(elf)
    counted.call(function, 1)
    counted.call(function, reps)
    insns, cycles = counted.last_stats.instructions, counted.last_stats.cycles
    modes = {
        "no hooks": lambda: Machine(elf, counting=False),
        "m0sim counted": lambda: Machine(elf),
        "alignment check": lambda: Machine(elf, alignment_faults=True),
        "Python block hook": lambda: _with_python_hook(Machine(elf, counting=False)),
    }
    best = {name: float("inf") for name in modes}
    for _ in range(ROUNDS):
        for name, make in modes.items():
            m = make()
            m.call(function, 1)
            t0 = time.perf_counter()
            m.call(function, reps if name != "Python block hook" else max(reps // 20, 1))
            dt = time.perf_counter() - t0
            if name == "Python block hook":
                dt *= reps / max(reps // 20, 1)
            best[name] = min(best[name], dt)
    return {"function": function, "instructions": insns, "cycles": cycles,
            "mips": {name: insns / dt / 1e6 for name, dt in best.items()},
            "pico_multiple": cycles / best["m0sim counted"] / memmap.CLOCK_HZ,
            "ratio": best["no hooks"] / best["m0sim counted"],
            "alignment_cost": best["alignment check"] / best["m0sim counted"]}


def main(argv):
    if len(argv) != 2:
        print("usage: python -m m0sim.bench KERNEL.elf", file=sys.stderr)
        return 2
    elf = argv[1]
    print("int8 dot products over SRAM, and with the weights in flash (every weight load a lookup in the XIP "
          "cache model):\nbench_*: gcc's byte loop, 7 instructions per block; words_*: PRIOT's inner loop "
          "(dot_m0.S), 8 products per 45 instructions")
    print(f"{'kernel':<14}{'no hooks':>12}{'m0sim counted':>15}{'+align check':>14}{'Python block':>14}"
          f"{'counted/no-hook':>17}{'x real Pico':>13}{'align cost':>12}")
    print(f"{'':<14}{'M instr/s':>12}{'M instr/s':>15}{'M instr/s':>14}{'M instr/s':>14}")
    for function, reps in (("bench_sram", 4000), ("bench_flash", 1000), ("words_sram", 8000), ("words_flash", 2000)):
        r = measure(elf, function, reps)
        mips = r["mips"]
        print(f"{function:<14}{mips['no hooks']:>12.0f}{mips['m0sim counted']:>15.0f}"
              f"{mips['alignment check']:>14.0f}{mips['Python block hook']:>14.1f}{r['ratio']:>17.2f}"
              f"{r['pico_multiple']:>13.2f}{r['alignment_cost']:>11.2f}x")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except M0simError as exc:
        print(f"m0sim bench: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
