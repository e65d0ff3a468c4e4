/* Both RP2040 cores from C, the way the pico-sdk names it: launch core 1, the inter-core FIFOs, the hardware
 * spinlocks, events (RP2040 datasheet 2.3.1 SIO, 2.8.2 "Launching code on processor core 1").
 *
 * Header-only; found on the include path of every `m0sim cc` build:  #include "multicore.h"
 * Run the program with `m0sim exec` (or m0sim.soc.Pico from Python), which emulates both cores.
 */
#ifndef M0SIM_MULTICORE_H
#define M0SIM_MULTICORE_H

#include <stddef.h>
#include <stdint.h>

#define SIO_BASE 0xd0000000u
#define SIO_REG(off) (*(volatile uint32_t *)(SIO_BASE + (off)))
#define SIO_CPUID SIO_REG(0x000)
#define SIO_FIFO_ST SIO_REG(0x050)
#define SIO_FIFO_WR SIO_REG(0x054)
#define SIO_FIFO_RD SIO_REG(0x058)
#define SIO_SPINLOCK_ST SIO_REG(0x05c)
#define SIO_SPINLOCK(n) SIO_REG(0x100 + 4 * (n))
#define SIO_FIFO_ST_VLD 1u /* this core's RX FIFO holds a word */
#define SIO_FIFO_ST_RDY 2u /* this core's TX FIFO has room */
#define SIO_FIFO_ST_WOF 4u /* a write to a full TX FIFO (sticky; write FIFO_ST to clear) */
#define SIO_FIFO_ST_ROE 8u /* a read of an empty RX FIFO (sticky) */
#define SIO_IRQ_PROC0 15   /* NVIC line of core 0's FIFO interrupt */
#define SIO_IRQ_PROC1 16   /* core 1's */
#define SCB_VTOR (*(volatile uint32_t *)0xe000ed08u)
#define NVIC_ISER (*(volatile uint32_t *)0xe000e100u)
#define NVIC_ICPR (*(volatile uint32_t *)0xe000e280u)

static inline uint32_t get_core_num(void) { return SIO_CPUID; }
static inline void __sev(void) { __asm__ volatile("sev"); }
static inline void __wfe(void) { __asm__ volatile("wfe"); }
static inline void __dmb(void) { __asm__ volatile("dmb" ::: "memory"); }

static inline int multicore_fifo_rvalid(void) { return (SIO_FIFO_ST & SIO_FIFO_ST_VLD) != 0; }
static inline int multicore_fifo_wready(void) { return (SIO_FIFO_ST & SIO_FIFO_ST_RDY) != 0; }

/* Send a word to the other core: wait for room, write, wake the other core if it sleeps in WFE. */
static inline void multicore_fifo_push_blocking(uint32_t word)
{
    while (!multicore_fifo_wready()) {
    }
    SIO_FIFO_WR = word;
    __sev();
}

/* Receive a word from the other core, sleeping in WFE until one arrives. */
static inline uint32_t multicore_fifo_pop_blocking(void)
{
    while (!multicore_fifo_rvalid()) __wfe();
    return SIO_FIFO_RD;
}

static inline void multicore_fifo_drain(void)
{
    while (multicore_fifo_rvalid()) (void)SIO_FIFO_RD;
}

static inline void multicore_fifo_clear_irq(void) { SIO_FIFO_ST = 0xff; }

/* Hardware spinlock n (0-31): reading claims it when free (non-zero), writing releases it. */
static inline void spin_lock(unsigned n)
{
    while (SIO_SPINLOCK(n) == 0) {
    }
    __dmb();
}

static inline void spin_unlock(unsigned n)
{
    __dmb();
    SIO_SPINLOCK(n) = 0;
}

static inline void irq_set_enabled(unsigned irq)
{
    NVIC_ICPR = 1u << irq;
    NVIC_ISER = 1u << irq;
}

/* Start `entry` on core 1 with its stack at [stack, stack + stack_bytes) and core 0's vector table, by the
 * bootrom's FIFO protocol: 0, 0, 1, vector table, stack pointer, entry, each word echoed back by core 1 (start
 * over on a wrong echo). When `entry` returns, core 1 waits in the bootrom again and can be launched anew. */
static inline void multicore_launch_core1_with_stack(void (*entry)(void), uint32_t *stack, size_t stack_bytes)
{
    uint32_t sp = ((uint32_t)(uintptr_t)stack + (uint32_t)stack_bytes) & ~7u;
    const uint32_t words[6] = {0, 0, 1, SCB_VTOR, sp, (uint32_t)(uintptr_t)entry};
    unsigned step = 0;
    while (step < 6) {
        uint32_t word = words[step];
        if (word == 0) { /* make sure core 1 reads the sequence from its start */
            multicore_fifo_drain();
            __sev();
        }
        multicore_fifo_push_blocking(word);
        step = multicore_fifo_pop_blocking() == word ? step + 1 : 0;
    }
}

/* Running functions on core 1: start a worker once, then hand it jobs. multicore_run_on_core1(fn, arg) sends
 * fn and arg through the FIFO and returns at once; core 1 runs fn(arg) and sends back its result, which
 * multicore_join_core1() waits for (asleep in WFE). Between jobs core 1 sleeps in WFE. One job at a time. */
typedef uint32_t (*core1_job_t)(void *arg);

static inline void multicore_worker_loop(void)
{
    for (;;) {
        core1_job_t job = (core1_job_t)(uintptr_t)multicore_fifo_pop_blocking();
        void *arg = (void *)(uintptr_t)multicore_fifo_pop_blocking();
        multicore_fifo_push_blocking(job(arg));
    }
}

static inline void multicore_start_worker(uint32_t *stack, size_t stack_bytes)
{
    multicore_launch_core1_with_stack(multicore_worker_loop, stack, stack_bytes);
}

static inline void multicore_run_on_core1(core1_job_t job, void *arg)
{
    multicore_fifo_push_blocking((uint32_t)(uintptr_t)job);
    multicore_fifo_push_blocking((uint32_t)(uintptr_t)arg);
}

static inline uint32_t multicore_join_core1(void) { return multicore_fifo_pop_blocking(); }

#endif
