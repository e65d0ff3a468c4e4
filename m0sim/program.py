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
    weak: bool = False  # a weak alias (crt0's isr_* for Default_Handler): a strong symbol at its address names it


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

    def reset_words(self) -> tuple[int, int]:
        """(initial SP, reset vector) as the image stores them at the vector table, before anything runs."""
        table = self.vector_table
        for seg in self.segments:
            if seg.paddr <= table and table + 8 <= seg.paddr + len(seg.data):
                off = table - seg.paddr
                return (int.from_bytes(seg.data[off:off + 4], "little"),
                        int.from_bytes(seg.data[off + 4:off + 8], "little"))
        raise InputError(f"{self.path}: no vector table at 0x{table:08x}: a Pico takes its initial SP and PC "
                         f"from there")

    def check_reset(self, sp: int, pc: int) -> tuple[int, int]:
        """(SP, PC) a Pico takes at reset, refused with one line when m0sim could not run the program from them
        (a pico-sdk ELF starts in boot2, whose first word is code, not a stack pointer)."""
        table = self.vector_table
        if not memmap.SRAM.base < sp <= memmap.SRAM.end or sp & 3:
            raise InputError(f"{self.path}: initial SP 0x{sp:08x} (vector table at 0x{table:08x}) is not a "
                             f"word-aligned address in SRAM (0x{memmap.SRAM.base:08x}..0x{memmap.SRAM.end:08x})")
        if not pc & 1 or not any(lo <= pc & ~1 < hi for lo, hi in self.code_ranges):
            raise InputError(f"{self.path}: reset vector 0x{pc:08x} (at 0x{table + 4:08x}) is not Thumb code "
                             f"of the program")
        if table == memmap.XIP.base and self.entry != pc & ~1:  # after a boot2 the entry is boot2's
            raise InputError(f"{self.path}: ELF entry point 0x{self.entry:08x} differs from the reset vector "
                             f"0x{pc & ~1:08x}; a Pico starts at the reset vector (link with ENTRY(<reset handler>))")
        return sp, pc

    def footprint(self) -> dict[str, int]:
        """Bytes by part, classified by where each section runs, not by its flags: code placed in SRAM (a RAM
        function in `.data`, or a program linked to RAM) takes SRAM, and flash only for its load image.

        flash = text + rodata + data_image; static_ram = data + bss, where data includes sram_code.
        """
        sizes = {"text": 0, "rodata": 0, "data": 0, "bss": 0, "sram_code": 0, "data_image": 0}
        for s in self.sections:
            if "a" not in s.flags or s.size == 0:
                continue
            if memmap.SRAM.contains(s.addr):
                if s.nobits:
                    sizes["bss"] += s.size
                    continue
                sizes["data"] += s.size
                if "x" in s.flags:
                    sizes["sram_code"] += s.size
                if memmap.XIP.contains(self._load_address(s.addr)):
                    sizes["data_image"] += s.size
            elif memmap.XIP.contains(s.addr) and not s.nobits:
                sizes["text" if "x" in s.flags else "rodata"] += s.size
        sizes["flash"] = sizes["text"] + sizes["rodata"] + sizes["data_image"]
        sizes["static_ram"] = sizes["data"] + sizes["bss"]
        return sizes

    def _load_address(self, addr: int) -> int:
        """Where the image stores the byte that runs at addr (its segment's load address), or addr itself."""
        for seg in self.segments:
            if seg.vaddr <= addr < seg.vaddr + max(seg.memsz, 1):
                return seg.paddr + addr - seg.vaddr
        return addr
