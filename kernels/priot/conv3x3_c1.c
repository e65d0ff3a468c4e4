/* 3x3 'same' convolution of ONE input channel (a first layer): the specialised forward.
 *
 * With one input channel a window is 9 products, too few for the general path (im2col, then a 12-byte inner
 * product per output) to amortise its per-output work. Here the input is widened once to int32 with a zero
 * border and the weights once to an int32 table with the bias; the pixel loop (conv3x3_c1_m0.S) then reads
 * every window row and weight triple with LDM. Both live in the caller's im2col scratch, which therefore
 * does NOT hold the im2col of this input afterwards.
 */
#include "conv3x3_c1.h"
#include "dot.h"

/* The assembly's view of one call (offsets checked below). */
typedef struct { int32_t w, h, co, shift; void *out; const int32_t *table; } conv3x3_c1_t;
_Static_assert(offsetof(conv3x3_c1_t, w) == 0 && offsetof(conv3x3_c1_t, h) == 4 && offsetof(conv3x3_c1_t, co) == 8 &&
               offsetof(conv3x3_c1_t, shift) == 12 && offsetof(conv3x3_c1_t, out) == 16 &&
               offsetof(conv3x3_c1_t, table) == 20, "conv3x3_c1_m0.S reads conv3x3_c1_t at these offsets");
void conv3x3_c1_pixels(const int32_t *pad, const conv3x3_c1_t *c);   /* int8 out, requantized */
void conv3x3_c1_pixels32(const int32_t *pad, const conv3x3_c1_t *c); /* int32 out (dynamic scaling) */

#define TABLE_WORDS 10 /* per output channel: bias (with the rounding term), then the 9 weights */

int32_t conv3x3_c1_scratch_bytes(int32_t h, int32_t w, int32_t cout)
{
    return 4 * ((h + 2) * (w + 2) + TABLE_WORDS * cout);
}

void conv3x3_c1_prepare(const int8_t *x, const conv_dims_t *d, const int8_t *w, const uint8_t *mask,
                        uint32_t mask_pos, const int32_t *bias, int32_t shift, int32_t *out32, int32_t *scratch,
                        int8_t *row)
{
    const int32_t H = d->h, W = d->w, CO = d->cout, PW = W + 2;
    int32_t *pad = scratch, *table = scratch + (H + 2) * PW;
    for (int32_t i = 0; i < (H + 2) * PW; i++) pad[i] = 0;
    for (int32_t y = 0; y < H; y++)
        for (int32_t xx = 0; xx < W; xx++) pad[(y + 1) * PW + xx + 1] = x[y * W + xx];
    /* requant.h's rounding, folded into the bias; none when the accumulators are kept */
    const int32_t round = !out32 && shift > 0 ? 1 << (shift - 1) : 0;
    for (int32_t co = 0; co < CO; co++) {
        int32_t *t = table + TABLE_WORDS * co;
        mask_row(row, w + 9 * co, 9, mask, mask_pos + (uint32_t)(9 * co));
        t[0] = bias[co] + round;
        for (int32_t k = 0; k < 9; k++) t[1 + k] = row[k];
    }
}

void conv3x3_c1_rows(const conv_dims_t *d, int32_t shift, int8_t *out8, int32_t *out32, const int32_t *scratch,
                     int32_t y0, int32_t y1)
{
    const int32_t H = d->h, W = d->w, CO = d->cout, PW = W + 2, first = y0 * W * CO;
    const int32_t *table = scratch + (H + 2) * PW;
    const conv3x3_c1_t c = {W, y1 - y0, CO, shift, out32 ? (void *)(out32 + first) : (void *)(out8 + first), table};
    if (y1 <= y0 || W <= 0 || CO <= 0) return;
    if (out32) conv3x3_c1_pixels32(scratch + y0 * PW, &c); /* output row y reads padded rows y..y+2 */
    else conv3x3_c1_pixels(scratch + y0 * PW, &c);
}

void conv3x3_c1_forward(const int8_t *x, const conv_dims_t *d, const int8_t *w, const uint8_t *mask,
                        uint32_t mask_pos, const int32_t *bias, int32_t shift, int8_t *out8, int32_t *out32,
                        int32_t *scratch, int8_t *row)
{
    conv3x3_c1_prepare(x, d, w, mask, mask_pos, bias, shift, out32, scratch, row);
    conv3x3_c1_rows(d, shift, out8, out32, scratch, 0, d->h);
}
