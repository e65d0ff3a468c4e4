/* Native Unicorn callbacks: exact instruction/cycle counting, taken branches, XIP cache, ARMv6-M guard.
 *
 * Called by Unicorn once per translation-block execution (and, when flash data reads are modelled, once per
 * flash data read); no Python runs on this path.  The state struct is generated from
 * m0sim/native/__init__.py (STATE_FIELDS) into counter_state.h, so Python and C share one layout.
 *
 * Per window of decoded code, `blocks[slot]` caches what a block starting at that halfword costs, filled from
 * the prefix-sum tables the first time a block of that size starts there; the hot path is one lookup.
 */
#include <stdint.h>
#include "counter_state.h"

typedef void uc_engine;

/* Unicorn's public constants and its TLB entry (unicorn.h, 2.1): kept to the few this file needs. */
enum { UC_PROT_READ = 1, UC_PROT_WRITE = 2, UC_PROT_EXEC = 4 };
enum { UC_MEM_READ = 16, UC_MEM_WRITE = 17, UC_MEM_FETCH = 18 };
typedef struct { uint64_t paddr; int perms; } uc_tlb_entry_t;

/* block_t (generated): count = executions of the block starting at this slot with this size; size in bytes,
 * 0 until filled; condbr = it ends in a conditional branch; bad = it holds an instruction outside ARMv6-M. */

#define COLD __attribute__((noinline, cold))

static COLD void stop(counter_state_t *s, uc_engine *uc, uint32_t reason, uint32_t addr)
{
    if (!s->stop_reason) {
        s->stop_reason = reason;
        s->stop_addr = addr;
    }
    ((int (*)(uc_engine *))(uintptr_t)s->emu_stop)(uc);
}

static void stall(counter_state_t *s, int64_t cycles)
{
    s->cycles += (uint64_t)cycles;
    ((int64_t *)(uintptr_t)s->stall_at[s->cur_window])[s->cur_slot] += cycles; /* 64-bit: long WFI sleeps */
}

/* 16 KB, 2-way set-associative, 8-byte lines: XIP_SETS sets, LRU replacement (xip_lru[set] = the way to evict).
 * Every change of a tag or an LRU bit bumps xip_changes, so a caller can tell that the cache is as it left it. */
static inline uint32_t xip_set(uint32_t addr) { return ((addr & 0x00ffffffu) >> 3) & (XIP_SETS - 1); }

static inline void xip_access(counter_state_t *s, uint32_t addr, int allocate)
{
    uint32_t line = (addr & 0x00ffffffu) >> 3;
    uint32_t set = line & (XIP_SETS - 1);
    uint32_t tag = (line >> XIP_SET_BITS) + 1; /* 0 marks an empty way */
    uint32_t *ways = &s->xip_tags[2 * set];
    uint32_t way = ways[0] == tag ? 0 : ways[1] == tag ? 1 : 2;
    if (way < 2) {
        s->xip_hits++;
        if (s->xip_lru[set] == way) { s->xip_lru[set] = way ^ 1u; s->xip_changes++; }
        return;
    }
    s->xip_misses++;
    stall(s, s->xip_miss_penalty);
    if (allocate) {
        uint32_t victim = s->xip_lru[set];
        ways[victim] = tag;
        s->xip_lru[set] = victim ^ 1u;
        s->xip_changes++;
    }
}

/* Flash alias by address bits 24-25: 0 cached, 1 no-allocate, 2 no-cache, 3 no-cache no-allocate. */
static inline void xip_read(counter_state_t *s, uint32_t addr)
{
    uint32_t alias = (addr >> 24) & 3u;
    if (alias >= 2) {
        s->xip_misses++;
        stall(s, s->xip_miss_penalty);
        return;
    }
    xip_access(s, addr, alias == 0);
}

/* An access of the block charged last, logged with its set's state before it, so m0sim_settle can undo it. */
static void xip_read_logged(counter_state_t *s, uint32_t addr)
{
    uint32_t n = s->xlog_n, set = xip_set(addr);
    s->xlog_n = n + 1; /* past XLOG: the log is incomplete and will not be used */
    if (n >= XLOG) { xip_read(s, addr); return; }
    s->xlog_addr[n] = addr;
    s->xlog_tags[2 * n] = s->xip_tags[2 * set];
    s->xlog_tags[2 * n + 1] = s->xip_tags[2 * set + 1];
    s->xlog_lru[n] = s->xip_lru[set];
    uint64_t misses = s->xip_misses;
    xip_read(s, addr);
    s->xlog_miss[n] = (uint8_t)(s->xip_misses != misses);
}

static COLD void stop_armv7(counter_state_t *s, uc_engine *uc, int w, uint32_t i)
{
    const uint32_t *bad = (const uint32_t *)(uintptr_t)s->bad_prefix[w];
    while (bad[i + 1] == bad[i]) i++;
    stop(s, uc, STOP_ARMV7, s->lo[w] + 2 * i);
}

