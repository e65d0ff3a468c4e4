/* PRIOT on the Pico: the model image, the training state and the entry points Python calls.
 *
 * Built once per method (PRIOT_METHOD, from the generated priot_layout.h, which the method registry drives):
 * PRIOT_TRAINS says what it trains: PRIOT/PRIOT-S int16 edge scores over frozen int8 flash weights (keep
 * bitmask), the int8 weights (copied to SRAM; every layer or the last), or nothing. A weight-training variant
 * has one PRIOT_UPDATE rule: hash-stochastic, round-to-nearest, floor shift, NITI's published update (mu bits
 * from the layer's largest gradient, PstoShift), or NITI dynamic scaling (every shift from each tensor's maximum).
 * Arithmetic follows priot/ref.py and the method classes bit for bit (rules: priot/SPEC.md).
 * A two-core variant (PRIOT_CORES 2) starts core 1 in priot_init and hands it a share of every heavy layer loop.
 */
#include <stdint.h>

#include "conv3x3_c1.h"
#include "layers.h"
#include "priot_layout.h"
#include "requant.h"
#include "topk.h"

#define IS_PRIOT (PRIOT_TRAINS == PRIOT_TRAINS_SCORES)
#define IS_SGD (PRIOT_TRAINS == PRIOT_TRAINS_WEIGHTS)
#define IS_DYNAMIC (PRIOT_UPDATE == PRIOT_UPDATE_DYNAMIC)
#define IS_NITI_STATIC (PRIOT_UPDATE == PRIOT_UPDATE_NITI_STATIC)
/* PRIOT's score knobs: the generated header defines PRIOT_<KNOB>_<VALUE> (as 1) only for a value that is not the
 * default (priot/device/layout.py: KNOB_MACROS), so the default variants compile as before. */
#ifdef PRIOT_SCORE_ROUND_STOCHASTIC
#define STOCHASTIC_SCORES IS_PRIOT
#else
#define STOCHASTIC_SCORES 0
#endif
/* rules that draw from the counter: the SGD baselines' hash-stochastic and dynamic updates, PRIOT's stochastic
 * score rounding */
#define USES_RNG (PRIOT_UPDATE == PRIOT_UPDATE_STOCHASTIC || IS_DYNAMIC || STOCHASTIC_SCORES)
/* The layers whose update draws from the counter: the trained layers, or PRIOT's layers with scored edges. */
#define LEARNS(p) (IS_PRIOT ? (uint32_t)(P.n_scored[p] != 0) : (uint32_t)P.trained[p])

/* Flash: the frozen model as a deployment keeps it (written by the host before the run). */
const uint32_t priot_layout_hash = PRIOT_LAYOUT_HASH;
/* Word alignment lets the MAC loops load four int8 at a time (see dot.c). */
#define ALIGNED __attribute__((aligned(4)))
const int8_t priot_flash_weights[PRIOT_N_WEIGHTS] ALIGNED = {1};
const int32_t priot_flash_bias[PRIOT_N_BIAS] = {1};
const int32_t priot_exp_tables[PRIOT_N_EXP_TABLES][256] = {{1}};

/* SRAM: parameters, the sample, activations kept for the backward pass, and the training state. */
priot_params_t priot_params;
int8_t priot_input[PRIOT_IN_SIZE] ALIGNED;
int8_t priot_logits[PRIOT_N_OUT];
int8_t priot_act[PRIOT_ACT_TOTAL] ALIGNED;
int32_t priot_status; /* non-zero: a dynamic exponent left the exported exp tables */
/* Errors exist only from the lowest trained layer's output up (the backward pass ends there). */
static int8_t err_a[PRIOT_MAX_ERR] ALIGNED, err_b[PRIOT_MAX_ERR] ALIGNED;
static int32_t dx_acc[PRIOT_MAX_PARAM_IN];
static int32_t bias_buf[PRIOT_MAX_COUT];
/* A trained conv layer, updated channel by channel, or core 0's share of the rows on two cores (not declared
 * otherwise: the fit check counts exactly the buffers declared, whatever the compiler could prove unused). */
#if PRIOT_CONV_ROW_GRAD || (PRIOT_CORES == 2 && PRIOT_SPLITS_UPDATE)
static int32_t row_grad[PRIOT_MAX_CONV_ROW]; /* one output channel's weight gradient */
#define ROW_GRAD row_grad
#else
#define ROW_GRAD ((int32_t *)0) /* never used: no trained conv layer */
#endif
static int8_t im2col_buf[PRIOT_IM2COL_BYTES] ALIGNED; /* output rows of a conv layer's input, unrolled */
static int8_t row_buf[PRIOT_MAX_ROW_BYTES] ALIGNED;   /* one (masked) weight row */
static int32_t out_exp;

