"""The emulated Pico: a Cortex-M0+ (Unicorn) with the RP2040 memory map, exact native counters and semihosting.

Counting happens in native callbacks (m0sim/native/counter.c) on every translation block and on flash data
reads; Python runs only for semihosting, peripheral registers, sbrk and faults.
"""

import ctypes
import functools
import sys
from dataclasses import dataclass

import numpy as np
import unicorn as uc
from unicorn import arm_const as arm

from m0sim import codechange, faults, interrupt, memmap, native, timing
from m0sim.decode import CodeTable, build_table, disassemble
from m0sim.errors import BudgetExhausted, FirmwareFault, InputError, Interrupted
from m0sim.exceptions import ENTRY_CYCLES, EXIT_CYCLES, Exceptions
from m0sim.exceptions import name as exception_name
from m0sim.loader import load_program
from m0sim.peripherals import Bus, Clocked, default_peripherals
from m0sim.peripherals.ppb import Nvic, Scb
from m0sim.program import Program
from m0sim.registers import EXCP_BKPT, EXCP_UDEF, REG_IDS, REG_NAMES, FastRegs
from m0sim.semihost import ProgramExit, Semihost
from m0sim.stats import FunctionStats, RunStats

PAGE = 4096  # Unicorn's mapping granularity
RETURN_ADDR = memmap.ROM.base + 0x100  # `call` returns here (LR); execution stops on arrival
STACK_PAINT = 0xA5A5A5A5
STACK_GUARD = 64  # bytes above static data/heap: a stack that touches them is reported as an overflow
MAX_CALL_ARGS = 16
NO_LIMIT = 2**63
READ_ONLY_TRAP = 1 << 32  # physical addresses past the CPU's reach: where stores to ROM and code flash land
ARG_REGS = [arm.UC_ARM_REG_R0, arm.UC_ARM_REG_R1, arm.UC_ARM_REG_R2, arm.UC_ARM_REG_R3]
SEMIHOSTING_BKPT = 0xBEAB
MAX_BUDGET = 2**62  # instructions or cycles: the native counters are 64-bit and add the budget to their count
NEWLIB_NO_HEAP_LIMIT = 0xCAFEDEAD  # libgloss's __heap_limit until start-up code sets it


@dataclass
class RunResult:
    exit_code: int
    stats: RunStats