/* First execution of a block with this size at this slot: sum its costs from the prefix tables. */
static COLD void fill_block(counter_state_t *s, int w, block_t *b, uint32_t i, uint32_t size)
{
    uint32_t j = i + (size >> 1);
    const uint32_t *cyc = (const uint32_t *)(uintptr_t)s->cycles_prefix[w];
    const uint32_t *ins = (const uint32_t *)(uintptr_t)s->insns_prefix[w];
    const uint32_t *bad = (const uint32_t *)(uintptr_t)s->bad_prefix[w];
    const uint8_t *condbr = (const uint8_t *)(uintptr_t)s->condbr_end[w];
    if (b->count || b->taken) { /* re-translated with another size: keep the old counts in the spill arrays */
        ((uint64_t *)(uintptr_t)s->enter[w])[i] += b->count;
        ((uint64_t *)(uintptr_t)s->leave[w])[i + (b->size >> 1)] += b->count;
        ((uint64_t *)(uintptr_t)s->taken_at[w])[i + (b->size >> 1)] += b->taken;
        b->count = b->taken = 0;
    }
    b->size = (uint16_t)size;
    b->insns = ins[j] - ins[i];
    b->cycles = cyc[j] - cyc[i];
    b->bad = bad[j] != bad[i];
    b->condbr = condbr[j];
    const uint32_t *lp = (const uint32_t *)(uintptr_t)s->literal_prefix[w];
    const uint32_t *lits = (const uint32_t *)(uintptr_t)s->literals[w];
    uint32_t a = s->lo[w] + 2 * i;
    b->xip_accesses = (uint16_t)(((a + size - 1) >> 3) - (a >> 3) + 1 + lp[j] - lp[i]);
    /* Replayable: every line it fetches is in the allocating alias and no two of its lines share a set.  Then
     * right after its accesses each of its lines is present and the most recent in its set, so running it
     * again before anything else changes the cache hits every line and changes nothing. */
    uint32_t lines[64], n = 0, ok = 1;
    for (uint32_t line = a & ~7u; line < a + size && n < 64; line += 8) lines[n++] = line;
    for (uint32_t k = lp[i]; k < lp[j] && n < 64; k++) lines[n++] = lits[k] & ~7u;
    ok = n < 64;
    for (uint32_t x = 0; x < n && ok; x++) {
        if ((lines[x] >> 24 & 3u) != 0) ok = 0;
        for (uint32_t y = 0; y < x && ok; y++)
            if (lines[x] != lines[y] && ((lines[x] >> 3) & (XIP_SETS - 1)) == ((lines[y] >> 3) & (XIP_SETS - 1)))
                ok = 0;
    }
    b->xip_replayable = (uint8_t)ok;
    b->xip_stamp = 0;
}

/* The instruction fetches and PC-relative literal loads of one block, through the XIP cache, charged when the
 * block starts (logged: a stop inside the block undoes those of the part that did not run, see m0sim_settle). */
static void fetch_lines(counter_state_t *s, int w, block_t *b, uint32_t a, uint32_t size, uint32_t i)
{
    s->xlog_n = 0;
    s->xlog_insns = s->insns; /* the log belongs to this charge while no other block is charged */
    for (uint32_t line = a & ~7u; line < a + size; line += 8) xip_read_logged(s, line);
    /* PC-relative literal loads of this block: their addresses are known from the decode */
    const uint32_t *lp = (const uint32_t *)(uintptr_t)s->literal_prefix[w];
    const uint32_t *lits = (const uint32_t *)(uintptr_t)s->literals[w];
    for (uint32_t k = lp[i], e = lp[i + (size >> 1)]; k < e; k++) xip_read_logged(s, lits[k]);
    if (b->xip_replayable) b->xip_stamp = s->xip_changes;
}

/* Hits owed by m0sim_settle (below), taken back once counted: the XIP counters never wrap. */
void m0sim_pay_hit_debt(counter_state_t *s)
{
    uint64_t pay = s->xip_hit_debt < s->xip_hits ? s->xip_hit_debt : s->xip_hits;
    s->xip_hits -= pay;
    s->xip_hit_debt -= pay;
}

/* A run stopped before instruction pc of the block charged last (a breakpoint, a step, an interrupt, a budget):
 * its fetches were charged when it started, those of [pc, end) before they happened.  Undo every logged access
 * of the block (newest first: tags, LRU bits, counters, stall cycles), then make again those of the part that
 * ran: its lines, its literal loads, its flash data reads.  The resumed block fetches pc's line again, a hit an
 * uninterrupted run does not count, so one hit is owed (m0sim_pay_hit_debt).  A block that replayed (every
 * access a hit, nothing changed) or whose log is incomplete gives back the hits of [pc, end) only. */
