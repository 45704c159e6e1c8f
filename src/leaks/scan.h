/* Leak classification: the live blocks are taken with the other threads stopped, and
 * memory is scanned for pointers to them from the roots (stacks, registers, TLS, the
 * modules' data, writable file mappings) and from block to block. */
#ifndef MS_SCAN_H
#define MS_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum leak_kind { KIND_DEFINITE = 0, KIND_INDIRECT, KIND_REACHABLE, KIND_SUPPRESSED,
                 KIND_MAPPING,   /* a page mapping nothing points to */
                 KIND_POOL,      /* a pool buffer still held */
                 KIND_UNKNOWN,   /* sampled mode: reached from no root through the sampled
                                    blocks, but unsampled memory may hold it */
                 NKINDS };

#define SNAP_MAPPING 0x1       /* snap_block.flags: a page mapping, not a heap block */
#define SNAP_PIECE 0x2         /* a mapping's piece after the first: its bytes count, but it
                                  is not another mapping */

/* A live block (or mapping) as the scan saw it. */
struct snap_block {
    uintptr_t addr;
    uint64_t size;
    uint32_t site;
    uint8_t kind;              /* enum leak_kind once classified */
    uint8_t mark;              /* scratch for the classifier */
    uint8_t flags;             /* SNAP_* */
    uint8_t pad;
};

struct snapshot {
    struct snap_block *b;      /* sorted by address once classified */
    size_t n, cap;
};
void snapshot_free(struct snapshot *s);

/* Pointers from one leaked block to another, found by the scan. */
struct leak_graph {
    struct { uint32_t from, to; } *edge;
    size_t nedge, capedge;
};

/* Where the reporting thread's own roots start: its stack from `sp` up (its callers'
 * frames), and the registers it held when it entered mallocspy. */
struct scan_entry {
    uintptr_t sp;
    uintptr_t regs[8];
    unsigned nregs;
};

struct scan_stats {
    unsigned threads_stopped;
    unsigned threads_unstopped;   /* could not be stopped: searched where they ran */
    unsigned threads_unscanned;   /* of those, threads whose stack could not be found */
};

/* At start-up: what the scan learns of the process's TLS layout (from the loader). */
void scan_init(void);

/* Stops the other threads (but `exclude`), takes the snapshot of live blocks into `snap`,
 * classifies them (kind), records leak-to-leak edges into `graph`, and lets the threads
 * go.  false if memory ran out (the snapshot is then only partly classified). */
bool scan_classify(struct snapshot *snap, struct leak_graph *graph, const struct scan_entry *entry,
                   pid_t exclude, struct scan_stats *stats);
void leaks_apply_suppressions(struct snapshot *snap, const struct leak_graph *g,
                              bool (*suppressed)(uint32_t site, void *), void *arg);

/* Fills *e with the caller's stack pointer and callee-saved registers.  A macro, so that
 * it runs in the frame of the function that enters mallocspy. */
#define SCAN_ENTRY(e)                                                                      \
    do {                                                                                   \
        __builtin_unwind_init();                                                           \
        __asm__ volatile("mov %%rbx, 0(%0)\n\tmov %%rbp, 8(%0)\n\tmov %%r12, 16(%0)\n\t"    \
                         "mov %%r13, 24(%0)\n\tmov %%r14, 32(%0)\n\tmov %%r15, 40(%0)"     \
                         : : "r"((e)->regs) : "memory");                                   \
        (e)->nregs = 6;                                                                    \
        /* From the struct itself up: the saved registers and the callers' frames. */      \
        (e)->sp = (uintptr_t)(e);                                                          \
    } while (0)

#endif
