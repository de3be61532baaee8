/*
 * insn_skip: a QEMU TCG plugin that skips exactly one executed guest instruction (the
 * instruction-skip fault model of `cargo xtask fi`), traces executed addresses and stops
 * a run as soon as its outcome is known.
 *
 * Built by xtask (xtask/src/bench/plugin.rs) like insn_count.c, against qemu-plugin.h of
 * plugin API version 1 (QEMU 7.2) or 4 (QEMU 9.2 to 10.x; the differences are in the block
 * after the includes, and a run behaves the same); no glib. Loaded as
 *
 *   qemu-system-arm ... -plugin PATH/libinsn_skip.so,out=FILE[,trace=FILE]
 *       [,skip=0xPC:K][,stop=0xLO:0xHI]...[,fault=0xADDR]...[,budget=N]
 *
 * How a skip is made exact with an API that can neither write registers nor change a
 * translation (API 1 has neither; API 4 cannot change a translation either, and its
 * register access, qemu_plugin_read_register, only reads):
 *
 *  `skip=0xPC:K` skips the K-th execution (K >= 1) of the Thumb instruction at PC. The
 *  instruction's bytes are in guest RAM (the boot stage runs from SSRAM1 at 0x0), and the
 *  plugin has a host pointer into that RAM (`qemu_plugin_insn_haddr` of any translated
 *  instruction; SSRAM1 is one contiguous host block; API 4's header calls the pointer "a
 *  proxy for address space and physical address", yet QEMU 10 still computes it from the
 *  host address of the code page, and the plugin only takes it once its first two bytes
 *  equal the instruction's). Right after the (K-1)-th execution
 *  of PC (for K = 1: at the first translation, before anything ran) the plugin overwrites
 *  the instruction with a NOP of the same size (16-bit `NOP` 0xBF00, 32-bit `NOP.W`
 *  0xF3AF 0x8000) and asks for `qemu_plugin_reset`, which flushes every translation
 *  before the next translation block starts (QEMU checks its exit request at the start of
 *  every block; the reset is queued as safe work that runs `tb_flush` and then the
 *  plugin's callback, which registers the callbacks again; QEMU 7.2 and 10.0 do this the
 *  same way, plugins/loader.c `plugin_reset_uninstall`). The K-th execution is therefore
 *  translated from the NOP; when it runs,
 *  the plugin puts the original bytes back and flushes again, so execution K+1 on is the
 *  original instruction. A NOP has no architectural effect and advances the PC by the
 *  instruction's size: that is the skip. The plugin checks that the K-th execution was
 *  translated from the NOP (`skip applied`), else reports `skip missed`.
 *
 *  IT blocks: the NOP keeps its slot in an IT block (the IT state advances past it as it
 *  would past the skipped instruction); skipping the IT instruction itself leaves the
 *  instructions it governed unconditional, which is what a skipped IT does on hardware.
 *  While the NOP is in place (between two block boundaries), a data read of those bytes
 *  would see the NOP: the boot stage never reads its own instructions as data.
 *
 * Outcome detection (each ends the run at once with `_exit(0)` after writing FILE):
 *  - `stop=0xLO:0xHI` (up to 8, HI exclusive): the first block of two or more
 *    instructions that starts in a range and whose first instruction completed (a
 *    hand-off: the images' slots) -> `end stop INDEX 0xPC` (see `on_translate`);
 *  - `fault=0xADDR` (up to 8): a block starting there (a fault handler that spins)
 *    -> `end fault 0xADDR`;
 *  - `budget=N`: more than N instructions executed -> `end budget` (checked in every
 *    block that may branch back, see may_go_back: every loop has one);
 *  - the vCPU going idle (WFI with nothing to wake it) -> `end idle`.
 *  Otherwise the guest ends the run (semihosting exit, or a reset under -no-reboot) and
 *  QEMU's atexit writes `end exit`; QEMU's exit status is the guest's code.
 *
 * `trace=FILE` writes the address of every executed instruction, in order, as 32-bit
 * little-endian words, up to the end of the run (one callback per instruction: meant for
 * the reference run only).
 *
 * FILE:
 *   insn_skip 1
 *   total N                       (instructions executed; the block of a stop excluded)
 *   skip applied|missed|none 0xPC K SIZE
 *   end stop INDEX 0xPC | end fault 0xPC | end budget | end idle | end exit
 *
 * Single-vCPU machines only.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <qemu-plugin.h>

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

/*
 * The parts of the plugin API that differ between the versions this plugin supports:
 *  - the instruction count `total` is an inline add per instruction (not per block: a
 *    block can stop part-way, at an exception and, from QEMU 8.2 on, at any device access
 *    that is not its last instruction): to a plain uint64_t in API 1 (QEMU 7.2), to a
 *    scoreboard entry in API 2 on (QEMU 9.0: per-vCPU variants only; one vCPU, so the sum
 *    is its count). At one point API 1 runs every callback before every inline add, API 2
 *    on runs them in registration order: the plugin registers callbacks first, so the
 *    budget check at a block's start sees the same `total` in both (the instructions
 *    before the block);
 *  - an instruction's bytes: API 1 returns a pointer, API 3 on copies them into a buffer.
 */
