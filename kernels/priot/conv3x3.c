/* 3x3 'same' convolution, stride 1, HWC int8, OHWI weights: forward, input gradient, weight gradient.
 *
 * The forward pass unrolls the input (im2col) a band of output rows at a time, as many as the caller's
 * buffer holds (the firmware gives it one row: a VGG11 layer unrolled whole would not fit the SRAM), masks
 * each output channel's weight row once per band, and computes every output as one call of the word-at-a-time
 * inner product: the MAC loop never sees a border or a mask. The weight gradient reads the input directly.
 */
#include "conv3x3_c1.h"
#include "dot.h"
#include "layers.h"
#include "requant.h"

/* n bytes; a word at a time when both ends allow it (channel counts that are multiples of 4). */
static void copy8(int8_t *dst, const int8_t *src, int32_t n)
{
    if ((((uintptr_t)dst | (uintptr_t)src | (uint32_t)n) & 3u) == 0) {
        uint32_t *d = (uint32_t *)(void *)dst;
        const uint32_t *s = (const uint32_t *)(const void *)src;
        for (n >>= 2; n > 0; n--) *d++ = *s++;
        return;
    }
    for (; n > 0; n--) *dst++ = *src++;
}

static void zero8(int8_t *dst, int32_t n)
{
    for (; n > 0; n--) *dst++ = 0;
}

static inline int8_t pixel_or_zero(const int8_t *x, int32_t H, int32_t W, int32_t y, int32_t xx)
{
    return (y < 0 || y >= H || xx < 0 || xx >= W) ? 0 : x[y * W + xx];
}

/* One input channel (a first layer): a window is 9 bytes and a 3-byte zero tail. Interior pixels are 9 plain
 * byte copies; only the border tests each tap. The general path below would spend its time in 3-byte
 * copies and their calls. */
static void im2col_one_channel(const int8_t *x, int32_t H, int32_t W, int32_t y0, int32_t y1, int8_t *col)
{
    for (int32_t oy = y0; oy < y1; oy++) {
        const int8_t *up = x + (oy - 1) * W, *mid = x + oy * W, *down = x + (oy + 1) * W;
        const int inner_row = oy > 0 && oy < H - 1;
        for (int32_t ox = 0; ox < W; ox++, col += 12) {
            if (inner_row && ox > 0 && ox < W - 1) {
                col[0] = up[ox - 1], col[1] = up[ox], col[2] = up[ox + 1];
                col[3] = mid[ox - 1], col[4] = mid[ox], col[5] = mid[ox + 1];
                col[6] = down[ox - 1], col[7] = down[ox], col[8] = down[ox + 1];
            } else {
                for (int32_t ky = 0; ky < 3; ky++)
                    for (int32_t kx = 0; kx < 3; kx++) col[ky * 3 + kx] = pixel_or_zero(x, H, W, oy + ky - 1, ox + kx - 1);
            }
            col[9] = col[10] = col[11] = 0;
        }
    }
}

void conv3x3_im2col(const int8_t *x, const conv_dims_t *d, int8_t *col)
{
    conv3x3_im2col_rows(x, d, 0, d->h, col);
}

void conv3x3_im2col_rows(const int8_t *x, const conv_dims_t *d, int32_t y0, int32_t rows, int8_t *col)
{
    const int32_t H = d->h, W = d->w, CI = d->cin, R = conv3x3_row_bytes(CI);
    if (CI == 1) {
        im2col_one_channel(x, H, W, y0, y0 + rows, col);
        return;
    }
    for (int32_t oy = y0; oy < y0 + rows; oy++)
        for (int32_t ox = 0; ox < W; ox++, col += R) {
            int32_t kx0 = ox == 0 ? 1 : 0, kx1 = ox == W - 1 ? 2 : 3;
            for (int32_t ky = 0; ky < 3; ky++) {
                int32_t iy = oy + ky - 1;
                int8_t *dst = col + ky * 3 * CI;
                if (iy < 0 || iy >= H) {
                    zero8(dst, 3 * CI);
                    continue;
                }
                if (kx0) zero8(dst, CI);
                copy8(dst + kx0 * CI, x + (iy * W + ox + kx0 - 1) * CI, (kx1 - kx0) * CI);
                if (kx1 < 3) zero8(dst + 2 * CI, CI);
            }
            zero8(col + 9 * CI, R - 9 * CI);
        }
}

