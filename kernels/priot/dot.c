/* Multiply-accumulate loops: the hot path of every PRIOT layer.
 *
 * Cortex-M0+ loads cost 2 cycles and LDRSB has no immediate offset, so aligned runs load four int8 at once
 * with one LDR and sign-extend each byte in 1-2 ALU cycles. Masked runs widen each mask byte through a
 * table to a byte mask (0x00/0xff per edge) and clear the pruned weights in registers: no branch per edge
 * and no masked copy of the weights in memory.
 */
#include "dot.h"

static inline int32_t b0(uint32_t v) { return (int8_t)v; }
static inline int32_t b1(uint32_t v) { return (int32_t)(v << 16) >> 24; }
static inline int32_t b2(uint32_t v) { return (int32_t)(v << 8) >> 24; }
static inline int32_t b3(uint32_t v) { return (int32_t)v >> 24; }

static inline int32_t dot4(uint32_t a, uint32_t b)
{
    return b0(a) * b0(b) + b1(a) * b1(b) + b2(a) * b2(b) + b3(a) * b3(b);
}

/* byte_mask[m] = mask byte m widened: bit i set -> byte i = 0xff (two words, edges 0-3 and 4-7). */
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
    if (aligned(w, x)) {
        const uint32_t *wp = (const uint32_t *)(const void *)w, *xp = (const uint32_t *)(const void *)x;
        for (; n >= 4; n -= 4) acc += dot4(*wp++, *xp++);
        w = (const int8_t *)wp;
        x = (const int8_t *)xp;
    }
    for (; n > 0; n--) acc += *w++ * *x++;
    return acc;
}

int32_t dot_s8_masked(const int8_t *w, const int8_t *x, int32_t n, const uint8_t *mask, uint32_t pos)
{
    int32_t acc = 0;
    if ((pos & 7) == 0 && aligned(w, x)) {
        const uint32_t *wp = (const uint32_t *)(const void *)w, *xp = (const uint32_t *)(const void *)x;
        const uint8_t *mp = mask + (pos >> 3);
        for (; n >= 8; n -= 8, pos += 8, wp += 2, xp += 2) {
            const uint32_t *bm = byte_mask[*mp++];
            acc += dot4(wp[0] & bm[0], xp[0]) + dot4(wp[1] & bm[1], xp[1]);
        }
        w = (const int8_t *)wp;
        x = (const int8_t *)xp;
    }
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
