"""Read a firmware ELF with pyelftools into a `Program`: what to load where, its symbols and sections.

Only 32-bit little-endian ARM executables are accepted, and every loadable byte must land in flash or SRAM.
"""

from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.constants import SH_FLAGS
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from m0sim import memmap
from m0sim.errors import InputError, M0simError
from m0sim.program import Program, Section, Segment, Symbol

ELF32_HEADER = 52  # bytes of an ELF32 file header


def _open(path: Path):
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    with open(path, "rb") as fh:
        head = fh.read(ELF32_HEADER)
    if head[:4] != b"\x7fELF":
        raise InputError(f"{path}: not an ELF file (bad magic {head[:4]!r})")
    if len(head) < ELF32_HEADER:
        raise InputError(f"{path}: truncated ELF header ({len(head)} bytes, an ELF32 header has {ELF32_HEADER})")
    if head[4] != 1:
        raise InputError(f"{path}: 64-bit ELF; the RP2040 needs a 32-bit ARM executable")
    if head[5] != 1:
        raise InputError(f"{path}: big-endian ELF; the RP2040 needs a little-endian ARM executable")
    machine = int.from_bytes(head[18:20], "little")
    if machine != 40:  # EM_ARM
        raise InputError(f"{path}: ELF for machine {machine}, not ARM (40)")


def _flag_letters(sh_flags: int) -> str:
    return ("a" if sh_flags & SH_FLAGS.SHF_ALLOC else "") + ("w" if sh_flags & SH_FLAGS.SHF_WRITE else "") + (
        "x" if sh_flags & SH_FLAGS.SHF_EXECINSTR else "")


def load_elf(path) -> Program:
    """A Program from a 32-bit little-endian ARM executable."""
    path = Path(path)
    _open(path)
    try:
        with open(path, "rb") as fh:
            elf = ELFFile(fh)
            if elf["e_type"] != "ET_EXEC":
                raise InputError(f"{path}: ELF type {elf['e_type']}, expected an executable (ET_EXEC)")
            segments = _segments(path, elf)
            sections = [Section(s.name, s["sh_addr"], s["sh_size"], _flag_letters(s["sh_flags"]),
                                s["sh_type"] == "SHT_NOBITS") for s in elf.iter_sections() if s.name]
            symbols, mapping = _symbols(path, elf)
            code_ranges = _code_ranges(sections, mapping) or _segment_code_ranges(segments)
            entry = elf["e_entry"] & ~1
    except M0simError:
        raise
    except ELFError as exc:
        raise InputError(f"{path}: corrupt ELF ({exc})") from None
    except OSError as exc:
        raise InputError(f"{path}: unreadable ELF ({exc})") from None
    except Exception as exc:  # pyelftools raises many types on a corrupt header or table; all mean the same
        raise InputError(f"{path}: corrupt ELF ({type(exc).__name__}: {exc})") from None
    # At one address the last function wins (messages, profile): a strong symbol over its weak aliases.
    funcs = sorted((s for s in symbols.values() if s.kind == "func"), key=lambda s: (s.addr, not s.weak))
    starts = [f.addr for f in funcs]
    code_end = lambda a: next((hi for lo, hi in code_ranges if lo <= a < hi), a + 2)
    ends = [f.addr + f.size if f.size else min(starts[i + 1] if i + 1 < len(funcs) else 2**32, code_end(f.addr))
            for i, f in enumerate(funcs)]
    return Program(path, entry, segments, sections, symbols, code_ranges, funcs, starts, ends)


