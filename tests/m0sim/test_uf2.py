"""UF2: `m0sim cc -o x.uf2` writes RP2040 blocks; `m0sim exec x.uf2` runs them exactly as the ELF runs."""

import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from m0sim import uf2
from m0sim.loader import load_program
from test_bad_input import INPUT, assert_one_line_error

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args):
    """The real command line in a subprocess (as the `cli` fixture, usable from module-scoped fixtures)."""
    return subprocess.run([sys.executable, "-m", "m0sim", *map(str, args)], capture_output=True, text=True,
                          cwd=REPO)


PROGRAM = r"""
#include <stdio.h>
static int square(int x) { return x * x; }
static int (*const table[3])(int) = {square, square, square};
int main(void) {
    int s = 0;
    for (int i = 0; i < 40; i++) {
        switch (i % 7) {  /* a switch gcc turns into a table the UF2 reader cannot follow by control flow */
        case 0: s += table[i % 3](i); break;
        case 1: s ^= i; break;
        case 2: s -= 3; break;
        case 3: s += i << 2; break;
        case 4: s |= 1; break;
        case 5: s *= 3; break;
        default: s += 7;
        }
    }
    printf("s = %d\n", s);
    return s & 0x3f;
}
"""

STATS = re.compile(r"([\d,]+) instructions, ([\d,]+) cycles.*?([\d,]+) taken branches, XIP ([\d,]+) hits / "
                   r"([\d,]+) misses")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    d = tmp_path_factory.mktemp("uf2")
    (d / "prog.c").write_text(PROGRAM)
    for out in ("prog.elf", "prog.uf2"):
        proc = run_cli("cc", d / "prog.c", "-o", d / out)
        assert proc.returncode == 0, proc.stderr
    return d


def test_uf2_blocks_are_what_the_bootrom_expects(built):
    raw = (built / "prog.uf2").read_bytes()
    assert len(raw) % 512 == 0
    n = len(raw) // 512
    image = {}
    for i in range(n):
        block = raw[512 * i:512 * (i + 1)]
        m0, m1, flags, addr, size, number, count, family = struct.unpack_from("<8I", block)
        assert (m0, m1, struct.unpack_from("<I", block, 508)[0]) == (0x0A324655, 0x9E5D5157, 0x0AB16F30)
        assert flags == 0x2000 and family == 0xE48BFF56
        assert size == 256 and addr % 256 == 0 and (number, count) == (i, n)
        image[addr] = block[32:288]
    program = load_program(built / "prog.elf")
    for seg in program.segments:  # every byte of the ELF's flash image is in the blocks, at its load address
        for off in range(0, len(seg.data), 97):
            a = seg.paddr + off
            assert image[a & ~255][a & 255] == seg.data[off]


def test_round_trip_gives_the_same_output_and_counts(built, cli):
    elf = cli("exec", "--stats", built / "prog.elf")
    u = cli("exec", "--stats", built / "prog.uf2")
    assert elf.returncode == u.returncode != 0
    assert elf.stdout == u.stdout and elf.stdout.startswith("s = ")
    assert STATS.search(elf.stderr).groups() == STATS.search(u.stderr).groups()


def test_boot2_crc_is_the_bootroms():
    assert uf2._crc32_msb(b"123456789") == 0x0376E6E7  # the CRC-32/MPEG-2 check value
    boot2 = bytes(range(252))
    image = boot2 + uf2._crc32_msb(boot2).to_bytes(4, "little")
    assert uf2.has_boot2(image)
    assert not uf2.has_boot2(image[:255] + b"\0")


def _blocks(path):
    raw = path.read_bytes()
    return [bytearray(raw[i:i + 512]) for i in range(0, len(raw), 512)]


def _save(tmp_path, blocks, name="bad.uf2"):
    p = tmp_path / name
    p.write_bytes(b"".join(blocks))
    return p


def test_bad_magic(built, cli, tmp_path):
    blocks = _blocks(built / "prog.uf2")
    blocks[1][0:4] = b"JUNK"
    assert_one_line_error(cli("exec", _save(tmp_path, blocks)), INPUT, "bad.uf2", "block 1", "bad UF2 magic")


def test_no_rp2040_blocks_names_the_families_found(built, cli, tmp_path):
    blocks = _blocks(built / "prog.uf2")
    for b in blocks:
        struct.pack_into("<I", b, 28, 0x68ED2B88)  # another chip's family ID
    assert_one_line_error(cli("exec", _save(tmp_path, blocks)), INPUT, "no main-flash blocks for the RP2040",
                          "0xe48bff56", "families found: 0x68ed2b88")


