"""Patch fields of a built ELF in place (for hostile-input tests and the fuzzer): headers, segments, symbols."""

import io
import struct

from elftools.elf.elffile import ELFFile

EHDR = {"e_entry": (24, "<I"), "e_phoff": (28, "<I"), "e_shoff": (32, "<I"), "e_phnum": (44, "<H"),
        "e_shnum": (48, "<H"), "e_shstrndx": (50, "<H")}
PHDR = {"p_offset": 4, "p_vaddr": 8, "p_paddr": 12, "p_filesz": 16, "p_memsz": 20}
PHDR_SIZE, SHDR_SIZE, SYM_SIZE = 32, 40, 16


class ElfPatch:
    def __init__(self, data: bytes):
        self.data = bytearray(data)
        self.elf = ELFFile(io.BytesIO(bytes(data)))

    def put(self, offset: int, fmt: str, value: int):
        struct.pack_into(fmt, self.data, offset, value & ((1 << (8 * struct.calcsize(fmt))) - 1))

    def header(self, name: str, value: int):
        off, fmt = EHDR[name]
        self.put(off, fmt, value)

    def segment(self, index: int, name: str, value: int):
        self.put(self.elf["e_phoff"] + index * PHDR_SIZE + PHDR[name], "<I", value)

    def section_type(self, name: str, sh_type: int):
        index = next(i for i, s in enumerate(self.elf.iter_sections()) if s.name == name)
        self.put(self.elf["e_shoff"] + index * SHDR_SIZE + 4, "<I", sh_type)

    def symbol(self, name: str, value: int):
        symtab = self.elf.get_section_by_name(".symtab")
        index = next(i for i, s in enumerate(symtab.iter_symbols()) if s.name == name)
        self.put(symtab["sh_offset"] + index * SYM_SIZE + 4, "<I", value)

    def word_at(self, addr: int, value: int):
        """A 32-bit word of the loaded image, by its address in flash."""
        seg = next(s for s in self.elf.iter_segments()
                   if s["p_type"] == "PT_LOAD" and s["p_paddr"] <= addr < s["p_paddr"] + s["p_filesz"])
        self.put(seg["p_offset"] + addr - seg["p_paddr"], "<I", value)

    def bytes(self) -> bytes:
        return bytes(self.data)
