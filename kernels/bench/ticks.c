/* Interrupt cost benchmark: a CoreMark-like mix (list walk, small matrix multiply, state machine, CRC) run with
 * or without a SysTick interrupt every `period` cycles, so the host cost of one interrupt (entry, handler,
 * return) is the difference of two timed runs divided by the number of ticks. */
#include <stdint.h>

#define SYST_CSR (*(volatile uint32_t *)0xE000E010)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018)

volatile uint32_t ticks;
void isr_systick(void) { ticks++; }

#define N 16
typedef struct node { struct node *next; int32_t value; } node_t;
static node_t nodes[64];
static int16_t ma[N * N], mb[N * N];
static int32_t mc[N * N];

static uint32_t crc16_step(uint32_t crc, uint32_t data)
{
    for (int b = 0; b < 16; b++) {
        uint32_t x = (crc ^ data) & 1;
        data >>= 1;
        crc = x ? (crc >> 1) ^ 0xA001u : crc >> 1;
    }
    return crc;
}

static int32_t list_pass(int seed)
{
    for (int i = 0; i < 64; i++) {
        nodes[i].next = &nodes[(i * 37 + seed) & 63];
        nodes[i].value = (i * 7919 + seed) & 0xFFFF;
    }
    int32_t sum = 0;
    node_t *p = &nodes[0];
    for (int i = 0; i < 256; i++) {
        sum += p->value > 0x7FFF ? p->value - 0x7FFF : p->value;
        p = p->next;
    }
    return sum;
}

static int32_t matrix_pass(int seed)
{
    for (int i = 0; i < N * N; i++) {
        ma[i] = (int16_t)((i * 13 + seed) & 0xFF);
        mb[i] = (int16_t)((i * 7 - seed) & 0xFF);
    }
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            int32_t acc = 0;
            for (int k = 0; k < N; k++) acc += ma[i * N + k] * mb[k * N + j];
            mc[i * N + j] = acc;
        }
    int32_t s = 0;
    for (int i = 0; i < N * N; i++) s ^= mc[i] + i;
    return s;
}

static uint32_t state_pass(int seed)
{
    static const char text[] = "5012,-3.25e+7,0x1F,hello,+42,3.14159,-0,7e9,abc123,";
    uint32_t counts[4] = {0, 0, 0, 0};
    for (int r = 0; r < 4; r++) {
        int state = 0;
        for (const char *c = text; *c; c++) {
            char ch = (char)(*c + (r ^ seed) % 1);
            if (ch == ',') { counts[state]++; state = 0; }
            else if (state == 0) state = (ch >= '0' && ch <= '9') || ch == '+' || ch == '-' ? 1 : 3;
            else if (state == 1 && (ch == '.' || ch == 'e' || ch == 'x')) state = 2;
            else if (state == 1 && !(ch >= '0' && ch <= '9')) state = 3;
        }
    }
    return counts[0] + 3 * counts[1] + 5 * counts[2] + 7 * counts[3];
}

/* The workload with a SysTick every `period` cycles (0: none); returns a checksum, `ticks` counts the interrupts. */
uint32_t ticked(int reps, uint32_t period)
{
    ticks = 0;
    if (period) {
        SYST_RVR = period - 1;
        SYST_CVR = 0;
        SYST_CSR = 7; /* clk_sys, TICKINT, ENABLE */
    }
    uint32_t crc = 0;
    for (int r = 0; r < reps; r++) {
        crc = crc16_step(crc, (uint32_t)list_pass(r));
        crc = crc16_step(crc, (uint32_t)matrix_pass(r));
        crc = crc16_step(crc, state_pass(r));
    }
    SYST_CSR = 0;
    return crc;
}

int main(void) { return (int)(ticked(1, 0) & 0); }