#if IS_PRIOT
#ifdef PRIOT_RANK_MAGNITUDE /* edge-popup's rule: the top-k |scores| */
#define RANK_KEY(s) topk_key_magnitude(s)
#define TOPK_THRESHOLD topk_threshold_magnitude
#else /* the top-k signed scores */
#define RANK_KEY(s) ((uint32_t)((s) + 32768))
#define TOPK_THRESHOLD topk_threshold
#endif
int16_t priot_scores[PRIOT_SCORE_CAP];
/* The keep mask of one layer at a time (bit i = edge i of that layer), expanded from the scores right before
 * the layer runs: a mask over every weight would not fit the SRAM beside a Pico-sized VGG11. */
uint8_t priot_mask[PRIOT_MASK_BYTES];
static PRIOT_ROW_START_T row_scored_start[PRIOT_MAX_ROWS]; /* scored edges before each weight row */
/* What select_layer decided per layer: scored edge i is kept iff key_i > keep_t, or key_i == keep_t and
 * i <= tie_last (the lowest indices of the ties first). */
static uint32_t keep_t[PRIOT_N_PARAM];
static int32_t tie_last[PRIOT_N_PARAM];
static int32_t mask_of = -1; /* the layer whose mask priot_mask holds (-1: none, or selected since) */
static const uint8_t *layer_mask(int32_t p);
#define MASK(p) layer_mask(p)
#else
#define MASK(p) ((const uint8_t *)0)
#endif

#if IS_SGD
int8_t priot_train_w[PRIOT_TRAIN_WEIGHTS] ALIGNED;
#endif
#if USES_RNG
uint32_t priot_rng_counter;
#endif

#if IS_DYNAMIC
static int32_t fwd_acc[PRIOT_MAX_ACT];
static int32_t grad_acc[PRIOT_MAX_LAYER_WEIGHTS];
#endif

#define P priot_params

/* ------------------------------------------------------------------------------------------- two cores */
#ifndef PRIOT_CORES
#define PRIOT_CORES 1 /* the generated header names PRIOT_CORES only for a two-core variant */
#endif
#if PRIOT_CORES == 2
/* Core 1 runs one share of each heavy layer loop, with its own stack and scratch, while core 0 runs the other
 * and then waits for it: the forward pass and the weight/score updates by output channel (core 1 the channels
 * [half, cout)), the input gradient by input row (a dense layer: by input index), so that the shares write
 * disjoint parts of one accumulator. Every output is computed as on one core: the same bits. */
#include "multicore.h"
static uint32_t core1_stack[PRIOT_CORE1_STACK_BYTES / 4];
static int8_t row_buf1[PRIOT_MAX_ROW_BYTES] ALIGNED;
#if PRIOT_SPLITS_UPDATE /* the update rows are split too (priot/device/layout.py: splits_update) */
/* Core 1's unrolled input rows (forward) and its gradient row (update) are never in use at once: one buffer. */
static union { int8_t col[PRIOT_IM2COL_BYTES]; int32_t grad[PRIOT_MAX_CONV_ROW]; } core1_scratch;
#define im2col_buf1 (core1_scratch.col)
#define row_grad1 (core1_scratch.grad)
#else
static int8_t im2col_buf1[PRIOT_IM2COL_BYTES] ALIGNED;
#endif
static int32_t core1_started;
/* One layer's share for core 1: channels (input gradient: input rows or indices) c0..c1-1. Forward: in ->
 * out8/out32; input gradient: in = the error, out32 = the accumulator; update: in = the error, x = the input. */
typedef struct {
    const priot_layer_t *L;
    const int8_t *in, *x, *w;
    const uint8_t *mask;
    const int32_t *bias;
    int32_t shift;
    int8_t *out8;
    int32_t *out32;
    int32_t c0, c1;
    uint32_t base;
} share_t;

/* Core 0's share of n rows or channels: the smaller half, as it also hands out the work and collects it. */
static inline int32_t core0_share(int32_t n) { return n / 2; }

static void run_on_core1(core1_job_t job, const share_t *s)
{
    __dmb(); /* the share is in memory before core 1 reads its address */
    multicore_run_on_core1(job, (void *)s);
}

static void join_core1(void)
{
    (void)multicore_join_core1();
    __dmb();
}
#endif
/* Kept out of line so the profiler can attribute the cost table's phases (priot/experiments/cost.py). */
#define PHASE __attribute__((noinline))

static const int8_t *weights_of(int32_t p)
{
#if IS_SGD
    if (P.trained[p]) return priot_train_w + P.train_off[p];
#endif
    return priot_flash_weights + priot_weight_off[p];
}

