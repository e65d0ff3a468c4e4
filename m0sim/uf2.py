"""UF2 files for the RP2040: write one from a firmware ELF, and read one back as a Program m0sim can run.

A UF2 file is a list of 512-byte blocks, each carrying 256 bytes for one flash address (Microsoft's UF2
format as the RP2040 bootrom reads it: family ID 0xe48bff56, flag 0x2000 "family ID present").

A UF2 carries bytes only: no symbols and no $t/$d marks telling code from literal pools. m0sim's counters
need to know where instructions start, so the reader recovers the code by following control flow from the
vector table and from every word that looks like a Thumb function pointer into the image (see `_find_code`).

boot2: pico-sdk images begin with a 256-byte second-stage boot loader whose last word is the CRC-32 of its
first 252 bytes, and put the vector table right after it (0x10000100). When the first 256 bytes carry such
a CRC, m0sim takes the vector table from 0x10000100 and does not run boot2 (it configures the QSPI
interface, which m0sim does not model: XIP reads work from reset). Otherwise the vector table is at the start
of flash, as in m0sim's own layout (`m0sim cc`). A real Pico's bootrom accepts and writes either kind; it
only boots an image that starts with a valid boot2, which m0sim's own layout does not have.
"""

import struct
from pathlib import Path

from m0sim import memmap
from m0sim.elf import Program, Section, Segment, Symbol
from m0sim.errors import InputError

MAGIC_START0 = 0x0A324655  # "UF2\n"
MAGIC_START1 = 0x9E5D5157
MAGIC_END = 0x0AB16F30
FLAG_NOT_MAIN_FLASH = 0x00000001
FLAG_FAMILY_ID = 0x00002000
RP2040_FAMILY = 0xE48BFF56
BLOCK_SIZE = 512
PAYLOAD = 256  # bytes per block, the flash page size the RP2040 bootrom expects
DATA_AREA = 476
HEADER = struct.Struct("<8I")
BOOT2_SIZE = 256
VECTOR_WORDS = 16 + 32  # system exceptions + the RP2040's 32 IRQs


def _blocks_from_image(pages: dict[int, bytes]) -> bytes:
    addrs = sorted(pages)
    out = bytearray()
    for n, addr in enumerate(addrs):
        payload = pages[addr].ljust(PAYLOAD, b"\0")
        head = HEADER.pack(MAGIC_START0, MAGIC_START1, FLAG_FAMILY_ID, addr, PAYLOAD, n, len(addrs), RP2040_FAMILY)
        out += head + payload.ljust(DATA_AREA, b"\0") + struct.pack("<I", MAGIC_END)
    return bytes(out)


def flash_pages(program: Program) -> dict[int, bytes]:
    """The ELF's flash image (segments at their load address) cut into 256-byte pages, zero-padded."""
    pages: dict[int, bytearray] = {}
    for seg in program.segments:
        if not seg.data:
            continue
        if not memmap.XIP.contains(seg.paddr, len(seg.data)):
            raise InputError(f"{program.path}: segment at 0x{seg.paddr:08x} ({len(seg.data)} bytes) is not in "
                             f"flash; a UF2 for the RP2040 carries flash contents only")
        for off in range(len(seg.data)):
            addr = seg.paddr + off
            page = pages.setdefault(addr & ~(PAYLOAD - 1), bytearray(PAYLOAD))
            page[addr & (PAYLOAD - 1)] = seg.data[off]
    return {a: bytes(p) for a, p in pages.items()}


def write_uf2(program: Program, output) -> Path:
    """Write program's flash image as an RP2040 UF2; the file appears only when complete."""
    output = Path(output)
    data = _blocks_from_image(flash_pages(program))
    partial = output.with_name(output.name + ".part")
    partial.write_bytes(data)
    partial.replace(output)
    return output