void m0sim_settle(counter_state_t *s, uint32_t pc)
{
    int w = (int)s->cur_window;
    if (!s->fetch_through_xip[w]) return;
    const block_t *b = &((const block_t *)(uintptr_t)s->blocks[w])[s->cur_slot];
    uint32_t a = s->lo[w] + 2 * s->cur_slot, end = a + b->size;
    if (pc < a || pc >= end) return;
    m0sim_pay_hit_debt(s);
    const uint32_t *lp = (const uint32_t *)(uintptr_t)s->literal_prefix[w];
    const uint32_t *lits = (const uint32_t *)(uintptr_t)s->literals[w];
    uint32_t i = s->cur_slot, j = (pc - s->lo[w]) >> 1, k = i + (b->size >> 1);
    uint32_t fetches = ((end - 1) >> 3) - (a >> 3) + 1 + lp[k] - lp[i], n = s->xlog_n;
    if (s->xlog_insns == s->insns && n <= XLOG && n >= fetches) {
        for (uint32_t x = n; x-- > 0;) {
            uint32_t set = xip_set(s->xlog_addr[x]);
            s->xip_tags[2 * set] = s->xlog_tags[2 * x];
            s->xip_tags[2 * set + 1] = s->xlog_tags[2 * x + 1];
            s->xip_lru[set] = s->xlog_lru[x];
            if (s->xlog_miss[x]) { s->xip_misses--; stall(s, -(int64_t)s->xip_miss_penalty); }
            else s->xip_hits--;
        }
        s->xip_changes++;
        for (uint32_t line = a & ~7u; pc > a && line < pc; line += 8) xip_read(s, line);
        for (uint32_t x = lp[i]; x < lp[j]; x++) xip_read(s, lits[x]);
        for (uint32_t x = fetches; x < n; x++) xip_read(s, s->xlog_addr[x]);
        if (pc > a && (pc & 7u)) s->xip_hit_debt++;
    } else {
        uint64_t rest = ((end - 1) >> 3) - (pc >> 3) + 1 + lp[k] - lp[j];
        s->xip_hits -= rest < s->xip_hits ? rest : s->xip_hits;
    }
    s->xlog_insns = ~(uint64_t)0;
}

static inline int over_budget(const counter_state_t *s)
{
    return s->insns >= s->insn_budget || s->cycles >= s->cycle_budget;
}

static void wr(uc_engine *uc, const counter_state_t *s, int id, uint32_t value);

/* Send the core to the trap (TRAP_ADDR) before the instruction at `at`: a PC written from a hook makes Unicorn
 * leave the current block before it runs anything more and go on at the new PC, inside the same emu_start. */
static uint32_t rd(uc_engine *uc, const counter_state_t *s, int id);
enum { ID_XPSR, ID_IPSR, ID_APSR_NZCV, ID_PRIMASK, ID_CONTROL }; /* status_ids (STATUS_REGS) */

static COLD void trap(counter_state_t *s, uc_engine *uc, uint32_t kind, uint32_t at)
{
    s->trap_primask = rd(uc, s, s->status_ids[ID_PRIMASK]);
    s->trap_event = 0;
    s->trap_kind = kind;
    s->trap_pc = at;
    wr(uc, s, (int)s->reg_ids[15], TRAP_ADDR | 1u);
}

int64_t m0sim_give_back(counter_state_t *s, uint32_t pc);
uint32_t m0sim_boundary(counter_state_t *s, uint32_t pc, int64_t need);

/* The event's cycle was reached at the start of block a, which is given back: when the event falls inside the
 * block (or at its end) and no exception is ready, go on to its boundary (Exceptions.on_trap's first half,
 * without Python): run the block again to its end under a budget, or its part up to the boundary at its shadow
 * address, which ends at the trap.  Returns 0 when Python must decide (the trap). */
static int to_boundary(counter_state_t *s, uc_engine *uc, uint32_t a, int64_t stall)
{
    if (!s->none_ready || s->cycles >= s->event_cycle || s->cycle_budget != s->event_cycle) return 0;
    int w = (int)s->cur_window;
    const uint8_t *ok = (const uint8_t *)(uintptr_t)s->shadow_ok[w];
    uint32_t stop_at = m0sim_boundary(s, a, (int64_t)(s->event_cycle - s->cycles) - stall);
    if (!stop_at) { /* at the block's end: run it, the budget stops at the next block's start */
        const block_t *b = &((const block_t *)(uintptr_t)s->blocks[w])[s->cur_slot];
        const uint32_t *cyc = (const uint32_t *)(uintptr_t)s->cycles_prefix[w];
        uint32_t j = (a - s->lo[w]) >> 1;
        uint64_t budget = s->cycles + (cyc[s->cur_slot + (b->size >> 1)] - cyc[j]) + (uint64_t)stall + 1;
        if (budget > s->real_cycle_budget) budget = s->real_cycle_budget;
        s->cycle_budget = budget;
        s->trap_event = budget < s->real_cycle_budget;
        wr(uc, s, (int)s->reg_ids[15], a | 1u);
        return 1;
    }
    if (!ok) return 0;
    for (uint32_t k = (a - s->lo[w]) >> 1; k <= (stop_at - s->lo[w]) >> 1; k++)
        if (!ok[k]) return 0;
    s->cycle_budget = s->real_cycle_budget;
    s->trap_event = 0;
    s->shadow_stop = stop_at + (uint32_t)SHADOW_DELTA;
    s->shadow_trap = 1;
    wr(uc, s, (int)s->reg_ids[15], (a + (uint32_t)SHADOW_DELTA) | 1u);
    return 1;
}

int m0sim_exception_entry(uc_engine *uc, counter_state_t *s, uint32_t return_addr, uint32_t xpsr_t,
                          uint32_t vector, uint32_t number, const int32_t *ids, int32_t cycles);

