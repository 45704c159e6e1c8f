/* Leak reports: a snapshot of the live blocks, classified, grouped by stack, written as
 * text (in the manner of LeakSanitizer) or JSON. */
#ifndef MS_REPORT_H
#define MS_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum leak_kind { KIND_DEFINITE = 0, KIND_INDIRECT, KIND_REACHABLE, KIND_SUPPRESSED,
                 KIND_MAPPING,   /* a page mapping nothing points to */
                 KIND_POOL,      /* a pool buffer still held */
                 NKINDS };

#define SNAP_MAPPING 0x1       /* snap_block.flags: a page mapping, not a heap block */
#define SNAP_PIECE 0x2         /* a mapping's piece after the first: its bytes count, but it
                                  is not another mapping */

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

struct scan_entry;
/* Takes a snapshot, classifies it and writes what the options ask for.  at_exit: the
 * process is exiting (the exit code option applies).  `entry`: where the calling thread's
 * roots begin (NULL: it holds none, as mallocspy's own reporting thread).  Returns the
 * number of leaked (definite plus indirect, not suppressed) blocks, or -1 when leak
 * checking is off. */
long report_run(bool at_exit, FILE *stream, const struct scan_entry *entry);
pid_t report_signal_thread(void);

struct writer;
struct symbolizer;
struct stack_rec;
/* A stack as the reports show it: text frames "    #N 0x... in f file:line (module+off)",
 * or a JSON array (null for no stack). */
void report_text_stack(struct writer *w, struct symbolizer *sym, const struct stack_rec *st);
void report_json_stack(struct writer *w, struct symbolizer *sym, const struct stack_rec *st);

#endif
