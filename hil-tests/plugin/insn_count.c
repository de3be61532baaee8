/*
 * insn_count: a QEMU TCG plugin that counts executed guest instructions exactly.
 *
 * Built by `cargo xtask bench` (xtask/src/bench/plugin.rs) with the machine's C compiler
 * against qemu-plugin.h from Debian's qemu source package of the installed QEMU: plugin API
 * version 1 (QEMU 7.2) or 4 (QEMU 9.2 to 10.x; the differences are in the block after the
 * includes, and the counts are the same); no glib. Loaded as
 *
 *   qemu-system-arm ... -plugin PATH/libinsn_count.so,out=FILE[,mark=0xADDR]...
 *
 * What it counts, all with inline operations generated into the translated code (no
 * callback per instruction, so nothing depends on timing or on the host):
 *
 *  - `total`: every executed guest instruction (one inline add per instruction; not one
 *    add of the block's size per block, because a block can stop part-way: an exception,
 *    and from QEMU 8.2 on any device access that is not the block's last instruction,
 *    which QEMU redoes in a block of its own that plugins do not instrument);
 *  - `pc`: per guest instruction address, how often it executed (one inline add per
 *    instruction into that address's counter);
 *  - `mark`: for each `mark=` address, how often an instruction at that address executed
 *    and the value of `total` just before its first and its last execution (a callback,
 *    registered only on the marked instructions);
 *  - `phase` (with `phases=FILE`): instructions per phase, where FILE maps address ranges
 *    to phases (`START END ID` per line, hex addresses, END exclusive, ID 0..62, or 63 for
 *    "the caller's phase"). An instruction counts for the phase of its range; one in an
 *    ID-63 range (code called from several phases: memcpy, a flash driver, a hash
 *    function) counts for the phase of the last instruction executed that had its own;
 *    one outside every range counts for phase 64 ("outside"). Each translated block
 *    carries its runs of same-phase instructions; an exec callback at the start of each
 *    block hands the previous block's instructions to their phases, as many as `total`
 *    says ran (so a block that stopped part-way counts only what it executed; one callback
 *    per executed block, only with phases=).
 *
 * At exit (QEMU's atexit callback: a semihosting exit, a guest reset under -no-reboot or
 * the end of the run) it writes FILE:
 *
 *   insn_count 1
 *   total N
 *   dropped D                      (addresses that did not fit the table; 0 expected)
 *   mark 0xADDR HITS FIRST LAST
 *   phase ID COUNT                 (with phases=; every phase that ran)
 *   pc 0xADDR COUNT                (every executed address, in table order)
 *
 * Single-vCPU machines only (the phase and mark state is not per vCPU); it refuses more
 * vCPUs.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qemu-plugin.h>

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

#define MAX_MARKS 64
#define TABLE_BITS 17
#define TABLE_SIZE (1u << TABLE_BITS)
/* The inline counters: the total, then one per address-table slot. */
#define COUNTER_TOTAL 0
#define N_COUNTERS (1 + TABLE_SIZE)

/*
 * Inline counters, the one part of the plugin API that differs between the versions this
 * plugin supports. API 1 (QEMU 7.2) adds to a plain uint64_t; API 2 on (QEMU 9.0) has only
 * the per-vCPU variants, which add to an entry of a scoreboard (one element per vCPU, here
 * an array of N_COUNTERS; with a single vCPU the sum is that vCPU's count).
 *
 * Order: at one point (a block's start, an instruction's start) API 1 runs every callback
 * before every inline add, whatever the registration order; API 2 on runs them in
 * registration order. The plugin registers callbacks first, so both see the same counts
 * (a callback at an instruction sees `total` without that instruction).
 */
#if QEMU_PLUGIN_VERSION >= 2
static struct qemu_plugin_scoreboard *counters;

static bool counters_init(void)
{
    counters = qemu_plugin_scoreboard_new(N_COUNTERS * sizeof(uint64_t));
    return counters != NULL;
}

static qemu_plugin_u64 counter(size_t i)
{
    return (qemu_plugin_u64){ counters, i * sizeof(uint64_t) };
}

static void count_insn(struct qemu_plugin_insn *insn, size_t i, uint64_t n)
{
    qemu_plugin_register_vcpu_insn_exec_inline_per_vcpu(insn, QEMU_PLUGIN_INLINE_ADD_U64, counter(i), n);
}