/* The word at addr of the flash image or SRAM, as Machine.read_word reads it; 0 elsewhere (no vector). */
static uint32_t image_word(const counter_state_t *s, uint32_t addr)
{
    if (addr & 3u) return 0;
    if (addr - XIP_BASE < FLASH_SIZE) return *(const uint32_t *)(uintptr_t)(s->flash_image + (addr - XIP_BASE));
    if (addr - SRAM_BASE < SRAM_SIZE) return *(const uint32_t *)(uintptr_t)(s->sram_image + (addr - SRAM_BASE));
    return 0;
}

/* At `at`, the cycle of SysTick's tick reached: take it here, as Exceptions.on_trap would (pend it, take it,
 * reschedule), when that is all there is to do: thread mode, nothing else pending, a quiet TIMER, PRIMASK clear,
 * a vector with its Thumb bit, a frame the native entry can stack.  m0sim.exceptions catches up with the entry
 * (`native_entries`) when it next looks at its stack or counts.  Returns 0 when Python must do it. */
static int native_take(counter_state_t *s, uc_engine *uc, uint32_t at)
{
    if (!s->native_exceptions || s->any_pending || !s->timer_quiet || s->active_depth || !s->tick_period
        || s->event_cycle != s->tick_cycle || s->cycles < s->tick_cycle)
        return 0;
    if (rd(uc, s, s->status_ids[ID_PRIMASK]) & 1u) return 0;
    uint32_t vector = image_word(s, s->vtor + 4u * SYSTICK);
    if (!(vector & 1u)) return 0;
    if (m0sim_exception_entry(uc, s, at, XPSR_T_BIT, vector, SYSTICK, s->status_ids, (int32_t)s->entry_cycles) != 1)
        return 0;
    s->active_depth = 1;
    s->native_entries++;
    uint64_t now = s->cycles, next = s->tick_start + ((now - s->tick_start) / s->tick_period + 1) * s->tick_period;
    uint64_t budget = next < s->real_cycle_budget ? next : s->real_cycle_budget;
    s->tick_cycle = s->event_cycle = next;
    s->cycle_budget = budget;
    s->trap_event = budget < s->real_cycle_budget;
    s->none_ready = 1;
    return 1;
}

/* The block starting at a went over a budget: an event's cycle goes to the boundary, to a native SysTick entry
 * or to the trap; the real budgets stop. */
static COLD void over(counter_state_t *s, uc_engine *uc, uint32_t a)
{
    if (s->trap_event && s->cycle_budget < s->real_cycle_budget && s->insns < s->insn_budget && !s->stop_reason) {
        int64_t stall = m0sim_give_back(s, a);
        s->trap_stall = stall;
        if (!to_boundary(s, uc, a, stall) && !native_take(s, uc, a)) trap(s, uc, TRAP_BUDGET, a);
        return;
    }
    stop(s, uc, STOP_BUDGET, a);
}

static __attribute__((noinline)) void fetch_and_check(counter_state_t *s, uc_engine *uc, int w, block_t *b,
                                                      uint32_t a, uint32_t size, uint32_t i)
{
    fetch_lines(s, w, b, a, size, i);
    if (over_budget(s)) over(s, uc, a);
}

/* A block starts at a: if the previous block ended in a conditional branch and a is not its fall-through,
 * the branch was taken, which costs a cycle more; charge it to that branch's block. */
static block_t no_block; /* stands for "no previous block": never ends in a conditional branch */

static inline void settle_branch(counter_state_t *s, uint32_t a)
{
    block_t *p = s->prev_block ? (block_t *)(uintptr_t)s->prev_block : &no_block;
    /* without a branch of our own: a guest branch taken at random would make it mispredict half the time */
    uint32_t taken = p->condbr & (uint32_t)(a != s->prev_end);
    s->cycles += taken * TAKEN_EXTRA;
    s->taken += taken;
    p->taken += taken;
}

/* Charge one execution of block b (slot i of window w).  Every call in here is a tail call, so the common
 * path needs no stack frame. */
static inline __attribute__((always_inline)) void account(counter_state_t *s, uc_engine *uc, int w, block_t *b,
                                                          uint32_t a, uint32_t size, uint32_t i)
{
    settle_branch(s, a);
    s->prev_block = (uintptr_t)b;
    s->prev_end = a + size;
    s->cur_window = (uint32_t)w;
    s->cur_slot = i;
    b->count++;
    s->insns += b->insns;
    s->cycles += b->cycles;
    if (s->fetch_through_xip[w]) {
        if (b->xip_stamp != s->xip_changes) { fetch_and_check(s, uc, w, b, a, size, i); return; }
        /* The cache is as this (replayable) block left it: its accesses would all hit and change nothing. */
        s->xip_hits += b->xip_accesses;
    }
    if (over_budget(s)) over(s, uc, a);
}

/* A block not seen with this size at this slot: check it lies in decoded code and holds only ARMv6-M, fill
 * its cache entry, then charge it. */
/* Code in SRAM the decode does not know yet (written at run time): stop so that m0sim decodes it, then runs on. */
static COLD void stop_decode(counter_state_t *s, uc_engine *uc, uint32_t a, uint32_t size)
{
    s->fault_size = size;
    stop(s, uc, STOP_DECODE, a);
}

