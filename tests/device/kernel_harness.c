/* Test harness for the PRIOT C kernels (kernels/priot/): static buffers that the Python tests fill
 * through the emulator, and wrappers for the static inline rules of requant.h. Not part of the firmware. */
#include <stdint.h>

#include "dot.h"
#include "layers.h"
#include "requant.h"
#include "topk.h"

#define ALIGNED __attribute__((aligned(8)))

int8_t h_x[8192] ALIGNED;
int8_t h_x2[8192] ALIGNED;
int8_t h_w[16384] ALIGNED;
uint8_t h_mask[4096] ALIGNED;
int32_t h_bias[256] ALIGNED;
int8_t h_err[8192] ALIGNED;
int8_t h_out8[16384] ALIGNED;
int32_t h_out32[16384] ALIGNED;
int16_t h_scores[16384] ALIGNED;
int32_t h_table[256] ALIGNED;
int8_t h_col[16384] ALIGNED; /* conv scratch: the unrolled input, h*w*conv3x3_row_bytes(cin) bytes */
int8_t h_row[1024] ALIGNED;  /* conv/dense scratch: one (masked) weight row */
conv_dims_t h_dims ALIGNED;
uint32_t h_t;
int32_t h_n_eq;

int32_t h_requant8(int32_t acc, int32_t s) { return requant8(acc, s); }
int32_t h_rshift_round(int32_t x, int32_t s) { return rshift_round(x, s); }
int32_t h_sat8(int32_t x) { return sat8(x); }
int32_t h_sat_w8(int32_t x) { return sat_w8(x); }
int32_t h_sat16(int32_t x) { return sat16(x); }
int32_t h_bitlen(uint32_t m) { return bitlen(m); }
int32_t h_dynamic_shift_of(uint32_t max_abs, int32_t bits) { return dynamic_shift_of(max_abs, bits); }
int32_t h_align_exp(int32_t x, int32_t d) { return align_exp(x, d); }
uint32_t h_lowbias32(uint32_t x) { return lowbias32(x); }
int32_t h_sround(int32_t x, int32_t s, uint32_t base, uint32_t index) { return sround(x, s, base, index); }

/* Elementwise over h_out32 (in: h_out32[i] = x_i, out: h_out32[i] = f(x_i)): one call per vector. */
void h_rshift_round_vec(int32_t n, int32_t s)
{
    for (int32_t i = 0; i < n; i++) h_out32[i] = rshift_round(h_out32[i], s);
}

void h_requant8_vec(int32_t n, int32_t s)
{
    for (int32_t i = 0; i < n; i++) h_out8[i] = requant8(h_out32[i], s);
}

void h_sround_vec(int32_t n, int32_t s, uint32_t base)
{
    for (int32_t i = 0; i < n; i++) h_out32[i] = sround(h_out32[i], s, base, (uint32_t)i);
}

/* The baselines' update roundings over h_out32: 0 floor shift, 1 PstoShift, 2 NITI's step (shift may be <= 0);
 * ceil_log2 of each element for 3. */
void h_update_vec(int32_t n, int32_t s, int32_t rule)
{
    for (int32_t i = 0; i < n; i++) {
        int32_t x = h_out32[i];
        h_out32[i] = rule == 0 ? x >> s : rule == 1 ? psto_shift(x, s) : rule == 2 ? niti_step(x, s)
                                                                   : ceil_log2((uint32_t)x);
    }
}

void h_lowbias32_vec(int32_t n)
{
    for (int32_t i = 0; i < n; i++) h_out32[i] = (int32_t)lowbias32((uint32_t)h_out32[i]);
}

void h_topk(int32_t n, int32_t k)
{
    h_t = 0xdeadbeefu;
    h_n_eq = -1;
    topk_threshold(h_scores, n, k, &h_t, &h_n_eq);
}

int main(void) { return 0; }