static uint64_t counter_value(size_t i)
{
    return qemu_plugin_u64_sum(counter(i));
}
#else
static uint64_t *counters;

static bool counters_init(void)
{
    counters = calloc(N_COUNTERS, sizeof *counters);
    return counters != NULL;
}

static void count_insn(struct qemu_plugin_insn *insn, size_t i, uint64_t n)
{
    qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &counters[i], n);
}

static uint64_t counter_value(size_t i)
{
    return counters[i];
}
#endif
#define MAX_RANGES 65536
#define PHASE_INHERIT 63
#define PHASE_OUTSIDE 64
#define N_PHASES 65

struct range {
    uint64_t start;
    uint64_t end;
    unsigned phase;
};

/* A translated block's instructions as runs of one phase each. */
struct run {
    unsigned phase;
    uint64_t count;
};

struct block {
    size_t n_runs;
    struct run runs[];
};

struct slot {
    uint64_t addr;
    bool used;
};

struct mark {
    uint64_t addr;
    uint64_t hits;
    uint64_t first;
    uint64_t last;
};

static uint64_t dropped;
static struct slot table[TABLE_SIZE];
static struct mark marks[MAX_MARKS];
static size_t n_marks;
static char *out_path;
static struct range *ranges;
static size_t n_ranges;
static uint64_t phase_count[N_PHASES];
static unsigned current_phase;
static struct block *pending;  /* the block that started last, not yet handed to phases */
static uint64_t pending_start; /* `total` when it started */

static unsigned phase_at(uint64_t addr)
{
    size_t lo = 0, hi = n_ranges;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ranges[mid].end <= addr) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (lo < n_ranges && ranges[lo].start <= addr && addr < ranges[lo].end) {
        return ranges[lo].phase;
    }
    return PHASE_OUTSIDE;
}

/* Hands the first `executed` instructions of the pending block to their phases. */
static void settle_pending(uint64_t executed)
{
    for (size_t i = 0; pending && i < pending->n_runs && executed > 0; i++) {
        uint64_t n = pending->runs[i].count < executed ? pending->runs[i].count : executed;
        unsigned p = pending->runs[i].phase;
        if (p == PHASE_INHERIT) {
            p = current_phase;
        } else {
            current_phase = p;
        }
        phase_count[p] += n;
        executed -= n;
    }
    pending = NULL;
}

/* A block starts: everything counted since the pending block started was its own. */
static void on_block(unsigned int vcpu, void *udata)
{
    (void)vcpu;
    uint64_t now = counter_value(COUNTER_TOTAL);
    settle_pending(now - pending_start);
    pending = udata;
    pending_start = now;
}

/* Reads `START END ID` lines (sorted, not overlapping); false on any malformed line. */
static bool load_phases(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        return false;
    }
    ranges = calloc(MAX_RANGES, sizeof *ranges);
    if (!ranges) {
        fclose(f);
        return false;
    }
    uint64_t start, end;
    unsigned id;
    int got;
    while ((got = fscanf(f, "%" SCNx64 " %" SCNx64 " %u", &start, &end, &id)) == 3) {
        bool sorted = n_ranges == 0 || ranges[n_ranges - 1].end <= start;
        if (n_ranges == MAX_RANGES || end <= start || id > PHASE_INHERIT || !sorted) {
            fclose(f);
            return false;
        }
        ranges[n_ranges++] = (struct range){ start, end, id };
    }
    fclose(f);
    return got == EOF;
}

/* The counter of addr's table slot, or 0 (none: the table is full). */
static size_t counter_for(uint64_t addr)
{
    /* Fibonacci hashing, linear probing; bounded by the table size. */
    uint64_t h = (addr * 0x9E3779B97F4A7C15ull) >> (64 - TABLE_BITS);
    for (uint32_t i = 0; i < TABLE_SIZE; i++) {
        size_t at = (h + i) & (TABLE_SIZE - 1);
        struct slot *s = &table[at];
        if (!s->used) {
            s->used = true;
            s->addr = addr;
            return 1 + at;
        }
        if (s->addr == addr) {
            return 1 + at;
        }
    }
    return 0;
}