static int all_known(const counter_state_t *s, int w, uint32_t i, uint32_t size)
{
    const uint8_t *known = (const uint8_t *)(uintptr_t)s->known[w];
    for (uint32_t k = i; k < i + (size >> 1); k++)
        if (!known[k]) return 0;
    return 1;
}

static __attribute__((noinline)) void new_block(counter_state_t *s, uc_engine *uc, uint32_t a, uint32_t size)
{
    int w;
    if (a == TRAP_ADDR) return; /* the trap: no instruction of the program */
    if (a - (uint32_t)SHADOW_LO < (uint32_t)SHADOW_SIZE) { /* the shadow of code: charged as the code itself */
        if (!s->shadow_stop) { stop(s, uc, STOP_UNDECODED, a); return; }
        a -= (uint32_t)SHADOW_DELTA;
    }
    int in_sram = a - SRAM_BASE < SRAM_SIZE;
    if (a - s->lo[0] < s->hi[0] - s->lo[0]) w = 0;
    else if (a - s->lo[1] < s->hi[1] - s->lo[1]) w = 1;
    else if (in_sram) { stop_decode(s, uc, a, size); return; }
    else { stop(s, uc, STOP_UNDECODED, a); return; }
    if (a + size > s->hi[w]) {
        if (in_sram) stop_decode(s, uc, a, size);
        else stop(s, uc, STOP_UNDECODED, a + size);
        return;
    }
    uint32_t i = (a - s->lo[w]) >> 1;
    if (in_sram && !all_known(s, w, i, size)) { stop_decode(s, uc, a, size); return; }
    block_t *b = &((block_t *)(uintptr_t)s->blocks[w])[i];
    settle_branch(s, a); /* before a refill can move the previous block's counts */
    s->prev_block = 0;
    if (b->size != size) fill_block(s, w, b, i, size);
    if (b->bad) {
        b->size = 0; /* never cached: every execution comes back here and stops */
        stop_armv7(s, uc, w, i);
        return;
    }
    account(s, uc, w, b, a, size, i);
}

void m0sim_block(uc_engine *uc, uint64_t address, uint32_t size, void *user)
{
    counter_state_t *s = (counter_state_t *)user;
    uint32_t a = (uint32_t)address;
    int w = a - s->lo[0] < s->hi[0] - s->lo[0] ? 0 : 1;
    uint32_t off = a - s->lo[w];
    block_t *b = &((block_t *)(uintptr_t)s->blocks[w])[off >> 1];
    /* a cached entry exists only for a block inside its window, checked when it was filled */
    if (off >= s->hi[w] - s->lo[w] || b->size != size) { new_block(s, uc, a, size); return; }
    account(s, uc, w, b, a, size, off >> 1);
}

/* Data reads of flash pages that hold no code arrive here (those pages are mapped as MMIO, so every other
 * load keeps Unicorn's fast path): serve the bytes from the flash image and charge the XIP cache. */
uint64_t m0sim_flash_data_read(uc_engine *uc, uint64_t offset, unsigned size, void *user)
{
    (void)uc;
    const flash_view_t *v = (const flash_view_t *)user;
    counter_state_t *s = (counter_state_t *)(uintptr_t)v->state;
    uint32_t addr = v->base + (uint32_t)offset;
    const uint8_t *p = (const uint8_t *)(uintptr_t)s->flash_image + (addr & (FLASH_SIZE - 1));
    uint64_t value = 0;
    for (unsigned k = 0; k < size; k++) value |= (uint64_t)p[k] << (8 * k);
    s->xip_data_reads++;
    if (s->xlog_insns == s->insns) xip_read_logged(s, addr); /* a load of the block whose fetches are logged */
    else xip_read(s, addr);
    return value;
}

/* Flash (and ROM) are read-only to the CPU: a store stops the run as a fault. */
void m0sim_flash_data_write(uc_engine *uc, uint64_t offset, unsigned size, uint64_t value, void *user)
{
    (void)size; (void)value;
    const flash_view_t *v = (const flash_view_t *)user;
    stop((counter_state_t *)(uintptr_t)v->state, uc, v->write_stop, v->base + (uint32_t)offset);
}

/* Unicorn's TLB is filled here (virtual TLB mode) instead of by the CPU model, which would grant every page
 * read+write+execute: a store to a page the TLB marks executable takes Unicorn's slow path every time (it
 * watches for self-modifying code), so data pages get read+write only and a page becomes executable on its
 * first instruction fetch.  Stores to read-only memory (ROM, flash pages holding code) are sent to a trap
 * region outside the 32-bit space, whose MMIO callback stops the run with the exact address. */