static const int8_t *layer_input(int32_t i) { return i == 0 ? priot_input : priot_act + priot_act_off[i - 1]; }

PHASE static uint32_t max_abs(const int32_t *v, int32_t n)
{
    uint32_t m = 0;
    for (int32_t i = 0; i < n; i++) {
        uint32_t a = (uint32_t)(v[i] < 0 ? -v[i] : v[i]);
        if (a > m) m = a;
    }
    return m;
}

static int32_t argmax8(const int8_t *v, int32_t n)
{
    int32_t k = 0;
    for (int32_t i = 1; i < n; i++)
        if (v[i] > v[k]) k = i;
    return k;
}

/* ------------------------------------------------------------------------------------------------ forward */

#if PRIOT_CORES == 2
static void forward_share(const share_t *s, int32_t c0, int32_t c1, int8_t *col, int8_t *row)
{
    const priot_layer_t *L = s->L;
    conv_dims_t d = {L->in_h, L->in_w, L->in_c, L->out_c};
    if (L->kind == KIND_CONV3X3)
        conv3x3_forward_channels(s->in, &d, s->w, s->mask, 0, s->bias, s->shift, s->out8, s->out32, col,
                                 PRIOT_IM2COL_BYTES, row, c0, c1);
    else dense_forward_channels(s->in, L->in_h * L->in_w * L->in_c, c0, c1, s->w, s->mask, 0, s->bias, s->shift,
                                s->out8, s->out32, row);
}

static uint32_t forward_job(void *arg)
{
    const share_t *s = arg;
    forward_share(s, s->c0, s->c1, im2col_buf1, row_buf1);
    return 0;
}

static uint32_t c1_rows_job(void *arg)
{
    const share_t *s = arg;
    conv_dims_t d = {s->L->in_h, s->L->in_w, s->L->in_c, s->L->out_c};
    conv3x3_c1_rows(&d, s->shift, s->out8, s->out32, (const int32_t *)(const void *)im2col_buf, s->c0, s->c1);
    return 0;
}

/* A conv or dense layer's forward pass split by output channel; the one-input-channel conv loop (its scratch
 * filled once, by core 0) by output row. */
static void forward_on_both(const priot_layer_t *L, const int8_t *in, const int8_t *w, const uint8_t *mask,
                            const int32_t *bias, int32_t shift, int8_t *out8, int32_t *out32)
{
    conv_dims_t d = {L->in_h, L->in_w, L->in_c, L->out_c};
    if (L->kind == KIND_CONV3X3 && conv3x3_c1_applies(&d, PRIOT_IM2COL_BYTES)) {
        int32_t *scratch = (int32_t *)(void *)im2col_buf, half = core0_share(L->out_h);
        conv3x3_c1_prepare(in, &d, w, mask, 0, bias, shift, out32, scratch, row_buf);
        const share_t s = {L, in, 0, w, mask, bias, shift, out8, out32, half, L->out_h, 0};
        run_on_core1(c1_rows_job, &s);
        conv3x3_c1_rows(&d, shift, out8, out32, scratch, 0, half);
        join_core1();
        return;
    }
    const int32_t half = core0_share(L->out_c);
    const share_t s = {L, in, 0, w, mask, bias, shift, out8, out32, half, L->out_c, 0};
    run_on_core1(forward_job, &s);
    forward_share(&s, 0, half, im2col_buf, row_buf);
    join_core1();
}
#endif

static void param_forward(const priot_layer_t *L, const int8_t *in, int8_t *out, int32_t *f)
{
    int32_t p = L->param;
    const int32_t *bias = priot_flash_bias + priot_bias_off[p];
    const int8_t *w = weights_of(p);
    conv_dims_t d = {L->in_h, L->in_w, L->in_c, L->out_c};
    int32_t n_out = L->out_h * L->out_w * L->out_c;
#if IS_DYNAMIC
    for (int32_t c = 0; c < L->out_c; c++) bias_buf[c] = align_exp(bias[c], *f - P.act_exp[p]);
#if PRIOT_CORES == 2
    (void)d;
    forward_on_both(L, in, w, MASK(p), bias_buf, 0, 0, fwd_acc);
#else
    if (L->kind == KIND_CONV3X3)
        conv3x3_forward(in, &d, w, MASK(p), 0, bias_buf, 0, 0, fwd_acc, im2col_buf, PRIOT_IM2COL_BYTES, row_buf);
    else dense_forward(in, L->in_h * L->in_w * L->in_c, L->out_c, w, MASK(p), 0, bias_buf, 0, 0, fwd_acc, row_buf);
#endif
    int32_t s = dynamic_shift_of(max_abs(fwd_acc, n_out), 7);
    for (int32_t i = 0; i < n_out; i++) out[i] = requant8(fwd_acc[i], s);
    *f += P.w_exp[p] - s;
#else
    int32_t s = P.out_shift[p];
    const uint8_t *mask = MASK(p);
    (void)bias_buf; (void)n_out; (void)f;
#if PRIOT_CORES == 2
    (void)d;
    forward_on_both(L, in, w, mask, bias, s, out, 0);
#else
    if (L->kind == KIND_CONV3X3)
        conv3x3_forward(in, &d, w, mask, 0, bias, s, out, 0, im2col_buf, PRIOT_IM2COL_BYTES, row_buf);
    else dense_forward(in, L->in_h * L->in_w * L->in_c, L->out_c, w, mask, 0, bias, s, out, 0, row_buf);
#endif
#endif
}

