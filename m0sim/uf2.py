"""The UF2 file format for the RP2040: write a program's flash image as blocks, read the blocks back as an image.

A UF2 file is a list of 512-byte blocks, each carrying 256 bytes for one flash address (Microsoft's UF2
format as the RP2040 bootrom reads it: family ID 0xe48bff56, flag 0x2000 "family ID present").

boot2: pico-sdk images begin with a 256-byte second-stage boot loader whose last word is the CRC-32 of its
first 252 bytes (`has_boot2`), and put the vector table right after it. Turning an image into a runnable
Program (where the vector table is, where the code is) is m0sim.uf2code's job.
"""

import struct
from pathlib import Path

from m0sim import memmap
from m0sim.errors import InputError
from m0sim.program import Program

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
MAX_FAMILIES_NAMED = 8  # other families named in an error (the file may hold many)


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
    """Flash address -> 256-byte payload of every RP2040 main-flash block, checked as the bootrom would and
    stricter.

    The file is read one block at a time and nothing is allocated from a header field: what is kept is bounded
    by the Pico's flash (one page per 256 bytes of it, 8,192) whatever the file claims.  Blocks of other
    families are skipped, as the UF2 specification asks of a device that does not recognise the family; so are
    blocks flagged as not main flash.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    file_size = path.stat().st_size
    if not file_size or file_size % BLOCK_SIZE:
        raise InputError(f"{path}: {file_size} bytes is not a whole number of 512-byte UF2 blocks")
    file_blocks = file_size // BLOCK_SIZE
    total, seen, pages, families = None, set(), {}, set()
    with open(path, "rb") as fh:
        for i in range(file_blocks):
            block = fh.read(BLOCK_SIZE)
            if len(block) != BLOCK_SIZE:
                raise InputError(f"{path}: the file changed while it was read (block {i} is short)")
            m0, m1, flags, addr, size, number, count, family = HEADER.unpack_from(block)
            where = f"{path}: block {i} (file offset {i * BLOCK_SIZE})"
            end_magic = struct.unpack_from("<I", block, BLOCK_SIZE - 4)[0]
            if (m0, m1, end_magic) != (MAGIC_START0, MAGIC_START1, MAGIC_END):
                raise InputError(f"{where}: bad UF2 magic (0x{m0:08x} 0x{m1:08x} ... 0x{end_magic:08x}); "
                                 f"not a UF2 file or corrupt")
            if flags & FLAG_NOT_MAIN_FLASH:
                continue
            if not flags & FLAG_FAMILY_ID or family != RP2040_FAMILY:
                if len(families) < MAX_FAMILIES_NAMED:
                    families.add(f"0x{family:08x}" if flags & FLAG_FAMILY_ID else "none")
                continue
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
        found = f" (families found: {', '.join(sorted(families))})" if families else ""
        raise InputError(f"{path}: no main-flash blocks for the RP2040 (family ID 0x{RP2040_FAMILY:08x}){found}")
    # With other families in the file, numbering may run over the whole file (the UF2 specification leaves it
    # to the writer), so only an RP2040-only file can be checked for holes.
    if not families and len(seen) != total:
        first = next(n for n in range(total) if n not in seen)  # at most len(seen) steps, whatever total says
        raise InputError(f"{path}: hole: {total - len(seen)} of {total} blocks missing (first: block {first}; "
                         f"the file holds {file_blocks})")
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
