/* Start-up code for the emulated Raspberry Pi Pico (also valid on a real RP2040 loaded by a debugger).
 *
 * The vector table sits at the start of flash (the generated linker script puts .vectors first).  Reset copies
 * .data from its load address in flash to SRAM, zeroes .bss, sets the heap limit, opens newlib's semihosting handles (rdimon), runs
 * C++/constructor arrays, then calls main and passes its result to exit (semihosting SYS_EXIT_EXTENDED).
 */
#include <stdint.h>
#include <stdlib.h>

extern uint32_t __data_load[], __data_start__[], __data_end__[], __bss_start__[], __bss_end__[];
extern uint32_t __stack_top[], __HeapLimit[];
extern char *__heap_limit; /* newlib's (libgloss) sbrk refuses to pass it; its own crt0 sets it, ours must */
extern int main(void);
extern void initialise_monitor_handles(void);
extern void __libc_init_array(void);

/* newlib's __libc_init_array calls these; crti.o is not linked with -nostartfiles. */
__attribute__((weak)) void _init(void) {}
__attribute__((weak)) void _fini(void) {}

__attribute__((noreturn)) void Reset_Handler(void)
{
    uint32_t *src = __data_load, *dst = __data_start__;
    while (dst < __data_end__) *dst++ = *src++;
    for (dst = __bss_start__; dst < __bss_end__;) *dst++ = 0;
    __heap_limit = (char *)__HeapLimit; /* malloc stops where the stack's reserve begins */
    initialise_monitor_handles();
    __libc_init_array();
    exit(main());
}

/* Any exception we do not model as a handler: stop at a breakpoint the emulator reports as a hard fault. */
void Default_Handler(void)
{
    for (;;) __asm__ volatile("bkpt #0");
}

typedef void (*vector_t)(void);

/* Handlers a firmware may define (pico-sdk's names); those it does not define stay Default_Handler, which
 * m0sim reports as a hard fault (exit 70). m0sim.exceptions takes the others as the Cortex-M0+ would. */
#define WEAK_HANDLER(name) void name(void) __attribute__((weak, alias("Default_Handler")));
WEAK_HANDLER(isr_nmi)
WEAK_HANDLER(isr_hardfault)
WEAK_HANDLER(isr_svcall)
WEAK_HANDLER(isr_pendsv)
WEAK_HANDLER(isr_systick)
WEAK_HANDLER(isr_irq0)
WEAK_HANDLER(isr_irq1)
WEAK_HANDLER(isr_irq2)
WEAK_HANDLER(isr_irq3)
WEAK_HANDLER(isr_irq4)
WEAK_HANDLER(isr_irq5)
WEAK_HANDLER(isr_irq6)
WEAK_HANDLER(isr_irq7)
WEAK_HANDLER(isr_irq8)
WEAK_HANDLER(isr_irq9)
WEAK_HANDLER(isr_irq10)
WEAK_HANDLER(isr_irq11)
WEAK_HANDLER(isr_irq12)
WEAK_HANDLER(isr_irq13)
WEAK_HANDLER(isr_irq14)
WEAK_HANDLER(isr_irq15)
WEAK_HANDLER(isr_irq16)
WEAK_HANDLER(isr_irq17)
WEAK_HANDLER(isr_irq18)
WEAK_HANDLER(isr_irq19)
WEAK_HANDLER(isr_irq20)
WEAK_HANDLER(isr_irq21)
WEAK_HANDLER(isr_irq22)
WEAK_HANDLER(isr_irq23)
WEAK_HANDLER(isr_irq24)
WEAK_HANDLER(isr_irq25)
WEAK_HANDLER(isr_irq26)
WEAK_HANDLER(isr_irq27)
WEAK_HANDLER(isr_irq28)
WEAK_HANDLER(isr_irq29)
WEAK_HANDLER(isr_irq30)
WEAK_HANDLER(isr_irq31)

__attribute__((section(".vectors"), used)) const vector_t __vectors[16 + 32] = {
    (vector_t)__stack_top, Reset_Handler, isr_nmi, isr_hardfault,
    [4 ... 10] = Default_Handler, isr_svcall, Default_Handler, Default_Handler, isr_pendsv, isr_systick,
    isr_irq0, isr_irq1, isr_irq2, isr_irq3,
    isr_irq4, isr_irq5, isr_irq6, isr_irq7,
    isr_irq8, isr_irq9, isr_irq10, isr_irq11,
    isr_irq12, isr_irq13, isr_irq14, isr_irq15,
    isr_irq16, isr_irq17, isr_irq18, isr_irq19,
    isr_irq20, isr_irq21, isr_irq22, isr_irq23,
    isr_irq24, isr_irq25, isr_irq26, isr_irq27,
    isr_irq28, isr_irq29, isr_irq30, isr_irq31,
};
