"""Compile C for the emulated Pico: the project's flags, start-up code and generated linker script in one place.

`m0sim cc` and the kernel build both come through here, so a user's program and the project's kernels are built
the same way.
"""

import os
import shutil
import subprocess
import tempfile
from importlib import resources
from pathlib import Path

from m0sim import memmap
from m0sim.errors import InputError

CC = "arm-none-eabi-gcc"
DEFAULT_STACK_SIZE = 16 * 1024

# Code generation for the RP2040's core; semihosting I/O through newlib's rdimon, with our own start-up code.
CPU_FLAGS = ["-mcpu=cortex-m0plus", "-mthumb"]
# No section garbage collection: every function of the user's files stays linked, so Python can `call` it
# (the C library is an archive, so only the members a program needs are linked anyway).
C_FLAGS = ["-Wall", "-g"]
LINK_FLAGS = ["--specs=nano.specs", "--specs=rdimon.specs", "-nostartfiles"]


def runtime_dir() -> Path:
    return Path(str(resources.files("m0sim") / "runtime"))


def linker_script(stack_size: int = DEFAULT_STACK_SIZE) -> str:
    template = (runtime_dir() / "pico.ld.in").read_text()
    return template.replace("@MEMORY@", memmap.linker_memory_block()).replace("@STACK_SIZE@", hex(stack_size))


def find_compiler() -> str:
    path = shutil.which(CC)
    if path is None:
        raise InputError(f"{CC} not found on PATH: run `make setup` (installs Debian's gcc-arm-none-eabi)")
    return path


def compile_program(sources, output, extra_flags=(), stack_size: int = DEFAULT_STACK_SIZE, opt: str = "-O2") -> Path:
    """Build sources into an ELF for the emulated Pico; the output appears only if the build succeeded."""
    sources = [Path(s) for s in sources]
    for s in sources:
        if not s.is_file():
            raise InputError(f"source file not found: {s}")
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    cc = find_compiler()
    with tempfile.TemporaryDirectory(prefix="m0sim-cc-") as tmp:
        ld = Path(tmp) / "pico.ld"
        ld.write_text(linker_script(stack_size))
        partial = Path(tmp) / output.name
        cmd = [cc, *CPU_FLAGS, opt, *C_FLAGS, *extra_flags, "-I", str(runtime_dir()),
               *map(str, sources), str(runtime_dir() / "crt0.c"),
               "-T", str(ld), *LINK_FLAGS, "-o", str(partial)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise InputError(f"compilation failed ({' '.join(map(str, sources))}):\n{proc.stderr.strip()}")
        if proc.stderr.strip():
            print(proc.stderr.strip())
        os.replace(partial, output)
    return output
