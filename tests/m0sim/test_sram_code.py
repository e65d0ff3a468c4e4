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


# Two position-independent loops, each linked twice: in flash (to be copied to SRAM at run time) and in SRAM
# by the linker (.data, as a RAM function is): the copy must run and cost exactly what the linked one costs.
KERNELS = r"""
#include <stdint.h>
#include <string.h>
#define KERNEL(name, section, flags, body) \
    __asm__(".section " section ",\"" flags "\"\n .syntax unified\n .align 2\n .global " #name "\n" \
            " .thumb_func\n .type " #name ", %function\n" #name ":\n" body " .global " #name "_end\n" \
            #name "_end:\n .text\n");
#define SUM "movs r2, #0\n1: adds r2, r2, r0\n subs r1, r1, #1\n bne 1b\n mov r0, r2\n bx lr\n"
#define TRI "movs r2, #0\n1: adds r2, r2, r1\n adds r2, r2, r0\n subs r1, r1, #1\n bne 1b\n mov r0, r2\n bx lr\n"
KERNEL(sum_flash, ".text.sum", "ax", SUM)
KERNEL(sum_ram, ".data.sum", "awx", SUM)
KERNEL(tri_flash, ".text.tri", "ax", TRI)
KERNEL(tri_ram, ".data.tri", "awx", TRI)
extern char sum_flash[], sum_flash_end[], tri_flash[], tri_flash_end[];
uint32_t buf[64];
static unsigned copy(const char *from, const char *end) {
    from = (const char *)((uintptr_t)from & ~1u);
    (void)*(volatile uint32_t *)buf;  /* a load first: the store after it must still be seen as changing code */
    memcpy(buf, from, (size_t)(end - from));
    return (unsigned)(uintptr_t)buf | 1u;
}
unsigned install_sum(void) { return copy(sum_flash, sum_flash_end); }
unsigned install_tri(void) { return copy(tri_flash, tri_flash_end); }
typedef unsigned (*fn_t)(unsigned, unsigned);
volatile unsigned ticks;
void isr_systick(void) { ticks++; }
int with_systick(unsigned f) {  /* SysTick every 37 cycles while f runs: interrupts land in new SRAM blocks */
    *(volatile uint32_t *)0xE000E014 = 36;
    *(volatile uint32_t *)0xE000E018 = 0;
    *(volatile uint32_t *)0xE000E010 = 7;
    unsigned r = ((fn_t)f)(7, 300);
    *(volatile uint32_t *)0xE000E010 = 0;
    return r == 2100 ? (int)ticks : -1;
}
int main(void) {
    unsigned a = ((fn_t)install_sum())(7, 100);
    unsigned b = ((fn_t)install_tri())(7, 100);  /* the same SRAM rewritten with other code after it ran */
    return a == 700 && b == 700 + 5050 ? 0 : 1;
}
"""


def _cost(m, fn, *args):
    r = m.call(fn, *args)
    return r, m.last_stats.instructions, m.last_stats.cycles


def test_function_copied_to_sram_runs_counted_as_the_linked_one(firmware):
    from m0sim.machine import Machine
    elf = firmware(KERNELS)
    m = Machine(elf)
    linked_sum, linked_tri = _cost(m, "sum_ram", 7, 100), _cost(m, "tri_ram", 7, 100)
    assert linked_sum[0] == 700 and linked_tri[0] == 700 + 5050
    for _ in range(2):  # first run decodes, second runs the cached decode: same counts (deterministic)
        buf = m.call("install_sum")
        assert _cost(m, buf, 7, 100) == linked_sum  # stopped with exit 70 "not code" before
    buf = m.call("install_tri")  # overwrite code that has run: the old decode must not be used
    assert _cost(m, buf, 7, 100) == linked_tri
    assert Machine(elf).run().exit_code == 0
    again = Machine(elf)
    first, second = again.run().stats, Machine(elf).run().stats
    assert (first.instructions, first.cycles) == (second.instructions, second.cycles)


def test_thumb2_written_at_run_time_faults_as_on_silicon(firmware):
    import numpy as np
    import pytest
    from m0sim.errors import FirmwareFault
    from m0sim.machine import Machine
    m = Machine(firmware(KERNELS))
    buf = m.call("install_sum")
    m.write(buf & ~1, np.array([0xF240, 0x0001], np.uint16))  # movw r0, #1: Thumb-2, not ARMv6-M
    with pytest.raises(FirmwareFault, match="outside ARMv6-M"):
        m.call(buf, 7, 100)


def test_debugger_write_into_flash_code_is_decoded_again(firmware):
    """A Thumb-2 `movw` written by GDB into flash ran silently: now it is checked like loaded code."""
    import numpy as np
    import pytest
    from m0sim.errors import FirmwareFault, InputError
    from m0sim.machine import Machine
    m = Machine(firmware(KERNELS))
    first = _cost(m, "sum_flash", 7, 100)
    assert first[:2] == (700, 1 + 3 * 100 + 2)
    m.write("sum_flash", np.array([0xF240, 0x0001], np.uint16))
    with pytest.raises(FirmwareFault, match="outside ARMv6-M"):
        m.call("sum_flash", 7, 100)
    m.write("sum_flash", np.array([0x2200, 0x1812], np.uint16))  # the original instructions back
    assert _cost(m, "sum_flash", 7, 100)[:2] == first[:2]
    with pytest.raises(InputError, match="bootrom is read-only"):
        m.write(0x100, np.array([0], np.uint16))


def test_copied_function_under_interrupts_counts_as_the_linked_one(firmware):
    """An interrupt due while a block of new SRAM code is decoded: the run went on from the wrong place and
    returned early (found here: it returned r0 = 7); now counts and ticks equal the linked copy's."""
    from m0sim.machine import Machine
    runs = {}
    for which in ("sum_ram", "copy"):
        m = Machine(firmware(KERNELS))
        buf = m.call("install_sum")
        f = m.program.symbol("sum_ram").addr | 1 if which == "sum_ram" else buf
        runs[which] = [_cost(m, "with_systick", f) for _ in range(2)]
    assert runs["copy"] == runs["sum_ram"]
    assert runs["copy"][0][0] > 500  # ticks: the interrupts did run
