"""How much contention between the two cores for the bus could add to a run: an upper bound, not a model.

m0sim charges each core's loads and stores what they cost alone. On the RP2040 (datasheet 2.1, bus fabric) the
crossbar serves one master per downstream port (each SRAM bank, the XIP, APB and SIO ports) per cycle; a second
master asking for the same port in the same cycle waits. Every such wait pairs an access of one core with an
access of the other, so the cycles contention can add to the elapsed time are at most the accesses of the core
that made fewer. The counts come from the run's per-instruction executions and the decode: each load or store
is one access, LDM/STM/PUSH/POP one per register.
"""

from dataclasses import dataclass

import numpy as np

from m0sim.decode import disassembler

MULTIPLE = {"push", "pop", "ldm", "stm", "ldmia", "stmia"}


@dataclass
class ContentionBound:
    accesses: list[int]  # loads/stores per core in the run
    elapsed_cycles: int

    @property
    def cycles(self) -> int:
        """At most this many cycles of waiting: one per access of the core with fewer."""
        return min(self.accesses) if len(self.accesses) > 1 else 0

    @property
    def share(self) -> float:
        return self.cycles / self.elapsed_cycles if self.elapsed_cycles else 0.0

    def summary(self) -> str:
        each = ", ".join(f"core {k} {a:,}" for k, a in enumerate(self.accesses))
        return (f"bus accesses: {each}; contention between the cores could add at most {self.cycles:,} cycles ({100 * self.share:.1f}% of "
                f"{self.elapsed_cycles:,})")


def bus_accesses(machine) -> int:
    """Loads and stores one core made in its last run (from its code windows' execution counts)."""
    md = disassembler()
    total = 0
    for win in machine._windows:
        table = win.table
        if len(table.base_cycles) == 0:
            continue
        counts = win.snapshot()
        if not counts.any():
            continue
        executions = counts.executions()
        starts = np.diff(table.insns_prefix.astype(np.int64)) != 0
        for slot in np.flatnonzero((executions > 0) & starts):
            addr = table.base + 2 * int(slot)
            insn = next(md.disasm(machine._read_bytes(addr, 4), addr, 1), None)
            total += int(executions[slot]) * _accesses(insn)
    return total


def _accesses(insn) -> int:
    if insn is None:
        return 0
    m = insn.mnemonic.split(".")[0]
    if m.startswith(("ldr", "str")):
        return 1
    if m in MULTIPLE:
        registers = len(insn.operands)
        return registers if m in ("push", "pop") else registers - 1  # LDM/STM: the base register is no access
    return 0
