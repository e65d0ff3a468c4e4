"""Decode a program's Thumb code once with capstone into per-halfword tables the native counters index.

Unicorn's translation blocks can start and end anywhere, so costs are kept as prefix sums over halfword
slots: the cost of any block [a, a+size) is prefix[end] - prefix[start], whatever its boundaries.
"""

from dataclasses import dataclass

import capstone
import numpy as np

from m0sim import timing

# ARMv6-M has a handful of 32-bit encodings; every other 32-bit Thumb instruction is Thumb-2 (ARMv7-M).
ARMV6M_WIDE = {"bl", "msr", "mrs", "dmb", "dsb", "isb"}
# 16-bit encodings that exist only from ARMv7-M (or not in M-profile v6 at all).
ARMV7_ONLY_NARROW = {"cbz", "cbnz", "setend"}


def disassembler():
    """m0sim's one Thumb decoder (capstone, M-profile, with operand details)."""
    md = capstone.Cs(capstone.CS_ARCH_ARM, capstone.CS_MODE_THUMB | capstone.CS_MODE_MCLASS)
    md.detail = True
    return md


def is_armv6m(insn) -> bool:
    m = insn.mnemonic.split(".")[0]
    if insn.size == 4:
        return m in ARMV6M_WIDE
    return m not in ARMV7_ONLY_NARROW and not m.startswith("it")


@dataclass
class CodeTable:
    """Per-halfword tables for one window [base, base + 2*n) of executable memory."""

    base: int
    cycles_prefix: np.ndarray  # uint32[n+1]
    insns_prefix: np.ndarray  # uint32[n+1]
    bad_prefix: np.ndarray  # uint32[n+1]: count of non-ARMv6-M instruction starts
    condbr_end: np.ndarray  # uint8[n+1]: 1 where a conditional branch ends
    literal_prefix: np.ndarray  # uint32[n+1]: count of PC-relative literal loads before each slot
    literals: np.ndarray  # uint32[]: their target addresses, in slot order
    base_cycles: np.ndarray  # uint32[n]: cost of the instruction starting in the slot (0 elsewhere)
    bad_text: dict  # slot -> "mnemonic operands" of a refused instruction
    sp_writes: list  # addresses just after each `mov sp, rX` / `add sp, rX` (see `writes_sp_from_register`)

    @property
    def end(self) -> int:
        return self.base + 2 * (len(self.cycles_prefix) - 1)