class _Window:
    """One decoded code window and the native arrays that index it (kept alive here)."""

    def __init__(self, table, ranges=()):
        self.table = table
        n = len(table.cycles_prefix)
        self.known = np.zeros(n, np.uint8)  # 1 on each halfword of the decoded ranges (m0sim.codechange)
        self.shadow_ok = np.zeros(n, np.uint8)  # 1 where a shadow run may go (m0sim.exceptions fills it)
        self.shadow_ok_filled = False
        for lo, hi in ranges:
            self.known[(lo - table.base) // 2:(hi + 1 - table.base) // 2] = 1
        self.blocks = np.zeros(n, np.dtype(native.BlockEntry))
        self.enter = np.zeros(n, np.uint64)  # 64-bit, as the native counters: a long run wraps none of them
        self.leave = np.zeros(n, np.uint64)
        self.taken_at = np.zeros(n, np.uint64)
        self.stall_at = np.zeros(n, np.int64)  # WFI sleeps are charged here: longer than 2**31 cycles
        self.function_index = None  # per slot: index into the program's functions (len = none), built once

    def clear(self):
        self.blocks["count"] = 0
        self.blocks["taken"] = 0
        for a in (self.enter, self.leave, self.taken_at, self.stall_at):
            a.fill(0)

    def snapshot(self) -> "_Counts":
        return _Counts(self, self.blocks["count"].copy(), self.blocks["size"].copy(), self.blocks["taken"].copy(),
                       self.enter.copy(), self.leave.copy(), self.taken_at.copy(), self.stall_at.copy())


@dataclass
class _Counts:
    """One run's counters of one window, copied out so the profile can be computed later, only if asked for."""

    window: _Window
    count: np.ndarray  # per slot: executions of the cached block starting there (of size `size`)
    size: np.ndarray
    taken_by_block: np.ndarray
    enter: np.ndarray  # spill arrays (blocks re-translated with another size) and run-time stalls
    leave: np.ndarray
    taken_at: np.ndarray
    stall_at: np.ndarray

    def any(self) -> bool:
        return bool(self.enter.any() or self.count.any())

    def executions(self) -> np.ndarray:
        """How many times each halfword slot's instruction ran: block entries minus exits, accumulated."""
        enter = self.enter.astype(np.int64)
        leave = self.leave.astype(np.int64)
        started = np.flatnonzero(self.count)
        counts = self.count[started].astype(np.int64)
        np.add.at(enter, started, counts)
        np.add.at(leave, started + self.size[started] // 2, counts)
        return np.cumsum(enter - leave)[:-1]

    def taken(self) -> np.ndarray:
        """Taken conditional branches by slot just past the branch: the spill array plus the block entries."""
        taken = self.taken_at.astype(np.int64)
        started = np.flatnonzero(self.taken_by_block)
        np.add.at(taken, started + self.size[started] // 2, self.taken_by_block[started])
        return taken

    def entries(self, slot: int) -> int:
        return int(self.enter[slot]) + int(self.count[slot])


class Machine:
    """An RP2040 with one program loaded. Create with `Machine(path_or_program)`."""

    debugger = None  # an m0sim.gdbstub.Debugger runs the program in pieces under GDB's control

    def __init__(self, program, *, clock_hz: int = memmap.CLOCK_HZ, xip_miss_penalty: int = timing.XIP_MISS_PENALTY,
                 stdout=None, stderr=None, stdin: bytes = b"", warn=None, counting: bool = True,
                 alignment_faults: bool = True, memory_of: "Machine | None" = None):
        self.program: Program = program if isinstance(program, Program) else load_program(program)
        self._memory_owner = memory_of  # another core whose flash and SRAM this one maps (m0sim.soc), or None
        if not isinstance(clock_hz, (int, np.integer)) or not 1_000_000 <= clock_hz <= 1_000_000_000:
            raise InputError(f"clock_hz must be an integer from 1 MHz to 1000 MHz, got {clock_hz!r}")
        self._layout = self._memory_layout()
        self.clock = timing.Clock(clock_hz)
        self.uc = unicorn_engine(alignment_faults)
        self.uc.ctl_set_tlb_mode(uc.UC_TLB_VIRTUAL)  # filled by m0sim_tlb_fill (see counter.c): fast stores
        self._fault = None
        self._exit_code = None
        self._write_out = stdout or _stream_writer(sys.stdout)
        self._write_err = stderr or _stream_writer(sys.stderr)
        self._state = native.CounterState()
        self._counting = counting
        self._windows = [None, None]  # decoded code: flash, SRAM (set up after loading)
        self._map_memory()
        if memory_of is None:
            self._load()
        self._setup_counters(xip_miss_penalty)
        self.bus = Bus(default_peripherals(Clocked(self.cycles, clock_hz)), warn=warn)
        self._setup_hooks()
        self.exceptions = Exceptions(self)
        self.bus.attach(Nvic(self.exceptions), Scb(self.exceptions))
        self.semihost = Semihost(self._read_bytes, self._write_bytes, self.cycles, clock_hz, self._write_out,
                                 self._write_err, stdin, self._heapinfo(), cmdline=self.program.path.name)
        self._brk = 0  # bytes handed out by sbrk so far
        self._brk_max = 0

    # --- construction ------------------------------------------------------------------------------------
    def _map_memory(self):
        """ROM and SRAM as RAM; flash as one buffer: pages holding code are RAM-backed (executable, literal
        loads charged from the decode), pages holding only data are MMIO served by a native callback that
        charges the XIP cache, so loads from SRAM never leave Unicorn's fast path. SRAM is a numpy array Unicorn
        shares (the stack paint and scan work on it in place); which pages may be written or executed is decided
        by the native TLB fill (counter.c), which keeps stores on Unicorn's fast path too."""
        r = uc.UC_PROT_READ | uc.UC_PROT_EXEC
        self.uc.mem_map(memmap.ROM.base, memmap.ROM.size, r)
        owner = self._memory_owner
        self._flash = np.zeros(memmap.FLASH_SIZE, np.uint8) if owner is None else owner._flash
        self._flash32 = self._flash.view("<u4")
        flash_code = [(a, b) for a, b in self.program.code_ranges if memmap.XIP.contains(a, b - a)]
        code_end = memmap.XIP.base + ((flash_code[-1][1] - memmap.XIP.base + PAGE - 1) // PAGE * PAGE
                                      if flash_code else 0)
        if not self._counting:  # plain Unicorn, the reference for speed comparisons: all flash is RAM
            code_end = memmap.XIP.end
        self._flash_code_end = code_end
        if code_end > memmap.XIP.base:
            self.uc.mem_map_ptr(memmap.XIP.base, code_end - memmap.XIP.base, r, self._flash.ctypes.data)
        self._flash_views = []
        read_cb = ctypes.c_void_p(native.callback_address("m0sim_flash_data_read"))
        write_cb = ctypes.c_void_p(native.callback_address("m0sim_flash_data_write"))
        for base, end in ((code_end, memmap.XIP.end), *((a.base, a.end) for a in memmap.XIP_ALIASES)):
            if end <= base:
                continue
            self._map_flash_view(base, base, end - base, read_cb, write_cb, native.CONSTANTS["STOP_FLASH_WRITE"])
        # Read-only memory the TLB sends stores to (see m0sim_tlb_fill): ROM, and the flash pages holding code.
        s = self._state
        for k, (lo, hi, stop) in enumerate(((memmap.ROM.base, memmap.ROM.end, "STOP_ROM_WRITE"),
                                            (memmap.XIP.base, code_end, "STOP_FLASH_WRITE"))):
            s.ro_lo[k], s.ro_hi[k], s.ro_trap[k] = lo, hi, READ_ONLY_TRAP + (k << 28)
            if hi > lo:
                self._map_flash_view(s.ro_trap[k], lo, hi - lo, read_cb, write_cb, native.CONSTANTS[stop])
        # shared with Unicorn (the stack paint and scan work in place), and with the other core's Unicorn
        self._sram = np.zeros(memmap.SRAM.size // 4, np.uint32) if owner is None else owner._sram
        self.uc.mem_map_ptr(memmap.SRAM.base, memmap.SRAM.size, uc.UC_PROT_ALL, self._sram.ctypes.data)
        # Stores to SRAM pages holding decoded code land here (see m0sim_tlb_fill and m0sim.codechange).
        s.sram_image, s.sram_trap = self._sram.ctypes.data, READ_ONLY_TRAP + (2 << 28)
        self._map_flash_view(s.sram_trap, memmap.SRAM.base, memmap.SRAM.size,
                             ctypes.c_void_p(native.callback_address("m0sim_sram_code_read")),
                             ctypes.c_void_p(native.callback_address("m0sim_sram_code_write")), 0)
        for region in memmap.MMIO_REGIONS:
            self.uc.mmio_map(region.base, region.size, self._mmio_read, region, self._mmio_write, region)
        self.uc.mem_map(native.TRAP_PHYS, PAGE, uc.UC_PROT_READ | uc.UC_PROT_EXEC)  # fetched from TRAP_ADDR only
        self.uc.mem_write(native.TRAP_PHYS, native.TRAP_INSN)

    def _map_flash_view(self, at, base, size, read_cb, write_cb, write_stop):
        view = native.FlashView(ctypes.addressof(self._state), base, write_stop)
        self._flash_views.append(view)
        err = uc.unicorn_py3.unicorn.uclib.uc_mmio_map(
            self.uc._uch, ctypes.c_uint64(at), ctypes.c_size_t(size), read_cb, ctypes.c_void_p(ctypes.addressof(view)),
            write_cb, ctypes.c_void_p(ctypes.addressof(view)))
        if err != uc.UC_ERR_OK:
            raise RuntimeError(f"uc_mmio_map(flash 0x{base:08x} at 0x{at:x}) failed: {err}")

    def _load(self):
        for seg in self.program.segments:
            if seg.data:
                self._write_bytes(seg.paddr, seg.data)
                if seg.vaddr != seg.paddr:  # .data: also where it runs, as a debugger would load it
                    self._write_bytes(seg.vaddr, seg.data)

    def code_window(self, lo: int, hi: int, ranges) -> _Window:
        """A window over [lo, hi) decoding `ranges` (sorted, absolute, inside it) of the memory as it is now."""
        if not ranges:
            return _Window(build_table(b"\0\0", lo, []))
        return _Window(build_table(self._read_bytes(lo, hi - lo), lo, ranges), ranges)

    def install_window(self, w: int, win: _Window):
        """Point the native counter at window w's tables (at start, and when m0sim.codechange redecodes)."""
        s, t = self._state, win.table
        self._windows[w] = win
        s.lo[w], s.hi[w] = t.base, t.end if len(t.cycles_prefix) > 1 else t.base
        s.cycles_prefix[w] = t.cycles_prefix.ctypes.data
        s.insns_prefix[w] = t.insns_prefix.ctypes.data
        s.bad_prefix[w] = t.bad_prefix.ctypes.data
        s.condbr_end[w] = t.condbr_end.ctypes.data
        s.literal_prefix[w], s.literals[w] = t.literal_prefix.ctypes.data, t.literals.ctypes.data
        s.blocks[w] = win.blocks.ctypes.data
        s.enter[w], s.leave[w] = win.enter.ctypes.data, win.leave.ctypes.data
        s.taken_at[w], s.stall_at[w] = win.taken_at.ctypes.data, win.stall_at.ctypes.data
        s.known[w] = win.known.ctypes.data
        s.shadow_ok[w] = win.shadow_ok.ctypes.data
        for a in win.table.sp_writes:  # SP[1:0] ignored on writes: see m0sim.decode.writes_sp_from_register
            if a not in self._sp_hooks:
                self._sp_hooks.add(a)
                self._native_hook(uc.UC_HOOK_CODE, "m0sim_align_sp", a, a)

    def _setup_counters(self, xip_miss_penalty):
        s = self._state
        self._sp_hooks = set()
        self._native_hooks = []
        for w, region in enumerate((memmap.XIP, memmap.SRAM)):
            ranges = [(a, b) for a, b in self.program.code_ranges if region.contains(a, b - a)]
            lo, hi = (ranges[0][0] & ~1, (ranges[-1][1] + 1) & ~1) if ranges else (region.base, region.base + 2)
            self.install_window(w, self.code_window(lo, hi, ranges))
        codechange.watch_pages(self, self._windows[1])
        s.fetch_through_xip[0] = 1
        s.xip_miss_penalty = xip_miss_penalty
        s.emu_stop = ctypes.cast(uc.unicorn_py3.unicorn.uclib.uc_emu_stop, ctypes.c_void_p).value
        s.reg_read = ctypes.cast(uc.unicorn_py3.unicorn.uclib.uc_reg_read, ctypes.c_void_p).value
        s.reg_write = ctypes.cast(uc.unicorn_py3.unicorn.uclib.uc_reg_write, ctypes.c_void_p).value
        for k, reg in enumerate(REG_IDS):
            s.reg_ids[k] = reg
        s.flash_image = self._flash.ctypes.data
        s.insn_budget = s.cycle_budget = NO_LIMIT
        s.xip_changes = 1  # block stamps start at 0: none is valid yet

    def _setup_hooks(self):
        """Native counters (unless `counting` is off, for speed comparisons) and the rare Python hooks."""
        hooks = [(uc.UC_HOOK_TLB_FILL, "m0sim_tlb_fill", 1, 0)]
        if self._counting:
            hooks.append((uc.UC_HOOK_BLOCK, "m0sim_block", 1, 0))
        for htype, fn, begin, end in hooks:
            self._native_hook(htype, fn, begin, end)
        self._regs = FastRegs(self.uc)  # the interrupt hook's register access (semihosting calls)
        # Unicorn's CPU exceptions: m0sim_intr does the simplest exception returns, the rest comes here
        self._intr_callback = uc.unicorn_py3.unicorn.uccallback(self.uc, uc.unicorn_py3.unicorn.HOOK_INTR_CFUNC)(
            lambda engine, intno, _key: self._on_interrupt(engine, intno, None))
        s = self._state
        s.python_intr = ctypes.cast(self._intr_callback, ctypes.c_void_p).value
        s.status_ids[:] = [getattr(arm, f"UC_ARM_REG_{r}") for r in native.STATUS_REGS]
        s.entry_cycles, s.exit_cycles = ENTRY_CYCLES, EXIT_CYCLES
        self._native_hook(uc.UC_HOOK_INTR, "m0sim_intr", 1, 0)
        # Not over SRAM, where nothing is unmapped or protected: Unicorn 2.1 keeps every page a memory hook
        # covers on its slow store path.
        for begin, end in ((0, memmap.SRAM.base - 1), (memmap.SRAM.end, 0xFFFF_FFFF)):
            self.uc.hook_add(uc.UC_HOOK_MEM_INVALID, self._on_invalid_memory, begin=begin, end=end)
        self.python_hook_sites = set()  # instructions with a Python code hook (m0sim.exceptions adds its own)
        if self._watching_sbrk():
            sbrk = self.program.symbols["_sbrk"]
            self.uc.hook_add(uc.UC_HOOK_CODE, self._on_sbrk, begin=sbrk.addr, end=sbrk.addr)
            self.python_hook_sites.add(sbrk.addr)
        if self._counting:  # the shadow of code: a run stops inside a block without a hook on the code itself
            self._native_hook(uc.UC_HOOK_CODE, "m0sim_shadow_stop", native.SHADOW_LO,
                              native.SHADOW_LO + native.SHADOW_SIZE - 1)

    def _native_hook(self, htype, fn: str, begin: int, end: int):
        """Register a callback of counter.c over [begin, end], with the counter state as its user data."""
        h = ctypes.c_size_t()
        err = uc.unicorn_py3.unicorn.uclib.uc_hook_add(
            self.uc._uch, ctypes.byref(h), htype, ctypes.c_void_p(native.callback_address(fn)),
            ctypes.c_void_p(ctypes.addressof(self._state)), ctypes.c_uint64(begin), ctypes.c_uint64(end))
        if err != uc.UC_ERR_OK:
            raise RuntimeError(f"uc_hook_add({fn}) failed: {err}")
        self._native_hooks.append(h)

    def _watching_sbrk(self) -> bool:
        """Whether the heap's growth is known (a hook on `_sbrk`); a stripped ELF has no symbol to hook."""
        sbrk = self.program.symbols.get("_sbrk")
        return sbrk is not None and sbrk.kind == "func"

    def _memory_layout(self):
        """(heap base, heap limit, stack top, stack limit) from the linker script's symbols, checked to lie in
        SRAM in that order; a stripped ELF's heap starts after its last SRAM segment, its stack at SRAM's end."""
        sym, path = self.program.symbols, self.program.path
        static_end = max((s.vaddr + s.memsz for s in self.program.segments if memmap.SRAM.contains(s.vaddr)),
                         default=memmap.SRAM.base)

        def get(name, default):
            if name not in sym:
                return default
            addr = sym[name].addr
            if not memmap.SRAM.base <= addr <= memmap.SRAM.end:
                raise InputError(f"{path}: symbol '{name}' = 0x{addr:08x} lies outside SRAM "
                                 f"(0x{memmap.SRAM.base:08x}..0x{memmap.SRAM.end:08x})")
            return addr
        heap_base = get("end", (static_end + 7) & ~7)
        top = get("__stack_top", memmap.SRAM.end)
        stack_limit = get("__StackLimit", top)
        heap_limit = get("__HeapLimit", stack_limit)
        if not heap_base <= heap_limit <= top or not stack_limit <= top:
            raise InputError(f"{path}: heap 0x{heap_base:08x}..0x{heap_limit:08x} and stack "
                             f"0x{stack_limit:08x}..0x{top:08x} are out of order")
        return heap_base, heap_limit, top, stack_limit

    def _heapinfo(self):
        return self._layout

    def _reset_vector(self) -> tuple[int, int]:
        """(SP, PC) a Pico takes from the vector table, checked before anything runs (Program.check_reset)."""
        self.program.reset_words()  # the table is in the image
        sp, pc = (int(v) for v in self.read(self.program.vector_table, np.uint32, 2))
        return self.program.check_reset(sp, pc)

    # --- counters ----------------------------------------------------------------------------------------
    def cycles(self) -> int:
        return self._state.cycles

    def instructions(self) -> int:
        return self._state.insns

    def adjust_cycles(self, delta: int):
        """Run-time cost corrections from Python (peripheral wait states), charged to the current block."""
        s = self._state
        s.cycles += delta
        self._windows[s.cur_window].stall_at[s.cur_slot] += delta

    def current_block(self) -> tuple[CodeTable, int, int]:
        """(decode table, start address, size in bytes) of the translation block the native counter charged last."""
        s = self._state
        win = self._windows[s.cur_window]
        return win.table, win.table.base + 2 * s.cur_slot, int(win.blocks[s.cur_slot]["size"])

    def instruction_sites(self, halfword: bytes):
        """Addresses of the decoded instructions whose encoding is `halfword` (e.g. WFI), from the decode tables."""
        want = int.from_bytes(halfword, "little")
        for win in self._windows:
            t = win.table
            n = len(t.base_cycles)
            if n == 0:
                continue
            code = np.frombuffer(self._read_bytes(t.base, 2 * n), "<u2")
            starts = np.diff(t.insns_prefix.astype(np.int64)) != 0
            for i in np.flatnonzero(starts & (code == want)):
                yield t.base + 2 * int(i)

    # --- memory ------------------------------------------------------------------------------------------
    def address_of(self, where) -> int:
        return self.program.symbol(where).addr if isinstance(where, str) else int(where)

    def _check_range(self, addr: int, nbytes: int, what: str):
        if not any(r.contains(addr, max(nbytes, 1)) for r in memmap.MEMORY_REGIONS):
            raise InputError(f"{what} of {nbytes} bytes at 0x{addr:08x} is outside the Pico's ROM, flash and SRAM")

    def _flash_offset(self, addr: int, n: int) -> int | None:
        for r in (memmap.XIP, *memmap.XIP_ALIASES):
            if r.contains(addr, n):
                return addr - r.base
        return None

    def _read_bytes(self, addr: int, n: int) -> bytes:
        off = self._flash_offset(addr, n)
        if off is not None:  # straight from the image: a debugger read must not touch the XIP counters
            return self._flash[off:off + n].tobytes()
        return bytes(self.uc.mem_read(addr, n))

    def read_word(self, addr: int) -> int:
        """The little-endian word at addr as the core would load it, without touching the XIP counters
        (vector table entries, exception frames)."""
        if not addr & 3:  # straight from the flash image or SRAM (an interrupt reads its vector here)
            if memmap.XIP.base <= addr < memmap.XIP.end:
                return int(self._flash32[(addr - memmap.XIP.base) >> 2])
            if memmap.SRAM.base <= addr < memmap.SRAM.end:
                return int(self._sram[(addr - memmap.SRAM.base) >> 2])
        return int.from_bytes(self._read_bytes(addr, 4), "little")

    def _write_bytes(self, addr: int, data: bytes):
        """Write memory as a debugger does (loading, exception frames, semihosting, GDB): code written over is
        decoded again (m0sim.codechange) so it runs, counted and checked, as written."""
        before = self._read_bytes(addr, len(data)) if self._windows[0] is not None else None
        off = self._flash_offset(addr, len(data))
        if off is None:
            self.uc.mem_write(addr, bytes(data))
        else:
            self._flash[off:off + len(data)] = np.frombuffer(bytes(data), np.uint8)
            if memmap.XIP.base + off < self._flash_code_end:  # code may change: drop stale translations
                self.uc.ctl_remove_cache(memmap.XIP.base + off, memmap.XIP.base + off + len(data))
        if before is not None:
            codechange.rewrite(self, memmap.XIP.base + off if off is not None else addr, before, bytes(data))

    def read(self, where, dtype=np.uint8, count: int | None = None) -> np.ndarray:
        """Typed read by symbol name or address; count defaults to the whole symbol (or one element)."""
        dtype = np.dtype(dtype).newbyteorder("<")
        addr = self.address_of(where)
        if count is None:
            size = self.program.symbol(where).size if isinstance(where, str) else 0
            count = max(size // dtype.itemsize, 1)
        nbytes = count * dtype.itemsize
        self._check_range(addr, nbytes, "read")
        return np.frombuffer(self._read_bytes(addr, nbytes), dtype=dtype).copy()

    def write(self, where, values, dtype=None):
        """Typed write by symbol name or address; refuses to overrun a named symbol."""
        arr = np.ascontiguousarray(values if dtype is None else np.asarray(values, dtype=dtype))
        if arr.dtype.byteorder == ">":
            arr = arr.astype(arr.dtype.newbyteorder("<"))
        addr = self.address_of(where)
        if isinstance(where, str):
            size = self.program.symbol(where).size
            if size and arr.nbytes > size:
                raise InputError(f"writing {arr.nbytes} bytes to '{where}' which holds {size} bytes")
        self._check_range(addr, arr.nbytes, "write")
        if addr < memmap.ROM.end:
            raise InputError(f"write of {arr.nbytes} bytes at 0x{addr:08x}: the bootrom is read-only")
        self._write_bytes(addr, arr.tobytes())

    def reg(self, name: str) -> int:
        return self.uc.reg_read(REG_IDS[REG_NAMES.index(name)])

    # --- running -----------------------------------------------------------------------------------------
    def run(self, max_instructions: int | None = None, max_cycles: int | None = None) -> RunResult:
        """Run from reset (SP and PC from the vector table at the start of flash) until the program exits."""
        sp, pc = self._reset_vector()
        stats = self._execute(pc, sp, max_instructions, max_cycles, stop_at=None)
        if self._exit_code is None:
            raise FirmwareFault(f"{self.program.path}: program stopped without exiting at {self._where()}")
        return RunResult(self._exit_code, stats)

    def call(self, function, *args, max_instructions: int | None = None, max_cycles: int | None = None) -> int:
        """Call a function with the AAPCS (r0-r3, then the stack); returns r0 as unsigned 32 bits.

        The call's cost is in `self.last_stats`.
        """
        if len(args) > MAX_CALL_ARGS:
            raise InputError(f"call to {function}: {len(args)} arguments, at most {MAX_CALL_ARGS} supported")
        addr = self.address_of(function)
        if isinstance(function, str) and self.program.symbol(function).kind != "func":
            raise InputError(f"'{function}' in {self.program.path} is not a function")
        words = [int(a) & 0xFFFFFFFF for a in args]
        sp = self._heapinfo()[2]
        stacked = words[4:]
        sp = (sp - 4 * len(stacked)) & ~7
        if stacked:
            self._write_bytes(sp, b"".join(w.to_bytes(4, "little") for w in stacked))
        for reg, w in zip(ARG_REGS, words[:4]):
            self.uc.reg_write(reg, w)
        self.uc.reg_write(arm.UC_ARM_REG_LR, RETURN_ADDR | 1)
        self._execute(addr, sp, max_instructions, max_cycles, stop_at=RETURN_ADDR)
        if self._exit_code is not None:
            raise FirmwareFault(f"{function} called exit({self._exit_code}) instead of returning")
        return self.uc.reg_read(arm.UC_ARM_REG_R0)

    def _execute(self, pc, sp, max_instructions, max_cycles, stop_at) -> RunStats:
        s = self._state
        for name, value in (("max_instructions", max_instructions), ("max_cycles", max_cycles)):
            if value is not None and (not isinstance(value, (int, np.integer)) or not 1 <= value <= MAX_BUDGET):
                raise InputError(f"{name} must be an integer from 1 to 2**62, got {value!r}")
        for win in self._windows:
            win.clear()
        before = (s.insns, s.cycles, s.taken, s.xip_hits, s.xip_misses)
        s.insn_budget = NO_LIMIT if max_instructions is None else s.insns + max_instructions
        s.cycle_budget = NO_LIMIT if max_cycles is None else s.cycles + max_cycles
        s.stop_reason, s.prev_end, s.prev_block = 0, 0, 0
        self._fault, self._exit_code = None, None
        paint_lo = self._paint_stack(sp)
        self.uc.reg_write(arm.UC_ARM_REG_SP, sp)
        until = stop_at if stop_at is not None else RETURN_ADDR
        try:
            with interrupt.stoppable(self.uc):
                self.exceptions.begin()
                if self.debugger is None:
                    self._run_cores(pc | 1, until)
                else:  # m0sim.gdbstub: GDB decides how the program runs
                    self.debugger.drive(self, pc | 1, until)
        except uc.UcError as exc:
            self._raise_fault(exc)
        except KeyboardInterrupt:
            raise Interrupted(f"interrupted at {self._where()} after {s.insns - before[0]:,} instructions") from None
        self._check_stop(stop_at)
        native.library().m0sim_pay_hit_debt(ctypes.byref(s))  # hits a stop inside a block counted twice
        counts = [win.snapshot() for win in self._windows]
        stats = RunStats(
            s.insns - before[0], s.cycles - before[1], self.clock.hz, s.taken - before[2],
            s.xip_hits - before[3], s.xip_misses - before[4], self.program.footprint()["static_ram"],
            self._stack_used(paint_lo, sp), self._brk_max, functools.partial(self._profile, counts))
        self.last_stats = stats
        return stats

    def _run_cores(self, pc: int, until: int):
        """The run loop: this one core's (m0sim.soc.Pico runs both cores in lockstep here)."""
        self.exceptions.run(pc, until, traps=self._counting)

    def _check_stop(self, stop_at):
        s = self._state
        reason = native.STOP_REASONS.get(s.stop_reason)
        if reason is None:
            return
        where = self._where(s.stop_addr)
        if reason == "budget":
            raise BudgetExhausted(
                f"budget exhausted after {s.insns:,} instructions / {s.cycles:,} cycles, at {where}")
        if reason == "armv7":
            raise FirmwareFault(f"instruction outside ARMv6-M (a Cortex-M0+ would fault) at {where}: "
                                f"rebuild for -mcpu=cortex-m0plus")
        if reason in ("flash write", "rom write"):
            what = "flash" if reason == "flash write" else "ROM"
            raise FirmwareFault(f"write to {what} at 0x{s.stop_addr:08x} ({what} is read-only to the CPU) "
                                f"by {self._where()}; {self.registers()}")
        if reason == "unaligned":
            kind = "write" if s.fault_write else "read"
            regs = {n: int(v) & 0xFFFFFFFF for n, v in zip(REG_NAMES, s.fault_regs)}
            fault = self._fault_record(f"unaligned {kind}", s.stop_addr, s.fault_size, regs)
            raise FirmwareFault(f"unaligned {kind} of {fault.size} bytes at 0x{fault.addr:08x} "
                                f"({_region_name(fault.addr)}; a Cortex-M0+ HardFaults) by {self._where(fault.pc)}; "
                                + " ".join(f"{n}=0x{v:08x}" for n, v in regs.items() if n != "pc"))
        if reason in ("decode", "code write"):  # m0sim.codechange goes on after these; a run never ends on one
            raise FirmwareFault(f"internal: the run ended on a '{reason}' stop at 0x{s.stop_addr:08x} that m0sim "
                                f"did not resume; please report it")
        if reason == "undecoded" and s.stop_addr != stop_at:
            raise FirmwareFault(f"execution reached 0x{s.stop_addr:08x}, which is not code of "
                                f"{self.program.path.name} ({self.program.describe(s.stop_addr)})")

    def _where(self, addr: int | None = None) -> str:
        addr = self.uc.reg_read(arm.UC_ARM_REG_PC) if addr is None else addr
        try:
            text = disassemble(self._read_bytes(addr, 4), addr, 1)
        except uc.UcError:
            text = []
        insn = text[0].split(": ", 1)[1] if text else "?"
        return f"0x{addr:08x} ({self.program.describe(addr)}): {insn}"

    def registers(self) -> str:
        return " ".join(f"{n}=0x{self.uc.reg_read(r):08x}" for n, r in zip(REG_NAMES, REG_IDS))

    def _fault_record(self, kind: str, addr: int, size: int, regs: dict | None = None) -> faults.Fault:
        """The fault as silicon would see it: the exact instruction that made the access (not the first one of
        its translation block), found from the decode of the current block and the registers at the access
        (`regs`, or the live ones)."""
        if kind.startswith("fetch"):
            return faults.Fault(kind, addr, size, addr)
        _table, start, length = self.current_block()
        length = length or 2
        if regs is None:
            regs = {n: self.uc.reg_read(r) for n, r in zip(REG_NAMES, REG_IDS)}
        try:
            pc = faults.faulting_pc(self._read_bytes(start, length), start, regs, addr, kind)
        except (uc.UcError, InputError):
            pc = None
        return faults.Fault(kind, addr, size, self.uc.reg_read(arm.UC_ARM_REG_PC) if pc is None else pc)

    def _raise_fault(self, exc):
        if self._fault is not None:
            kind, addr, size, pc = (self._fault.kind, self._fault.addr, self._fault.size, self._fault.pc)
            sp = self.uc.reg_read(arm.UC_ARM_REG_SP)
            if kind == "write" and memmap.SRAM.base - 1024 <= addr < memmap.SRAM.base and sp - addr <= 64:
                top = self._heapinfo()[2]
                raise FirmwareFault(f"stack overflow: the stack grew below the start of SRAM (depth at least "
                                    f"{top - addr} bytes) at {self._where(pc)}") from None
            raise FirmwareFault(f"invalid memory {kind} of {size} bytes at 0x{addr:08x} "
                                f"({_region_name(addr)}) by {self._where(pc)}; {self.registers()}") from None
        pc = self.uc.reg_read(arm.UC_ARM_REG_PC)
        if exc.errno == uc.UC_ERR_INSN_INVALID and self.exceptions.invalid_state():
            raise FirmwareFault(self.exceptions.invalid_state_report()) from None
        raise FirmwareFault(f"{exc} at {self._where(pc)}; {self.registers()}") from None

    # --- memory accounting -------------------------------------------------------------------------------
    def _paint_stack(self, sp: int) -> int:
        """Fill the free RAM between the heap's top and SP so the high-water mark can be found afterwards."""
        heap_base = self._heapinfo()[0]
        lo = (heap_base + self._brk + 3) & ~3
        if sp > lo:
            self._sram[(lo - memmap.SRAM.base) // 4:(sp - memmap.SRAM.base) // 4] = STACK_PAINT
        self._brk_max = self._brk
        return lo

    def _stack_used(self, paint_lo: int, sp: int) -> int:
        heap_top = (self._heapinfo()[0] + self._brk_max + 3) & ~3
        lo = max(paint_lo, heap_top)
        if sp <= lo:
            return 0
        words = self._sram[(lo - memmap.SRAM.base) // 4:(sp - memmap.SRAM.base) // 4]
        first = int(np.argmax(words != STACK_PAINT)) if words.size else 0
        if words.size == 0 or words[first] == STACK_PAINT:
            return 0
        if not self._watching_sbrk():
            return sp - (lo + 4 * _above_largest_gap(words != STACK_PAINT))
        low = lo + 4 * first
        if low < lo + STACK_GUARD:
            raise FirmwareFault(f"stack overflow: the stack grew down to 0x{low:08x}, into the heap/static data "
                                f"(depth at least {sp - low} bytes from SP 0x{sp:08x})")
        return sp - low

    # --- profile -----------------------------------------------------------------------------------------
    def _profile(self, runs: list[_Counts]) -> list[FunctionStats]:
        extents = self.program.functions()
        funcs = [f for f, _end in extents]
        starts = np.array([f.addr for f in funcs], np.int64)
        ends = np.array([end for _f, end in extents], np.int64)
        out = {}
        for run in runs:
            win = run.window
            t = win.table
            n = len(t.base_cycles)
            if n == 0 or not run.any():
                continue
            count = run.executions()
            cycles = count * t.base_cycles + run.taken()[1:] * timing.TAKEN_EXTRA + run.stall_at[:n]
            insns = count * np.diff(t.insns_prefix.astype(np.int64))
            if win.function_index is None:
                addrs = t.base + 2 * np.arange(n)
                idx = np.searchsorted(starts, addrs, side="right") - 1
                inside = (idx >= 0) & (addrs < ends[np.maximum(idx, 0)]) if funcs else np.zeros(n, bool)
                win.function_index = np.where(inside, idx, len(funcs))
            idx = win.function_index
            cyc_by = np.bincount(idx, weights=cycles, minlength=len(funcs) + 1)
            ins_by = np.bincount(idx, weights=insns, minlength=len(funcs) + 1)
            for i in np.flatnonzero(ins_by):
                name = funcs[i].name if i < len(funcs) else "(no symbol)"
                calls = run.entries((funcs[i].addr - t.base) // 2) if i < len(funcs) else 0
                f = out.setdefault(name, FunctionStats(name, 0, 0, 0))
                f.cycles += int(cyc_by[i])
                f.instructions += int(ins_by[i])
                f.calls += calls
        return sorted(out.values(), key=lambda f: -f.cycles)

    # --- hooks (Python; none of these runs per instruction) ----------------------------------------------
    def _on_interrupt(self, _uc, intno, _user):
        if intno == EXCP_BKPT and self._state.trap_kind:  # the BKPT at TRAP_ADDR: an event's moment, handed over
            self.exceptions.on_trap()
            return
        regs = self._regs
        pc = regs.read(arm.UC_ARM_REG_PC)
        if intno == EXCP_BKPT:
            insn = int.from_bytes(self._read_bytes(pc, 2), "little")
            if insn == SEMIHOSTING_BKPT:
                try:
                    r0 = self.semihost.call(regs.read(arm.UC_ARM_REG_R0), regs.read(arm.UC_ARM_REG_R1))
                except ProgramExit as done:
                    self._exit_code = done.code
                    self.uc.emu_stop()
                    return
                except FirmwareFault as bad:
                    self._stop_with(f"{bad}, by {self._where(pc)}")
                regs.write(arm.UC_ARM_REG_R0, r0)
                regs.write(arm.UC_ARM_REG_PC, (pc + 2) | 1)
                return
        if self.exceptions.on_interrupt(intno, pc):  # SVC, exception return: m0sim.exceptions
            return
        if intno == EXCP_BKPT:
            insn = int.from_bytes(self._read_bytes(pc, 2), "little")
            self._stop_with(f"breakpoint BKPT #{insn & 0xFF} (hard fault or a debugger trap) at {self._where(pc)}"
                            f"{self._in_handler(pc)}")
        elif intno == EXCP_UDEF:
            self._stop_with(f"undefined instruction (hard fault) at {self._where(pc)}")
        else:
            self._stop_with(f"exception {intno} (hard fault) at {self._where(pc)}")

    def _in_handler(self, pc: int) -> str:
        """Which exception the core was handling at a stop in a handler: a BKPT in m0sim's Default_Handler
        means the firmware has no handler for it (the handler's weak aliases would name another)."""
        if not self.exceptions.active:
            return ""
        what = exception_name(self.exceptions.active[-1])
        default = self.program.symbols.get("Default_Handler")
        f = self.program.function_at(pc)
        if default is not None and f is not None and f.addr == default.addr:
            return f": {what} was taken and the firmware defines no handler for it (Default_Handler)"
        return f", in the handler of {what}"

    def _stop_with(self, message: str):
        self.uc.emu_stop()
        raise FirmwareFault(f"{message}; {self.registers()}")

    def _on_invalid_memory(self, _uc, access, addr, size, _value, _user):
        kinds = {uc.UC_MEM_READ_UNMAPPED: "read", uc.UC_MEM_WRITE_UNMAPPED: "write",
                 uc.UC_MEM_FETCH_UNMAPPED: "fetch", uc.UC_MEM_WRITE_PROT: "write (read-only)",
                 uc.UC_MEM_READ_PROT: "read (protected)", uc.UC_MEM_FETCH_PROT: "fetch (not executable)"}
        self._fault = self._fault_record(kinds.get(access, "access"), addr, size)
        return False

    def _on_sbrk(self, _uc, _addr, _size, _user):
        incr = self.uc.reg_read(arm.UC_ARM_REG_R0)
        incr = incr - (1 << 32) if incr & 0x80000000 else incr
        base = self._heapinfo()[0]
        limit = min(self._newlib_heap_limit(), self.uc.reg_read(arm.UC_ARM_REG_SP))
        if base + self._brk + incr <= limit:  # mirrors newlib: a refused sbrk does not move the break
            self._brk = max(self._brk + incr, 0)
            self._brk_max = max(self._brk_max, self._brk)

    def _newlib_heap_limit(self) -> int:
        """libgloss's sbrk refuses to pass SP and, once start-up code has set it, `__heap_limit`."""
        sym = self.program.symbols.get("__heap_limit")
        if sym is None or not memmap.SRAM.contains(sym.addr, 4):
            return 2**32
        value = int.from_bytes(self._read_bytes(sym.addr, 4), "little")
        return 2**32 if value == NEWLIB_NO_HEAP_LIMIT else value

    def _mmio_read(self, _uc, offset, size, region):
        addr = region.base + offset
        self._check_width(region, addr, size, "read")
        self._bus_cost(region)
        return self.bus.read(addr, size)

    def _mmio_write(self, _uc, offset, size, value, region):
        self._check_width(region, region.base + offset, size, "write")
        self._bus_cost(region)
        self.bus.write(region.base + offset, size, value)

    def _check_width(self, region, addr: int, size: int, what: str):
        """The Cortex-M0+'s system control space (SysTick, NVIC, SCB on the PPB) takes word accesses only
        (ARMv6-M: its registers, NVIC_IPR and SHPR included, are word-accessible; other sizes are
        UNPREDICTABLE, which m0sim refuses). The RP2040's own registers take narrow accesses: a narrow read
        picks byte lanes, a narrow write is replicated across the word (datasheet 2.1.4), see Bus.write.
        An unaligned access never gets here: the Cortex-M0 core faults on it first (Exceptions._on_unaligned)."""
        if size == 4 or region is not memmap.PPB:
            return
        _table, start, length = self.current_block()  # which instruction: a decode of the block
        regs = {n: self.uc.reg_read(r) for n, r in zip(REG_NAMES, REG_IDS)}
        pc, lo, width = faults.faulting_access(self._read_bytes(start, length or 2), start, regs, addr,
                                               what) or (None, addr, size)
        self._stop_with(f"{width}-byte {what} of Cortex-M0+ system register 0x{lo:08x} (PPB): the system "
                        f"control space takes word accesses only (ARMv6-M) by {self._where(pc)}")

    def _bus_cost(self, region):
        if region is memmap.SIO:
            self.adjust_cycles(-timing.SIO_ACCESS_SAVING)
        elif region is memmap.APB:
            self.adjust_cycles(timing.APB_WAIT_STATES)


def unicorn_engine(alignment_faults: bool = True) -> uc.Uc:
    """The Unicorn engine: a Cortex-M0 core, which faults on an unaligned halfword/word access before it changes
    anything (QEMU checks alignment in its TLB compare: free for aligned accesses), or, with `alignment_faults`
    off, the Cortex-M33 Unicorn 2.1 makes of any UC_MODE_MCLASS engine (it ignores the model asked for), which
    lets unaligned accesses through. Both execute only what m0sim's decode lets run (ARMv6-M)."""
    if alignment_faults:
        engine = uc.Uc(uc.UC_ARCH_ARM, uc.UC_MODE_THUMB)
        engine.ctl_set_cpu_model(arm.UC_CPU_ARM_CORTEX_M0)
        return engine
    return uc.Uc(uc.UC_ARCH_ARM, uc.UC_MODE_THUMB | uc.UC_MODE_MCLASS)


def _above_largest_gap(touched: np.ndarray) -> int:
    """Index just above the longest run of untouched words: with no sbrk to watch, heap and stack are told
    apart by the painted gap between them (the stack is what lies above it)."""
    edges = np.flatnonzero(np.diff(np.concatenate([[1], touched.astype(np.int8), [1]])))
    starts, ends = edges[::2], edges[1::2]  # runs of untouched words [start, end)
    if starts.size == 0:
        return 0
    k = int(np.argmax(ends - starts))
    return int(ends[k])


def _region_name(addr: int) -> str:
    r = memmap.region_of(addr)
    return r.name if r else "unmapped"


def _stream_writer(stream):
    def write(data: bytes):
        buf = getattr(stream, "buffer", None)
        if buf is not None:
            stream.flush()
            buf.write(data)
            buf.flush()
        else:
            stream.write(data.decode(errors="replace"))
    return write
