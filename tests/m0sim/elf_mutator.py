"""A seeded mutator of ELF files: the corpus is regenerated from (seed, case number), never stored.

Mutations aim where loaders break: header fields, program and section header fields, symbol values, words of
the image (the vector table first), truncation and random byte flips.
"""

import random
import struct

from elfpatch import EHDR, PHDR, PHDR_SIZE, SHDR_SIZE, SYM_SIZE
from elftools.elf.elffile import ELFFile
import io

INTERESTING = [0, 1, 2, 3, 4, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFFFFF0,
               0x10000000, 0x10000001, 0x10001000, 0x101FFFFC, 0x20000000, 0x20041FFF, 0x20042000, 0x20042004,
               0x30000000, 0xD0000000, 0xE000E010]


class Mutator:
    def __init__(self, base: bytes):
        self.base = base
        elf = ELFFile(io.BytesIO(base))
        self.phoff, self.phnum = elf["e_phoff"], elf["e_phnum"]
        self.shoff, self.shnum = elf["e_shoff"], elf["e_shnum"]
        symtab = elf.get_section_by_name(".symtab")
        self.symtab = (symtab["sh_offset"], symtab.num_symbols()) if symtab is not None else None
        self.image = [(s["p_offset"], s["p_filesz"]) for s in elf.iter_segments() if s["p_type"] == "PT_LOAD"]

    def _value(self, rng, old: int) -> int:
        r = rng.random()
        if r < 0.5:
            return rng.choice(INTERESTING)
        if r < 0.8:
            return (old + rng.choice([-8, -4, -2, -1, 1, 2, 4, 8, 0x1000, -0x1000])) & 0xFFFFFFFF
        return rng.getrandbits(32)

    def _word(self, data, rng, off: int, fmt: str = "<I"):
        if off + struct.calcsize(fmt) > len(data):
            return
        old = struct.unpack_from(fmt, data, off)[0]
        struct.pack_into(fmt, data, off, self._value(rng, old) & ((1 << (8 * struct.calcsize(fmt))) - 1))

    def case(self, seed: int, index: int) -> bytes:
        rng = random.Random(f"{seed}:{index}")
        data = bytearray(self.base)
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            kind = rng.randrange(7)
            if kind == 0:
                name = rng.choice(list(EHDR))
                self._word(data, rng, *EHDR[name])
            elif kind == 1 and self.phnum:
                self._word(data, rng, self.phoff + rng.randrange(self.phnum) * PHDR_SIZE + rng.choice(list(PHDR.values())))
            elif kind == 2 and self.shnum:
                self._word(data, rng, self.shoff + rng.randrange(self.shnum) * SHDR_SIZE + 4 * rng.randrange(10))
            elif kind == 3 and self.symtab:
                off, n = self.symtab
                self._word(data, rng, off + rng.randrange(n) * SYM_SIZE + rng.choice([0, 4, 8]))
            elif kind == 4 and self.image:
                off, size = rng.choice(self.image)
                span = 8 if rng.random() < 0.5 else max(size - 4, 4)  # the vector table, or anywhere
                self._word(data, rng, off + 4 * rng.randrange(max(span // 4, 1)))
            elif kind == 5:
                del data[rng.randrange(len(data)):]
            else:
                for _ in range(rng.randrange(1, 16)):
                    data[rng.randrange(len(data))] = rng.getrandbits(8)
        return bytes(data)
