#pragma once
#include <stdint.h>

/* Ranking keys of int16 scores (priot/topk.py: rank_key), uint16 and order-preserving: the signed score
 * (PRIOT's rule) or its magnitude (edge-popup's rule; |-32768| = 32768 still fits). */
static inline uint32_t topk_key_signed(int16_t s) { return (uint32_t)(s + 32768); }
static inline uint32_t topk_key_magnitude(int16_t s) { return (uint32_t)(s < 0 ? -(int32_t)s : s); }

/* For 0 < k < n: the threshold key t of the top-k and how many keys equal to t to keep (signed keys). */
void topk_threshold(const int16_t *scores, int32_t n, int32_t k, uint32_t *t, int32_t *n_eq);
/* The same over magnitude keys. */
void topk_threshold_magnitude(const int16_t *scores, int32_t n, int32_t k, uint32_t *t, int32_t *n_eq);
