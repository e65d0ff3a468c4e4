"""The core's registers as Unicorn names them, and the CPU exceptions its interrupt hook reports: one table each,
for the machine, the exception model and the GDB stub."""

import ctypes

from unicorn import arm_const as arm
from unicorn.unicorn_py3.unicorn import uclib

REG_NAMES = [f"r{i}" for i in range(13)] + ["sp", "lr", "pc"]
REG_IDS = [getattr(arm, f"UC_ARM_REG_R{i}") for i in range(13)] + [arm.UC_ARM_REG_SP, arm.UC_ARM_REG_LR,
                                                                   arm.UC_ARM_REG_PC]

# Unicorn's interrupt numbers (QEMU's EXCP_*) for UC_HOOK_INTR.
EXCP_UDEF, EXCP_SWI, EXCP_DATA_ABORT, EXCP_BKPT = 1, 2, 4, 7  # DATA_ABORT: an unaligned access (Cortex-M0)
EXCP_EXCEPTION_EXIT = 8  # a branch to EXC_RETURN in handler mode

# The exception frame's xPSR bits and the EXC_RETURN values (ARMv6-M B1.5.6-B1.5.8), for m0sim.exceptions and its
# native half (m0sim.native: counter.c's exception entry and return).
EXC_RETURN_HANDLER, EXC_RETURN_THREAD_MSP, EXC_RETURN_THREAD_PSP = 0xFFFFFFF1, 0xFFFFFFF9, 0xFFFFFFFD
XPSR_ALIGN = 1 << 9  # the frame was aligned to 8 bytes with an extra word
XPSR_T = 1 << 24  # EPSR.T: the core executes Thumb; 0 after a branch to an even address (invalid state)


class FastRegs:
    """Read and write one 32-bit core register through Unicorn's C API with one reused buffer: the binding's
    ``reg_read``/``reg_write`` pick a register class and allocate a ctypes value on every call, which made
    them most of a semihosting call's host cost."""

    def __init__(self, engine):
        self._buf = ctypes.c_uint32()
        self._ref = ctypes.byref(self._buf)
        self._handle = engine._uch
        held = ctypes.PyDLL(uclib._name)  # keeps the GIL: these short calls happen inside hooks
        self._read, self._write = held.uc_reg_read, held.uc_reg_write
        for fn, like in ((self._read, uclib.uc_reg_read), (self._write, uclib.uc_reg_write)):
            fn.argtypes, fn.restype = like.argtypes, like.restype

    def read(self, reg: int) -> int:
        self._read(self._handle, reg, self._ref)
        return self._buf.value

    def write(self, reg: int, value: int) -> None:
        self._buf.value = value & 0xFFFFFFFF
        self._write(self._handle, reg, self._ref)
