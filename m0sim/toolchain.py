"""Compile C for the emulated Pico: the project's flags, start-up code and generated linker script in one place.

`m0sim cc` and the kernel build both come through here, so a user's program and the project's kernels are built
the same way.
"""

import functools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from m0sim import cachefile, memmap
from m0sim.errors import InputError

CC = "arm-none-eabi-gcc"
DEBIAN_PACKAGES = ("gcc-arm-none-eabi", "libnewlib-arm-none-eabi")  # the compiler and its C library
DEFAULT_STACK_SIZE = 16 * 1024

# Code generation for the RP2040's core; semihosting I/O through newlib's rdimon, with our own start-up code.
CPU_FLAGS = ["-mcpu=cortex-m0plus", "-mthumb"]
# No section garbage collection: every function of the user's files stays linked, so Python can `call` it
# (the C library is an archive, so only the members a program needs are linked anyway).
C_FLAGS = ["-Wall", "-g"]
LINK_FLAGS = ["--specs=nano.specs", "--specs=rdimon.specs", "-nostartfiles"]


def runtime_dir() -> Path:
    """The start-up code and linker-script template, package data beside this module."""
    return Path(__file__).resolve().parent / "runtime"


def linker_script(stack_size: int = DEFAULT_STACK_SIZE) -> str:
    path = runtime_dir() / "pico.ld.in"
    if not path.is_file():
        raise InputError(f"{path} not found: the m0sim package is incomplete (reinstall it)")
    template = path.read_text()
    return template.replace("@MEMORY@", memmap.linker_memory_block()).replace("@STACK_SIZE@", hex(stack_size))


def fingerprint(extra_flags=(), stack_size: int = DEFAULT_STACK_SIZE, opt: str = "-O2") -> list[str]:
    """Everything compile_program adds to a program's own sources: flags, start-up code, linker script and the
    compiler's version (for build caches keyed by their inputs: a new compiler builds anew)."""
    flags = [*CPU_FLAGS, opt, *C_FLAGS, *extra_flags, *LINK_FLAGS]
    script = linker_script(stack_size)  # first: it says so when the runtime files are missing
    return [" ".join(flags), script, (runtime_dir() / "crt0.c").read_text(), compiler_version()]


def compiler_version() -> str:
    """The first line of `arm-none-eabi-gcc --version` (a placeholder when there is no compiler: building then
    says what to install)."""
    return _version_line(shutil.which(CC))


@functools.cache
def _version_line(path: str | None) -> str:
    if path is None:
        return f"{CC}: not found"
    try:
        proc = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{CC}: {exc}"
    return next(iter(proc.stdout.splitlines()), f"{CC}: no version")


def find_compiler() -> str:
    path = shutil.which(CC)
    if path is None:
        raise InputError(f"{CC} not found on PATH: install the Debian packages {' and '.join(DEBIAN_PACKAGES)} "
                         f"(`apt-get install {' '.join(DEBIAN_PACKAGES)}`; in a checkout `make setup` does it)")
    return path


def _is_library(flag: str) -> bool:
    """-lNAME and linker options (-Wl,...: e.g. -Wl,-lm or -Wl,--whole-archive around a library): the linker
    resolves a library only against objects named before it, so these go after the sources, in their order."""
    return flag.startswith(("-l", "-Wl,"))


def compile_program(sources, output, extra_flags=(), stack_size: int = DEFAULT_STACK_SIZE, opt: str = "-O2") -> Path:
    """Build sources into an ELF for the emulated Pico; the output appears only if the build succeeded.

    `opt` comes first and `extra_flags` keep their order, so a later -O wins as with gcc; -l flags go after
    the sources (with -Wl, options, in their order) so that the libraries they name are linked."""
    sources = [Path(s) for s in sources]
    for s in sources:
        if not s.is_file():
            raise InputError(f"source file not found: {s}")
    output = Path(output)
    if output.is_dir():
        raise InputError(f"-o {output}: is a directory; give the ELF file to write")
    if any(output.resolve() == s.resolve() for s in sources):
        raise InputError(f"-o {output}: is also a source file; the ELF would replace it")
    cachefile.ensure_dir(output.parent, "output directory")
    cc = find_compiler()
    libraries = [f for f in extra_flags if _is_library(f)]
    extra_flags = [f for f in extra_flags if not _is_library(f)]
    # the ELF is linked under a unique name beside `output` and renamed: atomic, and never across file systems
    fd, partial = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".part")
    os.close(fd)
    with tempfile.TemporaryDirectory(prefix="m0sim-cc-") as tmp:
        ld = Path(tmp) / "pico.ld"
        ld.write_text(linker_script(stack_size))
        cmd = [cc, *CPU_FLAGS, opt, *C_FLAGS, *extra_flags, "-I", str(runtime_dir()),
               *map(str, sources), str(runtime_dir() / "crt0.c"), *libraries,
               "-T", str(ld), *LINK_FLAGS, "-o", str(partial)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                raise InputError(f"compilation failed ({' '.join(map(str, sources))}):\n{proc.stderr.strip()}")
            if proc.stderr.strip():
                print(proc.stderr.strip())
            if output.suffix.lower() == ".uf2":  # the linked ELF's flash image, as UF2 blocks
                from m0sim.loader import load_program
                from m0sim.uf2 import write_uf2
                write_uf2(load_program(partial), partial)
            os.replace(partial, output)
        finally:
            if os.path.exists(partial):
                os.unlink(partial)
    return output
