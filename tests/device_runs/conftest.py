"""Fixtures for the device-kernel tests: the PRIOT kernels plus tests/device/kernel_harness.c, built once."""

import shutil
from pathlib import Path

import pytest

from m0sim.machine import Machine
from m0sim.toolchain import compile_program

REPO = Path(__file__).resolve().parents[2]
KERNEL_DIR = REPO / "kernels" / "priot"
HARNESS = Path(__file__).resolve().parent / "kernel_harness.c"


@pytest.fixture(scope="session")
def kernel_elf(tmp_path_factory):
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.fail("arm-none-eabi-gcc missing: run `make setup`")
    kernels = [p for p in sorted(KERNEL_DIR.glob("*.c")) if p.name != "priot_device.c"]
    out = tmp_path_factory.mktemp("kernels") / "kernel_harness.elf"
    return compile_program([HARNESS, *kernels], out, ["-I", str(KERNEL_DIR), "-O2"])


@pytest.fixture(scope="session")
def km(kernel_elf):
    """One emulated Pico with the harness loaded; every test writes all of its inputs before each call."""
    return Machine(kernel_elf)
