/* Top-k threshold over int16 scores in O(n) with one 256-entry histogram (priot/topk.py):
 * key = score + 32768; pass 1 walks the high-byte histogram down to the bin holding the k-th largest key,
 * pass 2 does the same over the low bytes of that bin. Keys above the threshold are kept, and of the keys
 * equal to it the lowest indices first, `n_eq` of them. */
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

void topk_threshold(const int16_t *scores, int32_t n, int32_t k, uint32_t *t, int32_t *n_eq)
{
    uint16_t hist[256];
    int32_t above, above2;
    for (int32_t b = 0; b < 256; b++) hist[b] = 0;
    for (int32_t i = 0; i < n; i++) hist[((uint32_t)(scores[i] + 32768)) >> 8]++;
    uint32_t hi = (uint32_t)walk_down(hist, k, &above);
    for (int32_t b = 0; b < 256; b++) hist[b] = 0;
    for (int32_t i = 0; i < n; i++) {
        uint32_t key = (uint32_t)(scores[i] + 32768);
        if ((key >> 8) == hi) hist[key & 255u]++;
    }
    uint32_t lo = (uint32_t)walk_down(hist, k - above, &above2);
    *t = (hi << 8) | lo;
    *n_eq = k - above - above2;
}