#if QEMU_PLUGIN_VERSION >= 2
static struct qemu_plugin_scoreboard *score;

static bool total_init(void)
{
    score = qemu_plugin_scoreboard_new(sizeof(uint64_t));
    return score != NULL;
}

static void count_insn(struct qemu_plugin_insn *insn)
{
    qemu_plugin_register_vcpu_insn_exec_inline_per_vcpu(insn, QEMU_PLUGIN_INLINE_ADD_U64,
                                                        qemu_plugin_scoreboard_u64(score), 1);
}

static uint64_t total(void)
{
    return qemu_plugin_u64_sum(qemu_plugin_scoreboard_u64(score));
}
#else
static uint64_t total_count;

static bool total_init(void)
{
    return true;
}

static void count_insn(struct qemu_plugin_insn *insn)
{
    qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &total_count, 1);
}

static uint64_t total(void)
{
    return total_count;
}
#endif

/*
 * Up to 4 bytes of an instruction, as translated (during translation only), into buf;
 * returns how many: the size QEMU reports, at most 4 (0 if QEMU could not copy them).
 */
static size_t insn_bytes(const struct qemu_plugin_insn *insn, uint8_t buf[4])
{
    size_t n = qemu_plugin_insn_size(insn);
    n = n < 4 ? n : 4;
#if QEMU_PLUGIN_VERSION >= 3
    return qemu_plugin_insn_data(insn, buf, n);
#else
    memcpy(buf, qemu_plugin_insn_data(insn), n);
    return n;
#endif
}

#define MAX_RANGES 8
#define MAX_FAULTS 8
/* SSRAM1, where -kernel puts the boot stage: [0, 4 MiB), one host block. */
#define CODE_RAM_END 0x400000u

struct range {
    uint64_t lo;
    uint64_t hi;
};

static qemu_plugin_id_t self;
static char *out_path;
static char *trace_path;
static uint32_t *trace;
static size_t trace_len, trace_cap;
static uint64_t budget;
static struct range stops[MAX_RANGES];
static size_t n_stops;
static uint64_t faults[MAX_FAULTS];
static size_t n_faults;

/* The skip. */
static bool skip_wanted;
static uint64_t skip_pc;
static uint64_t skip_k;
static uint64_t skip_hits;       /* executions of skip_pc so far */
static unsigned skip_size;       /* 2 or 4, once known */
static uint8_t skip_orig[4];     /* the instruction's bytes */
static bool patched;             /* the NOP is in guest RAM now */
static bool patch_done;          /* the NOP was put in and taken out again */
static bool skip_applied;        /* execution K ran from the NOP's translation */
static uint8_t *ram_host;        /* host address of guest address 0 (SSRAM1) */