static int32_t forward(void)
{
    int32_t f = P.in_exp;
    for (int32_t i = 0; i < PRIOT_N_LAYERS; i++) {
        const priot_layer_t *L = &priot_layers[i];
        const int8_t *in = layer_input(i);
        int8_t *out = priot_act + priot_act_off[i];
        if (L->kind == KIND_RELU) relu_forward(out, L->out_h * L->out_w * L->out_c);
        else if (L->kind == KIND_MAXPOOL2) maxpool2_forward(in, L->in_h, L->in_w, L->in_c, out);
        else param_forward(L, in, out, &f);
    }
    out_exp = f;
    const int8_t *logits = priot_act + priot_act_off[PRIOT_N_LAYERS - 1];
    for (int32_t i = 0; i < PRIOT_N_OUT; i++) priot_logits[i] = logits[i];
    return argmax8(priot_logits, PRIOT_N_OUT);
}

/* ------------------------------------------------------------------------------------------------ updates */
#if IS_PRIOT
/* Whether edge i (flat index in layer p) of weight w is scored, from the layer's threshold (score_t). */
#if !defined(PRIOT_SELECT_SMALLEST) && !defined(PRIOT_SELECT_RANDOM) /* the largest |w| (the default) */
static int32_t is_scored(int32_t p, int8_t w) { return (w < 0 ? -w : w) >= P.score_t[p]; }
#define IS_SCORED(p, w, i) is_scored(p, w)
#elif defined(PRIOT_SELECT_SMALLEST)
static int32_t is_scored(int32_t p, int8_t w) { return (w < 0 ? -w : w) <= P.score_t[p]; }
#define IS_SCORED(p, w, i) is_scored(p, w)
#else /* random: a seeded 16-bit hash of the edge's index under the threshold (priot.methods.priot.select_hash) */
static uint32_t select_base[PRIOT_N_PARAM];
static int32_t is_scored_at(int32_t p, int32_t i)
{
    return (int32_t)(lowbias32(select_base[p] + (uint32_t)i) >> 16) < P.score_t[p];
}
#define IS_SCORED(p, w, i) ((void)(w), is_scored_at(p, i)) /* the weight does not decide it */
#endif

#if STOCHASTIC_SCORES /* s -= sround(g16 * w, lr_shift) with this layer's rounding base, indexed by scored edge */
static uint32_t score_base;
#define SCORE_DELTA(v, j) sround((v), P.lr_shift, score_base, (uint32_t)(j))
#else
#define SCORE_DELTA(v, j) rshift_round((v), P.lr_shift)
#endif

/* Straight-through score update of one row of edges: s -= rshift_round(sat16(g >> grad_shift) * w, lr). */
PHASE static void score_row(int32_t p, int32_t row, int32_t len, const int32_t *g, int32_t e, const int8_t *x)
{
    const int8_t *w = weights_of(p) + row * len;
    int32_t j = row_scored_start[p * PRIOT_MAX_COUT + row]; /* the scored edge's index in its layer */
    int16_t *s = priot_scores + P.score_off[p] + j;
    (void)j;
    for (int32_t i = 0; i < len; i++) {
        if (!IS_SCORED(p, w[i], row * len + i)) continue;
        int32_t gi = g ? g[i] : e * x[i];
        int32_t g16 = sat16(rshift_round(gi, P.grad_shift[p]));
#ifdef PRIOT_RANK_MAGNITUDE /* edge-popup: the gradient reaches |s| through abs, sign(0) = 0 */
        int32_t d = SCORE_DELTA(g16 * w[i], j);
        *s = sat16(*s - (*s > 0 ? d : *s < 0 ? -d : 0));
#else
        *s = sat16(*s - SCORE_DELTA(g16 * w[i], j));
#endif
        s++;
        j++;
    }
}

