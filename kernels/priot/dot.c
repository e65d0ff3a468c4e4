/* Multiply-accumulate loops: the hot path of every PRIOT layer. */
#include "dot.h"

static inline int kept(const uint8_t *mask, uint32_t pos) { return (mask[pos >> 3] >> (pos & 7)) & 1; }

int32_t dot_s8(const int8_t *w, const int8_t *x, int32_t n)
{
    int32_t acc = 0;
    for (; n >= 4; n -= 4, w += 4, x += 4)
        acc += w[0] * x[0] + w[1] * x[1] + w[2] * x[2] + w[3] * x[3];
    for (; n > 0; n--) acc += *w++ * *x++;
    return acc;
}

int32_t dot_s8_masked(const int8_t *w, const int8_t *x, int32_t n, const uint8_t *mask, uint32_t pos)
{
    int32_t acc = 0;
    for (; n > 0 && (pos & 7); n--, pos++, w++, x++)
        if (kept(mask, pos)) acc += *w * *x;
    const uint8_t *mp = mask + (pos >> 3);
    for (; n >= 8; n -= 8, w += 8, x += 8) {
        uint32_t m = *mp++;
        if (m == 0xffu) {
            acc += w[0] * x[0] + w[1] * x[1] + w[2] * x[2] + w[3] * x[3]
                 + w[4] * x[4] + w[5] * x[5] + w[6] * x[6] + w[7] * x[7];
            continue;
        }
        if (m & 0x01u) acc += w[0] * x[0];
        if (m & 0x02u) acc += w[1] * x[1];
        if (m & 0x04u) acc += w[2] * x[2];
        if (m & 0x08u) acc += w[3] * x[3];
        if (m & 0x10u) acc += w[4] * x[4];
        if (m & 0x20u) acc += w[5] * x[5];
        if (m & 0x40u) acc += w[6] * x[6];
        if (m & 0x80u) acc += w[7] * x[7];
    }
    pos = (uint32_t)(mp - mask) << 3;
    for (; n > 0; n--, pos++, w++, x++)
        if (kept(mask, pos)) acc += *w * *x;
    return acc;
}

void axpy_s8(int32_t *dst, int32_t e, const int8_t *w, int32_t n, const uint8_t *mask, uint32_t pos)
{
    if (!mask) {
        for (int32_t i = 0; i < n; i++) dst[i] += e * w[i];
        return;
    }
    for (int32_t i = 0; i < n; i++, pos++)
        if (kept(mask, pos)) dst[i] += e * w[i];
}
