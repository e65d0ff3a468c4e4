"""Exceptions exact to the ARMv6-M Architecture Reference Manual (DDI0419), each against a C program: PRIMASK
unmasked by MSR takes a pending interrupt at the next instruction boundary, ICSR.VECTPENDING names the
highest-priority pending exception, a branch to an even address stacks EPSR.T = 0, and an unaligned store
HardFaults before it writes anything."""

import re

import pytest

from m0sim.errors import FirmwareFault
from m0sim.loader import load_program
from m0sim.machine import Machine

REGS = r"""
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#define ICSR (*(volatile uint32_t *)0xE000ED04)
#define SHPR3 (*(volatile uint32_t *)0xE000ED20)
#define NVIC_ISER (*(volatile uint32_t *)0xE000E100)
#define NVIC_ISPR (*(volatile uint32_t *)0xE000E200)
#define NVIC_ICPR (*(volatile uint32_t *)0xE000E280)
#define NVIC_IPR1 (*(volatile uint32_t *)0xE000E404)
"""

PRIMASK = REGS + r"""
volatile uint32_t order[8], n, stacked_pc[2], taken;
__attribute__((naked)) void isr_irq5(void)
{
    __asm__ volatile("mrs r0, msp\n ldr r1, =record\n bx r1\n .ltorg");
}
void record(uint32_t *frame)
{
    order[n++] = 5;
    stacked_pc[taken++] = frame[6];
}
extern char after_msr[], after_cpsie[];
int main(void)
{
    uint32_t saved;
    __asm__ volatile("mrs %0, primask\n cpsid i" : "=r"(saved) :: "memory");   /* save_and_disable_interrupts */
    NVIC_ISER = 1u << 5;
    NVIC_ISPR = 1u << 5;                      /* pending, masked by PRIMASK */
    order[n++] = 1;
    __asm__ volatile("msr primask, %0\n .global after_msr\n after_msr:" :: "r"(saved) : "memory");
    order[n++] = 2;                           /* restore_interrupts: the IRQ ran before this */
    __asm__ volatile("cpsid i" ::: "memory");
    NVIC_ISPR = 1u << 5;
    order[n++] = 3;
    __asm__ volatile("cpsie i\n .global after_cpsie\n after_cpsie:" ::: "memory");
    order[n++] = 4;
    for (uint32_t i = 0; i < n; i++) printf("%lu ", (unsigned long)order[i]);
    printf("| %d %d\n", stacked_pc[0] == (uint32_t)after_msr, stacked_pc[1] == (uint32_t)after_cpsie);
    return 0;
}
"""


def test_msr_primask_unmasking_takes_the_pending_interrupt_at_the_next_instruction(firmware, cli):
    proc = cli("exec", firmware(PRIMASK))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "1 5 2 3 5 4 | 1 1\n"


VECTPENDING = REGS + r"""
static unsigned pending(void) { return (ICSR >> 12) & 0x1FF; }
int main(void)
{
    __asm__ volatile("cpsid i");              /* VECTPENDING does not include PRIMASK: nothing is taken */
    NVIC_IPR1 = (1u << 14) | (1u << 22) | (2u << 30);   /* IRQ5 and IRQ6 priority 1, IRQ7 priority 2 */
    SHPR3 = 3u << 22;                         /* PendSV the lowest */
    NVIC_ISER = (1u << 5) | (1u << 6) | (1u << 7);
    unsigned v[5];
    NVIC_ISPR = 1u << 7;       v[0] = pending();   /* 23: the only one */
    NVIC_ISPR = 1u << 6;       v[1] = pending();   /* 22: priority 1 beats 2 */
    NVIC_ISPR = 1u << 5;       v[2] = pending();   /* 21: same priority, lower number */
    NVIC_ISPR = 1u << 9;       v[3] = pending();   /* 21: IRQ9 (priority 0) is pending but not enabled */
    ICSR = 1u << 28;           v[4] = pending();   /* 21: PendSV at priority 3 */
    NVIC_ICPR = ~0u;
    ICSR = 1u << 27;
    printf("%u %u %u %u %u %u\n", v[0], v[1], v[2], v[3], v[4], pending());
    return 0;
}
"""


