"""Cortex-M0+ cycle costs on the RP2040: the one table the counters use.

From the Cortex-M0+ Technical Reference Manual (ARM DDI 0484C, table 3-1, zero wait states) and the RP2040
datasheet (single-cycle 32x32 multiplier, single-cycle SIO, 16 KB XIP cache).  Costs that depend on what
happens at run time are added by the counters, not here: +1 for a taken conditional branch, the XIP miss
penalty, -1 for a load/store that lands on SIO, APB wait states.
"""

from dataclasses import dataclass

from m0sim import memmap

# One entry per instruction class: base cycles.
ALU = 1  # ADDS/SUBS/MOVS/logic/shifts/compares/extends/REV/ADR/CPS/NOP/hints
MUL = 1  # MULS: RP2040 configures the single-cycle multiplier (TRM: 1 or 32)
LOAD_STORE = 2  # LDR*/STR*, any width, SRAM or flash hit; SIO accesses are 1 (adjusted at run time)
MULTI_BASE = 1  # LDM/STM/PUSH/POP: 1 + N registers
POP_PC_BASE = 3  # POP {..., pc}: 3 + N (N counts PC too)
BRANCH_COND = 1  # B<cond> not taken; taken costs TAKEN_EXTRA more
TAKEN_EXTRA = 1
BRANCH = 2  # B
BL = 3
BX_BLX = 2
WRITE_PC = 2  # ADD PC, Rm / MOV PC, Rm
BARRIER = 3  # DMB, DSB, ISB
SYSREG = 3  # MRS, MSR
EXCEPTION = 1  # SVC/BKPT/UDF: the instruction itself; exception entry is not modelled

SIO_ACCESS_SAVING = LOAD_STORE - 1
APB_WAIT_STATES = 2  # extra cycles for an APB register access (bus bridge); approximate
XIP_MISS_PENALTY = 50  # ~400 ns uncached QSPI load at 125 MHz
XIP_CACHE_BYTES = 16 * 1024
XIP_CACHE_WAYS = 2
XIP_LINE_BYTES = 8


@dataclass(frozen=True)
class Clock:
    """The clock that turns cycles into time; one place for the Pico's frequency."""

    hz: int = memmap.CLOCK_HZ

    def seconds(self, cycles: int) -> float:
        return cycles / self.hz

    def microseconds(self, cycles: int) -> int:
        return cycles * 1_000_000 // self.hz


_MULTI = {"push", "ldm", "stm", "ldmia", "stmia"}
_LOADS_STORES = {"ldr", "ldrb", "ldrh", "ldrsb", "ldrsh", "str", "strb", "strh"}
_COND_CODES = {"eq", "ne", "hs", "cs", "lo", "cc", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt", "gt", "le"}


def is_conditional_branch(mnemonic: str) -> bool:
    return mnemonic.startswith("b") and len(mnemonic) == 3 and mnemonic[1:] in _COND_CODES


def instruction_cycles(mnemonic: str, op_str: str, n_regs: int) -> int:
    """Base cycles of one decoded instruction (capstone mnemonic, operands text, register-list length)."""
    m = mnemonic.split(".")[0]
    if m in _LOADS_STORES:
        return LOAD_STORE
    if m == "pop":
        return (POP_PC_BASE if "pc" in op_str else MULTI_BASE) + n_regs
    if m in _MULTI:
        return MULTI_BASE + n_regs
    if m == "muls" or m == "mul":
        return MUL
    if m == "b":
        return BRANCH
    if is_conditional_branch(m):
        return BRANCH_COND
    if m == "bl":
        return BL
    if m in ("bx", "blx"):
        return BX_BLX
    if m in ("add", "mov") and op_str.startswith("pc"):
        return WRITE_PC
    if m in ("dmb", "dsb", "isb"):
        return BARRIER
    if m in ("mrs", "msr"):
        return SYSREG
    if m in ("svc", "bkpt", "udf"):
        return EXCEPTION
    return ALU
