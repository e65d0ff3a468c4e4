/* Fully connected layer over a flattened HWC int8 input. */
#include "dot.h"
#include "layers.h"
#include "requant.h"

void dense_forward(const int8_t *x, int32_t cin, int32_t cout, const int8_t *w, const uint8_t *mask,
                   uint32_t mask_pos, const int32_t *bias, int32_t shift, int8_t *out8, int32_t *out32,
                   int8_t *row)
{
    dense_forward_channels(x, cin, 0, cout, w, mask, mask_pos, bias, shift, out8, out32, row);
}

void dense_forward_channels(const int8_t *x, int32_t cin, int32_t o0, int32_t o1, const int8_t *w,
                            const uint8_t *mask, uint32_t mask_pos, const int32_t *bias, int32_t shift, int8_t *out8,
                            int32_t *out32, int8_t *row)
{
    for (int32_t o = o0; o < o1; o++) {
        const int8_t *wr = w + o * cin;
        if (mask) {
            mask_row(row, wr, cin, mask, mask_pos + (uint32_t)(o * cin));
            wr = row;
        }
        int32_t acc = bias[o] + dot_s8(wr, x, cin);
        if (out32) out32[o] = acc;
        else out8[o] = requant8(acc, shift);
    }
}

void dense_backward_input(const int8_t *err, int32_t cin, int32_t cout, const int8_t *w, const uint8_t *mask,
                          uint32_t mask_pos, int32_t *dx)
{
    dense_backward_input_range(err, cin, cout, 0, cin, w, mask, mask_pos, dx);
}

void dense_backward_input_range(const int8_t *err, int32_t cin, int32_t cout, int32_t i0, int32_t i1,
                                const int8_t *w, const uint8_t *mask, uint32_t mask_pos, int32_t *dx)
{
    for (int32_t i = i0; i < i1; i++) dx[i] = 0;
    for (int32_t o = 0; o < cout; o++)
        if (err[o]) axpy_s8(dx + i0, err[o], w + o * cin + i0, i1 - i0, mask, mask_pos + (uint32_t)(o * cin + i0));
}
