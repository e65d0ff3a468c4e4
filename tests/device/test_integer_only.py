"""The PRIOT firmware is integer-only: no soft-float helper from libgcc is linked into any method's variant.

The Cortex-M0+ has no FPU, so any float or double in a kernel pulls in libgcc's __aeabi_f*/__aeabi_d* (or the
__addsf3-style) routines; finding one of those symbols in the ELF means the integer-only promise is broken.
"""

import re
import shutil

import pytest

from m0sim.loader import load_program
from m0sim.toolchain import compile_program
from priot.device import firmware
from priot.device.layout import METHODS
from priot.models import tiny_cnn

SOFT_FLOAT = re.compile(r"^__aeabi_[fd]|^__(add|sub|mul|div|fix|float|extend|trunc|eq|ne|lt|le|gt|ge|un)[sd]f"
                        r"|^__aeabi_[lu]?[fd]2|^__aeabi_[ui]2[fd]")


def soft_float_symbols(elf):
    """Names of the linked soft-float helpers in an ELF (empty for integer-only code)."""
    return sorted(name for name in load_program(elf).symbols if SOFT_FLOAT.search(name))


@pytest.fixture(scope="module")
def outdir(tmp_path_factory):
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.fail("arm-none-eabi-gcc missing: run `make setup`")
    return tmp_path_factory.mktemp("priot-fw")


@pytest.mark.parametrize("method", list(METHODS))  # every firmware variant the registry asks for
def test_firmware_links_no_soft_float(outdir, method):
    elf = firmware.build(tiny_cnn(), firmware.default_variant(method), out_dir=outdir)
    program = load_program(elf)
    assert "priot_layout_hash" in program.symbols, f"{elf} is not a PRIOT firmware"
    found = soft_float_symbols(elf)
    assert not found, f"{method} firmware links soft-float helpers: {found}"


def test_check_catches_float_code(tmp_path):
    """The same check flags a program that does use float and double (so a passing check means something)."""
    src = tmp_path / "uses_float.c"
    src.write_text("volatile float f = 1.5f;\nvolatile double d = 2.25;\nvolatile int i = 3;\n"
                   "int main(void) { f = f * (float)i + 0.5f; d = d / f; return (int)d + (int)f; }\n")
    elf = compile_program([src], tmp_path / "uses_float.elf")
    found = soft_float_symbols(elf)
    assert any(n.startswith("__aeabi_f") for n in found), found
    assert any(n.startswith("__aeabi_d") for n in found), found
