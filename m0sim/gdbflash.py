"""GDB's `load` through `m0sim gdbserver`: the flash packets (vFlashErase, vFlashWrite, vFlashDone) and the
program the loaded image becomes.

m0sim needs more than bytes to run a program exactly: where the code is (for its cycle tables), the stack
and heap symbols. When the image GDB wrote is the one in the server's program file as it is now on disk (the
usual edit-build-load cycle), that file is the new program, symbols and all. Any other image is taken as a
UF2 would be: code found by following control flow from the vector table, no symbols, no stack figures.
"""

from pathlib import Path

from m0sim import memmap
from m0sim.loader import load_program
from m0sim.errors import M0simError
from m0sim.uf2 import PAYLOAD
from m0sim.uf2code import program_from_pages

ERASED = 0xFF


class FlashLoad:
    """One `load`: the flash blocks GDB erased; the bytes go straight into the machine's flash image."""

    def __init__(self):
        self.erased: list[tuple[int, int]] = []

    def erase(self, machine, addr: int, length: int) -> bool:
        if length <= 0 or not memmap.XIP.contains(addr, length):
            return False
        machine._write_bytes(addr, bytes([ERASED]) * length)
        self.erased.append((addr, addr + length))
        return True

    @staticmethod
    def write(machine, addr: int, data: bytes) -> bool:
        if not memmap.XIP.contains(addr, max(len(data), 1)):
            return False
        if data:
            machine._write_bytes(addr, data)
        return True

    def program(self, machine, path: Path):
        """The program the flash now holds (see the module docstring)."""
        flash = machine._read_bytes
        try:
            on_disk = load_program(path)
        except M0simError:
            on_disk = None
        if on_disk is not None and self._holds(on_disk, flash):
            return on_disk
        ranges = self.erased + [(s.paddr, s.paddr + len(s.data)) for s in machine.program.segments
                                if s.data and memmap.XIP.contains(s.paddr, len(s.data))]
        pages = {}
        for lo, hi in ranges:
            for page in range(lo & ~(PAYLOAD - 1), hi, PAYLOAD):
                pages[page] = flash(page, PAYLOAD)
        return program_from_pages(Path("gdb-load.img"), pages)  # named so in messages: no file holds it

    def _holds(self, program, flash) -> bool:
        """Does flash hold exactly this program's sections at their load addresses (GDB loads sections, not
        the padding between them), and nothing else in the erased blocks?"""
        pieces = list(_flash_sections(program))
        if any(flash(addr, len(data)) != data for addr, data in pieces):
            return False
        for lo, hi in self.erased:
            data = bytearray(flash(lo, hi - lo))
            for addr, piece in pieces:
                a, b = max(lo, addr), min(hi, addr + len(piece))
                if a < b:
                    data[a - lo:b - lo] = bytes([ERASED]) * (b - a)
            if data.count(ERASED) != len(data):
                return False
        return True


def _flash_sections(program):
    """(load address, bytes) of each loaded section that lies in flash (.data at its load address)."""
    for sec in program.sections:
        if "a" not in sec.flags or sec.nobits or sec.size == 0:
            continue
        for seg in program.segments:
            off = sec.addr - seg.vaddr
            if 0 <= off and off + sec.size <= len(seg.data) and memmap.XIP.contains(seg.paddr + off, sec.size):
                yield seg.paddr + off, seg.data[off:off + sec.size]
                break
