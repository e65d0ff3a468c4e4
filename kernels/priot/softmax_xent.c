/* Integer softmax cross-entropy gradient (priot/ref.py, loss_grad):
 *   d_i = max(z) - z_i, e_i = exp_table[d_i] (Q14), S = sum e_i,
 *   p_i = (e_i * 128 + S / 2) / S (Q7, unsigned division), err_i = sat8(p_i - 128 [i == label]). */
#include "layers.h"
#include "requant.h"

void softmax_xent_grad(const int8_t *logits, int32_t n, int32_t label, const int32_t *exp_table, int8_t *err)
{
    int32_t zmax = logits[0];
    for (int32_t i = 1; i < n; i++)
        if (logits[i] > zmax) zmax = logits[i];
    uint32_t sum = 0;
    for (int32_t i = 0; i < n; i++) sum += (uint32_t)exp_table[zmax - logits[i]];
    for (int32_t i = 0; i < n; i++) {
        uint32_t p = ((uint32_t)exp_table[zmax - logits[i]] * 128u + sum / 2u) / sum;
        err[i] = sat8((int32_t)p - (i == label ? 128 : 0));
    }
}