def test_vectpending_names_the_highest_priority_pending_exception(firmware, cli):
    proc = cli("exec", firmware(VECTPENDING))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "23 22 21 21 21 0\n"


HARDFAULT = REGS + r"""
__attribute__((naked)) void isr_hardfault(void)
{
    __asm__ volatile("mrs r0, msp\n ldr r1, =report\n bx r1\n .ltorg");
}
uint32_t buf[4] __attribute__((aligned(8))) = {0x11111111, 0x22222222, 0x33333333, 0x44444444};
void report(uint32_t *frame)
{
    printf("pc=%08lx t=%lu buf=%08lx %08lx %08lx\n", (unsigned long)frame[6], (unsigned long)(frame[7] >> 24 & 1),
           (unsigned long)buf[0], (unsigned long)buf[1], (unsigned long)buf[2]);
    exit(42);
}
volatile int off = 1;
int main(void)
{
#if KIND == 0
    __asm__ volatile("ldr r0, =fault_here\n bx r0\n .ltorg\n .align 2\n .global fault_here\n fault_here: nop");
#elif KIND == 1
    __asm__ volatile("str %0, [%1]\n .global fault_here\n fault_here:"
                     :: "l"(0xAABBCCDDu), "l"((char *)buf + 2 * off) : "memory");
#elif KIND == 2
    __asm__ volatile("strh %0, [%1]\n .global fault_here\n fault_here:"
                     :: "l"(0xEEFFu), "l"((char *)buf + 5 * off) : "memory");
#else
    __asm__ volatile("stm %1!, {%0}\n .global fault_here\n fault_here:"
                     : : "l"(0x99999999u), "l"((char *)buf + 4 * off + 2) : "memory");
#endif
    return 0;
}
"""


def _report(proc):
    m = re.search(r"pc=([0-9a-f]+) t=(\d) buf=(\S+) (\S+) (\S+)", proc.stdout)
    assert proc.returncode == 42 and m, proc.stderr
    return int(m.group(1), 16), int(m.group(2)), m.group(3, 4, 5)


def test_branch_to_an_even_address_stacks_epsr_t_zero(firmware, cli):
    """ARMv6-M: BX to an address with bit 0 clear sets EPSR.T = 0; the next instruction faults, with the branch
    target as the return address and T = 0 in the stacked xPSR."""
    elf = firmware(HARDFAULT, "-DKIND=0")
    pc, t, _ = _report(cli("exec", elf))
    assert pc == load_program(elf).symbol("fault_here").addr & ~1
    assert t == 0


def test_branch_to_an_even_address_without_a_handler_names_the_invalid_state(firmware, cli):
    src = ('int main(void){ __asm__ volatile("ldr r0, =target\\n bx r0\\n .ltorg\\n .align 2\\n target: nop");'
           ' return 0; }')
    proc = cli("exec", firmware(src))
    assert proc.returncode == 70 and "Traceback" not in proc.stderr
    assert "invalid state" in proc.stderr and "without the Thumb bit" in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("kind, what", [(1, "str"), (2, "strh"), (3, "stm")])
def test_unaligned_store_writes_nothing_before_the_hardfault(firmware, cli, kind, what):
    elf = firmware(HARDFAULT, f"-DKIND={kind}")
    pc, t, words = _report(cli("exec", elf))
    assert words == ("11111111", "22222222", "33333333"), what
    assert t == 1
    fault_here = load_program(elf).symbol("fault_here").addr & ~1
    assert pc == fault_here - 2  # the return address is the (16-bit) store itself


def test_the_python_api_checks_alignment_by_default(firmware):
    elf = firmware('#include <stdint.h>\nvolatile int off = 1; uint32_t buf[2];\n'
                   'int main(void){ *(volatile uint32_t *)((char *)buf + off) = 1; return 0; }')
    with pytest.raises(FirmwareFault, match="unaligned write of 4 bytes"):
        Machine(elf, stdout=lambda b: None).run()
    assert Machine(elf, alignment_faults=False, stdout=lambda b: None).run().exit_code == 0
