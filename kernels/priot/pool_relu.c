/* ReLU and 2x2 max pooling over HWC int8 tensors. */
#include "layers.h"

void relu_forward(int8_t *x, int32_t n)
{
    for (int32_t i = 0; i < n; i++)
        if (x[i] < 0) x[i] = 0;
}

void relu_backward(int8_t *err, const int8_t *act, int32_t n)
{
    for (int32_t i = 0; i < n; i++)
        if (act[i] <= 0) err[i] = 0;
}

/* Index (0..3, row-major) of the window's first maximum. */
static int32_t winner(const int8_t *x, int32_t w, int32_t c, int32_t y, int32_t xx, int32_t ch, int8_t *best)
{
    const int8_t *p = x + ((2 * y) * w + 2 * xx) * c + ch;
    int8_t v[4] = {p[0], p[c], p[w * c], p[w * c + c]};
    int32_t k = 0;
    for (int32_t i = 1; i < 4; i++)
        if (v[i] > v[k]) k = i;
    *best = v[k];
    return k;
}

void maxpool2_forward(const int8_t *x, int32_t h, int32_t w, int32_t c, int8_t *out)
{
    for (int32_t y = 0; y < h / 2; y++)
        for (int32_t xx = 0; xx < w / 2; xx++)
            for (int32_t ch = 0; ch < c; ch++) winner(x, w, c, y, xx, ch, out++);
}

void maxpool2_backward(const int8_t *err, const int8_t *x, int32_t h, int32_t w, int32_t c, int8_t *err_in)
{
    for (int32_t i = 0; i < h * w * c; i++) err_in[i] = 0;
    for (int32_t y = 0; y < h / 2; y++)
        for (int32_t xx = 0; xx < w / 2; xx++)
            for (int32_t ch = 0; ch < c; ch++) {
                int8_t best;
                int32_t k = winner(x, w, c, y, xx, ch, &best);
                err_in[((2 * y + (k >> 1)) * w + 2 * xx + (k & 1)) * c + ch] = *err++;
            }
}
