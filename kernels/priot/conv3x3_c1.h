/* The one-input-channel 3x3 convolution forward (conv3x3_c1.c), which conv3x3_forward dispatches to. */
#pragma once
#include <stdint.h>
#include "layers.h"

/* Scratch bytes conv3x3_c1_forward needs (word-aligned): the widened, bordered input and the weight table. */
int32_t conv3x3_c1_scratch_bytes(int32_t h, int32_t w, int32_t cout);
/* Whether conv3x3_forward takes this path (one input channel, its `col_bytes` hold the scratch). */
static inline int conv3x3_c1_applies(const conv_dims_t *d, int32_t col_bytes)
{
    return d->cin == 1 && conv3x3_c1_scratch_bytes(d->h, d->w, d->cout) <= col_bytes;
}
/* conv3x3_forward for d->cin == 1 (same arguments: int8 output, or int32 when out32 is given); `scratch` is
 * overwritten. */
void conv3x3_c1_forward(const int8_t *x, const conv_dims_t *d, const int8_t *w, const uint8_t *mask,
                        uint32_t mask_pos, const int32_t *bias, int32_t shift, int8_t *out8, int32_t *out32,
                        int32_t *scratch, int8_t *row);
/* Its two halves, so that two cores can share the pixel loop: the scratch filled once (the widened input and the
 * weight table), then the output rows y0..y1-1 (any split of the rows gives the same outputs). */
void conv3x3_c1_prepare(const int8_t *x, const conv_dims_t *d, const int8_t *w, const uint8_t *mask,
                        uint32_t mask_pos, const int32_t *bias, int32_t shift, int32_t *out32, int32_t *scratch,
                        int8_t *row);
void conv3x3_c1_rows(const conv_dims_t *d, int32_t shift, int8_t *out8, int32_t *out32, const int32_t *scratch,
                     int32_t y0, int32_t y1);
