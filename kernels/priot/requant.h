/* The integer rules of priot/intmath.py, written once for C.
 *
 * rshift_round(x, s) = (x + (1 << (s-1))) >> s for s > 0 (arithmetic shift, round half up), x for s == 0.
 * Saturation clamps to int8 [-128, 127], weights to [-127, 127], scores to int16.
 * The baselines' other weight-update roundings (floor, NITI's PstoShift and mu normalisation) are at the end.
 * Callers keep |x| < 2^30 (the value ranges are documented in priot/ref.py).
 */
#pragma once
#include <stdint.h>

static inline int32_t rshift_round(int32_t x, int32_t s) { return s > 0 ? (x + (1 << (s - 1))) >> s : x; }
static inline int8_t sat8(int32_t x) { return (int8_t)(x > 127 ? 127 : x < -128 ? -128 : x); }
static inline int8_t sat_w8(int32_t x) { return (int8_t)(x > 127 ? 127 : x < -127 ? -127 : x); }
static inline int16_t sat16(int32_t x) { return (int16_t)(x > 32767 ? 32767 : x < -32768 ? -32768 : x); }
static inline int8_t requant8(int32_t acc, int32_t s) { return sat8(rshift_round(acc, s)); }

/* Bits of a non-negative value (0 -> 0): 32 - clz. */
static inline int32_t bitlen(uint32_t m)
{
    int32_t n = 0;
    while (m) { n++; m >>= 1; }
    return n;
}

/* NITI dynamic scaling: the smallest s >= 0 with max|acc| < 2^(bits + s). */
static inline int32_t dynamic_shift_of(uint32_t max_abs, int32_t bits)
{
    int32_t s = bitlen(max_abs) - bits;
    return s > 0 ? s : 0;
}

/* Multiply by 2^d: left shift for d >= 0, rshift_round for d < 0. */
static inline int32_t align_exp(int32_t x, int32_t d) { return d >= 0 ? x << d : rshift_round(x, -d); }

/* Chris Wellons' lowbias32 hash (uint32 wrap-around), the pseudo-random source of NITI's rounding. */
static inline uint32_t lowbias32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}

/* Pseudo-stochastic rounding of x / 2^s: floor after adding s random low bits (priot.intmath.sround). */
static inline int32_t sround(int32_t x, int32_t s, uint32_t base, uint32_t index)
{
    if (s == 0) return x;
    uint32_t r = lowbias32(base + index) & ((1u << s) - 1u);
    return (x + (int32_t)r) >> s;
}

/* ceil(log2(m)), exactly (0 and 1 -> 0): NITI's RangeEstimate (priot.intmath.ceil_log2). */
static inline int32_t ceil_log2(uint32_t m) { return m > 1 ? bitlen(m - 1) : 0; }

/* NITI's PstoShift of x / 2^s (s >= 1): the magnitude shifted, rounded up iff the upper half of the dropped
 * bits exceeds the lower half (doubled for odd s), the sign restored (priot.intmath.psto_shift). */
static inline int32_t psto_shift(int32_t x, int32_t s)
{
    uint32_t a = (uint32_t)(x < 0 ? -x : x), r = a & ((1u << s) - 1u);
    int32_t h = s >> 1;
    uint32_t hi = r >> h, lo = (r & ((1u << h) - 1u)) << (s & 1);
    int32_t q = (int32_t)((a >> s) + (hi > lo));
    return x < 0 ? -q : q;
}

/* NITI's weight step for one gradient-accumulator element, given b - mu for the layer
 * (b = ceil_log2(max|acc|); the caller skips the layer when b == 0): clipped to [-127, 127]
 * (priot.intmath.niti_update). */
static inline int32_t niti_step(int32_t g, int32_t shift)
{
    int32_t d = shift > 0 ? psto_shift(g, shift) : g;
    return d > 127 ? 127 : d < -127 ? -127 : d;
}
