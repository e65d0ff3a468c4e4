#pragma once
#include <stdint.h>

/* For 0 < k < n: the threshold key t (score + 32768) of the top-k and how many keys equal to t to keep. */
void topk_threshold(const int16_t *scores, int32_t n, int32_t k, uint32_t *t, int32_t *n_eq);
