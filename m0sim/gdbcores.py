"""The RP2040's two cores as GDB sees them through `m0sim gdbserver`: thread 1 is core 0, thread 2 is core 1.

A program that can launch core 1 the pico-sdk way (its code holds a SEV: the launch sequence drains the FIFO and
signals an event before each 0 it sends) has two threads from reset, core 1 as a thread in its bootrom wait until
it is launched; any other program is one thread, as on a one-core target, until it does launch core 1. Core 1's
registers before its launch are its boot state as m0sim models it: zero, PC at the bootrom's wait, and not
writable (the launch sets SP, PC and VTOR).
"""

from unicorn import arm_const as arm

from m0sim.dualcore import SEV
from m0sim.gdbtarget import REGISTERS

XPSR_T = 1 << 24  # the Thumb bit: always set on ARMv6-M


class Threads:
    """Which cores are GDB's threads, and their registers (core k is thread k + 1)."""

    def __init__(self, machine):
        self.m = machine
        self.dual = getattr(machine, "dualcore", None)  # an m0sim.soc.Pico's two-core loop, or None
        self._from_reset = self.dual is not None and next(machine.instruction_sites(SEV), None) is not None

    @property
    def two(self) -> bool:
        return self._from_reset or self.core(1) is not None

    def ids(self) -> list[int]:
        return [1, 2] if self.two else [1]

    def core(self, k: int):
        """Core k's Machine, or None for core 1 before its first launch (or on a one-core Machine)."""
        return self.m if k == 0 else getattr(self.m, "core1", None)

    def both_running(self) -> bool:
        """Core 1 is launched and not back in the bootrom: the two cores run in rounds."""
        return self.dual is not None and not self.dual.parked[1]

    def core_of(self, tid: str, current: int) -> int:
        """The core of a thread id in a packet (hex; 0 any thread, -1 all: the current one); ValueError for a
        thread that does not exist."""
        n = int(tid, 16)
        if n in (0, -1):
            return current
        if n not in self.ids():
            raise ValueError(f"no thread {tid}")
        return n - 1

    def describe(self, k: int) -> str:
        """qThreadExtraInfo: what GDB's `info threads` shows beside the thread."""
        if k == 1 and (self.dual is None or self.dual.parked[1]):
            return "core 1 (in the bootrom, waiting to be launched)"
        if self.dual is not None and self.dual.asleep[k] is not None:
            return f"core {k} (asleep in WFE)"
        return f"core {k}"

    def reg(self, k: int, n: int) -> int:
        core = self.core(k)
        if core is None:  # core 1's boot state
            return self.m.core1_return if REGISTERS[n].name == "pc" else XPSR_T if REGISTERS[n].name == "xpsr" \
                else 0
        value = core.uc.reg_read(REGISTERS[n].uc_id)
        return value | XPSR_T if REGISTERS[n].name == "xpsr" else value

    def set_reg(self, k: int, n: int, value: int) -> bool:
        """Write register n of core k; False for core 1 in the bootrom (its launch sets its registers)."""
        if k == 1 and (self.core(1) is None or self.dual.parked[1]):
            return False
        if REGISTERS[n].name == "pc":
            value |= 1
        self.core(k).uc.reg_write(REGISTERS[n].uc_id, value)
        return True

    def pc(self, k: int) -> int:
        return self.core(k).uc.reg_read(arm.UC_ARM_REG_PC)
