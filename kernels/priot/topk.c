/* Top-k threshold over int16 scores in O(n) with one 256-entry histogram (priot/topk.py):
 * key = score + 32768 (or |score|); pass 1 walks the high-byte histogram down to the bin holding the k-th
 * largest key, pass 2 does the same over the low bytes of that bin. Keys above the threshold are kept, and of
 * the keys equal to it the lowest indices first, `n_eq` of them. */
#include "topk.h"

static int32_t walk_down(const uint16_t *hist, int32_t need, int32_t *above)
{
    int32_t run = 0;
    for (int32_t b = 255; b >= 0; b--) {
        if (run + hist[b] >= need) { *above = run; return b; }
        run += hist[b];
    }
    *above = run;
    return 0;
}

/* One body for both rankings (a function per key, so neither pays for choosing at run time). */
#define TOPK_THRESHOLD(name, KEY)                                                                       \
    void name(const int16_t *scores, int32_t n, int32_t k, uint32_t *t, int32_t *n_eq)                  \
    {                                                                                                   \
        uint16_t hist[256];                                                                             \
        int32_t above, above2;                                                                          \
        for (int32_t b = 0; b < 256; b++) hist[b] = 0;                                                  \
        for (int32_t i = 0; i < n; i++) hist[KEY(scores[i]) >> 8]++;                                    \
        uint32_t hi = (uint32_t)walk_down(hist, k, &above);                                             \
        for (int32_t b = 0; b < 256; b++) hist[b] = 0;                                                  \
        for (int32_t i = 0; i < n; i++) {                                                               \
            uint32_t key = KEY(scores[i]);                                                              \
            if ((key >> 8) == hi) hist[key & 255u]++;                                                   \
        }                                                                                               \
        uint32_t lo = (uint32_t)walk_down(hist, k - above, &above2);                                    \
        *t = (hi << 8) | lo;                                                                            \
        *n_eq = k - above - above2;                                                                     \
    }

TOPK_THRESHOLD(topk_threshold, topk_key_signed)
TOPK_THRESHOLD(topk_threshold_magnitude, topk_key_magnitude)