static const uint8_t NOP16[2] = { 0x00, 0xBF };
static const uint8_t NOP32[4] = { 0xAF, 0xF3, 0x00, 0x80 };

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
static void on_exit_cb(qemu_plugin_id_t id, void *udata);
static void on_idle(qemu_plugin_id_t id, unsigned int vcpu);

static void write_result(const char *end)
{
    FILE *f = fopen(out_path, "w");
    if (!f) {
        qemu_plugin_outs("insn_skip: cannot write the out= file\n");
        return;
    }
    const char *skip = !skip_wanted ? "none" : skip_applied ? "applied" : "missed";
    fprintf(f, "insn_skip 1\ntotal %" PRIu64 "\nskip %s 0x%" PRIx64 " %" PRIu64 " %u\nend %s\n", total(), skip,
            skip_pc, skip_k, skip_size, end);
    fclose(f);
    if (trace_path) {
        FILE *t = fopen(trace_path, "wb");
        if (t) {
            if (trace_len) {
                fwrite(trace, sizeof *trace, trace_len, t);
            }
            fclose(t);
        }
    }
}

/* Ends the run now: the outcome is known. */
static void finish(const char *end)
{
    write_result(end);
    _exit(0);
}

static void register_all(qemu_plugin_id_t id)
{
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, on_exit_cb, NULL);
    qemu_plugin_register_vcpu_idle_cb(id, on_idle);
}

static void on_reset(qemu_plugin_id_t id)
{
    register_all(id);
}

static bool thumb32(uint16_t first)
{
    unsigned top = first >> 11;
    return top == 0x1D || top == 0x1E || top == 0x1F;
}

/* Puts the NOP in (or the original back) and flushes every translation. */
static void patch(bool nop)
{
    uint8_t *at = ram_host + skip_pc;
    if (nop) {
        uint16_t first = (uint16_t)(at[0] | (at[1] << 8));
        skip_size = thumb32(first) ? 4 : 2;
        memcpy(skip_orig, at, skip_size);
        memcpy(at, skip_size == 4 ? NOP32 : NOP16, skip_size);
        patched = true;
    } else {
        memcpy(at, skip_orig, skip_size);
        patched = false;
        patch_done = true;
    }
    qemu_plugin_reset(self, on_reset);
}

/* udata: 1 if this translation of skip_pc was made from the NOP. */
static void on_skip_pc(unsigned int vcpu, void *udata)
{
    (void)vcpu;
    skip_hits++;
    if (skip_hits + 1 == skip_k && !patched && !patch_done) {
        patch(true);
    } else if (skip_hits == skip_k && patched) {
        skip_applied = udata != NULL;
        patch(false);
    }
}

/*
 * Whether a block ending in this instruction may continue at an address not above its
 * own start: every cycle of blocks (a hang) contains such an edge, since a block that
 * ends any other way continues forward. Only these blocks check the budget, so tight
 * loops still do while straight-line code pays nothing. Conservative: anything that is
 * not a plain instruction or a forward direct branch counts.
 */
static bool thumb32(uint16_t first);

static bool may_go_back(const uint8_t *d, size_t size)
{
    if (size < 2) { /* bytes unknown */
        return true;
    }
    uint16_t h1 = (uint16_t)(d[0] | (d[1] << 8));
    /* The size QEMU reports may include a peek at the next halfword: decode it. */
    if (size < 4 || !thumb32(h1)) {
        if ((h1 & 0xF000) == 0xD000) { /* B<c> imm8; UDF and SVC (cond 14, 15) trap */
            return ((h1 >> 8) & 0xF) >= 0xE || (h1 & 0x80);
        }
        if ((h1 & 0xF800) == 0xE000) { /* B imm11 */
            return (h1 & 0x400) != 0;
        }
        if ((h1 & 0xF500) == 0xB100) { /* CBZ/CBNZ: forward only */
            return false;
        }
        return (h1 & 0xFF00) == 0x4700     /* BX, BLX */
               || (h1 & 0xFF00) == 0xBD00  /* POP {.., pc} */
               || (h1 & 0xFF00) == 0xBE00  /* BKPT */
               || (h1 & 0xFF87) == 0x4687  /* MOV pc, Rm */
               || (h1 & 0xFF87) == 0x4487; /* ADD pc, Rm */
    }
    uint16_t h2 = (uint16_t)(d[2] | (d[3] << 8));
    if ((h1 & 0xF800) == 0xF000 && (h2 & 0x8000)) {
        bool direct = (h2 & 0x5000) != 0 || ((h1 >> 6) & 0xE) != 0xE; /* B.W, BL, B<c>.W */
        return !direct || (h1 & 0x400) != 0;                            /* or S: backward */
    }
    if ((h1 & 0xFE00) == 0xE800 && (h1 & 0x10) && (h2 & 0x8000)) { /* LDM/POP.W with pc, TBB/TBH */
        return true;
    }
    if ((h1 & 0xFE00) == 0xF800 && (h1 & 0x10) && (h2 >> 12) == 0xF) { /* LDR pc (and PLD) */
        return true;
    }
    return false;
}