def test_other_families_blocks_are_skipped(built, cli, tmp_path):
    """A UF2 may carry images for several chips: the UF2 specification has a device skip blocks of families
    it does not know, so the RP2040's blocks run as they would alone."""
    blocks = _blocks(built / "prog.uf2")
    mixed = []
    for b in blocks:
        other = bytearray(b)
        struct.pack_into("<I", other, 28, 0xE48BFF59)  # the RP2350's family (ARM-S)
        other[32:288] = b"\xff" * 256
        mixed += [other, b]
    u = cli("exec", "--stats", _save(tmp_path, mixed, "mixed.uf2"))
    alone = cli("exec", "--stats", built / "prog.uf2")
    assert u.returncode == alone.returncode != 0, u.stderr
    assert u.stdout == alone.stdout and STATS.search(u.stderr).groups() == STATS.search(alone.stderr).groups()


@pytest.mark.parametrize("count", [0xFFFFFFFF, 1 << 24])
def test_block_count_field_is_bounded_by_the_file(built, cli, tmp_path, count):
    """The count field drives nothing: claiming 4 G blocks in a few-KB file is one line, exit 2 (it was a
    MemoryError at 2.3 GB)."""
    blocks = _blocks(built / "prog.uf2")
    for b in blocks:
        struct.pack_into("<I", b, 24, count)
    assert_one_line_error(cli("info", _save(tmp_path, blocks)), INPUT, "bad.uf2", f"of {count} blocks missing",
                          f"the file holds {len(blocks)}")


def scattered_pointer_uf2(path, pages: int, seed: int = 0):
    """A UF2 of `pages` pages scattered over flash (no two adjacent), every word an odd pointer into one of
    them: the worst case for code discovery, which follows every such word."""
    import random
    rng = random.Random(seed)
    addrs = sorted(rng.sample(range(0x10000000 + 512, 0x10200000, 512), pages - 1))
    addrs = [0x10000000] + addrs
    blocks = []
    for n, addr in enumerate(addrs):
        words = [rng.choice(addrs) + 4 * rng.randrange(64) + 1 for _ in range(64)]
        if n == 0:
            words[0], words[1] = 0x20040000, addrs[1] + 1  # initial SP, reset vector
        payload = struct.pack("<64I", *words)
        head = struct.pack("<8I", 0x0A324655, 0x9E5D5157, 0x2000, addr, 256, n, pages, 0xE48BFF56)
        blocks.append(head + payload.ljust(476, b"\0") + struct.pack("<I", 0x0AB16F30))
    path.write_bytes(b"".join(blocks))
    return path


def test_code_discovery_is_linear_in_the_image(tmp_path, monkeypatch):
    """Scattered pages full of pointer-like words took `m0sim info` 469 s of CPU (every lookup scanned every
    page, every walk decoded again what others had refused): now each halfword is decoded at most once."""
    from m0sim import uf2code
    made = []
    real = uf2code._Image

    class Counting(real):
        def __init__(self, segments):
            super().__init__(segments)
            made.append(self)
    monkeypatch.setattr(uf2code, "_Image", Counting)
    pages = 1200
    program = uf2code.load_uf2(scattered_pointer_uf2(tmp_path / "ptrs.uf2", pages))
    assert program.code_ranges
    halfwords = pages * 256 // 2
    assert 0 < made[0].decodes <= halfwords


def test_hole(built, cli, tmp_path):
    blocks = _blocks(built / "prog.uf2")
    del blocks[2]
    assert_one_line_error(cli("exec", _save(tmp_path, blocks)), INPUT, "hole", "block 2")


def test_overlapping_blocks(built, cli, tmp_path):
    blocks = _blocks(built / "prog.uf2")
    struct.pack_into("<I", blocks[3], 12, struct.unpack_from("<I", blocks[2], 12)[0])  # same target address
    assert_one_line_error(cli("exec", _save(tmp_path, blocks)), INPUT, "block 3", "overlaps")


def test_not_whole_blocks(built, cli, tmp_path):
    p = tmp_path / "short.uf2"
    p.write_bytes((built / "prog.uf2").read_bytes()[:700])
    assert_one_line_error(cli("exec", p), INPUT, "short.uf2", "512-byte")
