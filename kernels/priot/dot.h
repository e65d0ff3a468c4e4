/* Inner products of int8 vectors, plain or through a keep bitmask (bit e of `mask` set = edge e kept). */
#pragma once
#include <stddef.h>
#include <stdint.h>

/* 4*nwords products of two word-aligned int8 arrays (dot_m0.S, 5.94 cycles per product). */
int32_t dot_s8_words(const int8_t *w, const int8_t *x, int32_t nwords);
/* One conv output channel, requantized: out[p*stride] = sat8((bias + dot(row, col + 4*words*p, words)) >> shift)
 * for p < npix (npix >= 1, words >= 1, both arrays word-aligned); bias already holds the rounding term. */
typedef struct { int32_t words, npix, bias, shift, stride; int8_t *out; } dot_channel_t;
_Static_assert(offsetof(dot_channel_t, npix) == 4 && offsetof(dot_channel_t, bias) == 8 &&
               offsetof(dot_channel_t, shift) == 12 && offsetof(dot_channel_t, stride) == 16 &&
               offsetof(dot_channel_t, out) == 20, "dot_m0.S reads dot_channel_t at these offsets");
void dot_s8_channel(const int8_t *row, const int8_t *col, const dot_channel_t *c);
/* Any length and alignment; the aligned word-multiple part goes through dot_s8_words. */
int32_t dot_s8(const int8_t *w, const int8_t *x, int32_t n);
/* dst[0..n) = w[i] if edge pos+i is kept, else 0 (mask NULL: copy). A row at a time, never a whole layer. */
void mask_row(int8_t *dst, const int8_t *w, int32_t n, const uint8_t *mask, uint32_t pos);
/* dst[i] += e * w[i] for the kept edges (pos: bit index of w[0]); mask NULL = all kept. */
void axpy_s8(int32_t *dst, int32_t e, const int8_t *w, int32_t n, const uint8_t *mask, uint32_t pos);
