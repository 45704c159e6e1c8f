/* One leak report as the report layer builds it (report.c) and writes it (text.c, json.c,
 * profile.c, pictures.c): the classified snapshot, its groups by stack, the tallies, the
 * profile, and the symbolizer that names the frames. */
#ifndef MS_REPORT_MODEL_H
#define MS_REPORT_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "leaks/scan.h"
#include "leaks/tracker.h"

struct group {
    uint32_t stack;
    uint8_t kind;              /* enum leak_kind */
    uint32_t heap, tag;        /* blocks of a private heap, with a debug location */
    const char *pool;          /* KIND_POOL: the pool's name */
    int supp;                  /* suppression that matched, -1 */
    uint64_t bytes, blocks;
    bool mapping;              /* page mappings, not heap blocks */
};

/* What grew since the previous snapshot, by stack: the change in live blocks and bytes,
 * and of those live now, how many were allocated since. */
struct growth {
    uint32_t stack;
    uint64_t blocks, bytes;
    uint64_t new_blocks, new_bytes;
};

struct report {
    unsigned number;           /* snapshots 1, 2...; the report at exit after the last */
    bool at_exit;
    double seconds;            /* since start-up */
    double since;              /* when the previous snapshot was taken (0: start-up) */
    struct growth *gr;         /* largest first */
    size_t ngr, capgr;
    uint64_t grow_blocks, grow_bytes;
    struct snapshot snap;
    struct leak_graph graph;
    struct scan_stats stats;
    double scan_seconds;
    double symbol_seconds;     /* waiting for the symbolizer */
    size_t tracking_bytes;     /* own memory before the report took any */
    uint64_t rss_peak;         /* the process's peak RSS (VmHWM) before the report */
    bool scan_ok;
    struct group *g;           /* largest first */
    size_t ng, capg;
    uint64_t bytes[NKINDS], blocks[NKINDS];
    uint64_t live_bytes, live_blocks;
    uint64_t allocs, frees;
    int64_t peak;
    struct symbolizer *sym;
    struct suppressions *supp;
    struct prof_stack *ps;     /* the profile, by stack, when a report needs it */
    size_t nps;
    struct prof_summary psum;
};

/* What counts as leaked: definite and indirect leaks, mappings nothing points to, and
 * pool buffers still held; not what is reachable or suppressed. */
static inline uint64_t report_leaked(const uint64_t *by_kind)
{
    return by_kind[KIND_DEFINITE] + by_kind[KIND_INDIRECT] + by_kind[KIND_MAPPING] +
           by_kind[KIND_POOL];
}

struct writer;
/* The leak report in LeakSanitizer's manner (the profile first with report=profile). */
void report_write_text(struct writer *w, struct report *r);
/* The JSON report. */
void report_write_json(struct writer *w, struct report *r);
/* report=profile's text; the JSON report's "profile", "sites" and "timeline". */
void profile_write_text(struct writer *w, struct report *r);
void profile_write_json(struct writer *w, struct report *r);
void profile_write_timeline(struct writer *w);
/* report=growth's text; the JSON report's "snapshot" and "growth". */
void growth_write_text(struct writer *w, struct report *r);
void growth_write_json(struct writer *w, struct report *r);
/* folded_path and flamegraph_path: the leaks, or the profile, by `weight`.  NULL when none
 * is asked (or out of memory); *n items, *cap to free with pictures_free. */
struct fg_item *pictures_items(struct report *r, size_t *n, size_t *cap);
void pictures_write(struct report *r, const struct fg_item *it, size_t n);
void pictures_free(struct fg_item *it, size_t cap);

#endif
