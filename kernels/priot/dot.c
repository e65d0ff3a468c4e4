/* Multiply-accumulate helpers around the hand-written inner loop (dot_m0.S).
 *
 * Masks are applied to one weight row at a time: mask_row widens each mask byte through a table to a byte
 * mask (0x00/0xff per edge) and clears the pruned weights a word at a time, so the MAC loop itself never
 * tests a bit, and no masked copy of a layer's weights is ever kept.
 */
#include "dot.h"

#define W4(m) ((((m) & 1u) ? 0xffu : 0u) | (((m) & 2u) ? 0xff00u : 0u) | (((m) & 4u) ? 0xff0000u : 0u) \
               | (((m) & 8u) ? 0xff000000u : 0u))
#define E1(m) {W4(m), W4((m) >> 4)}
#define E4(m) E1(m), E1((m) + 1), E1((m) + 2), E1((m) + 3)
#define E16(m) E4(m), E4((m) + 4), E4((m) + 8), E4((m) + 12)
#define E64(m) E16(m), E16((m) + 16), E16((m) + 32), E16((m) + 48)
static const uint32_t byte_mask[256][2] = {E64(0), E64(64), E64(128), E64(192)};

static inline int kept(const uint8_t *mask, uint32_t pos) { return (mask[pos >> 3] >> (pos & 7)) & 1; }

static inline int aligned(const void *a, const void *b) { return (((uintptr_t)a | (uintptr_t)b) & 3u) == 0; }

int32_t dot_s8(const int8_t *w, const int8_t *x, int32_t n)
{
    int32_t acc = 0;
    if (aligned(w, x) && n >= 4) {
        acc = dot_s8_words(w, x, n >> 2);
        w += n & ~3;
        x += n & ~3;
        n &= 3;
    }
    for (; n > 0; n--) acc += *w++ * *x++;
    return acc;
}

void mask_row(int8_t *dst, const int8_t *w, int32_t n, const uint8_t *mask, uint32_t pos)
{
    int32_t i = 0;
    if (!mask) {
        for (; i < n; i++) dst[i] = w[i];
        return;
    }
    if ((pos & 7) == 0 && aligned(dst, w)) {
        const uint32_t *ws = (const uint32_t *)(const void *)w;
        uint32_t *d = (uint32_t *)(void *)dst;
        const uint8_t *mp = mask + (pos >> 3);
        for (; i + 8 <= n; i += 8, ws += 2, d += 2) {
            const uint32_t *bm = byte_mask[*mp++];
            d[0] = ws[0] & bm[0];
            d[1] = ws[1] & bm[1];
        }
    }
    for (; i < n; i++) dst[i] = kept(mask, pos + (uint32_t)i) ? w[i] : 0;
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
