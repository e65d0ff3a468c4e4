"""Memory-mapped peripherals: one file each, behind one small read32/write32 interface.

Blocks that are not modelled read as zero and ignore writes, with one warning per block, instead of crashing.
"""

import sys
from dataclasses import dataclass
from typing import Callable, Protocol


class Peripheral(Protocol):
    name: str
    base: int
    size: int

    def read32(self, offset: int) -> int: ...

    def write32(self, offset: int, value: int) -> None: ...


@dataclass
class Clocked:
    """What a peripheral may ask of the machine: the cycle count so far and the clock frequency."""

    cycles: Callable[[], int]
    hz: int


class Bus:
    """Routes an MMIO access to the peripheral that owns the address."""

    def __init__(self, peripherals, warn=None):
        self.peripherals = sorted(peripherals, key=lambda p: p.base)
        self._warned = set()
        self._warn = warn or (lambda msg: print(f"m0sim: warning: {msg}", file=sys.stderr))

    def attach(self, *peripherals):
        """Add peripherals built after the bus (the NVIC and SCB, which need the machine's exception state)."""
        self.peripherals = sorted([*self.peripherals, *peripherals], key=lambda p: p.base)

    def find(self, addr: int):
        for p in self.peripherals:
            if p.base <= addr < p.base + p.size:
                return p
        return None

    def _unmodelled(self, addr: int, what: str):
        block = addr & ~0xFFF
        if block not in self._warned:
            self._warned.add(block)
            self._warn(f"{what} of unmodelled peripheral register 0x{addr:08x} (reads 0, writes ignored)")

    def read(self, addr: int, size: int) -> int:
        p = self.find(addr)
        if p is None:
            self._unmodelled(addr, "read")
            return 0
        word = p.read32((addr - p.base) & ~3)
        shift = 8 * (addr & 3)
        return (word >> shift) & ((1 << (8 * size)) - 1)

    def write(self, addr: int, size: int, value: int) -> None:
        p = self.find(addr)
        if p is None:
            self._unmodelled(addr, "write")
            return
        if size != 4:
            # RP2040 APB/SIO registers replicate narrow writes across the word.
            value = int.from_bytes((value & ((1 << (8 * size)) - 1)).to_bytes(size, "little") * (4 // size), "little")
        p.write32((addr - p.base) & ~3, value & 0xFFFFFFFF)


def default_peripherals(clocked: Clocked):
    from m0sim.peripherals.sio import Sio
    from m0sim.peripherals.systick import SysTick
    from m0sim.peripherals.timer import Timer

    return [Timer(clocked), Sio(clocked), SysTick(clocked)]