/* Which scored edges of layer p stay: the top keep_k of its scores (keep_t, tie_last); the mask bits are
 * written only when the layer runs (layer_mask). */
PHASE static void select_layer(int32_t p)
{
    const int16_t *s = priot_scores + P.score_off[p];
    int32_t n = P.n_scored[p], k = P.keep_k[p], n_eq = 0;
    uint32_t t = 0;
    mask_of = -1;
    if (k >= n) { keep_t[p] = 0; tie_last[p] = n; return; }          /* every key >= 0: all kept */
    if (k <= 0) { keep_t[p] = 0x10000u; tie_last[p] = -1; return; }  /* above every key: none kept */
    TOPK_THRESHOLD(s, n, k, &t, &n_eq);
    int32_t last = -1;
    for (int32_t i = 0; i < n && n_eq > 0; i++)
        if (RANK_KEY(s[i]) == t && --n_eq == 0) last = i;
    keep_t[p] = t;
    tie_last[p] = last;
}

/* Bits i0..i1-1 of layer p's keep mask into priot_mask (i0 a multiple of 8; j0: the scored edges before i0). */
static inline __attribute__((always_inline)) void mask_bits(int32_t p, int32_t i0, int32_t i1, int32_t j0)
{
    const int8_t *w = weights_of(p);
    const int16_t *s = priot_scores + P.score_off[p];
    const uint32_t t = keep_t[p];
    const int32_t last = tie_last[p];
    uint32_t bits = 0, nbits = 0;
    uint8_t *out = priot_mask + i0 / 8;
    for (int32_t i = i0, j = j0; i < i1; i++) {
        uint32_t keep = 1;
        if (IS_SCORED(p, w[i], i)) {
            uint32_t key = RANK_KEY(s[j]);
            keep = key > t || (key == t && j <= last);
            j++;
        }
        bits |= keep << nbits;
        if (++nbits == 8) { *out++ = (uint8_t)bits; bits = 0; nbits = 0; }
    }
    if (nbits) *out = (uint8_t)bits;
}

#if PRIOT_CORES == 2
static uint32_t mask_job(void *arg)
{
    const share_t *s = arg;
    mask_bits(s->shift, s->c0, s->c1, (int32_t)s->base);
    return 0;
}

/* The mask split at a weight row whose first bit starts a byte (so the cores write disjoint bytes), near the
 * middle; the scored edges before that row are known (row_scored_start). One core when no such row exists. */
static void mask_on_both(int32_t p)
{
    int32_t rows = 1;
    for (int32_t i = 0; i < PRIOT_N_LAYERS; i++)
        if (priot_layers[i].param == p) rows = priot_layers[i].out_c;
    const int32_t n = priot_weight_count[p], len = n / rows;
    int32_t r = core0_share(rows);
    while (r > 0 && (r * len) % 8) r--;
    if (r == 0) { mask_bits(p, 0, n, 0); return; }
    const share_t s = {0, 0, 0, 0, 0, 0, p, 0, 0, r * len, n, row_scored_start[p * PRIOT_MAX_COUT + r]};
    run_on_core1(mask_job, &s);
    mask_bits(p, 0, r * len, 0);
    join_core1();
}
#endif

/* Layer p's keep mask into priot_mask (NULL for a layer used whole: nothing scored). */
PHASE static const uint8_t *layer_mask(int32_t p)
{
    if (!P.n_scored[p]) return 0;
    if (mask_of == p) return priot_mask; /* the top layer's mask, from the forward pass into the backward */
    mask_of = p;
#if PRIOT_CORES == 2
    mask_on_both(p);
#else
    mask_bits(p, 0, priot_weight_count[p], 0);
#endif
    return priot_mask;
}
#endif

#if USES_RNG
/* Rank of layer p among the trained layers: the rounding counter advances once per trained tensor, in order. */
static uint32_t trained_rank(int32_t p)
{
    uint32_t r = 0;
    for (int32_t j = 0; j < p; j++) r += LEARNS(j);
    return r;
}
#endif

#if IS_SGD
/* One weight's step from its gradient accumulator under this variant's update rule (priot/SPEC.md). */
static inline int32_t weight_step(int32_t g, int32_t shift, uint32_t base, uint32_t index)
{
#if USES_RNG
    return sround(g, shift, base, index);
#else
    (void)base; (void)index;
#if PRIOT_UPDATE == PRIOT_UPDATE_NEAREST
    return rshift_round(g, shift);
#elif PRIOT_UPDATE == PRIOT_UPDATE_FLOOR
    return g >> shift; /* arithmetic shift: floor */
#else
    return niti_step(g, shift); /* shift = ceil_log2(max|g|) - mu, may be <= 0 */
#endif
#endif
}

