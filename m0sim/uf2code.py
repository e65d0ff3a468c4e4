"""A runnable Program from a UF2's flat flash image: where the vector table is and where the code is.

A UF2 carries bytes only: no symbols and no $t/$d marks telling code from literal pools. m0sim's counters
need to know where instructions start, so the reader recovers the code by following control flow from the
vector table and from every word that looks like a Thumb function pointer into the image (see `_find_code`).

boot2: when the image's first 256 bytes carry pico-sdk's boot2 CRC (m0sim.uf2.has_boot2), m0sim takes the
vector table from 0x10000100, right after it, and does not run boot2 (it configures the QSPI interface, which
m0sim does not model: XIP reads work from reset). Otherwise the vector table is at the start of flash, as in
m0sim's own layout (`m0sim cc`). A real Pico's bootrom accepts and writes either kind; it only boots an image
that starts with a valid boot2, which m0sim's own layout does not have.
"""

import bisect
from pathlib import Path

import capstone

from m0sim import memmap
from m0sim.decode import disassembler, is_armv6m
from m0sim.errors import InputError
from m0sim.program import Program, Section, Segment, Symbol
from m0sim.uf2 import BOOT2_SIZE, has_boot2, read_image

VECTOR_WORDS = 16 + 32  # system exceptions + the RP2040's 32 IRQs


def load_uf2(path) -> Program:
    """A Program from a UF2: contiguous flash runs as segments, code found by following control flow."""
    path = Path(path)
    return program_from_pages(path, read_image(path))


def program_from_pages(path: Path, pages: dict[int, bytes]) -> Program:
    """A Program from flash pages (a UF2's, or an image GDB loaded): `path` names it in messages."""
    segments, run_start, run = [], None, bytearray()
    for addr in sorted(pages):
        if run_start is not None and addr != run_start + len(run):
            segments.append(Segment(run_start, run_start, bytes(run), len(run), True))
            run_start, run = None, bytearray()
        if run_start is None:
            run_start = addr
        run += pages[addr]
    segments.append(Segment(run_start, run_start, bytes(run), len(run), True))
    image = _Image(segments)
    vectors = memmap.XIP.base + (BOOT2_SIZE if has_boot2(image.read(memmap.XIP.base, BOOT2_SIZE)) else 0)
    table = image.read(vectors, 4 * VECTOR_WORDS)
    if len(table) < 8:
        raise InputError(f"{path}: no vector table at 0x{vectors:08x} (the image does not cover it)")
    words = [int.from_bytes(table[i:i + 4], "little") for i in range(0, len(table) - 3, 4)]
    sp, reset = words[0], words[1]
    if not reset & 1 or not image.has(reset & ~1, 2):
        raise InputError(f"{path}: reset vector 0x{reset:08x} at 0x{vectors + 4:08x} is not a Thumb address in "
                         f"the image")
    code = _find_code(image, [w for w in words[1:] if w & 1], reset & ~1)
    # No symbols in a UF2: the initial SP stands for the stack top and the heap's start, so m0sim reports no
    # stack or heap figures instead of guessing them.
    symbols = {name: Symbol(name, sp, 0, "other") for name in ("__stack_top", "end")}
    sections = [Section(f"flash@0x{s.vaddr:08x}", s.vaddr, len(s.data), "ax", False) for s in segments]
    return Program(path, reset & ~1, segments, sections, symbols, code, vector_table=vectors)


class _Image:
    """The image's contiguous runs, found by bisection (a UF2 may hold thousands of scattered pages), and a
    decode of each halfword done at most once: discovery does work linear in the image's size."""

    def __init__(self, segments):
        self.segments = sorted(segments, key=lambda s: s.vaddr)
        self._starts = [s.vaddr for s in self.segments]
        self._md = disassembler()
        self._sizes: dict[int, int] = {}  # halfword address -> instruction size (0: none): a few bytes each
        self._last = None
        self.decodes = 0  # capstone calls made: at most one per halfword of the image

    def _segment(self, addr):
        i = bisect.bisect_right(self._starts, addr) - 1
        if i >= 0 and addr < self._starts[i] + len(self.segments[i].data):
            return self.segments[i]
        return None

    def has(self, addr, n) -> bool:
        s = self._segment(addr)
        return s is not None and addr + n <= s.vaddr + len(s.data)

    def read(self, addr, n) -> bytes:
        s = self._segment(addr)
        return s.data[addr - s.vaddr:addr - s.vaddr + n] if s is not None else b""

    def next_start(self, addr) -> int | None:
        """The start of the first run at or after addr (where to go on from a gap between runs)."""
        i = bisect.bisect_left(self._starts, addr)
        return self._starts[i] if i < len(self._starts) else None

    def size_at(self, addr) -> int:
        """The size of the ARMv6-M instruction at addr (0: none).  Only sizes are remembered, a few bytes an
        address; the last instruction decoded is kept for `instruction`."""
        size = self._sizes.get(addr)
        if size is None:
            self.decodes += 1
            insn = next(self._md.disasm(self.read(addr, 4), addr, 1), None)
            size = insn.size if insn is not None and is_armv6m(insn) else 0
            self._sizes[addr] = size
            self._last = insn
        return size

    def instruction(self, addr):
        """The instruction at addr, which `size_at` found: the one it just decoded, or decoded again."""
        if self._last is None or self._last.address != addr:
            self.decodes += 1
            self._last = next(self._md.disasm(self.read(addr, 4), addr, 1))
        return self._last

    def words(self):
        for s in self.segments:
            for off in range(0, len(s.data) - 3, 4):
                yield int.from_bytes(s.data[off:off + 4], "little")


