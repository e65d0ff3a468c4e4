/* Native Unicorn callbacks: exact instruction/cycle counting, taken branches, XIP cache, ARMv6-M guard.
 *
 * Called by Unicorn once per translation-block execution and once per flash data read; no Python runs on
 * this path.  The state struct is generated from m0sim/native/__init__.py (STATE_FIELDS) into
 * counter_state.h, so Python and C share one layout.
 */
#include <stdint.h>
#include "counter_state.h"

typedef void uc_engine;

static int window_of(const counter_state_t *s, uint32_t a)
{
    for (int w = 0; w < 2; w++)
        if (a >= s->lo[w] && a < s->hi[w]) return w;
    return -1;
}

static void stop(counter_state_t *s, uc_engine *uc, uint32_t reason, uint32_t addr)
{
    if (!s->stop_reason) {
        s->stop_reason = reason;
        s->stop_addr = addr;
    }
    ((int (*)(uc_engine *))s->emu_stop)(uc);
}

/* 16 KB, 2-way set-associative, 8-byte lines: 1024 sets.  Returns 1 on a hit. */
static int xip_access(counter_state_t *s, uint32_t addr, int allocate)
{
    uint32_t line = (addr & 0x00ffffffu) >> 3;
    uint32_t set = line & (XIP_SETS - 1);
    uint32_t tag = (line >> XIP_SET_BITS) + 1; /* 0 marks an empty way */
    uint32_t *ways = &s->xip_tags[2 * set];
    if (ways[0] == tag) { s->xip_lru[set] = 1; s->xip_hits++; return 1; }
    if (ways[1] == tag) { s->xip_lru[set] = 0; s->xip_hits++; return 1; }
    s->xip_misses++;
    s->cycles += s->xip_miss_penalty;
    ((int32_t *)(uintptr_t)s->stall_at[s->cur_window])[s->cur_slot] += (int32_t)s->xip_miss_penalty;
    if (allocate) {
        uint32_t victim = s->xip_lru[set];
        ways[victim] = tag;
        s->xip_lru[set] = victim ^ 1u;
    }
    return 0;
}

/* Flash alias by address bits 24-25: 0 cached, 1 no-allocate, 2 no-cache, 3 no-cache no-allocate. */
static void xip_read(counter_state_t *s, uint32_t addr)
{
    uint32_t alias = (addr >> 24) & 3u;
    if (alias >= 2) {
        s->xip_misses++;
        s->cycles += s->xip_miss_penalty;
        ((int32_t *)(uintptr_t)s->stall_at[s->cur_window])[s->cur_slot] += (int32_t)s->xip_miss_penalty;
        return;
    }
    xip_access(s, addr, alias == 0);
}

void m0sim_block(uc_engine *uc, uint64_t address, uint32_t size, void *user)
{
    counter_state_t *s = (counter_state_t *)user;
    uint32_t a = (uint32_t)address;
    int w = window_of(s, a);
    if (w < 0 || a + size > s->hi[w]) { stop(s, uc, STOP_UNDECODED, a); return; }
    uint32_t i = (a - s->lo[w]) >> 1, j = (a + size - s->lo[w]) >> 1;
    const uint32_t *bad = (const uint32_t *)(uintptr_t)s->bad_prefix[w];
    if (bad[j] != bad[i]) {
        while (bad[i + 1] == bad[i]) i++;
        stop(s, uc, STOP_ARMV7, s->lo[w] + 2 * i);
        return;
    }
    if (a != s->prev_end && s->prev_condbr) {
        /* the previous block's conditional branch was taken: charge it to that branch */
        int pw = window_of(s, s->prev_end - 2);
        s->cycles += s->taken_extra;
        s->taken++;
        if (pw >= 0) ((uint32_t *)(uintptr_t)s->taken_at[pw])[(s->prev_end - s->lo[pw]) >> 1]++;
    }
    s->cur_window = (uint32_t)w;
    s->cur_slot = i;
    const uint8_t *condbr = (const uint8_t *)(uintptr_t)s->condbr_end[w];
    s->prev_condbr = condbr[j];
    s->prev_end = a + size;
    const uint32_t *ins = (const uint32_t *)(uintptr_t)s->insns_prefix[w];
    const uint32_t *cyc = (const uint32_t *)(uintptr_t)s->cycles_prefix[w];
    s->insns += ins[j] - ins[i];
    s->cycles += cyc[j] - cyc[i];
    s->blocks++;
    ((uint32_t *)(uintptr_t)s->enter[w])[i]++;
    ((uint32_t *)(uintptr_t)s->leave[w])[j]++;
    if (s->fetch_through_xip[w]) {
        for (uint32_t line = a & ~7u; line < a + size; line += 8) xip_read(s, line);
    }
    if (s->insns >= s->insn_budget || s->cycles >= s->cycle_budget) stop(s, uc, STOP_BUDGET, a);
}

void m0sim_flash_read(uc_engine *uc, int type, uint64_t address, int size, int64_t value, void *user)
{
    (void)uc; (void)type; (void)size; (void)value;
    xip_read((counter_state_t *)user, (uint32_t)address);
}