int m0sim_tlb_fill(uc_engine *uc, uint64_t vaddr, int type, uc_tlb_entry_t *e, void *user)
{
    (void)uc;
    const counter_state_t *s = (const counter_state_t *)user;
    uint32_t a = (uint32_t)vaddr;
    int perms = UC_PROT_READ | UC_PROT_WRITE;
    e->paddr = vaddr;
    if ((a & ~0xFFFu) == TRAP_ADDR && type == UC_MEM_FETCH) {
        e->paddr = TRAP_PHYS + (a & 0xFFFu);
        e->perms = UC_PROT_EXEC;
        return 1;
    }
    if (a - (uint32_t)SHADOW_LO < (uint32_t)SHADOW_SIZE && s->shadow_stop && type != UC_MEM_WRITE) {
        /* the shadow of code during a shadow run: its fetches, and its PC-relative literal loads (such an entry is
         * flushed after the run, see m0sim.exceptions); fetch-only entries stay, useless to data accesses */
        e->paddr = a - (uint32_t)SHADOW_DELTA;
        e->perms = type == UC_MEM_FETCH ? UC_PROT_EXEC : UC_PROT_READ;
        return 1;
    }
    for (int k = 0; k < 2; k++) {
        if (a - s->ro_lo[k] < s->ro_hi[k] - s->ro_lo[k]) {
            perms = UC_PROT_READ;
            if (type == UC_MEM_WRITE) {
                e->paddr = s->ro_trap[k] + (a - s->ro_lo[k]);
                perms = UC_PROT_WRITE;
            }
        }
    }
    uint32_t sram_off = a - SRAM_BASE;
    if (sram_off < SRAM_SIZE
        && (s->sram_code_pages[sram_off >> CODE_PAGE_BITS >> 5] >> (sram_off >> CODE_PAGE_BITS & 31) & 1)) {
        /* a page holding decoded code: its stores are checked, so no entry of it may let a store through */
        perms = UC_PROT_READ;
        if (type == UC_MEM_WRITE) {
            e->paddr = s->sram_trap + sram_off;
            perms = UC_PROT_WRITE;
        }
    }
    if (type == UC_MEM_FETCH) perms |= UC_PROT_EXEC;
    e->perms = perms;
    return 1;
}

/* Stores to an SRAM page holding decoded code: done here, and a store that changes decoded code stops the run
 * at the end of its block so that m0sim drops the stale decode (and Unicorn's translations) before going on. */
void m0sim_sram_code_write(uc_engine *uc, uint64_t offset, unsigned size, uint64_t value, void *user)
{
    const flash_view_t *v = (const flash_view_t *)user;
    counter_state_t *s = (counter_state_t *)(uintptr_t)v->state;
    uint8_t *p = (uint8_t *)(uintptr_t)s->sram_image + offset;
    uint32_t addr = SRAM_BASE + (uint32_t)offset;
    int changed = 0;
    for (unsigned k = 0; k < size; k++) {
        uint8_t b = (uint8_t)(value >> (8 * k));
        changed |= p[k] != b;
        p[k] = b;
    }
    if (!changed || addr + size <= s->lo[1] || addr >= s->hi[1]) return;
    const uint8_t *known = (const uint8_t *)(uintptr_t)s->known[1];
    uint32_t first = addr < s->lo[1] ? 0 : (addr - s->lo[1]) >> 1;
    uint32_t last = (addr + size - 1 - s->lo[1]) >> 1;
    uint32_t slots = (s->hi[1] - s->lo[1]) >> 1;
    int code = 0;
    for (uint32_t k = first; k <= last && k < slots; k++) code |= known[k];
    if (!code) return;
    if (s->code_dirty_hi <= s->code_dirty_lo) { s->code_dirty_lo = addr; s->code_dirty_hi = addr + size; }
    if (addr < s->code_dirty_lo) s->code_dirty_lo = addr;
    if (addr + size > s->code_dirty_hi) s->code_dirty_hi = addr + size;
    s->code_write_insns = s->insns;
    stop(s, uc, STOP_CODE_WRITE, addr);
}

uint64_t m0sim_sram_code_read(uc_engine *uc, uint64_t offset, unsigned size, void *user)
{
    (void)uc;
    const flash_view_t *v = (const flash_view_t *)user;
    const counter_state_t *s = (const counter_state_t *)(uintptr_t)v->state;
    const uint8_t *p = (const uint8_t *)(uintptr_t)s->sram_image + offset;
    uint64_t value = 0;
    for (unsigned k = 0; k < size; k++) value |= (uint64_t)p[k] << (8 * k);
    return value;
}

/* A code hook on the instruction just after each `mov sp, rX` / `add sp, rX`: the core ignores writes to SP's
 * bits [1:0] (ARMv6-M), Unicorn keeps them, so they are cleared here before anything uses SP. */
void m0sim_align_sp(uc_engine *uc, uint64_t address, uint32_t size, void *user)
{
    (void)address; (void)size;
    const counter_state_t *s = (const counter_state_t *)user;
    uint64_t sp = 0;
    int id = (int)s->reg_ids[13];
    ((int (*)(uc_engine *, int, void *))(uintptr_t)s->reg_read)(uc, id, &sp);
    if (sp & 3u) {
        sp &= ~(uint64_t)3;
        ((int (*)(uc_engine *, int, const void *))(uintptr_t)s->reg_write)(uc, id, &sp);
    }
}

/* A permanent code hook over the shadow of code (SHADOW_LO..): a shadow run stops before the instruction at
 * `shadow_stop`, an instruction boundary inside a block, with no hook added to the code itself. */