static void on_block(unsigned int vcpu, void *udata)
{
    (void)vcpu;
    (void)udata;
    if (total() > budget) {
        finish("budget");
    }
}

static void on_trace(unsigned int vcpu, void *udata)
{
    (void)vcpu;
    if (trace_len == trace_cap) {
        size_t cap = trace_cap ? trace_cap * 2 : (1u << 20);
        uint32_t *t = realloc(trace, cap * sizeof *t);
        if (!t) {
            finish("exit");
        }
        trace = t;
        trace_cap = cap;
    }
    trace[trace_len++] = (uint32_t)(uintptr_t)udata;
}

static void on_stop(unsigned int vcpu, void *udata)
{
    (void)vcpu;
    finish((const char *)udata);
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    if (n == 0) {
        return;
    }
    uint64_t start = qemu_plugin_tb_vaddr(tb);
    struct qemu_plugin_insn *first = qemu_plugin_tb_get_insn(tb, 0);
    if (!ram_host && start < CODE_RAM_END) {
        uint8_t *h = qemu_plugin_insn_haddr(first);
        uint8_t bytes[4] = { 0 };
        if (h && insn_bytes(first, bytes) >= 2 && memcmp(h, bytes, 2) == 0) {
            ram_host = h - start;
        }
    }
    /*
     * A stop: a block in a slot whose first instruction completed. The report comes as the
     * block's second instruction starts, without counting the block. A one-instruction
     * block is left to run: on M-profile, a jump to an address with bit 0 clear (no Thumb
     * state) gives a block of the single instruction that raises INVSTATE, which executes
     * nothing of the image and goes on to the boot stage's fault handler (a crash); a
     * genuine one-instruction block (a branch) goes on to the image's next block, which
     * stops the run there.
     */
    for (size_t r = 0; r < n_stops; r++) {
        if (stops[r].lo <= start && start < stops[r].hi) {
            if (n < 2) {
                break;
            }
            char *end = malloc(64);
            if (end) {
                snprintf(end, 64, "stop %zu 0x%" PRIx64, r, start);
                qemu_plugin_register_vcpu_insn_exec_cb(qemu_plugin_tb_get_insn(tb, 1), on_stop,
                                                       QEMU_PLUGIN_CB_NO_REGS, end);
            }
            return;
        }
    }
    for (size_t f = 0; f < n_faults; f++) {
        if (faults[f] == start) {
            char *end = malloc(64);
            if (end) {
                snprintf(end, 64, "fault 0x%" PRIx64, start);
                qemu_plugin_register_vcpu_insn_exec_cb(first, on_stop, QEMU_PLUGIN_CB_NO_REGS, end);
            }
            return;
        }
    }
    uint8_t last[4] = { 0 };
    size_t last_size = insn_bytes(qemu_plugin_tb_get_insn(tb, n - 1), last);
    if (budget && may_go_back(last, last_size)) {
        qemu_plugin_register_vcpu_tb_exec_cb(tb, on_block, QEMU_PLUGIN_CB_NO_REGS, NULL);
    }
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t pc = qemu_plugin_insn_vaddr(insn);
        if (trace_path) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_trace, QEMU_PLUGIN_CB_NO_REGS, (void *)(uintptr_t)pc);
        }
        if (skip_wanted && pc == skip_pc) {
            uint8_t data[4] = { 0 };
            size_t size = insn_bytes(insn, data);
            /* The data may hold more than the instruction: QEMU 7.2's Thumb translator
             * peeks at the next halfword, and the plugin sees that read too (QEMU 10
             * reports the instruction's own size). */
            bool from_nop =
                patched && size >= skip_size && memcmp(data, skip_size == 4 ? NOP32 : NOP16, skip_size) == 0;
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_skip_pc, QEMU_PLUGIN_CB_NO_REGS,
                                                   from_nop ? (void *)1 : NULL);
        }
        count_insn(insn); /* after the callbacks: see the top of the file */
    }
    /* K = 1: the NOP goes in before anything runs (the flush happens before this block). */
    if (skip_wanted && skip_k == 1 && !patched && !patch_done && ram_host) {
        patch(true);
    }
}

