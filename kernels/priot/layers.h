/* Layer kernels over HWC int8 tensors (layouts in priot/models.py and priot/ref.py).
 *
 * Forward kernels either requantize each accumulator (bias included) at once with a static `shift` into
 * `out8`, or, when `out32` is given (dynamic scaling), keep the int32 accumulators for the caller's max.
 * Weights: conv [cout][3][3][cin] (OHWI), dense [cout][cin]; `mask`/`mask_pos` select kept edges
 * (NULL = all kept), bit index = the layer's weight offset + flat weight index.
 * Scratch: `col` holds output rows of the layer input unrolled into 3x3 windows (w*conv3x3_row_bytes(cin)
 * bytes per row, word-aligned), `row` one weight row (conv3x3_row_bytes(cin), or cin for dense).
 */
#pragma once
#include <stdint.h>

typedef struct { int32_t h, w, cin, cout; } conv_dims_t;

/* Bytes of one unrolled 3x3 window: 9*cin rounded up to a word (zero tail). */
static inline int32_t conv3x3_row_bytes(int32_t cin) { return (9 * cin + 3) & ~3; }
/* col[p][k] = x at window offset k = (ky*3 + kx)*cin + ci of output pixel p, 0 outside the image. */
void conv3x3_im2col(const int8_t *x, const conv_dims_t *d, int8_t *col);
/* The same for output rows y0..y0+rows-1 only (col holds rows*w windows). */
void conv3x3_im2col_rows(const int8_t *x, const conv_dims_t *d, int32_t y0, int32_t rows, int8_t *col);

/* out[(y*w + x)*cout + co] from bias[co] + sum w*x over the 3x3 'same' window (zero padding); `col` (col_bytes,
 * word-aligned, at least one output row of unrolled windows: w*conv3x3_row_bytes(cin)) holds bands of output rows
 * of unrolled windows, or the scratch of the one-input-channel loop where conv3x3_c1_applies. */
void conv3x3_forward(const int8_t *x, const conv_dims_t *d, const int8_t *w, const uint8_t *mask,
                     uint32_t mask_pos, const int32_t *bias, int32_t shift, int8_t *out8, int32_t *out32,
                     int8_t *col, int32_t col_bytes, int8_t *row);
/* The general path (not the one-input-channel loop) over output channels co0..co1-1 only: a core's share. */
void conv3x3_forward_channels(const int8_t *x, const conv_dims_t *d, const int8_t *w, const uint8_t *mask,
                              uint32_t mask_pos, const int32_t *bias, int32_t shift, int8_t *out8, int32_t *out32,
                              int8_t *col, int32_t col_bytes, int8_t *row, int32_t co0, int32_t co1);
/* dx[(y*w + x)*cin + ci] = sum over outputs of err * w (the transposed conv), kept edges only. */
void conv3x3_backward_input(const int8_t *err, const conv_dims_t *d, const int8_t *w, const uint8_t *mask,
                            uint32_t mask_pos, int32_t *dx, int8_t *row);
/* g[(ky*3 + kx)*cin + ci] = sum over output pixels of err[.., co] * x[window], read from the HWC input `x`
 * (no unrolled copy: the update needs no im2col buffer). */
/* The same for the input rows y0..y1-1 only (zeroed first, the rest of dx untouched): a core's share. */
void conv3x3_backward_input_rows(const int8_t *err, const conv_dims_t *d, const int8_t *w, const uint8_t *mask,
                                 uint32_t mask_pos, int32_t *dx, int8_t *row, int32_t y0, int32_t y1);
void conv3x3_channel_grad(const int8_t *err, const int8_t *x, const conv_dims_t *d, int32_t co, int32_t *g);

void dense_forward(const int8_t *x, int32_t cin, int32_t cout, const int8_t *w, const uint8_t *mask,
                   uint32_t mask_pos, const int32_t *bias, int32_t shift, int8_t *out8, int32_t *out32,
                   int8_t *row);
void dense_backward_input(const int8_t *err, int32_t cin, int32_t cout, const int8_t *w, const uint8_t *mask,
                          uint32_t mask_pos, int32_t *dx);
/* Outputs o0..o1-1 only: a core's share. */
void dense_forward_channels(const int8_t *x, int32_t cin, int32_t o0, int32_t o1, const int8_t *w,
                            const uint8_t *mask, uint32_t mask_pos, const int32_t *bias, int32_t shift, int8_t *out8,
                            int32_t *out32, int8_t *row);
/* Inputs i0..i1-1 of the input gradient only (zeroed first, the rest untouched): a core's share. */
void dense_backward_input_range(const int8_t *err, int32_t cin, int32_t cout, int32_t i0, int32_t i1,
                                const int8_t *w, const uint8_t *mask, uint32_t mask_pos, int32_t *dx);

void relu_forward(int8_t *x, int32_t n);
/* Keeps err where the saved activation is positive (post-ReLU > 0 iff pre-ReLU > 0). */
void relu_backward(int8_t *err, const int8_t *act, int32_t n);
/* 2x2 stride 2; backward routes each error to its window's first maximum (row-major). */
void maxpool2_forward(const int8_t *x, int32_t h, int32_t w, int32_t c, int8_t *out);
void maxpool2_backward(const int8_t *err, const int8_t *x, int32_t h, int32_t w, int32_t c, int8_t *err_in);

/* int8 dL/dlogits at exponent 7 from the Q14 exp table (see priot/ref.py). */
void softmax_xent_grad(const int8_t *logits, int32_t n, int32_t label, const int32_t *exp_table, int8_t *err);