/* One output channel over all P pixels (out strided by CO), the pixel loop in assembly (dot_m0.S):
 * requant8(b + d, s) == sat8((b + round + d) >> s) with round = 1 << (s-1) for s > 0 and 0 for s == 0,
 * the rule of requant.h folded into the bias. */
static void channel_requant8(const int8_t *row, const int8_t *col, int32_t P, int32_t R, int32_t CO, int32_t bias,
                             int32_t shift, int8_t *out)
{
    const dot_channel_t c = {R >> 2, P, bias + (shift > 0 ? 1 << (shift - 1) : 0), shift, CO, out};
    if (P > 0) dot_s8_channel(row, col, &c);
}

static void channel_acc32(const int8_t *row, const int8_t *col, int32_t P, int32_t R, int32_t CO, int32_t bias,
                          int32_t *out)
{
    const int32_t words = R >> 2;
    for (; P > 0; P--, col += R, out += CO) *out = bias + dot_s8_words(row, col, words);
}

/* The general path over output channels co0..co1-1 (one body for the whole layer and a core's share). */
static inline __attribute__((always_inline)) void forward_channels(
    const int8_t *x, const conv_dims_t *d, const int8_t *w, const uint8_t *mask, uint32_t mask_pos,
    const int32_t *bias, int32_t shift, int8_t *out8, int32_t *out32, int8_t *col, int32_t col_bytes, int8_t *row,
    int32_t co0, int32_t co1)
{
    const int32_t H = d->h, W = d->w, CO = d->cout, K = 9 * d->cin, R = conv3x3_row_bytes(d->cin);
    /* unmasked rows that are already word multiples are read in place (flash or the SGD copy): no copy */
    const int in_place = !mask && K == R && (((uintptr_t)w & 3u) == 0);
    int32_t col_rows = col_bytes / (W * R);
    if (col_rows > H) col_rows = H;
    for (int32_t k = K; k < R; k++) row[k] = 0;
    for (int32_t y0 = 0; y0 < H; y0 += col_rows) {
        const int32_t rows = H - y0 < col_rows ? H - y0 : col_rows, P = rows * W, first = y0 * W * CO;
        conv3x3_im2col_rows(x, d, y0, rows, col);
        for (int32_t co = co0; co < co1; co++) {
            const int8_t *wr = w + co * K;
            if (!in_place) {
                mask_row(row, wr, K, mask, mask_pos + (uint32_t)(co * K));
                wr = row;
            }
            if (out32) channel_acc32(wr, col, P, R, CO, bias[co], out32 + first + co);
            else channel_requant8(wr, col, P, R, CO, bias[co], shift, out8 + first + co);
        }
    }
}

void conv3x3_forward(const int8_t *x, const conv_dims_t *d, const int8_t *w, const uint8_t *mask,
                     uint32_t mask_pos, const int32_t *bias, int32_t shift, int8_t *out8, int32_t *out32,
                     int8_t *col, int32_t col_bytes, int8_t *row)
{
    if (conv3x3_c1_applies(d, col_bytes)) { /* one input channel: its own loop (conv3x3_c1.c) */
        conv3x3_c1_forward(x, d, w, mask, mask_pos, bias, shift, out8, out32, (int32_t *)(void *)col, row);
        return;
    }
    forward_channels(x, d, w, mask, mask_pos, bias, shift, out8, out32, col, col_bytes, row, 0, d->cout);
}

void conv3x3_forward_channels(const int8_t *x, const conv_dims_t *d, const int8_t *w, const uint8_t *mask,
                              uint32_t mask_pos, const int32_t *bias, int32_t shift, int8_t *out8, int32_t *out32,
                              int8_t *col, int32_t col_bytes, int8_t *row, int32_t co0, int32_t co1)
{
    forward_channels(x, d, w, mask, mask_pos, bias, shift, out8, out32, col, col_bytes, row, co0, co1);
}