static void on_exit_cb(qemu_plugin_id_t id, void *udata)
{
    (void)id;
    (void)udata;
    write_result("exit");
}

static void on_idle(qemu_plugin_id_t id, unsigned int vcpu)
{
    (void)id;
    (void)vcpu;
    /* A vCPU is idle before it first runs too: only idleness after it ran ends a run. */
    if (total() > 0) {
        finish("idle");
    }
}

static bool parse_u64(const char *s, char stop, uint64_t *out, const char **rest)
{
    char *end = NULL;
    *out = strtoull(s, &end, 0);
    if (!end || end == s || *end != stop) {
        return false;
    }
    if (rest) {
        *rest = end + (stop ? 1 : 0);
    }
    return true;
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    if (info->system_emulation && info->system.max_vcpus > 1) {
        fprintf(stderr, "insn_skip: single-vCPU machines only\n");
        return -1;
    }
    self = id;
    for (int i = 0; i < argc; i++) {
        char *arg = argv[i];
        const char *rest = NULL;
        bool ok = true;
        if (strncmp(arg, "out=", 4) == 0) {
            out_path = arg + 4;
        } else if (strncmp(arg, "trace=", 6) == 0) {
            trace_path = arg + 6;
        } else if (strncmp(arg, "skip=", 5) == 0) {
            ok = parse_u64(arg + 5, ':', &skip_pc, &rest) && parse_u64(rest, '\0', &skip_k, NULL) && skip_k >= 1 &&
                 skip_pc + 4 <= CODE_RAM_END && (skip_pc & 1) == 0;
            skip_wanted = ok;
        } else if (strncmp(arg, "stop=", 5) == 0 && n_stops < MAX_RANGES) {
            ok = parse_u64(arg + 5, ':', &stops[n_stops].lo, &rest) &&
                 parse_u64(rest, '\0', &stops[n_stops].hi, NULL) && stops[n_stops].lo < stops[n_stops].hi;
            n_stops++;
        } else if (strncmp(arg, "fault=", 6) == 0 && n_faults < MAX_FAULTS) {
            ok = parse_u64(arg + 6, '\0', &faults[n_faults++], NULL);
        } else if (strncmp(arg, "budget=", 7) == 0) {
            ok = parse_u64(arg + 7, '\0', &budget, NULL);
        } else {
            ok = false;
        }
        if (!ok) {
            fprintf(stderr,
                    "insn_skip: bad or extra argument `%s` (out=FILE, trace=FILE, skip=0xPC:K, up to %d "
                    "stop=0xLO:0xHI, up to %d fault=0xADDR, budget=N)\n",
                    arg, MAX_RANGES, MAX_FAULTS);
            return -1;
        }
    }
    if (!out_path) {
        fprintf(stderr, "insn_skip: out=FILE is required\n");
        return -1;
    }
    if (!total_init()) {
        fprintf(stderr, "insn_skip: cannot allocate the instruction counter\n");
        return -1;
    }
    register_all(id);
    return 0;
}
