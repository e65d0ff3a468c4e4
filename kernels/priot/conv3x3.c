/* 3x3 'same' convolution, stride 1, HWC int8, OHWI weights: forward, input gradient, weight gradient. */
#include "dot.h"
#include "layers.h"
#include "requant.h"

void conv3x3_forward(const int8_t *x, const conv_dims_t *d, const int8_t *w, const uint8_t *mask,
                     uint32_t mask_pos, const int32_t *bias, int32_t shift, int8_t *out8, int32_t *out32)
{
    const int32_t H = d->h, W = d->w, CI = d->cin, CO = d->cout;
    int32_t o = 0;
    for (int32_t oy = 0; oy < H; oy++) {
        int32_t ky0 = oy == 0 ? 1 : 0, ky1 = oy == H - 1 ? 2 : 3;
        for (int32_t ox = 0; ox < W; ox++) {
            int32_t kx0 = ox == 0 ? 1 : 0, kx1 = ox == W - 1 ? 2 : 3;
            int32_t run = (kx1 - kx0) * CI; /* window row: kx0..kx1-1, every channel, contiguous */
            for (int32_t co = 0; co < CO; co++, o++) {
                int32_t acc = bias[co];
                for (int32_t ky = ky0; ky < ky1; ky++) {
                    const int8_t *xr = x + ((oy + ky - 1) * W + (ox + kx0 - 1)) * CI;
                    int32_t e = ((co * 3 + ky) * 3 + kx0) * CI;
                    acc += mask ? dot_s8_masked(w + e, xr, run, mask, mask_pos + (uint32_t)e)
                                : dot_s8(w + e, xr, run);
                }
                if (out32) out32[o] = acc;
                else out8[o] = requant8(acc, shift);
            }
        }
    }
}

void conv3x3_backward_input(const int8_t *err, const conv_dims_t *d, const int8_t *w, const uint8_t *mask,
                            uint32_t mask_pos, int32_t *dx)
{
    const int32_t H = d->h, W = d->w, CI = d->cin, CO = d->cout;
    for (int32_t i = 0; i < H * W * CI; i++) dx[i] = 0;
    for (int32_t oy = 0; oy < H; oy++) {
        int32_t ky0 = oy == 0 ? 1 : 0, ky1 = oy == H - 1 ? 2 : 3;
        for (int32_t ox = 0; ox < W; ox++) {
            int32_t kx0 = ox == 0 ? 1 : 0, kx1 = ox == W - 1 ? 2 : 3;
            const int8_t *er = err + (oy * W + ox) * CO;
            for (int32_t co = 0; co < CO; co++) {
                int32_t e = er[co];
                if (!e) continue; /* errors are sparse after ReLU and pooling */
                for (int32_t ky = ky0; ky < ky1; ky++) {
                    int32_t wi = ((co * 3 + ky) * 3 + kx0) * CI;
                    int32_t *dr = dx + ((oy + ky - 1) * W + (ox + kx0 - 1)) * CI;
                    axpy_s8(dr, e, w + wi, (kx1 - kx0) * CI, mask, mask_pos + (uint32_t)wi);
                }
            }
        }
    }
}

void conv3x3_channel_grad(const int8_t *err, const int8_t *x, const conv_dims_t *d, int32_t co, int32_t *g)
{
    const int32_t H = d->h, W = d->w, CI = d->cin, CO = d->cout;
    for (int32_t i = 0; i < 9 * CI; i++) g[i] = 0;
    for (int32_t oy = 0; oy < H; oy++) {
        int32_t ky0 = oy == 0 ? 1 : 0, ky1 = oy == H - 1 ? 2 : 3;
        for (int32_t ox = 0; ox < W; ox++) {
            int32_t e = err[(oy * W + ox) * CO + co];
            if (!e) continue;
            int32_t kx0 = ox == 0 ? 1 : 0, kx1 = ox == W - 1 ? 2 : 3;
            for (int32_t ky = ky0; ky < ky1; ky++) {
                const int8_t *xr = x + ((oy + ky - 1) * W + (ox + kx0 - 1)) * CI;
                int32_t *gr = g + (ky * 3 + kx0) * CI;
                for (int32_t i = 0; i < (kx1 - kx0) * CI; i++) gr[i] += e * xr[i];
            }
        }
    }
}