void m0sim_shadow_stop(uc_engine *uc, uint64_t address, uint32_t size, void *user)
{
    (void)size;
    counter_state_t *s = (counter_state_t *)user;
    if ((uint32_t)address != s->shadow_stop) return;
    if (s->shadow_trap) {
        uint32_t at = (uint32_t)address - (uint32_t)SHADOW_DELTA;
        s->shadow_stop = s->shadow_trap = 0;
        s->trap_stall = m0sim_give_back(s, at); /* [at, end of block) has not run */
        if (!native_take(s, uc, at)) trap(s, uc, TRAP_SHADOW, at);
    } else {
        ((int (*)(uc_engine *))(uintptr_t)s->emu_stop)(uc);
    }
}

/* m0sim.pieces.give_back: undo the part [pc, end) of the block charged last that did not run.  Returns the XIP
 * stall cycles of the block's fetches taken back with it (m0sim_settle). */
int64_t m0sim_give_back(counter_state_t *s, uint32_t pc)
{
    int w = (int)s->cur_window;
    uint32_t i = s->cur_slot;
    block_t *b = &((block_t *)(uintptr_t)s->blocks[w])[i];
    uint32_t start = s->lo[w] + 2 * i, end = start + b->size;
    if (pc < start || pc >= end) return 0; /* the block ran to its end (a stop between blocks) */
    if (s->given_back_valid && s->given_back_insns == s->insns && s->given_back_pc == pc)
        return 0; /* already given back at this stop: nothing ran since */
    uint64_t charged = s->cycles;
    m0sim_settle(s, pc); /* first: it checks the block's charge */
    int64_t stall = (int64_t)(charged - s->cycles);
    const uint32_t *cyc = (const uint32_t *)(uintptr_t)s->cycles_prefix[w];
    const uint32_t *ins = (const uint32_t *)(uintptr_t)s->insns_prefix[w];
    uint32_t j = (pc - s->lo[w]) >> 1, k = i + (b->size >> 1);
    s->cycles -= cyc[k] - cyc[j];
    s->insns -= ins[k] - ins[j];
    b->count--;
    ((uint64_t *)(uintptr_t)s->enter[w])[i]++;
    ((uint64_t *)(uintptr_t)s->leave[w])[j]++;
    s->prev_block = 0; /* the block's closing branch has not run */
    s->prev_end = pc;
    s->given_back_insns = s->insns;
    s->given_back_pc = pc;
    s->given_back_valid = 1;
    return stall;
}

/* Exception entry's and return's register and stack work (ARMv6-M B1.5.6, B1.5.8), done here because through
 * Python it was most of an interrupt's host cost; m0sim.exceptions keeps the decisions (what, when, priorities).
 * The 8-word frame {r0-r3, r12, lr, return address, xPSR} lives on the main stack in SRAM; a frame anywhere else
 * (or on an SRAM page holding decoded code, whose stores m0sim checks) returns 0 and Python does the work. */
enum { R0 = 0, R12 = 12, SP = 13, LR = 14, PC = 15 };

static int frame_in_sram(const counter_state_t *s, uint32_t sp)
{
    uint32_t off = sp - SRAM_BASE;
    if (off > SRAM_SIZE - 32 || (off & 3u)) return 0;
    for (uint32_t page = off >> CODE_PAGE_BITS; page <= (off + 31) >> CODE_PAGE_BITS; page++)
        if (s->sram_code_pages[page >> 5] >> (page & 31) & 1) return 0;
    return 1;
}

static uint32_t rd(uc_engine *uc, const counter_state_t *s, int id)
{
    uint64_t v = 0;
    ((int (*)(uc_engine *, int, void *))(uintptr_t)s->reg_read)(uc, id, &v);
    return (uint32_t)v;
}

static void wr(uc_engine *uc, const counter_state_t *s, int id, uint32_t value)
{
    uint64_t v = value;
    ((int (*)(uc_engine *, int, const void *))(uintptr_t)s->reg_write)(uc, id, &v);
}

/* ids: the Unicorn ids of xPSR, IPSR, APSR_NZCV (after r0-r15 in reg_ids) */
int m0sim_exception_entry(uc_engine *uc, counter_state_t *s, uint32_t return_addr, uint32_t xpsr_t,
                          uint32_t vector, uint32_t number, const int32_t *ids, int32_t cycles)
{
    if (rd(uc, s, ids[ID_CONTROL]) & 2u) return 2; /* the process stack: not modelled, Python says so */
    uint32_t sp = rd(uc, s, (int)s->reg_ids[SP]);
    uint32_t align = sp & 4u;
    if (!frame_in_sram(s, sp - align - 32)) return 0;
    uint32_t xpsr = (rd(uc, s, ids[ID_XPSR]) & ~(XPSR_T_BIT | XPSR_ALIGN_BIT)) | xpsr_t | (align ? XPSR_ALIGN_BIT : 0);
    sp -= align + 32;
    uint32_t frame[8];
    for (int k = 0; k < 4; k++) frame[k] = rd(uc, s, (int)s->reg_ids[R0 + k]);
    frame[4] = rd(uc, s, (int)s->reg_ids[R12]);
    frame[5] = rd(uc, s, (int)s->reg_ids[LR]);
    frame[6] = return_addr & ~1u;
    frame[7] = xpsr;
    uint32_t *to = (uint32_t *)(uintptr_t)(s->sram_image + (sp - SRAM_BASE));
    for (int k = 0; k < 8; k++) to[k] = frame[k];
    uint32_t handler_mode = rd(uc, s, ids[ID_IPSR]) != 0;
    wr(uc, s, (int)s->reg_ids[SP], sp);
    wr(uc, s, (int)s->reg_ids[LR], handler_mode ? EXC_RETURN_HANDLER : EXC_RETURN_THREAD_MSP);
    wr(uc, s, ids[ID_IPSR], number);
    wr(uc, s, ids[ID_APSR_NZCV], rd(uc, s, ids[ID_APSR_NZCV])); /* the core's cached mode: Exceptions._write_ipsr */
    wr(uc, s, (int)s->reg_ids[PC], vector | 1u);
    stall(s, cycles);
    return 1;
}

