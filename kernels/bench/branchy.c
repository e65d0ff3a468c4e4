/* Branchy benchmark kernels for emulation speed: the code real firmware runs between its inner loops.
 *
 * crc_*: a bitwise CRC-32 (a 2-way branch per bit, short blocks); calls_*: a call-heavy mix of recursion,
 * calls through a table of function pointers and a table-driven state machine, where every return and
 * indirect branch leaves the emulator's chained translation blocks. Each returns a checksum so every
 * emulator can be checked to run the same thing. */
#include <stdint.h>

#define CRC_BYTES 1024
uint8_t crc_data[CRC_BYTES] __attribute__((aligned(4)));

static uint32_t crc32_bitwise(uint32_t crc, const uint8_t *p, int n)
{
    for (int i = 0; i < n; i++) {
        crc ^= p[i];
        for (int b = 0; b < 8; b++) {
            if (crc & 1) crc = (crc >> 1) ^ 0xedb88320u;
            else crc >>= 1;
        }
    }
    return ~crc;
}

uint32_t crc_sram(int reps)
{
    uint32_t s = 0;
    for (int r = 0; r < reps; r++) s += crc32_bitwise(~(uint32_t)r, crc_data, CRC_BYTES);
    return s;
}

/* --- call-heavy mix --- */
__attribute__((noinline)) static uint32_t fib(uint32_t n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

__attribute__((noinline)) static uint32_t op_add(uint32_t a, uint32_t b) { return a + b; }
__attribute__((noinline)) static uint32_t op_xor(uint32_t a, uint32_t b) { return a ^ (b << 1); }
__attribute__((noinline)) static uint32_t op_mix(uint32_t a, uint32_t b) { return (a >> 3) + b * 5; }
__attribute__((noinline)) static uint32_t op_sub(uint32_t a, uint32_t b) { return a - (b >> 2); }
typedef uint32_t (*op_fn)(uint32_t, uint32_t);
static op_fn const ops[4] = {op_add, op_xor, op_mix, op_sub};

/* A 4-state machine driven by the input's low bits: the next state comes from a table. */
static const uint8_t next_state[4][4] = {{1, 2, 3, 0}, {2, 0, 1, 3}, {3, 1, 0, 2}, {0, 3, 2, 1}};

__attribute__((noinline)) static uint32_t walk(uint32_t x, int steps)
{
    uint32_t st = 0, acc = 0;
    for (int i = 0; i < steps; i++) {
        st = next_state[st][x & 3];
        acc = ops[st](acc, x);
        x = x * 1103515245u + 12345u;
    }
    return acc;
}

uint32_t calls_mix(int reps)
{
    uint32_t s = 0;
    for (int r = 0; r < reps; r++) s += fib(12 + (r & 1)) + walk((uint32_t)r, 200);
    return s;
}

/* reps semihosting calls (SYS_CLOCK, the cheapest: a clock() busy-wait makes nothing else), each a BKPT 0xAB
 * the host serves: the cost of one call on the host. */
uint32_t semihost_calls(int reps)
{
    uint32_t s = 0;
    for (int r = 0; r < reps; r++) {
        register uint32_t r0 __asm__("r0") = 0x10; /* SYS_CLOCK */
        register uint32_t r1 __asm__("r1") = 0;
        __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
        s += r0 & 1;
    }
    return s + (uint32_t)reps;
}

/* `m0sim exec --stats` on this: a branchy program's real-time factor. */
int main(void) { return (int)(crc_sram(40) + calls_mix(400)) == 12345; }