static void on_mark(unsigned int vcpu, void *udata)
{
    (void)vcpu;
    struct mark *mark = udata;
    uint64_t before = counter_value(COUNTER_TOTAL); /* this instruction not yet added */
    if (mark->hits == 0) {
        mark->first = before;
    }
    mark->last = before;
    mark->hits++;
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    if (ranges && n > 0) {
        struct block *b = malloc(sizeof *b + n * sizeof b->runs[0]);
        if (b) {
            b->n_runs = 0;
            for (size_t i = 0; i < n; i++) {
                unsigned p = phase_at(qemu_plugin_insn_vaddr(qemu_plugin_tb_get_insn(tb, i)));
                if (b->n_runs > 0 && b->runs[b->n_runs - 1].phase == p) {
                    b->runs[b->n_runs - 1].count++;
                } else {
                    b->runs[b->n_runs++] = (struct run){ p, 1 };
                }
            }
            qemu_plugin_register_vcpu_tb_exec_cb(tb, on_block, QEMU_PLUGIN_CB_NO_REGS, b);
        } else {
            dropped++;
        }
    }
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t addr = qemu_plugin_insn_vaddr(insn);
        for (size_t m = 0; m < n_marks; m++) {
            if (marks[m].addr == addr) {
                qemu_plugin_register_vcpu_insn_exec_cb(insn, on_mark, QEMU_PLUGIN_CB_NO_REGS, &marks[m]);
            }
        }
        count_insn(insn, COUNTER_TOTAL, 1);
        size_t c = counter_for(addr);
        if (c) {
            count_insn(insn, c, 1);
        } else {
            dropped++;
        }
    }
}

static void write_out(qemu_plugin_id_t id, void *udata)
{
    (void)id;
    (void)udata;
    settle_pending(counter_value(COUNTER_TOTAL) - pending_start);
    FILE *f = fopen(out_path, "w");
    if (!f) {
        qemu_plugin_outs("insn_count: cannot write the out= file\n");
        return;
    }
    fprintf(f, "insn_count 1\ntotal %" PRIu64 "\ndropped %" PRIu64 "\n", counter_value(COUNTER_TOTAL), dropped);
    for (size_t m = 0; m < n_marks; m++) {
        fprintf(f, "mark 0x%" PRIx64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", marks[m].addr, marks[m].hits,
                marks[m].first, marks[m].last);
    }
    for (unsigned p = 0; ranges && p < N_PHASES; p++) {
        if (phase_count[p]) {
            fprintf(f, "phase %u %" PRIu64 "\n", p, phase_count[p]);
        }
    }
    for (uint32_t i = 0; i < TABLE_SIZE; i++) {
        uint64_t count = table[i].used ? counter_value(1 + i) : 0;
        if (count) {
            fprintf(f, "pc 0x%" PRIx64 " %" PRIu64 "\n", table[i].addr, count);
        }
    }
    fclose(f);
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    if (info->system_emulation && info->system.max_vcpus > 1) {
        fprintf(stderr, "insn_count: single-vCPU machines only\n");
        return -1;
    }
    for (int i = 0; i < argc; i++) {
        char *arg = argv[i];
        if (strncmp(arg, "out=", 4) == 0) {
            out_path = arg + 4;
        } else if (strncmp(arg, "phases=", 7) == 0 && !ranges) {
            if (!load_phases(arg + 7)) {
                fprintf(stderr, "insn_count: cannot read phases file `%s` (START END ID lines, sorted)\n", arg + 7);
                return -1;
            }
        } else if (strncmp(arg, "mark=", 5) == 0 && n_marks < MAX_MARKS) {
            char *end = NULL;
            marks[n_marks].addr = strtoull(arg + 5, &end, 0);
            if (!end || *end != '\0') {
                fprintf(stderr, "insn_count: bad mark address `%s`\n", arg + 5);
                return -1;
            }
            n_marks++;
        } else {
            fprintf(stderr, "insn_count: unknown or extra argument `%s` (out=FILE, phases=FILE, up to %d mark=0xADDR)\n", arg,
                    MAX_MARKS);
            return -1;
        }
    }
    if (!out_path) {
        fprintf(stderr, "insn_count: out=FILE is required\n");
        return -1;
    }
    if (!counters_init()) {
        fprintf(stderr, "insn_count: out of memory for the counters\n");
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, write_out, NULL);
    return 0;
}
