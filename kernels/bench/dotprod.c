/* Benchmark kernels for emulation speed: int8 dot products over data in SRAM and over constant weights in
 * flash (through the XIP cache). The bench_* kernels are gcc's byte loop, a 7-instruction block per product
 * (the worst case for a per-block counter); the words_* kernels run PRIOT's own inner loop (dot_m0.S). */
#include <stdint.h>

int32_t dot_s8_words(const int8_t *w, const int8_t *x, int32_t nwords);

#define N 4096
int8_t a_sram[N] __attribute__((aligned(4))), b_sram[N] __attribute__((aligned(4)));
const int8_t w_flash[N] __attribute__((aligned(4))) = {1, -2, 3, -4};

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

int32_t words_sram(int reps)
{
    int32_t s = 0;
    for (int r = 0; r < reps; r++) s += dot_s8_words(b_sram, a_sram, N / 4);
    return s;
}

int32_t words_flash(int reps)
{
    int32_t s = 0;
    for (int r = 0; r < reps; r++) s += dot_s8_words(w_flash, a_sram, N / 4);
    return s;
}

int main(void) { return bench_sram(1) + bench_flash(1) == 12345; }
