"""Details where m0sim must behave, and report, as the silicon does."""

SP_LOW_BITS = r"""
#include <stdio.h>
unsigned probe(void) {
    unsigned out, before;
    __asm__ volatile(
        ".syntax unified\n"
        "mov %1, sp\n"
        "mov r3, %1\n"
        "subs r3, #6\n"     /* an address ending in 2 */
        "mov sp, r3\n"      /* the core ignores SP[1:0] on the write */
        "push {r3}\n"       /* so this push is aligned (m0sim faulted here) */
        "pop {r3}\n"
        "mov r3, sp\n"
        "add sp, r3\n"      /* add sp, rX: the other register write of SP */
        "mov sp, %1\n"
        "mov %0, r3\n" : "=l"(out), "=l"(before) :: "r3", "memory");
    return before - out;
}
int main(void) { printf("%u\n", probe()); return 0; }
"""


def test_mov_sp_ignores_the_low_two_bits(firmware, cli):
    proc = cli("exec", firmware(SP_LOW_BITS))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "8\n"  # SP = (SP - 6) & ~3 = SP - 8


BX_ARM = r"""
void f(void) { }
int main(void) {
    unsigned a = (unsigned)&f & ~1u;
    __asm__ volatile("bx %0" :: "l"(a));
    return 0;
}
"""


def test_bx_to_arm_state_is_named(firmware, cli):
    """It said "Invalid instruction ... push": the target's first instruction, not the cause."""
    proc = cli("exec", firmware(BX_ARM))
    assert proc.returncode == 70 and "Traceback" not in proc.stderr
    assert "branch to ARM state" in proc.stderr and "INVSTATE" in proc.stderr and "(f+0x0)" in proc.stderr
    assert "Invalid instruction" not in proc.stderr


def test_svc_with_primask_set_names_the_escalation(firmware, cli):
    proc = cli("exec", firmware("int main(void) { __asm__ volatile(\"cpsid i\\n svc #0\"); return 0; }"))
    assert proc.returncode == 70
    assert "SVC with PRIMASK set" in proc.stderr and "escalates to HardFault" in proc.stderr


def test_svc_without_handler_names_svcall_not_an_alias(firmware, cli):
    """crt0's handlers are weak aliases of Default_Handler: the report named `isr_irq9`."""
    proc = cli("exec", firmware("int main(void) { __asm__ volatile(\"svc #0\"); return 0; }"))
    assert proc.returncode == 70
    assert "isr_irq9" not in proc.stderr and "Default_Handler+0x0" in proc.stderr
    assert "SVCall was taken and the firmware defines no handler for it" in proc.stderr


MMIO = r"""
#include <stdint.h>
volatile uintptr_t where = %s;
int main(void) { *(volatile %s *)where = 5; return 0; }
"""


def test_unaligned_peripheral_access_faults(firmware, cli):
    """Unicorn splits an unaligned MMIO access into aligned pieces the registers accepted; silicon HardFaults."""
    proc = cli("exec", firmware(MMIO % ("0xd0000062", "uint32_t")))  # SIO DIV_UDIVIDEND + 2
    assert proc.returncode == 70 and "Traceback" not in proc.stderr
    assert "unaligned write of 4 bytes at 0xd0000062 (SIO; a Cortex-M0+ HardFaults)" in proc.stderr


def test_narrow_access_to_the_system_control_space_faults(firmware, cli):
    proc = cli("exec", firmware(MMIO % ("0xe000e400", "uint8_t")))  # NVIC_IPR0, byte-accessible on v7-M only
    assert proc.returncode == 70
    assert "1-byte write of Cortex-M0+ system register 0xe000e400 (PPB)" in proc.stderr
    assert "word accesses only" in proc.stderr


def test_narrow_aligned_access_to_rp2040_registers_is_allowed(firmware, cli):
    """The RP2040's registers take narrow accesses (datasheet 2.1.4: a narrow write is replicated)."""
    proc = cli("exec", firmware(MMIO % ("0xd0000060", "uint16_t")))
    assert proc.returncode == 0, proc.stderr
