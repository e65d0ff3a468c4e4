"""Code that changes while the program runs: decoded on first execution, forgotten when it is overwritten.

Silicon runs whatever the core fetches. m0sim's counters need a decode of every instruction they charge, so:
- a block in SRAM that the decode does not know (a function copied to RAM at run time, as pico-sdk's RAM
  functions are) stops the native counter before it runs (stop reason "decode"); `after_stop` decodes it from
  SRAM as it is now, checked for ARMv6-M like code loaded from the ELF, and the run goes on;
- stores to SRAM pages holding decoded code go through a native check (m0sim_tlb_fill, m0sim_sram_code_write):
  a store that changes decoded bytes stops the run at the end of its block (reason "code write"), and `forget`
  drops the decode, the counter's cached blocks and Unicorn's translations of those bytes;
- a debugger's write (Machine.write, GDB's `M` packet) into code goes through `rewrite`.
Totals stay exact; a slot whose code changed keeps its earlier executions in the per-function profile at the
new instruction's cost.
"""

import ctypes

import numpy as np
import unicorn as uc

from m0sim import memmap, native
from m0sim.decode import build_table, splice
from m0sim.pieces import give_back

SRAM_WINDOW = 1


def known_ranges(win) -> list[tuple[int, int]]:
    """[lo, hi) runs of decoded halfwords of a window."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], win.known[:len(win.table.base_cycles)], [0]])))
    base = win.table.base
    return [(base + 2 * int(a), base + 2 * int(b)) for a, b in zip(edges[::2], edges[1::2])]


def watch_pages(machine, win):
    """Send stores to the SRAM pages holding win's decoded code through the native check."""
    s = machine._state
    for k in range(len(s.sram_code_pages)):
        s.sram_code_pages[k] = 0
    for lo, hi in known_ranges(win):
        for page in range((lo - memmap.SRAM.base) >> native.CODE_PAGE_BITS,
                          ((hi - 1 - memmap.SRAM.base) >> native.CODE_PAGE_BITS) + 1):
            s.sram_code_pages[page >> 5] |= 1 << (page & 31)
    flush_tlb(machine)


def flush_tlb(machine):
    """Drop Unicorn's TLB entries: the next access of each page asks m0sim_tlb_fill again."""
    lib = uc.unicorn_py3.unicorn.uclib
    lib.uc_ctl(machine.uc._uch, ctypes.c_int(uc.UC_CTL_TLB_FLUSH | (uc.UC_CTL_IO_WRITE << 30)))  # uc_ctl_flush_tlb


def after_stop(machine) -> bool:
    """After emu_start returns: drop decodes of code the program overwrote, decode code it runs for the first
    time. True when the run stopped only for that and goes on at PC."""
    s = machine._state
    if s.code_dirty_hi > s.code_dirty_lo:
        lo, hi = s.code_dirty_lo, s.code_dirty_hi
        s.code_dirty_lo = s.code_dirty_hi = 0
        forget(machine, SRAM_WINDOW, lo, hi)
    reason = native.STOP_REASONS.get(s.stop_reason)
    if reason == "decode":  # the block has not run nor been charged
        s.stop_reason = 0
        decode_sram(machine, s.stop_addr, s.stop_addr + s.fault_size)
        return True
    if reason == "code write":  # its block ran to its end; a block charged after it has not run
        s.stop_reason = 0
        if s.insns != s.code_write_insns:
            give_back(machine, machine.uc.reg_read(uc.arm_const.UC_ARM_REG_PC))
        return True
    return False


