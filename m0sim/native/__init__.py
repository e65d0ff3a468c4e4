"""Build and load the native counting callbacks (counter.c) and share their state with Python through ctypes.

The state layout is defined once, here, as ctypes fields; the C header is generated from it.  The shared
library is compiled with the host C compiler on first use and cached (m0sim.cache) by a hash of its sources;
the cached file carries its own length and SHA-256, checked before it is loaded.
"""

import ctypes
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from m0sim import cache, cachefile, memmap, timing
from m0sim.peripherals.ppb import SYSTICK
from m0sim.registers import EXC_RETURN_HANDLER, EXC_RETURN_THREAD_MSP, EXCP_EXCEPTION_EXIT, XPSR_ALIGN, XPSR_T
from m0sim.errors import M0simError

XIP_SET_BITS = 10  # 1024 sets x 2 ways x 8-byte lines = 16 KB
assert (1 << XIP_SET_BITS) * timing.XIP_CACHE_WAYS * timing.XIP_LINE_BYTES == timing.XIP_CACHE_BYTES

STOP_REASONS = {1: "budget", 2: "armv7", 3: "undecoded", 4: "flash write", 5: "unaligned", 6: "rom write",
                7: "decode", 8: "code write"}
XLOG = 512  # XIP accesses one block's settle can undo (more: the block's own are all kept, see counter.c)
CODE_PAGE_BITS = 12  # SRAM pages holding decoded code, whose stores are checked (>= Unicorn's 1 KB ARM page)
SRAM_CODE_PAGES = memmap.SRAM.size >> CODE_PAGE_BITS
# A second virtual address of flash and SRAM code (address + SHADOW_DELTA, in space the RP2040 leaves empty), mapped
# by m0sim_tlb_fill onto the same physical bytes only while `shadow_stop` is set: Unicorn translates the code anew
# there, with a permanent native hook before every instruction, so a run can stop at any instruction boundary
# without a hook added to (and a retranslation of) the real code (m0sim.exceptions, interrupts inside a block).
SHADOW_DELTA = 0x7000_0000
SHADOW_LO, SHADOW_SIZE = SHADOW_DELTA + memmap.XIP.base, memmap.SRAM.end - memmap.XIP.base


def in_shadow(addr: int) -> bool:
    return SHADOW_LO <= addr < SHADOW_LO + SHADOW_SIZE


# The trap: one BKPT the native callbacks send the core to (m0sim_tlb_fill maps this address, for instruction
# fetches only, onto a page past the 32-bit space) to hand an interrupt's moment to Python without leaving
# emu_start: the interrupt hook sees a BKPT at TRAP_ADDR, and `trap_kind` says why (see m0sim.exceptions).
TRAP_ADDR, TRAP_PHYS, TRAP_INSN = 0xF000_0000, 2 << 32, b"\xe5\xbe"  # BKPT #0xE5
TRAP_BUDGET, TRAP_SHADOW = 1, 2  # the event's cycle reached at a block start; a shadow run at its stop
FAULT_REGS = 16  # r0-r12, sp, lr, pc: at an unaligned access, for the fault report
CONSTANTS = {"TAKEN_EXTRA": timing.TAKEN_EXTRA, "STOP_BUDGET": 1, "STOP_ARMV7": 2, "STOP_UNDECODED": 3,
             "STOP_FLASH_WRITE": 4, "STOP_UNALIGNED": 5, "STOP_ROM_WRITE": 6,
             "STOP_DECODE": 7, "STOP_CODE_WRITE": 8,
             "SRAM_BASE": memmap.SRAM.base, "SRAM_SIZE": memmap.SRAM.size, "CODE_PAGE_BITS": CODE_PAGE_BITS,
             "FAULT_REGS": FAULT_REGS, "XIP_SET_BITS": XIP_SET_BITS, "XIP_SETS": 1 << XIP_SET_BITS,
             "FLASH_SIZE": memmap.FLASH_SIZE, "XLOG": XLOG,
             "SHADOW_LO": SHADOW_LO, "SHADOW_SIZE": SHADOW_SIZE, "SHADOW_DELTA": SHADOW_DELTA,
             "TRAP_ADDR": f"{TRAP_ADDR}u", "TRAP_PHYS": f"{TRAP_PHYS}ull", "TRAP_BUDGET": TRAP_BUDGET,
             "TRAP_SHADOW": TRAP_SHADOW, "EXCP_EXCEPTION_EXIT": EXCP_EXCEPTION_EXIT,
             "SYSTICK": SYSTICK, "XIP_BASE": memmap.XIP.base,
             "XPSR_T_BIT": f"{XPSR_T}u", "XPSR_ALIGN_BIT": f"{XPSR_ALIGN}u",
             "EXC_RETURN_HANDLER": f"{EXC_RETURN_HANDLER}u", "EXC_RETURN_THREAD_MSP": f"{EXC_RETURN_THREAD_MSP}u"}

