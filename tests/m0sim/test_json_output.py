"""`--json` on every command is one valid JSON document on stdout; `profile` stays right for WFI sleeps longer
than 2**31 cycles (about 17 s at 125 MHz)."""

import json

from test_gdbstub import run_cli

# SysTick at its longest period (2**24 cycles, 134 ms at 125 MHz): 150 ticks are about 20 s asleep in WFI.
LONG_SLEEP = r"""
#include <stdint.h>
#include <stdio.h>
volatile uint32_t ticks;
void isr_systick(void) { ticks++; }
int main(void)
{
    *(volatile uint32_t *)0xE000E014 = 0xFFFFFF;
    *(volatile uint32_t *)0xE000E010 = 7;
    while (ticks < 150) __asm__ volatile("wfi");
    printf("slept %lu ticks\n", (unsigned long)ticks);
    return 0;
}
"""


def test_profile_json_keeps_the_firmware_output_apart_and_long_sleeps_right(firmware):
    elf = firmware(LONG_SLEEP, opt="-O0")
    proc = run_cli("profile", elf, "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)  # the firmware's printf does not come first any more
    assert data["output"] == "slept 150 ticks\n"
    assert data["cycles"] > 2**31
    cycles = {f["name"]: f["cycles"] for f in data["functions"]}
    assert min(cycles.values()) >= 0 and cycles["main"] > 2**31  # the sleep is charged to main, unwrapped
    assert sum(cycles.values()) == data["cycles"]


def test_info_json_is_valid(firmware):
    elf = firmware(LONG_SLEEP, opt="-O0")
    proc = run_cli("info", elf, "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["entry"] > 0 and any(s["name"] == "main" for s in data["symbols"])
