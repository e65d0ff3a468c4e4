"""Shared fixtures: compile small C programs for the emulated Pico once per test session."""

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from m0sim.toolchain import compile_program

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def firmware(tmp_path_factory):
    """firmware(c_source_text, *flags) -> path of an ELF built with the project's toolchain (cached by content)."""
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.fail("arm-none-eabi-gcc missing: run `make setup`")
    root = tmp_path_factory.mktemp("firmware")

    def build(source: str, *flags: str, opt: str = "-O2") -> Path:
        key = hashlib.sha1((source + repr(flags) + opt).encode()).hexdigest()[:12]
        src, elf = root / f"{key}.c", root / f"{key}.elf"
        if not elf.exists():
            src.write_text(source)
            compile_program([src], elf, list(flags), opt=opt)
        return elf

    return build


def run_cli(*args, input=None):
    """Run the real command line in a subprocess: exit codes and stderr exactly as a user sees them."""
    return subprocess.run([sys.executable, "-m", "m0sim", *map(str, args)], capture_output=True, text=True,
                          input=input, cwd=REPO)


@pytest.fixture
def cli():
    return run_cli