/* dx rows y0..y1-1 only (zeroed first), from every output channel: one body for the layer and a core's share
 * (the shares write disjoint rows of dx, so two cores need no second accumulator). */
static inline __attribute__((always_inline)) void backward_input_rows(
    const int8_t *err, const conv_dims_t *d, const int8_t *w, const uint8_t *mask, uint32_t mask_pos, int32_t *dx,
    int8_t *row, int32_t y0, int32_t y1)
{
    const int32_t H = d->h, W = d->w, CI = d->cin, CO = d->cout, K = 9 * CI;
    const int32_t oy0 = y0 > 0 ? y0 - 1 : 0, oy1 = y1 < H ? y1 + 1 : H; /* outputs whose window reaches them */
    for (int32_t i = y0 * W * CI; i < y1 * W * CI; i++) dx[i] = 0;
    for (int32_t co = 0; co < CO; co++) {
        mask_row(row, w + co * K, K, mask, mask_pos + (uint32_t)(co * K));
        for (int32_t oy = oy0; oy < oy1; oy++) {
            int32_t ky0 = oy == 0 ? 1 : 0, ky1 = oy == H - 1 ? 2 : 3;
            if (ky0 < y0 - oy + 1) ky0 = y0 - oy + 1; /* window row ky writes dx row oy + ky - 1 */
            if (ky1 > y1 - oy + 1) ky1 = y1 - oy + 1;
            for (int32_t ox = 0; ox < W; ox++) {
                int32_t e = err[(oy * W + ox) * CO + co];
                if (!e) continue; /* errors are sparse after ReLU and pooling */
                int32_t kx0 = ox == 0 ? 1 : 0, kx1 = ox == W - 1 ? 2 : 3;
                for (int32_t ky = ky0; ky < ky1; ky++)
                    axpy_s8(dx + ((oy + ky - 1) * W + (ox + kx0 - 1)) * CI, e, row + (ky * 3 + kx0) * CI,
                            (kx1 - kx0) * CI, 0, 0);
            }
        }
    }
}

void conv3x3_backward_input(const int8_t *err, const conv_dims_t *d, const int8_t *w, const uint8_t *mask,
                            uint32_t mask_pos, int32_t *dx, int8_t *row)
{
    backward_input_rows(err, d, w, mask, mask_pos, dx, row, 0, d->h);
}

void conv3x3_backward_input_rows(const int8_t *err, const conv_dims_t *d, const int8_t *w, const uint8_t *mask,
                                 uint32_t mask_pos, int32_t *dx, int8_t *row, int32_t y0, int32_t y1)
{
    backward_input_rows(err, d, w, mask, mask_pos, dx, row, y0, y1);
}

void conv3x3_channel_grad(const int8_t *err, const int8_t *x, const conv_dims_t *d, int32_t co, int32_t *g)
{
    const int32_t H = d->h, W = d->w, CI = d->cin, CO = d->cout, K = 9 * CI;
    for (int32_t k = 0; k < K; k++) g[k] = 0;
    for (int32_t oy = 0; oy < H; oy++) {
        int32_t ky0 = oy == 0 ? 1 : 0, ky1 = oy == H - 1 ? 2 : 3;
        for (int32_t ox = 0; ox < W; ox++) {
            int32_t e = err[(oy * W + ox) * CO + co];
            if (!e) continue; /* errors are sparse after ReLU and pooling */
            int32_t kx0 = ox == 0 ? 1 : 0, kx1 = ox == W - 1 ? 2 : 3;
            /* window row ky: taps (ky, kx0..kx1) are contiguous in g and in the HWC input row */
            for (int32_t ky = ky0; ky < ky1; ky++)
                axpy_s8(g + (ky * 3 + kx0) * CI, e, x + ((oy + ky - 1) * W + (ox + kx0 - 1)) * CI,
                        (kx1 - kx0) * CI, 0, 0);
        }
    }
}