STOP_MNEMONICS = {"b", "bx", "udf"}
CONDITIONS = {"eq", "ne", "hs", "cs", "lo", "cc", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt", "gt", "le"}


def _find_code(image: _Image, vector_targets, reset) -> list[tuple[int, int]]:
    """Instruction ranges reached by control flow from the vectors and from any word that is an odd address
    inside the image (function pointers: literal pools, tables, .init_array).

    Paths that begin after a call are weaker than branch targets (the call may not return and what follows
    may be a literal pool): a weak path stops where it would overlap an instruction already known, so data
    decoded by mistake never shifts the boundaries of real code.
    """
    strong = [reset, *(t & ~1 for t in vector_targets)]
    strong += dict.fromkeys(w & ~1 for w in image.words() if w & 1 and image.has(w & ~1, 2))  # each once
    weak = []
    starts: dict[int, int] = {}  # instruction address -> size
    covered: set[int] = set()  # halfword addresses inside known instructions
    while strong or weak:
        addr = strong.pop() if strong else weak.pop()
        while addr not in starts and image.has(addr, 2):
            if addr in covered:
                break
            size = image.size_at(addr)
            if not size or any(a in covered or a in starts for a in range(addr + 2, addr + size, 2)):
                break
            insn = image.instruction(addr)
            starts[addr] = insn.size
            covered.update(range(addr, addr + insn.size, 2))
            m = insn.mnemonic.split(".")[0]
            target = _branch_target(insn)
            if m == "bl":
                if target is not None:
                    strong.append(target)
                weak.append(addr + insn.size)
                break
            if target is not None and m != "blx":
                strong.append(target)
            if m in STOP_MNEMONICS or (m == "pop" and "pc" in insn.op_str) or _writes_pc(insn):
                break
            addr += insn.size
    _fill_gaps(image, starts)
    ranges = []
    for a in sorted(starts):
        end = a + starts[a]
        if ranges and ranges[-1][1] == a:
            ranges[-1] = (ranges[-1][0], end)
        else:
            ranges.append((a, end))
    return ranges


def _fill_gaps(image: _Image, starts: dict[int, int]):
    """Decode the gaps between code found by control flow linearly (switch tables and computed branches
    reach code the walk cannot see), restarting at every known instruction and skipping a halfword where
    the bytes are no ARMv6-M instruction, so a literal pool never shifts the code after it."""
    if not starts:
        return
    known = sorted(starts)
    hi = max(a + starts[a] for a in known)
    addr = known[0]
    while addr < hi:
        if addr in starts:
            addr += starts[addr]
            continue
        if not image.has(addr, 2):
            nxt = image.next_start(addr + 1)
            if nxt is None:
                return
            addr = nxt
            continue
        size = image.size_at(addr)
        if not size or any(a in starts for a in range(addr + 2, addr + size, 2)):
            addr += 2
            continue
        starts[addr] = size
        addr += size


def _branch_target(insn):
    m = insn.mnemonic.split(".")[0]
    if m not in ("b", "bl") and m[1:] not in CONDITIONS:
        return None
    ops = insn.operands
    if len(ops) == 1 and ops[0].type == capstone.arm.ARM_OP_IMM:
        return ops[0].imm & 0xFFFFFFFE
    return None


def _writes_pc(insn) -> bool:
    m = insn.mnemonic.split(".")[0]
    return m in ("mov", "add") and insn.op_str.startswith("pc")