STATUS_REGS = ("XPSR", "IPSR", "APSR_NZCV", "PRIMASK", "CONTROL")  # the special registers counter.c reads
u32, u64 = ctypes.c_uint32, ctypes.c_uint64
STATE_FIELDS = [
    # decoded code windows (0: flash, 1: SRAM) and their per-halfword tables (addresses of numpy arrays)
    ("lo", u32 * 2), ("hi", u32 * 2),
    ("cycles_prefix", u64 * 2), ("insns_prefix", u64 * 2), ("bad_prefix", u64 * 2), ("condbr_end", u64 * 2),
    ("blocks", u64 * 2),  # block_t per halfword slot (see counter.c)
    ("literal_prefix", u64 * 2), ("literals", u64 * 2),  # PC-relative literal addresses, by slot
    ("enter", u64 * 2), ("leave", u64 * 2), ("taken_at", u64 * 2), ("stall_at", u64 * 2),
    ("fetch_through_xip", u32 * 2),
    # running counters
    ("insns", u64), ("cycles", u64), ("taken", u64), ("xip_hits", u64), ("xip_misses", u64),
    ("prev_end", u32), ("cur_window", u32), ("cur_slot", u32),
    ("prev_block", u64),  # the previous block's entry (its condbr says whether it can have been taken), or 0
    ("xip_data_reads", u64),
    ("xip_changes", u64),  # bumped whenever the XIP cache's tags or LRU bits change (starts at 1)
    ("insn_budget", u64), ("cycle_budget", u64), ("stop_reason", u32), ("stop_addr", u32),
    # configuration
    ("xip_miss_penalty", u32), ("emu_stop", u64), ("flash_image", u64),
    # uc_reg_read/uc_reg_write and the ids of r0-r12, sp, lr, pc (m0sim_align_sp clears SP's bits [1:0]);
    # an unaligned access (m0sim.exceptions fills them when the core faults): size, whether a store, registers
    ("reg_read", u64), ("reg_write", u64), ("reg_ids", u32 * FAULT_REGS), ("fault_regs", u64 * FAULT_REGS),
    ("fault_size", u32), ("fault_write", u32),
    ("ro_lo", u32 * 2), ("ro_hi", u32 * 2), ("ro_trap", u64 * 2),  # read-only ranges, where their stores go
    # code in SRAM: per window, 1 for each halfword inside decoded instructions; SRAM pages holding such code
    # (their stores go through sram_trap, which notes changed code in [code_dirty_lo, code_dirty_hi))
    ("known", u64 * 2), ("sram_code_pages", u32 * ((SRAM_CODE_PAGES + 31) // 32)), ("sram_image", u64),
    ("sram_trap", u64), ("code_dirty_lo", u32), ("code_dirty_hi", u32),
    ("code_write_insns", u64),  # the instruction count at the last such store (was a block charged after it?)
    ("xip_tags", u32 * (2 << XIP_SET_BITS)), ("xip_lru", u32 * (1 << XIP_SET_BITS)),
    ("xip_hit_debt", u64),  # hits counted twice by a stop inside a block, taken back once counted
    ("shadow_stop", u32),  # while a shadow run is on: the shadow address of the instruction to stop before
    ("shadow_trap", u32),  # 1: a shadow run ends at the trap (TRAP_SHADOW) instead of stopping emu_start
    ("shadow_literals", u32),  # the shadow run m0sim_boundary chose loads PC-relative literals
    # what m0sim.exceptions tells the native counter so that it can start the run to an event's boundary itself:
    # the event's cycle, the real cycle budget, whether no exception is ready, and per window a byte per halfword,
    # 1 where a shadow run may cover the instruction (see Exceptions._shadow_can_run); and the XIP stall the
    # native give_back of the block at trap_pc took back (TRAP_BUDGET)
    ("event_cycle", u64), ("real_cycle_budget", u64), ("none_ready", u32), ("shadow_ok", u64 * 2),
    ("trap_stall", ctypes.c_int64),
    # exceptions taken and returned from without Python (SysTick's tick into thread mode with nothing else
    # pending, counter.c's native_take; a return after which nothing can be pending, m0sim_intr): allowed, the
    # nesting depth, whether any exception is pending, whether the TIMER is quiet (nothing armed or raised), the
    # entries and returns not yet seen by m0sim.exceptions (which brings its stack and counts up to date), the
    # Python interrupt hook everything else goes to, the cycles an entry and a return cost, SysTick's next tick,
    # the cycle its counter last started from and its period (0: no interrupt), VTOR
    ("native_exceptions", u32), ("active_depth", u32), ("any_pending", u32), ("timer_quiet", u32),
    ("native_returns", u32), ("native_entries", u32), ("python_intr", u64), ("entry_cycles", u32),
    ("exit_cycles", u32), ("tick_cycle", u64), ("tick_start", u64), ("tick_period", u64), ("vtor", u32),
    ("status_ids", ctypes.c_int32 * len(STATUS_REGS)),  # Unicorn's ids of STATUS_REGS, in that order
    ("trap_primask", u32),  # PRIMASK when the core went to the trap
    ("trap_event", u32),  # 1: the cycle budget is an event's cycle, reaching it goes to the trap (TRAP_BUDGET)
    ("trap_kind", u32), ("trap_pc", u32),  # why the core is at the trap, and the real address it left
    ("given_back_insns", u64), ("given_back_pc", u32), ("given_back_valid", u32),  # m0sim_give_back's last
    # the XIP accesses of the block charged last (its fetches, then its flash data reads), each with the state of
    # its set before it: a stop inside the block undoes those of the part that has not run (m0sim_settle)
    ("xlog_n", u32), ("xlog_insns", u64), ("xlog_addr", u32 * XLOG), ("xlog_tags", u32 * (2 * XLOG)),
    ("xlog_lru", u32 * XLOG), ("xlog_miss", ctypes.c_uint8 * XLOG),
]


class CounterState(ctypes.Structure):
    _fields_ = STATE_FIELDS


class BlockEntry(ctypes.Structure):
    """What a block starting at one halfword slot costs (a cache the C side fills on first execution)."""

    _fields_ = [("count", u64),  # 64-bit like every counter here: none wraps in a long run
                ("size", ctypes.c_uint16), ("condbr", ctypes.c_uint8), ("bad", ctypes.c_uint8),
                ("insns", u32), ("cycles", u32), ("xip_accesses", ctypes.c_uint16), ("xip_replayable", ctypes.c_uint8),
                ("pad", ctypes.c_uint8),
                ("taken", u64),  # times its final conditional branch was taken
                ("xip_stamp", u64)]


class FlashView(ctypes.Structure):
    """User data of one MMIO-mapped flash range (or read-only trap): the state to charge, the range's base
    address, and the stop reason a store to it gives."""

    _fields_ = [("state", u64), ("base", u32), ("write_stop", u32)]


def _c_type(ctype) -> tuple[str, str]:
    if issubclass(ctype, ctypes.Array):
        base, _ = _c_type(ctype._type_)
        return base, f"[{ctype._length_}]"
    return {ctypes.c_uint8: "uint8_t", ctypes.c_uint16: "uint16_t", ctypes.c_uint32: "uint32_t",
            ctypes.c_uint64: "uint64_t", ctypes.c_int64: "int64_t", ctypes.c_int32: "int32_t"}[ctype], ""


def _c_struct(name: str, fields) -> list[str]:
    lines = ["typedef struct {"]
    for field, ctype in fields:
        base, dims = _c_type(ctype)
        lines.append(f"    {base} {field}{dims};")
    return lines + [f"}} {name};"]


def state_header() -> str:
    lines = ["/* Generated from m0sim/native/__init__.py: do not edit. */", "#pragma once", "#include <stdint.h>"]
    lines += [f"#define {k} {v}" for k, v in CONSTANTS.items()]
    lines += _c_struct("counter_state_t", STATE_FIELDS)
    lines += _c_struct("block_t", BlockEntry._fields_)
    lines += _c_struct("flash_view_t", FlashView._fields_)
    return "\n".join(lines) + "\n"


_lib = None

CFLAGS = ("-O2", "-shared", "-fPIC")


def _source() -> str:
    return (Path(__file__).parent / "counter.c").read_text()


def library_path() -> Path:
    """Where this version's compiled callbacks live in the cache (named by a hash of everything they are built
    from; `m0sim cache clean` removes the others)."""
    key = cache.digest(_source(), state_header(), " ".join(CFLAGS), TRAILER_MAGIC)
    return cache.root() / "native" / f"m0sim_counter_{key}.so"


def library() -> ctypes.CDLL:
    """The compiled callbacks, built once per source version (and once per machine, see m0sim.cache)."""
    global _lib
    if _lib is not None:
        return _lib
    source, header, so_path = _source(), state_header(), library_path()
    cachefile.ensure_dir(so_path.parent, "m0sim cache directory ($M0SIM_CACHE)")
    cachefile.refuse_directory(so_path, "native counters library")
    if so_path.exists() and not _intact(so_path):
        print(f"m0sim: {so_path} is damaged (truncated or changed); rebuilding it", file=sys.stderr)
        so_path.unlink(missing_ok=True)
    cache.build_once(so_path, lambda out: _compile(source, header, out))
    if not _intact(so_path):
        raise M0simError(f"{so_path}: the native counters just built do not match their checksum")
    _lib = ctypes.CDLL(str(so_path))
    return _lib


# Appended to the built library: its own length and SHA-256.  dlopen of a truncated or rewritten .so can
# crash the process (SIGBUS), so the file is checked against this trailer before it is ever mapped.
TRAILER_MAGIC = b"M0SIMSO1"
TRAILER = len(TRAILER_MAGIC) + 8 + 32


def _sealed(data: bytes) -> bytes:
    return data + TRAILER_MAGIC + len(data).to_bytes(8, "little") + hashlib.sha256(data).digest()


def _intact(path: Path) -> bool:
    """Whether the cached library is exactly what a build wrote (length and hash in its trailer)."""
    try:
        blob = path.read_bytes()
    except OSError:
        return False
    body, trailer = blob[:-TRAILER], blob[-TRAILER:]
    return (len(blob) > TRAILER and trailer[:8] == TRAILER_MAGIC
            and int.from_bytes(trailer[8:16], "little") == len(body) and trailer[16:] == hashlib.sha256(body).digest())


def _compile(source: str, header: str, out: Path):
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise M0simError("no host C compiler (cc/gcc) found to build m0sim's native counters: install gcc")
    with tempfile.TemporaryDirectory(prefix="m0sim-native-") as tmp:  # the sources only; the output is `out`
        (Path(tmp) / "counter_state.h").write_text(header)
        (Path(tmp) / "counter.c").write_text(source)
        proc = subprocess.run([cc, *CFLAGS, "-o", str(out), str(Path(tmp) / "counter.c")],
                              capture_output=True, text=True)
    if proc.returncode != 0:
        raise M0simError(f"building m0sim's native counters failed:\n{proc.stderr.strip()}")
    out.write_bytes(_sealed(out.read_bytes()))


def in_hook(name: str, argtypes, restype=ctypes.c_int):
    """A function of the library for Python to call from inside a Unicorn hook, keeping the GIL (ctypes.PyDLL):
    a short call that never calls back, for which releasing and taking the GIL again cost more than the call."""
    fn = getattr(ctypes.PyDLL(library()._name), name)
    fn.argtypes, fn.restype = argtypes, restype
    return fn


def callback_address(name: str) -> int:
    return ctypes.cast(getattr(library(), name), ctypes.c_void_p).value
