"""Fixtures for the device-kernel tests: the PRIOT kernels plus tests/device/kernel_harness.c, built once.

PRIOT_KERNEL_DIR=<dir> tests another copy of the kernels (e.g. a `git show` export of an older commit).
"""

import os
import shutil
from pathlib import Path

import pytest

from m0sim.machine import Machine
from m0sim.toolchain import compile_program

REPO = Path(__file__).resolve().parents[2]
KERNEL_DIR = Path(os.environ.get("PRIOT_KERNEL_DIR", REPO / "kernels" / "priot")).resolve()
HARNESS = Path(__file__).resolve().parent / "kernel_harness.c"


@pytest.fixture(scope="session")
def kernel_elf(tmp_path_factory):
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.fail("arm-none-eabi-gcc missing: run `make setup`")
    # every kernel source (C and assembly) but the per-method driver, which needs the generated layout header
    kernels = [p for p in sorted([*KERNEL_DIR.glob("*.c"), *KERNEL_DIR.glob("*.S")]) if p.name != "priot_device.c"]
    out = tmp_path_factory.mktemp("kernels") / "kernel_harness.elf"
    return compile_program([HARNESS, *kernels], out, ["-I", str(KERNEL_DIR), "-O2"])


@pytest.fixture(scope="session")
def km(kernel_elf):
    """One emulated Pico with the harness loaded; every test writes all of its inputs before each call."""
    return Machine(kernel_elf)


@pytest.fixture
def need(km):
    """need(symbol): skip when the kernels under test do not define that function (the API is evolving)."""
    def check(name):
        if name not in km.program.symbols:
            pytest.skip(f"{name} is not defined by the kernels in {KERNEL_DIR}")
    return check