PHASE static void sgd_row(int32_t p, int32_t row, int32_t len, const int32_t *g, int32_t e, const int8_t *x,
                    int32_t shift, uint32_t base)
{
    int8_t *w = priot_train_w + P.train_off[p] + row * len;
    for (int32_t i = 0; i < len; i++) {
        int32_t gi = g ? g[i] : e * x[i];
        w[i] = sat_w8(w[i] - weight_step(gi, shift, base, (uint32_t)(row * len + i)));
    }
}

#if IS_NITI_STATIC
/* The largest |gradient| of layer p, which NITI's update is normalised by. A first pass recomputes each conv
 * channel's gradient rather than keeping the layer's int32 gradient in SRAM; a dense layer's gradient is the
 * outer product err x in, so its largest magnitude is max|err| * max|in|. */
PHASE static uint32_t grad_max(const priot_layer_t *L, int32_t p, const int8_t *err, const int8_t *in, int32_t *g)
{
    int32_t rows = L->out_c, len = priot_weight_count[p] / rows;
    uint32_t m = 0;
    if (L->kind == KIND_CONV3X3) {
        conv_dims_t d = {L->in_h, L->in_w, L->in_c, L->out_c};
        for (int32_t r = 0; r < rows; r++) {
            conv3x3_channel_grad(err, in, &d, r, g);
            uint32_t a = max_abs(g, len);
            if (a > m) m = a;
        }
        return m;
    }
    uint32_t me = 0, mx = 0;
    for (int32_t r = 0; r < rows; r++) { uint32_t a = (uint32_t)(err[r] < 0 ? -err[r] : err[r]); if (a > me) me = a; }
    for (int32_t i = 0; i < len; i++) { uint32_t a = (uint32_t)(in[i] < 0 ? -in[i] : in[i]); if (a > mx) mx = a; }
    return me * mx;
}
#endif
#endif

#if PRIOT_CORES == 2 && PRIOT_SPLITS_UPDATE
/* Rows c0..c1-1 of a layer's update (each output channel's gradient row and its scores or weights). */
static void update_share(const share_t *s, int32_t c0, int32_t c1, int32_t *g)
{
    const priot_layer_t *L = s->L;
    const int32_t p = L->param, len = priot_weight_count[p] / L->out_c;
    const int8_t *err = s->in, *in = s->x;
    conv_dims_t d = {L->in_h, L->in_w, L->in_c, L->out_c};
    const int conv = L->kind == KIND_CONV3X3;
    for (int32_t r = c0; r < c1; r++) {
#if IS_PRIOT
        if (conv) { conv3x3_channel_grad(err, in, &d, r, g); score_row(p, r, len, g, 0, in); }
        else if (err[r]) score_row(p, r, len, 0, err[r], in);
#else
        if (conv) { conv3x3_channel_grad(err, in, &d, r, g); sgd_row(p, r, len, g, 0, in, s->shift, s->base); }
        else if (err[r]) sgd_row(p, r, len, 0, err[r], in, s->shift, s->base);
#endif
    }
}

PHASE static uint32_t update_job(void *arg)
{
    const share_t *s = arg;
    update_share(s, s->c0, s->c1, row_grad1);
    return 0;
}

/* A layer's update split by output channel (rows touch disjoint scores or weights). */
static void update_on_both(const priot_layer_t *L, const int8_t *err, const int8_t *in, int32_t shift, uint32_t base)
{
    const int32_t half = core0_share(L->out_c);
    const share_t s = {L, err, in, 0, 0, 0, shift, 0, 0, half, L->out_c, base};
    run_on_core1(update_job, &s);
    update_share(&s, 0, half, row_grad);
    join_core1();
}
#endif