def _segments(path, elf) -> list[Segment]:
    out = []
    for seg in elf.iter_segments():
        if seg["p_type"] != "PT_LOAD" or seg["p_memsz"] == 0:
            continue
        vaddr, paddr, filesz, memsz = seg["p_vaddr"], seg["p_paddr"], seg["p_filesz"], seg["p_memsz"]
        if filesz > memsz:
            raise InputError(f"{path}: segment at 0x{vaddr:08x} has more bytes in the file ({filesz}) than in "
                             f"memory ({memsz})")
        for where, addr, size in (("run", vaddr, memsz), ("load", paddr, filesz)):
            if size and not any(r.contains(addr, size) for r in memmap.LOADABLE):
                raise InputError(
                    f"{path}: segment at 0x{addr:08x}..0x{addr + size:08x} ({where} address) lies outside "
                    f"flash (0x{memmap.XIP.base:08x}, {memmap.XIP.size // 1024} KB) and SRAM "
                    f"(0x{memmap.SRAM.base:08x}, {memmap.SRAM.size // 1024} KB)")
        data = seg.data()
        if len(data) != filesz:
            raise InputError(f"{path}: truncated segment at 0x{vaddr:08x}")
        out.append(Segment(vaddr, paddr, data, memsz, bool(seg["p_flags"] & 1)))
    if not out:
        raise InputError(f"{path}: no loadable segments")
    _check_overlaps(path, out)
    return out


def _check_overlaps(path, segments):
    """Every byte of the image has one owner: two segments (or a segment's run and load copies) never overlap."""
    spans = []
    for seg in segments:
        spans.append((seg.vaddr, seg.vaddr + seg.memsz, f"segment at 0x{seg.vaddr:08x}"))
        if seg.paddr != seg.vaddr and seg.data:
            spans.append((seg.paddr, seg.paddr + len(seg.data), f"load image of segment 0x{seg.vaddr:08x}"))
    spans.sort()
    for (lo_a, hi_a, a), (lo_b, hi_b, b) in zip(spans, spans[1:]):
        if lo_b < hi_a:
            raise InputError(f"{path}: {a} (0x{lo_a:08x}..0x{hi_a:08x}) overlaps {b} (0x{lo_b:08x}..0x{hi_b:08x})")


def _segment_code_ranges(segments) -> list[tuple[int, int]]:
    """Without section headers, the executable segments are the code (no literal pools known)."""
    return [(s.vaddr, s.vaddr + len(s.data)) for s in segments if s.executable and s.data]


def _symbols(path, elf):
    symbols, mapping = {}, []
    symtab = elf.get_section_by_name(".symtab")
    if symtab is None:
        return symbols, mapping
    if not isinstance(symtab, SymbolTableSection):
        raise InputError(f"{path}: section .symtab has type {symtab['sh_type']}, not a symbol table")
    for sym in symtab.iter_symbols():
        name, value = sym.name, sym["st_value"]
        if not name or sym["st_shndx"] == "SHN_UNDEF":
            continue
        if name in ("$t", "$d", "$a") or name.startswith(("$t.", "$d.")):
            mapping.append((value, name[1]))
            continue
        stype = sym["st_info"]["type"]
        kind = {"STT_FUNC": "func", "STT_OBJECT": "object"}.get(stype, "other")
        addr = value & ~1 if kind == "func" else value
        if name not in symbols or kind != "other":
            symbols[name] = Symbol(name, addr, sym["st_size"], kind, sym["st_info"]["bind"] == "STB_WEAK")
    return symbols, sorted(mapping)


def _code_ranges(sections, mapping) -> list[tuple[int, int]]:
    """Thumb instruction ranges, from $t/$d mapping symbols; literal pools ($d) are excluded.

    Executable sections count as code unless marked otherwise; other sections only where a $t says so
    (functions placed in RAM).
    """
    ranges = []
    for sec in sections:
        if "a" not in sec.flags or sec.size == 0 or sec.nobits:
            continue
        lo, hi = sec.addr, sec.addr + sec.size
        marks = [(a, k) for a, k in mapping if lo <= a < hi]
        if not marks or marks[0][0] != lo:
            marks.insert(0, (lo, "t" if "x" in sec.flags else "d"))
        for (a, k), nxt in zip(marks, marks[1:] + [(hi, None)]):
            if k == "t" and nxt[0] > a:
                ranges.append((a, nxt[0]))
    merged = []
    for a, b in sorted(ranges):
        if merged and merged[-1][1] >= a:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return merged