/* Returns the return address (bit 0 clear), or 1 when the frame is not one this does (Python does it). */
uint32_t m0sim_exception_return(uc_engine *uc, counter_state_t *s, const int32_t *ids, int32_t cycles)
{
    uint32_t sp = rd(uc, s, (int)s->reg_ids[SP]);
    if (!frame_in_sram(s, sp)) return 1;
    const uint32_t *from = (const uint32_t *)(uintptr_t)(s->sram_image + (sp - SRAM_BASE));
    uint32_t frame[8];
    for (int k = 0; k < 8; k++) frame[k] = from[k];
    for (int k = 0; k < 4; k++) wr(uc, s, (int)s->reg_ids[R0 + k], frame[k]);
    wr(uc, s, (int)s->reg_ids[R12], frame[4]);
    wr(uc, s, (int)s->reg_ids[LR], frame[5]);
    wr(uc, s, (int)s->reg_ids[SP], sp + 32 + (frame[7] & XPSR_ALIGN_BIT ? 4u : 0u));
    wr(uc, s, ids[ID_XPSR], frame[7] & ~XPSR_ALIGN_BIT);
    wr(uc, s, ids[ID_IPSR], frame[7] & 0x3Fu);
    wr(uc, s, ids[ID_APSR_NZCV], rd(uc, s, ids[ID_APSR_NZCV]));
    wr(uc, s, (int)s->reg_ids[PC], frame[6] | 1u);
    stall(s, cycles);
    return frame[6] & ~1u;
}

/* m0sim.exceptions: the first instruction after pc in the block charged last before which `need` cycles (counted
 * from pc's) have passed, where an event is taken; 0 when there is none (it is reached at the block's end). */
uint32_t m0sim_boundary(counter_state_t *s, uint32_t pc, int64_t need)
{
    int w = (int)s->cur_window;
    const block_t *b = &((const block_t *)(uintptr_t)s->blocks[w])[s->cur_slot];
    const uint32_t *cyc = (const uint32_t *)(uintptr_t)s->cycles_prefix[w];
    const uint32_t *ins = (const uint32_t *)(uintptr_t)s->insns_prefix[w];
    const uint32_t *lp = (const uint32_t *)(uintptr_t)s->literal_prefix[w];
    uint32_t j = (pc - s->lo[w]) >> 1, end = s->cur_slot + (b->size >> 1);
    for (uint32_t k = j + 1; k < end; k++) {
        if (ins[k + 1] == ins[k]) continue; /* not an instruction start */
        if ((int64_t)cyc[k] - (int64_t)cyc[j] >= need) {
            s->shadow_literals = lp[k] != lp[j]; /* a shadow run of [pc, k) loads literals */
            return s->lo[w] + 2 * k;
        }
    }
    return 0;
}

/* Unicorn's interrupt hook (UC_HOOK_INTR): an exception return with nothing that could be pending after it (no
 * pending exception, a quiet TIMER, the next event's cycle not reached by the return's own cycles) is done here,
 * as Exceptions.leave would do it; everything else goes to the Python hook (Machine._on_interrupt). */
void m0sim_intr(uc_engine *uc, uint32_t intno, void *user)
{
    counter_state_t *s = (counter_state_t *)user;
    if (intno == EXCP_EXCEPTION_EXIT && s->native_exceptions && s->active_depth && !s->any_pending
        && s->timer_quiet && s->cycles + s->exit_cycles < s->event_cycle) {
        uint32_t pc = rd(uc, s, (int)s->reg_ids[PC]); /* EXC_RETURN with bit 0 clear, as Unicorn leaves it */
        uint32_t exc_return = (pc & ~0xFu) == 0xFFFFFFF0u ? pc | 1u : pc;
        if ((exc_return == EXC_RETURN_HANDLER || exc_return == EXC_RETURN_THREAD_MSP)
            && m0sim_exception_return(uc, s, s->status_ids, (int32_t)s->exit_cycles) != 1) {
            s->active_depth--;
            s->native_returns++;
            return;
        }
    }
    ((void (*)(uc_engine *, uint32_t, void *))(uintptr_t)s->python_intr)(uc, intno, 0);
}
