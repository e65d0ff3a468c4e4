"""Load a program from a file, choosing the reader by the file's type: a UF2 by its name, an ELF otherwise."""

from pathlib import Path

from m0sim.elf import load_elf
from m0sim.program import Program
from m0sim.uf2code import load_uf2


def load_program(path) -> Program:
    """An ELF, or a UF2 when the name ends in .uf2 (see m0sim.uf2code)."""
    path = Path(path)
    if path.suffix.lower() == ".uf2":
        return load_uf2(path)
    return load_elf(path)


def load_runnable(path) -> Program:
    """A program checked to be one m0sim can run from reset (its vector table), refused with one line before
    anything waits on it (`m0sim gdbserver` checks before GDB connects)."""
    program = load_program(path)
    program.check_reset(*program.reset_words())
    return program
