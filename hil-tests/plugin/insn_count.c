/*
 * insn_count: a QEMU TCG plugin that counts executed guest instructions exactly.
 *
 * Built by `cargo xtask bench` (xtask/src/bench/plugin.rs) with the machine's C compiler
 * against qemu-plugin.h (plugin API version 1, QEMU 7.2) from Debian's qemu source
 * package; no glib. Loaded as
 *
 *   qemu-system-arm ... -plugin PATH/libinsn_count.so,out=FILE[,mark=0xADDR]...
 *
 * What it counts, all with inline operations generated into the translated code (no
 * callback per instruction, so nothing depends on timing or on the host):
 *
 *  - `total`: every executed guest instruction (one inline add of the block's instruction
 *    count per executed translation block);
 *  - `pc`: per guest instruction address, how often it executed (one inline add per
 *    instruction into that address's counter);
 *  - `mark`: for each `mark=` address, how often an instruction at that address executed
 *    and the value of `total` just before its first and its last execution (a callback,
 *    registered only on the marked instructions; the block's count, already added when the
 *    block started, is corrected by the instruction's position in the block);
 *  - `phase` (with `phases=FILE`): instructions per phase, where FILE maps address ranges
 *    to phases (`START END ID` per line, hex addresses, END exclusive, ID 0..62, or 63 for
 *    "the caller's phase"). An instruction counts for the phase of its range; one in an
 *    ID-63 range (code called from several phases: memcpy, a flash driver, a hash
 *    function) counts for the phase of the last instruction executed that had its own;
 *    one outside every range counts for phase 64 ("outside"). Each translated block
 *    carries its runs of same-phase instructions and an exec callback adds them up when
 *    the block runs (one callback per executed block, only with phases=).
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
 * Single-vCPU machines only (the counters are not per vCPU); it refuses more vCPUs.
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
    uint64_t count;
    bool used;
};

struct mark {
    uint64_t addr;
    uint64_t hits;
    uint64_t first;
    uint64_t last;
};

/* Where an instruction with a mark sits: which mark, and how many instructions of its
 * block (counted at block start) have not executed yet when it runs. */
struct mark_site {
    struct mark *mark;
    uint64_t ahead;
};

static uint64_t total;
static uint64_t dropped;
static struct slot table[TABLE_SIZE];
static struct mark marks[MAX_MARKS];
static size_t n_marks;
static char *out_path;
static struct range *ranges;
static size_t n_ranges;
static uint64_t phase_count[N_PHASES];
static unsigned current_phase;

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

static void on_block(unsigned int vcpu, void *udata)
{
    (void)vcpu;
    struct block *b = udata;
    for (size_t i = 0; i < b->n_runs; i++) {
        unsigned p = b->runs[i].phase;
        if (p == PHASE_INHERIT) {
            p = current_phase;
        } else {
            current_phase = p;
        }
        phase_count[p] += b->runs[i].count;
    }
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

static struct slot *slot_for(uint64_t addr)
{
    /* Fibonacci hashing, linear probing; bounded by the table size. */
    uint64_t h = (addr * 0x9E3779B97F4A7C15ull) >> (64 - TABLE_BITS);
    for (uint32_t i = 0; i < TABLE_SIZE; i++) {
        struct slot *s = &table[(h + i) & (TABLE_SIZE - 1)];
        if (!s->used) {
            s->used = true;
            s->addr = addr;
            return s;
        }
        if (s->addr == addr) {
            return s;
        }
    }
    return NULL;
}

static void on_mark(unsigned int vcpu, void *udata)
{
    (void)vcpu;
    struct mark_site *site = udata;
    uint64_t before = total - site->ahead;
    if (site->mark->hits == 0) {
        site->mark->first = before;
    }
    site->mark->last = before;
    site->mark->hits++;
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &total, n);
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
        struct slot *s = slot_for(addr);
        if (s) {
            qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &s->count, 1);
        } else {
            dropped++;
        }
        for (size_t m = 0; m < n_marks; m++) {
            if (marks[m].addr != addr) {
                continue;
            }
            struct mark_site *site = malloc(sizeof *site);
            if (!site) {
                dropped++;
                continue;
            }
            site->mark = &marks[m];
            site->ahead = n - i;
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_mark, QEMU_PLUGIN_CB_NO_REGS, site);
        }
    }
}

static void write_out(qemu_plugin_id_t id, void *udata)
{
    (void)id;
    (void)udata;
    FILE *f = fopen(out_path, "w");
    if (!f) {
        qemu_plugin_outs("insn_count: cannot write the out= file\n");
        return;
    }
    fprintf(f, "insn_count 1\ntotal %" PRIu64 "\ndropped %" PRIu64 "\n", total, dropped);
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
        if (table[i].used && table[i].count) {
            fprintf(f, "pc 0x%" PRIx64 " %" PRIu64 "\n", table[i].addr, table[i].count);
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
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, write_out, NULL);
    return 0;
}
