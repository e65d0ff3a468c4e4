"""Running a program in pieces with counts equal to one uninterrupted run.

The native counter charges a whole translation block when the block starts. A run that stops early (a
debugger's breakpoint or step, an exception taken between two instructions, a fault) stops before some
instruction P of the block charged last: a code hook fires before its instruction, the native budget check
fires before the block's first one, a fault leaves PC on the faulting instruction. `give_back` returns what
[P, end of block) was charged: its cycles and instructions, the profile's block count, the pending
taken-branch check, and the block's XIP fetches (the block resumed at P fetches its lines again: they are
present and most recent, so they count as hits, which are taken back here) -- or, when the block's fetches
changed the cache, those of [P, end) undone and the cache as the part that ran left it (counter.c's
m0sim_settle), so no miss is charged before it happens.
"""

import ctypes
import functools

from m0sim import native


def give_back(machine, pc: int) -> int:
    """Undo the part of the block charged last that did not run: [pc, end of block). Returns the XIP stall
    cycles of the block's fetches that were taken back with it. Done natively (counter.c's m0sim_give_back):
    an interrupt inside a block needs it twice."""
    return _native_give_back()(ctypes.byref(machine._state), pc)


@functools.cache
def _native_give_back():
    return native.in_hook("m0sim_give_back", [ctypes.c_void_p, ctypes.c_uint32], ctypes.c_int64)


def retired(machine, pc: int) -> int:
    """Instructions the core has retired when it is about to run the instruction at pc of the block charged last
    (a code hook's view): the count less what the block's charge included from pc on."""
    s = machine._state
    win = machine._windows[s.cur_window]
    t = win.table
    start = t.base + 2 * s.cur_slot
    end = start + int(win.blocks[s.cur_slot]["size"])
    if not start <= pc < end:
        return s.insns
    return s.insns - (int(t.insns_prefix[(end - t.base) // 2]) - int(t.insns_prefix[(pc - t.base) // 2]))
