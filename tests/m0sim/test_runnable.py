"""Programs m0sim cannot run from reset are refused before anything waits on them (`m0sim gdbserver`)."""

import subprocess
import sys

from elfpatch import ElfPatch
from test_bad_input import INPUT, assert_one_line_error

from m0sim import memmap

MAIN = "int main(void) { return 3; }\n"


def test_gdbserver_refuses_an_elf_it_cannot_run_before_listening(firmware, tmp_path):
    """A pico-sdk ELF starts with boot2 (code) where m0sim's layout has the initial SP: `exec` refused it, and
    `gdbserver` listened and let GDB connect to a program that could not start."""
    patch = ElfPatch(firmware(MAIN).read_bytes())
    patch.word_at(memmap.XIP.base, 0x4B32B500)  # push {lr}; ldr r3, [pc, #200]: boot2's first instructions
    bad = tmp_path / "boot2.elf"
    bad.write_bytes(bytes(patch.data))
    proc = subprocess.run([sys.executable, "-m", "m0sim", "gdbserver", "--port", "0", str(bad)],
                          capture_output=True, text=True, timeout=60)
    assert_one_line_error(proc, INPUT, "boot2.elf", "initial SP 0x4b32b500")
    assert "listening" not in proc.stderr


def test_gdbserver_refuses_a_uf2_without_a_runnable_reset(firmware, tmp_path):
    from m0sim import uf2
    from m0sim.loader import load_program
    program = load_program(firmware(MAIN))
    pages = uf2.flash_pages(program)
    first = bytearray(pages[memmap.XIP.base])
    first[0:4] = (0x30000000).to_bytes(4, "little")  # an SP outside SRAM
    pages[memmap.XIP.base] = bytes(first)
    path = tmp_path / "sp.uf2"
    path.write_bytes(uf2._blocks_from_image(pages))
    proc = subprocess.run([sys.executable, "-m", "m0sim", "gdbserver", "--port", "0", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert_one_line_error(proc, INPUT, "sp.uf2", "initial SP 0x30000000")
