/* Start-up code for the emulated Raspberry Pi Pico (also valid on a real RP2040 loaded by a debugger).
 *
 * The vector table sits at the start of flash (the generated linker script puts .vectors first).  Reset copies
 * .data from its load address in flash to SRAM, zeroes .bss, opens newlib's semihosting handles (rdimon), runs
 * C++/constructor arrays, then calls main and passes its result to exit (semihosting SYS_EXIT_EXTENDED).
 */
#include <stdint.h>
#include <stdlib.h>

extern uint32_t __data_load[], __data_start__[], __data_end__[], __bss_start__[], __bss_end__[];
extern uint32_t __stack_top[];
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
    initialise_monitor_handles();
    __libc_init_array();
    exit(main());
}

/* Any exception we do not model as a handler: stop at a breakpoint the emulator reports as a hard fault. */
__attribute__((noreturn)) void Default_Handler(void)
{
    for (;;) __asm__ volatile("bkpt #0");
}

typedef void (*vector_t)(void);

__attribute__((section(".vectors"), used)) const vector_t __vectors[16 + 32] = {
    (vector_t)__stack_top, Reset_Handler, Default_Handler, Default_Handler,
    [4 ... 16 + 32 - 1] = Default_Handler,
};
