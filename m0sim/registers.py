"""The core's registers as Unicorn names them, and the CPU exceptions its interrupt hook reports: one table each,
for the machine, the exception model and the GDB stub."""

from unicorn import arm_const as arm

REG_NAMES = [f"r{i}" for i in range(13)] + ["sp", "lr", "pc"]
REG_IDS = [getattr(arm, f"UC_ARM_REG_R{i}") for i in range(13)] + [arm.UC_ARM_REG_SP, arm.UC_ARM_REG_LR,
                                                                   arm.UC_ARM_REG_PC]

# Unicorn's interrupt numbers (QEMU's EXCP_*) for UC_HOOK_INTR.
EXCP_UDEF, EXCP_SWI, EXCP_BKPT = 1, 2, 7
EXCP_EXCEPTION_EXIT = 8  # a branch to EXC_RETURN in handler mode
