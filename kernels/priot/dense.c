/* Fully connected layer over a flattened HWC int8 input. */
#include "dot.h"
#include "layers.h"
#include "requant.h"

void dense_forward(const int8_t *x, int32_t cin, int32_t cout, const int8_t *w, const uint8_t *mask,
                   uint32_t mask_pos, const int32_t *bias, int32_t shift, int8_t *out8, int32_t *out32,
                   int8_t *row)
{
    for (int32_t o = 0; o < cout; o++) {
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
    for (int32_t i = 0; i < cin; i++) dx[i] = 0;
    for (int32_t o = 0; o < cout; o++)
        if (err[o]) axpy_s8(dx, err[o], w + o * cin, cin, mask, mask_pos + (uint32_t)(o * cin));
}
