/* Benchmark kernels for emulation speed: int8 dot products (the inner loop of every PRIOT layer),
 * over data in SRAM and over constant weights in flash (through the XIP cache). */
#include <stdint.h>

#define N 4096
int8_t a_sram[N], b_sram[N];
const int8_t w_flash[N] = {1, -2, 3, -4};

static int32_t dot(const int8_t *a, const int8_t *b, int n)
{
    int32_t acc = 0;
    for (int i = 0; i < n; i++) acc += a[i] * b[i];
    return acc;
}

int32_t bench_sram(int reps)
{
    int32_t s = 0;
    for (int r = 0; r < reps; r++) s += dot(a_sram, b_sram, N);
    return s;
}

int32_t bench_flash(int reps)
{
    int32_t s = 0;
    for (int r = 0; r < reps; r++) s += dot(a_sram, w_flash, N);
    return s;
}

int main(void) { return bench_sram(1) + bench_flash(1) == 12345; }