/* Gradient of layer p's effective weights from its output error and input, applied row by row. */
PHASE static void update_layer(const priot_layer_t *L, int32_t p, const int8_t *err, const int8_t *in)
{
#if PRIOT_TRAINS == PRIOT_TRAINS_NONE
    (void)L; (void)p; (void)err; (void)in;
#else
    int32_t rows = L->out_c, len = priot_weight_count[p] / rows;
    conv_dims_t d = {L->in_h, L->in_w, L->in_c, L->out_c};
    int32_t *g = ROW_GRAD;
    int conv = L->kind == KIND_CONV3X3;
#if IS_PRIOT
    if (!P.n_scored[p]) return; /* a layer used whole: nothing to learn here */
#else
    if (!P.trained[p]) return;
#endif
#if IS_PRIOT
#if STOCHASTIC_SCORES
    score_base = lowbias32((uint32_t)P.seed ^ (priot_rng_counter + trained_rank(p)));
#endif
#if PRIOT_CORES == 2
    (void)g; (void)conv; (void)d; (void)rows; (void)len;
    update_on_both(L, err, in, 0, 0);
#else
    for (int32_t r = 0; r < rows; r++) {
        if (conv) { conv3x3_channel_grad(err, in, &d, r, g); score_row(p, r, len, g, 0, in); }
        else if (err[r]) score_row(p, r, len, 0, err[r], in);
    }
#endif
#elif IS_SGD
#if USES_RNG
    uint32_t base = lowbias32((uint32_t)P.seed ^ (priot_rng_counter + trained_rank(p)));
#else
    uint32_t base = 0;
#endif
#if IS_DYNAMIC
    for (int32_t r = 0; r < rows; r++) {
        int32_t *gr = grad_acc + r * len;
        if (conv) conv3x3_channel_grad(err, in, &d, r, gr);
        else for (int32_t i = 0; i < len; i++) gr[i] = err[r] * in[i];
    }
    int32_t shift = dynamic_shift_of(max_abs(grad_acc, rows * len), P.lr_shift);
    (void)g;
    for (int32_t r = 0; r < rows; r++) sgd_row(p, r, len, grad_acc + r * len, 0, in, shift, base);
#else
#if IS_NITI_STATIC
    int32_t bits = ceil_log2(grad_max(L, p, err, in, g));
    if (bits == 0) return; /* max|g| <= 1: NITI makes no update */
    int32_t shift = bits - P.lr_shift; /* lr_shift carries mu */
#else
    int32_t shift = P.grad_shift[p] + P.lr_shift;
#endif
#if PRIOT_CORES == 2
    (void)g; (void)conv; (void)d; (void)rows; (void)len;
    update_on_both(L, err, in, shift, base);
#else
    for (int32_t r = 0; r < rows; r++) {
        if (conv) { conv3x3_channel_grad(err, in, &d, r, g); sgd_row(p, r, len, g, 0, in, shift, base); }
        else if (err[r]) sgd_row(p, r, len, 0, err[r], in, shift, base);
    }
#endif
#endif
#endif
#endif
}

/* ----------------------------------------------------------------------------------------------- backward */
static const int32_t *loss_table(void)
{
#if IS_DYNAMIC
    int32_t k = out_exp - P.exp_table_base;
    if (k < 0 || k >= PRIOT_N_EXP_TABLES) { priot_status = 1; k = k < 0 ? 0 : PRIOT_N_EXP_TABLES - 1; }
    return priot_exp_tables[k];
#else
    return priot_exp_tables[0];
#endif
}

#if PRIOT_CORES == 2
static void backward_input_share(const share_t *s, int32_t c0, int32_t c1, int8_t *row)
{
    const priot_layer_t *L = s->L;
    conv_dims_t d = {L->in_h, L->in_w, L->in_c, L->out_c};
    if (L->kind == KIND_CONV3X3) conv3x3_backward_input_rows(s->in, &d, s->w, s->mask, 0, s->out32, row, c0, c1);
    else dense_backward_input_range(s->in, L->in_h * L->in_w * L->in_c, L->out_c, c0, c1, s->w, s->mask, 0, s->out32);
}

static uint32_t backward_input_job(void *arg)
{
    const share_t *s = arg;
    backward_input_share(s, s->c0, s->c1, row_buf1);
    return 0;
}

/* The input gradient into dx_acc split by input row (conv) or input index (dense). */
static void backward_input_on_both(const priot_layer_t *L, const int8_t *err, const int8_t *w, const uint8_t *mask)
{
    const int32_t n = L->kind == KIND_CONV3X3 ? L->in_h : L->in_h * L->in_w * L->in_c, half = core0_share(n);
    const share_t s = {L, err, 0, w, mask, 0, 0, 0, dx_acc, half, n, 0};
    run_on_core1(backward_input_job, &s);
    backward_input_share(&s, 0, half, row_buf);
    join_core1();
}
#endif

