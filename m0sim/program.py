"""What m0sim runs: a program's loadable bytes, sections, symbols and code ranges, whatever file it came from.

`m0sim.elf` and `m0sim.uf2code` build a `Program`; `m0sim.loader` picks which by the file's type.
"""

import bisect
from dataclasses import dataclass, field
from pathlib import Path

from m0sim import memmap
from m0sim.errors import InputError


@dataclass(frozen=True)
class Segment:
    vaddr: int  # where the program runs with it
    paddr: int  # where the image stores it (flash, for .data)
    data: bytes
    memsz: int
    executable: bool


@dataclass(frozen=True)
class Symbol:
    name: str
    addr: int  # without the Thumb bit
    size: int
    kind: str  # "func" | "object" | "other"


@dataclass(frozen=True)
class Section:
    name: str
    addr: int
    size: int
    flags: str  # "a", "w", "x" letters
    nobits: bool


@dataclass
class Program:
    path: Path
    entry: int
    segments: list[Segment]
    sections: list[Section]
    symbols: dict[str, Symbol]
    code_ranges: list[tuple[int, int]]  # [start, end) of Thumb code, from $t/$d mapping symbols
    _funcs: list[Symbol] = field(default_factory=list, repr=False)
    _func_starts: list[int] = field(default_factory=list, repr=False)
    _func_ends: list[int] = field(default_factory=list, repr=False)
    vector_table: int = memmap.XIP.base  # where reset reads SP and PC (after boot2 in a pico-sdk UF2)

    def symbol(self, name: str) -> Symbol:
        try:
            return self.symbols[name]
        except KeyError:
            raise InputError(f"symbol '{name}' not found in {self.path}") from None

    def function_at(self, addr: int) -> Symbol | None:
        """The function symbol containing addr, for 'symbol+offset' in messages and profiles."""
        i = bisect.bisect_right(self._func_starts, addr) - 1
        if i >= 0 and addr < self._func_ends[i]:
            return self._funcs[i]
        return None

    def describe(self, addr: int) -> str:
        f = self.function_at(addr)
        return f"{f.name}+0x{addr - f.addr:x}" if f else "?"

    def functions(self) -> list[tuple[Symbol, int]]:
        """Function symbols by address with the end of their code: st_size, or the next function for
        hand-written assembly that has no size."""
        return list(zip(self._funcs, self._func_ends))

    def footprint(self) -> dict[str, int]:
        """Bytes by part: flash holds text+rodata+data's initial image; static RAM is data+bss."""
        sizes = {"text": 0, "rodata": 0, "data": 0, "bss": 0}
        for s in self.sections:
            if "a" not in s.flags or s.size == 0:
                continue
            if s.nobits:
                sizes["bss"] += s.size
            elif "x" in s.flags:
                sizes["text"] += s.size
            elif "w" in s.flags:
                sizes["data"] += s.size
            else:
                sizes["rodata"] += s.size
        sizes["flash"] = sizes["text"] + sizes["rodata"] + sizes["data"]
        sizes["static_ram"] = sizes["data"] + sizes["bss"]
        return sizes
