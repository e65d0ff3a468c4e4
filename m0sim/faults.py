"""What a faulting access was, and which instruction made it: the one place a fault record is produced.

Unicorn reports a bad access with the PC of the translation block's first instruction, not of the load or
store.  The decode knows every instruction of the block, and the registers at the moment of the access hold
the values the faulting instruction used (every instruction before it has completed), so the instruction is
the first memory access of the block whose address range, computed from those registers, holds the address.
"""

from dataclasses import dataclass

import capstone

from m0sim.decode import disassembler

LOADS = ("ldr", "ldm", "pop")
STORES = ("str", "stm", "push")


@dataclass(frozen=True)
class Fault:
    """A bad memory access: kind ("read", "write", "fetch", "unaligned read", ...), address, size, and the PC
    of the instruction that made it."""

    kind: str
    addr: int
    size: int
    pc: int


_MD = None


def access_range(insn, regs: dict) -> tuple[int, int] | None:
    """[lo, hi) of the bytes a Thumb load/store instruction touches, from the register values `regs`."""
    m = insn.mnemonic.split(".")[0]
    ops = insn.operands
    reg = lambda r: regs.get(insn.reg_name(r), 0)
    if m in ("push", "pop"):
        n = len(ops)
        return ((regs["sp"] - 4 * n) & 0xFFFFFFFF, regs["sp"]) if m == "push" else (regs["sp"], regs["sp"] + 4 * n)
    if m.startswith(("ldm", "stm")):
        base = reg(ops[0].reg)
        return base, base + 4 * (len(ops) - 1)
    if not m.startswith(("ldr", "str")):
        return None
    mem = next((o for o in ops if o.type == capstone.arm.ARM_OP_MEM), None)
    if mem is None:
        return None
    if mem.mem.base == capstone.arm.ARM_REG_PC:
        base = (insn.address + 4) & ~3
    else:
        base = reg(mem.mem.base)
    index = reg(mem.mem.index) if mem.mem.index else 0
    width = 1 if m[3:].startswith(("b", "sb")) else 2 if m[3:].startswith(("h", "sh")) else 4
    lo = (base + index + mem.mem.disp) & 0xFFFFFFFF
    return lo, lo + width


def faulting_access(code: bytes, start: int, regs: dict, addr: int, kind: str):
    """(instruction address, first byte, element width) of the instruction in `code` (a block at `start`)
    whose access of `kind` covers `addr`, or None. The width is what each of its accesses moves: 1, 2 or 4
    (4 for the multiple-register transfers)."""
    global _MD
    if _MD is None:
        _MD = disassembler()
    wanted = STORES if "write" in kind else LOADS if "read" in kind else LOADS + STORES
    for insn in _MD.disasm(code, start):
        if not insn.mnemonic.startswith(wanted):
            continue
        span = access_range(insn, regs)
        if span is not None and span[0] <= addr < max(span[1], span[0] + 1):
            single = insn.mnemonic.startswith(("ldr", "str"))
            return insn.address, span[0], span[1] - span[0] if single else 4
    return None


def faulting_pc(code: bytes, start: int, regs: dict, addr: int, kind: str) -> int | None:
    """The address of the instruction in `code` (a block at `start`) whose access of `kind` covers `addr`."""
    found = faulting_access(code, start, regs, addr, kind)
    return found[0] if found else None