def forget(machine, w: int, lo: int, hi: int):
    """Bytes [lo, hi) of window w changed: their instructions (and one halfword either side, the other half of
    a 32-bit instruction) are no longer known, and blocks over them are re-charged from a new decode."""
    win = machine._windows[w]
    t = win.table
    n = len(t.base_cycles)
    first = max(((lo & ~1) - 2 - t.base) // 2, 0)
    last = min(((hi + 1) & ~1) + 2 - t.base, 2 * n) // 2
    if last <= first:
        return
    win.known[first:last] = 0
    win.shadow_ok[first:last] = 0  # decoded anew before it runs again (m0sim.exceptions)
    blocks = win.blocks[:n]
    slots = np.arange(n)
    over = np.flatnonzero((blocks["size"] > 0) & (slots < last) & (slots + blocks["size"] // 2 > first))
    for k in over:  # keep their executions in the spill arrays, as fill_block does for a re-translated block
        b = win.blocks[k]
        end = k + int(b["size"]) // 2
        win.enter[k] += b["count"]
        win.leave[end] += b["count"]
        win.taken_at[end] += b["taken"]
        b["count"] = b["taken"] = b["size"] = 0
    lo_addr = t.base + 2 * (min([first, *over.tolist()]))
    hi_addr = t.base + 2 * max([last, *(int(k) + int(win.blocks[k]["size"]) // 2 for k in over)])
    machine.uc.ctl_remove_cache(lo_addr, max(hi_addr, lo_addr + 2))


def rewrite(machine, addr: int, old: bytes, new: bytes):
    """A debugger's write (Machine.write, GDB's M packet) replaced `old` with `new` at addr: decoded code
    there is decoded again, so a Thumb-2 instruction written into flash faults as it would on silicon."""
    if old == new:
        return
    lo, hi = addr, addr + len(new)
    flash = machine._windows[0]
    t = flash.table
    touched = [(a, b) for a, b in machine.program.code_ranges if a < hi + 2 and b > lo - 2 and t.base <= a
               and b <= t.end]
    if touched:
        forget(machine, 0, lo, hi)
        start, end = touched[0][0] & ~1, (touched[-1][1] + 1) & ~1
        sub = build_table(machine._read_bytes(start, end - start), start, touched)
        new_win = type(flash)(splice(t, sub), [(a, b) for a, b in machine.program.code_ranges
                                              if t.base <= a and b <= t.end])
        for name in ("blocks", "enter", "leave", "taken_at", "stall_at"):
            getattr(new_win, name)[:] = getattr(flash, name)
        new_win.function_index = flash.function_index
        _move_prev_block(machine, flash, new_win, 0)
        machine.install_window(0, new_win)
    if memmap.SRAM.contains(lo, hi - lo):
        forget(machine, SRAM_WINDOW, lo, hi)


def _move_prev_block(machine, old, new, off: int):
    """The counter's pointer to the last block charged, into the new window's array."""
    s = machine._state
    entry = ctypes.sizeof(native.BlockEntry)
    if old.blocks.ctypes.data <= s.prev_block < old.blocks.ctypes.data + old.blocks.nbytes:
        s.prev_block = new.blocks.ctypes.data + s.prev_block - old.blocks.ctypes.data + off * entry


GROW = 1 << native.CODE_PAGE_BITS  # the SRAM window grows by whole pages: code copied nearby needs no regrowth


def decode_sram(machine, lo: int, hi: int):
    """Decode [lo, hi) of SRAM (a block about to run). Inside the SRAM window only that block is decoded and
    spliced in; otherwise a wider window is decoded anew (the code already known there with it) and the counts
    move over. Either way the native counter is pointed at the result."""
    old = machine._windows[SRAM_WINDOW]
    ranges = _merged(known_ranges(old) + [(lo, hi)])
    in_use = old.known.any() or old.blocks["size"].any() or old.enter.any()  # not the empty start-up window
    t = old.table
    if in_use and t.base <= lo and hi <= t.end:
        new = type(old)(splice(t, build_table(machine._read_bytes(lo, hi - lo), lo, [(lo, hi)])), ranges)
        off, n_old = 0, len(t.base_cycles)
    else:
        start = max(lo & ~(GROW - 1), memmap.SRAM.base)
        end = min((hi + GROW - 1) & ~(GROW - 1), memmap.SRAM.end)
        n_old = len(t.base_cycles) if in_use else -1
        if in_use:
            start, end = min(start, t.base), max(end, t.end)  # the old counts keep their slots
        new = machine.code_window(start, end, ranges)
        off = (t.base - new.table.base) // 2
    for name in ("blocks", "enter", "leave", "taken_at", "stall_at"):
        getattr(new, name)[off:off + n_old + 1] = getattr(old, name)[:n_old + 1]
    s = machine._state
    _move_prev_block(machine, old, new, off)
    if s.cur_window == SRAM_WINDOW:
        s.cur_slot += off
    machine.install_window(SRAM_WINDOW, new)
    watch_pages(machine, new)


def _merged(ranges):
    out = []
    for a, b in sorted(ranges):
        if out and out[-1][1] >= a:
            out[-1] = (out[-1][0], max(b, out[-1][1]))
        else:
            out.append((a, b))
    return out