__attribute__((unused)) static void backward(int32_t label)
{
    int8_t *e = err_a, *spare = err_b;
    softmax_xent_grad(priot_logits, PRIOT_N_OUT, label, loss_table(), e);
    for (int32_t i = PRIOT_N_LAYERS - 1; i >= 0; i--) {
        const priot_layer_t *L = &priot_layers[i];
        const int8_t *in = layer_input(i);
        int32_t n_in = L->in_h * L->in_w * L->in_c;
        if (L->kind == KIND_RELU) {
            relu_backward(e, priot_act + priot_act_off[i], n_in);
        } else if (L->kind == KIND_MAXPOOL2) {
            maxpool2_backward(e, in, L->in_h, L->in_w, L->in_c, spare);
            int8_t *t = e; e = spare; spare = t;
        } else {
            int32_t p = L->param;
            if (p > PRIOT_LOWEST_TRAINED) { /* the input gradient uses the weights and mask of before this step */
                const uint8_t *mask = MASK(p);
#if PRIOT_CORES == 2
                backward_input_on_both(L, e, weights_of(p), mask);
#else
                conv_dims_t d = {L->in_h, L->in_w, L->in_c, L->out_c};
                if (L->kind == KIND_CONV3X3)
                    conv3x3_backward_input(e, &d, weights_of(p), mask, 0, dx_acc, row_buf);
                else dense_backward_input(e, n_in, L->out_c, weights_of(p), mask, 0, dx_acc);
#endif
            }
            update_layer(L, p, e, in);
            if (p <= PRIOT_LOWEST_TRAINED) break; /* nothing below learns: no error to pass down */
            {
                int32_t s = IS_DYNAMIC ? dynamic_shift_of(max_abs(dx_acc, n_in), 7) : P.bwd_shift[p];
                for (int32_t k = 0; k < n_in; k++) spare[k] = requant8(dx_acc[k], s);
                int8_t *t = e; e = spare; spare = t;
            }
        }
    }
}

/* ------------------------------------------------------------------------------------------- entry points */
/* After the host wrote the flash image, the parameters and the initial state. */
int32_t priot_init(void)
{
    priot_status = 0;
#if PRIOT_CORES == 2
    if (!core1_started) { /* core 1 waits for its shares from here on, across calls */
        multicore_start_worker(core1_stack, sizeof core1_stack);
        core1_started = 1;
    }
#endif
    for (int32_t i = 0; i < PRIOT_N_LAYERS; i++) { /* the generated scratch sizes fit these kernels */
        const priot_layer_t *L = &priot_layers[i];
        if (L->kind == KIND_CONV3X3 && (L->in_w * conv3x3_row_bytes(L->in_c) > PRIOT_IM2COL_BYTES
                                        || conv3x3_row_bytes(L->in_c) > PRIOT_MAX_ROW_BYTES))
            return -100 - i;
    }
#if IS_PRIOT
    for (int32_t p = 0; p < PRIOT_N_PARAM; p++) {
#ifdef PRIOT_SELECT_RANDOM
        select_base[p] = lowbias32((uint32_t)P.seed ^ (PRIOT_SELECT_SALT ^ (uint32_t)p));
#endif
        const int8_t *w = weights_of(p);
        int32_t rows = priot_layers[0].out_c, n = 0;
        for (int32_t i = 0; i < PRIOT_N_LAYERS; i++)
            if (priot_layers[i].param == p) rows = priot_layers[i].out_c;
        int32_t len = priot_weight_count[p] / rows;
        for (int32_t r = 0; r < rows; r++) {
            row_scored_start[p * PRIOT_MAX_COUT + r] = (PRIOT_ROW_START_T)n;
            for (int32_t i = 0; i < len; i++) n += IS_SCORED(p, w[r * len + i], r * len + i);
        }
        if (n != P.n_scored[p]) return -1 - p; /* host and device disagree on the scored edges */
        select_layer(p);
    }
#endif
#if IS_SGD
    for (int32_t p = 0; p < PRIOT_N_PARAM; p++)
        if (P.trained[p])
            for (int32_t i = 0; i < priot_weight_count[p]; i++)
                priot_train_w[P.train_off[p] + i] = priot_flash_weights[priot_weight_off[p] + i];
#endif
    return 0;
}

#if IS_PRIOT
/* Layer p's current keep mask into priot_mask, for the host's comparison; returns its bytes (0: used whole). */
int32_t priot_layer_mask(int32_t p)
{
    return layer_mask(p) ? (priot_weight_count[p] + 7) / 8 : 0;
}
#endif

/* Inference on priot_input: logits in priot_logits, returns the predicted class. */
int32_t priot_infer(void) { return forward(); }

/* One training step on priot_input with its label; returns the class predicted before the update. */
int32_t priot_train_step(int32_t label)
{
    int32_t predicted = forward();
#if PRIOT_TRAINS != PRIOT_TRAINS_NONE
    backward(label);
#else
    (void)label;
#endif
#if IS_PRIOT
    for (int32_t p = 0; p < PRIOT_N_PARAM; p++) select_layer(p);
#endif
#if USES_RNG
    for (int32_t p = 0; p < PRIOT_N_PARAM; p++) priot_rng_counter += LEARNS(p);
#endif
    return predicted;
}

int main(void) { return 0; }