def build_table(memory: bytes, base: int, code_ranges) -> CodeTable:
    """Decode code_ranges (absolute addresses inside [base, base+len(memory))) of the image `memory`."""
    n = len(memory) // 2
    cyc = np.zeros(n, np.uint32)
    ins = np.zeros(n, np.uint32)
    bad = np.zeros(n, np.uint32)
    condbr = np.zeros(n + 1, np.uint8)
    literal_at = {}
    bad_text = {}
    sp_writes = []
    md = disassembler()
    for lo, hi in code_ranges:
        addr = lo
        while addr < hi:
            chunk = memory[addr - base:hi - base]
            decoded = False
            for insn in md.disasm(chunk, addr):
                decoded = True
                slot = (insn.address - base) // 2
                ins[slot] = 1
                n_regs = len(insn.operands) if insn.mnemonic.startswith(("push", "pop", "ldm", "stm")) else 0
                if insn.mnemonic.startswith(("ldm", "stm")):
                    n_regs -= 1  # the base register operand
                cyc[slot] = timing.instruction_cycles(insn.mnemonic, insn.op_str, n_regs)
                if not is_armv6m(insn):
                    bad[slot] = 1
                    bad_text[slot] = f"{insn.mnemonic} {insn.op_str}".strip()
                lit = _literal_address(insn)
                if lit is not None:
                    literal_at[slot] = lit
                if writes_sp_from_register(insn):
                    sp_writes.append(insn.address + insn.size)
                if timing.is_conditional_branch(insn.mnemonic):
                    condbr[slot + insn.size // 2] = 1
                addr = insn.address + insn.size
            if addr < hi:
                # capstone stopped on bytes it cannot decode: an undefined instruction; mark it and skip.
                slot = (addr - base) // 2
                if not decoded or ins[slot] == 0:
                    ins[slot] = 1
                    cyc[slot] = timing.EXCEPTION
                    bad[slot] = 1
                    bad_text[slot] = f"undefined 0x{int.from_bytes(memory[addr - base:addr - base + 2], 'little'):04x}"
                addr += 2
    prefix = lambda a: np.concatenate([[0], np.cumsum(a, dtype=np.uint64)]).astype(np.uint32)
    has_lit = np.zeros(n, np.uint32)
    has_lit[list(literal_at)] = 1
    literals = np.array([literal_at[k] for k in sorted(literal_at)] or [0], np.uint32)
    return CodeTable(base, prefix(cyc), prefix(ins), prefix(bad), condbr, prefix(has_lit), literals, cyc, bad_text,
                     sp_writes)


def splice(table: CodeTable, sub: CodeTable) -> CodeTable:
    """`table` with the slots `sub` spans replaced by sub's decode (code rewritten in place): the per-slot
    values are taken apart from the prefix sums, replaced, and summed again."""
    i = (sub.base - table.base) // 2
    j = i + len(sub.base_cycles)
    per = lambda prefix: np.diff(prefix.astype(np.int64))
    summed = lambda a: np.concatenate([[0], np.cumsum(a)]).astype(np.uint32)

    def replaced(name):
        values = per(getattr(table, name))
        values[i:j] = per(getattr(sub, name))
        return summed(values)
    cyc = table.base_cycles.copy()
    cyc[i:j] = sub.base_cycles
    condbr = table.condbr_end.copy()
    condbr[i + 1:j + 1] = sub.condbr_end[1:]  # a flag at slot k marks a branch ending there
    old_lits = dict(zip(np.flatnonzero(per(table.literal_prefix)).tolist(), table.literals.tolist()))
    new_lits = {k: v for k, v in old_lits.items() if not i <= k < j}
    new_lits.update({i + k: v for k, v in zip(np.flatnonzero(per(sub.literal_prefix)).tolist(), sub.literals.tolist())})
    has_lit = np.zeros(len(cyc), np.int64)
    has_lit[list(new_lits)] = 1
    literals = np.array([new_lits[k] for k in sorted(new_lits)] or [0], np.uint32)
    bad_text = {k: v for k, v in table.bad_text.items() if not i <= k < j}
    bad_text.update({i + k: v for k, v in sub.bad_text.items()})
    sp_writes = [a for a in table.sp_writes if not sub.base < a <= sub.end] + sub.sp_writes
    return CodeTable(table.base, summed(cyc), replaced("insns_prefix"), replaced("bad_prefix"), condbr,
                     summed(has_lit), literals, cyc, bad_text, sp_writes)


def writes_sp_from_register(insn) -> bool:
    """`mov sp, rX` and `add sp, rX`: the only ARMv6-M writes of SP that can leave bits [1:0] set, which the
    core ignores (ARMv6-M ARM B1.4.2: SP is word-aligned, writes to bits [1:0] are ignored); Unicorn keeps
    them, so m0sim clears them just after such an instruction."""
    ops = insn.operands
    return (insn.mnemonic in ("mov", "add") and len(ops) == 2 and ops[0].type == capstone.arm.ARM_OP_REG
            and ops[0].reg == capstone.arm.ARM_REG_SP and ops[1].type == capstone.arm.ARM_OP_REG)


def _literal_address(insn) -> int | None:
    """The address an `ldr rX, [pc, #imm]` reads: Align(PC + 4, 4) + imm."""
    if insn.mnemonic != "ldr" or len(insn.operands) != 2:
        return None
    mem = insn.operands[1]
    if mem.type != capstone.arm.ARM_OP_MEM or mem.mem.base != capstone.arm.ARM_REG_PC:
        return None
    return ((insn.address + 4) & ~3) + mem.mem.disp


def disassemble(memory: bytes, addr: int, count: int = 1) -> list[str]:
    md = disassembler()
    return [f"0x{i.address:08x}: {i.bytes.hex():<8} {i.mnemonic} {i.op_str}".rstrip()
            for i in md.disasm(memory, addr, count)]
