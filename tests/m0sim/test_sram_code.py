"""Code in SRAM: placed there by the linker (RAM functions), or copied there at run time and then called."""

import re
from pathlib import Path

from m0sim import memmap
from m0sim.loader import load_program
from m0sim.program import Program, Section, Segment

RAMFUNC = r"""
#include <stdio.h>
__attribute__((section(".data.ramfunc"), noinline)) int in_ram(int x) { return 3 * x + 1; }
int main(void) {
    int s = 0;
    for (int i = 0; i < 100; i++) s += in_ram(i);
    printf("%d\n", s);
    return 0;
}
"""


def test_ram_function_counts_as_sram_not_flash_text(firmware, cli):
    elf = firmware(RAMFUNC)
    program = load_program(elf)
    fp = program.footprint()
    fn = program.symbol("in_ram")
    assert memmap.SRAM.contains(fn.addr)
    in_sram = sum(s.size for s in program.sections if "a" in s.flags and memmap.SRAM.contains(s.addr))
    in_flash_code = sum(s.size for s in program.sections
                        if "x" in s.flags and s.size and memmap.XIP.contains(s.addr))
    assert fp["sram_code"] >= fn.size > 0
    assert fp["static_ram"] == in_sram  # .data with its code stays in the SRAM figure (it dropped out)
    assert fp["text"] == in_flash_code  # and is not flash text
    assert fp["flash"] == fp["text"] + fp["rodata"] + fp["data_image"] and fp["data_image"] == fp["data"]
    info = cli("info", elf)
    assert info.returncode == 0, info.stderr
    assert re.search(rf"SRAM:\s+{fp['static_ram']} bytes .* data {fp['data']} \(code {fp['sram_code']}\)",
                     info.stdout), info.stdout
    run = cli("exec", "--stats", elf)
    assert run.returncode == 0 and run.stdout == f"{sum(3 * i + 1 for i in range(100))}\n", run.stderr
    assert f"static {fp['static_ram'] / 1024:.1f}," in run.stderr


def test_program_linked_to_ram_takes_no_flash():
    """A program linked to (and loaded into) SRAM: its code is SRAM, none of it flash."""
    code = Segment(memmap.SRAM.base, memmap.SRAM.base, b"\0" * 0x2000, 0x2000, True)
    data = Segment(memmap.SRAM.base + 0x2000, memmap.SRAM.base + 0x2000, b"\1" * 0x100, 0x180, False)
    sections = [Section(".text", memmap.SRAM.base, 0x2000, "ax", False),
                Section(".data", memmap.SRAM.base + 0x2000, 0x100, "aw", False),
                Section(".bss", memmap.SRAM.base + 0x2100, 0x80, "aw", True)]
    program = Program(Path("ram.elf"), memmap.SRAM.base, [code, data], sections, {}, [(memmap.SRAM.base, 0x2000)])
    fp = program.footprint()
    assert (fp["text"], fp["flash"], fp["sram_code"], fp["static_ram"]) == (0, 0, 0x2000, 0x2180)