def read_image(path) -> dict[int, bytes]:
    """Flash address -> 256-byte payload of every main-flash block, checked as the bootrom would and stricter."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    raw = path.read_bytes()
    if not raw or len(raw) % BLOCK_SIZE:
        raise InputError(f"{path}: {len(raw)} bytes is not a whole number of 512-byte UF2 blocks")
    total, seen, pages = None, set(), {}
    for i in range(len(raw) // BLOCK_SIZE):
        block = raw[i * BLOCK_SIZE:(i + 1) * BLOCK_SIZE]
        m0, m1, flags, addr, size, number, count, family = HEADER.unpack_from(block)
        where = f"{path}: block {i} (file offset {i * BLOCK_SIZE})"
        end_magic = struct.unpack_from("<I", block, BLOCK_SIZE - 4)[0]
        if (m0, m1, end_magic) != (MAGIC_START0, MAGIC_START1, MAGIC_END):
            raise InputError(f"{where}: bad UF2 magic (0x{m0:08x} 0x{m1:08x} ... 0x{end_magic:08x}); "
                             f"not a UF2 file or corrupt")
        if flags & FLAG_NOT_MAIN_FLASH:
            continue
        if not flags & FLAG_FAMILY_ID or family != RP2040_FAMILY:
            fam = f"0x{family:08x}" if flags & FLAG_FAMILY_ID else "none"
            raise InputError(f"{where}: family ID {fam}, expected the RP2040's 0x{RP2040_FAMILY:08x}")
        if size != PAYLOAD or addr % PAYLOAD:
            raise InputError(f"{where}: {size} bytes at 0x{addr:08x}; the RP2040 takes 256-byte blocks at "
                             f"256-byte aligned addresses")
        if not memmap.XIP.contains(addr, size):
            raise InputError(f"{where}: target 0x{addr:08x} is outside flash (0x{memmap.XIP.base:08x}, "
                             f"{memmap.XIP.size // memmap.MB} MB)")
        if total is None:
            total = count
        if count != total or number >= count:
            raise InputError(f"{where}: block number {number} of {count}, but the file says {total} blocks")
        if number in seen:
            raise InputError(f"{where}: block number {number} appears twice")
        if addr in pages:
            raise InputError(f"{where}: overlaps another block at 0x{addr:08x}")
        seen.add(number)
        pages[addr] = block[32:32 + PAYLOAD]
    if total is None:
        raise InputError(f"{path}: no main-flash blocks for the RP2040")
    missing = sorted(set(range(total)) - seen)
    if missing:
        raise InputError(f"{path}: hole: {len(missing)} of {total} blocks missing (first: block {missing[0]})")
    return pages


def has_boot2(image: bytes) -> bool:
    """pico-sdk's boot2 ends with the CRC-32 (poly 0x04c11db7, MSB first, init ~0, no final xor) of its first
    252 bytes; the bootrom checks exactly this before running it."""
    if len(image) < BOOT2_SIZE:
        return False
    return _crc32_msb(image[:BOOT2_SIZE - 4]) == int.from_bytes(image[BOOT2_SIZE - 4:BOOT2_SIZE], "little")


def _crc32_msb(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
    return crc


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
    def __init__(self, segments):
        self.segments = segments

    def has(self, addr, n) -> bool:
        return any(s.vaddr <= addr and addr + n <= s.vaddr + len(s.data) for s in self.segments)

    def read(self, addr, n) -> bytes:
        for s in self.segments:
            if s.vaddr <= addr < s.vaddr + len(s.data):
                return s.data[addr - s.vaddr:addr - s.vaddr + n]
        return b""

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
    from m0sim.decode import _disassembler, is_armv6m
    md = _disassembler()
    strong = [reset, *(t & ~1 for t in vector_targets)]
    strong += [w & ~1 for w in image.words() if w & 1 and image.has(w & ~1, 2)]
    weak = []
    starts: dict[int, int] = {}  # instruction address -> size
    covered: set[int] = set()  # halfword addresses inside known instructions
    while strong or weak:
        addr = strong.pop() if strong else weak.pop()
        while addr not in starts and image.has(addr, 2):
            chunk = image.read(addr, 4)
            insn = next(md.disasm(chunk, addr, 1), None)
            if insn is None or not is_armv6m(insn) or any(a in covered or a in starts
                                                          for a in range(addr + 2, addr + insn.size, 2)):
                break
            if addr in covered:
                break
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
    _fill_gaps(image, md, starts, is_armv6m)
    ranges = []
    for a in sorted(starts):
        end = a + starts[a]
        if ranges and ranges[-1][1] == a:
            ranges[-1] = (ranges[-1][0], end)
        else:
            ranges.append((a, end))
    return ranges


def _fill_gaps(image: _Image, md, starts: dict[int, int], is_armv6m):
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
        insn = next(md.disasm(image.read(addr, 4), addr, 1), None) if image.has(addr, 2) else None
        if insn is None or not is_armv6m(insn) or any(a in starts for a in range(addr + 2, addr + insn.size, 2)):
            addr += 2
            continue
        starts[addr] = insn.size
        addr += insn.size


def _branch_target(insn):
    import capstone
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
