/* ReLU and 2x2 max pooling over HWC int8 tensors.
 *
 * ReLU works a word (4 bytes) at a time where the buffer allows it: per-byte masks from the sign and
 * "non-zero" bits, spread to whole bytes by one single-cycle multiply by 0xff (no carry crosses a byte).
 * Pooling walks the four rows of a window with pointers, one channel at a time.
 */
#include "layers.h"

#define HIGH_BITS 0x80808080u
#define LOW_BITS 0x7f7f7f7fu

static inline int word_aligned(const void *a, const void *b) { return (((uintptr_t)a | (uintptr_t)b) & 3u) == 0; }

/* 0xff in every byte whose top bit is set in `hi` (hi holds only top bits). */
static inline uint32_t spread(uint32_t hi) { return (hi >> 7) * 0xffu; }

void relu_forward(int8_t *x, int32_t n)
{
    int32_t i = 0;
    if (word_aligned(x, x)) {
        uint32_t *w = (uint32_t *)(void *)x;
        for (; i + 4 <= n; i += 4, w++) *w &= ~spread(*w & HIGH_BITS); /* clear the negative bytes */
    }
    for (; i < n; i++)
        if (x[i] < 0) x[i] = 0;
}

void relu_backward(int8_t *err, const int8_t *act, int32_t n)
{
    int32_t i = 0;
    if (word_aligned(err, act)) {
        uint32_t *e = (uint32_t *)(void *)err;
        const uint32_t *a = (const uint32_t *)(const void *)act;
        for (; i + 4 <= n; i += 4, e++, a++) {
            uint32_t v = *a;
            uint32_t positive = ((v & LOW_BITS) + LOW_BITS) & ~v & HIGH_BITS; /* low bits set, sign clear */
            *e &= spread(positive);
        }
    }
    for (; i < n; i++)
        if (act[i] <= 0) err[i] = 0;
}

/* For every output of the 2x2/2 pooling: the window's first maximum (row-major order (0,0),(0,1),(1,0),
 * (1,1)). forward stores it; backward (err != 0) routes err to its position in err_in instead. */
static void pool_windows(const int8_t *x, int32_t h, int32_t w, int32_t c, int8_t *out, const int8_t *err,
                         int8_t *err_in)
{
    const int32_t row = w * c;
    for (int32_t y = 0; y + 1 < h; y += 2)
        for (int32_t xx = 0; xx + 1 < w; xx += 2) {
            const int32_t base = y * row + xx * c;
            const int8_t *p = x + base;
            for (int32_t ch = 0; ch < c; ch++, p++) {
                int8_t best = p[0];
                int32_t at = 0;
                if (p[c] > best) best = p[c], at = c;
                if (p[row] > best) best = p[row], at = row;
                if (p[row + c] > best) best = p[row + c], at = row + c;
                if (err) err_in[base + ch + at] = *err++;
                else *out++ = best;
            }
        }
}

void maxpool2_forward(const int8_t *x, int32_t h, int32_t w, int32_t c, int8_t *out)
{
    pool_windows(x, h, w, c, out, 0, 0);
}

void maxpool2_backward(const int8_t *err, const int8_t *x, int32_t h, int32_t w, int32_t c, int8_t *err_in)
{
    int32_t i = 0, n = h * w * c;
    if (word_aligned(err_in, err_in))
        for (; i + 4 <= n; i += 4) *(uint32_t *)(void *)(err_in + i) = 0;
    for (; i < n; i++) err_in[i] = 0;
    pool_windows(x, h, w, c, 0, err, err_in);
}
