/* Inner products of int8 vectors, plain or through a keep bitmask (bit e of `mask` set = edge e kept).
 * The masked form skips pruned edges without loading them: no masked weight copy is ever made. */
#pragma once
#include <stdint.h>

int32_t dot_s8(const int8_t *w, const int8_t *x, int32_t n);
int32_t dot_s8_masked(const int8_t *w, const int8_t *x, int32_t n, const uint8_t *mask, uint32_t pos);
/* dst[i] += e * w[i] for the kept edges (pos: bit index of w[0]); mask NULL = all kept. */
void axpy_s8(int32_t *dst, int32_t e, const int8_t *w, int32_t n, const uint8_t *mask, uint32_t pos);
