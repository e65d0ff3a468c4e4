"""Running a program in pieces with counts equal to one uninterrupted run.

The native counter charges a whole translation block when the block starts. A run that stops early (a
debugger's breakpoint or step, an exception taken between two instructions, a fault) stops before some
instruction P of the block charged last: a code hook fires before its instruction, the native budget check
fires before the block's first one, a fault leaves PC on the faulting instruction. `give_back` returns what
[P, end of block) was charged: its cycles and instructions, the profile's block count, the pending
taken-branch check, and the block's XIP fetches (the block resumed at P fetches its lines again: they are
present and most recent, so they count as hits, which are taken back here).
"""


def give_back(machine, pc: int):
    """Undo the part of the block charged last that did not run: [pc, end of block)."""
    s = machine._state
    win = machine._windows[s.cur_window]
    t = win.table
    start = t.base + 2 * s.cur_slot
    block = win.blocks[s.cur_slot]
    end = start + int(block["size"])
    if not start <= pc < end:
        return  # the block ran to its end (a stop between blocks)
    i, j, k = s.cur_slot, (pc - t.base) // 2, s.cur_slot + int(block["size"]) // 2
    s.cycles -= int(t.cycles_prefix[k]) - int(t.cycles_prefix[j])
    s.insns -= int(t.insns_prefix[k]) - int(t.insns_prefix[j])
    block["count"] -= 1
    win.enter[i] += 1
    win.leave[j] += 1
    s.prev_block = 0  # the block's closing branch has not run
    s.prev_end = pc
    if s.fetch_through_xip[s.cur_window]:
        lines = ((end - 1) >> 3) - (pc >> 3) + 1
        literals = int(t.literal_prefix[k]) - int(t.literal_prefix[j])
        s.xip_hits -= lines + literals  # what the resumed block will count again as hits

