/* The JSON report: one object with the summary, the leaks by stack, heaps destroyed with
 * blocks left, heap errors, suppressions, the profile and mallocspy's own costs.  Field
 * names are a contract (mallocspy(1) lists them). */
#include <unistd.h>

#include "base/diag.h"
#include "base/mem.h"
#include "base/options.h"
#include "base/tags.h"
#include "core/blocks.h"
#include "core/dispatch.h"
#include "core/heaps.h"
#include "core/sites.h"
#include "leaks/suppress.h"
#include "output/errors.h"
#include "output/frames.h"
#include "output/heap_leaks.h"
#include "output/symbolize.h"
#include "output/writer.h"
#include "report/model.h"
#include "stacks/stacks.h"

static void json_where(struct writer *w, uint32_t heap, uint32_t tag)
{
    const char *file;
    int line;
    w_str(w, ",\"heap\":");
    w_json_str(w, heap ? heap_name(heap) : NULL);
    w_str(w, ",\"tag\":");
    if (tag && tag_lookup(tag, &file, &line)) {
        w_str(w, "{\"file\":");
        w_json_str(w, file);
        w_fmt(w, ",\"line\":%d}", line);
    } else {
        w_str(w, "null");
    }
}

static const char *const kind_name[NKINDS] = { "definite", "indirect", "reachable",
                                                "suppressed", "mapping", "pool", "unknown" };

void report_write_json(struct writer *w, struct report *r)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = 0;
    w_fmt(w, "{\"tool\":\"mallocspy\",\"version\":\"%s\",\"pid\":%d,\"exe\":", MALLOCSPY_VERSION,
          (int)getpid());
    w_json_str(w, n > 0 ? exe : NULL);
    /* false: frames carry module, offset and build ID only (nothing to report needed names,
     * or they could not be had); mallocspy-report --symbolize names them. */
    w_fmt(w, ",\"symbolized\":%s", symbolizer_named(r->sym) ? "true" : "false");
    w_fmt(w, ",\n\"summary\":{\"allocations\":%lu,\"frees\":%lu,\"peak_bytes\":%ld,"
             "\"live_bytes\":%lu,\"live_blocks\":%lu,",
          (unsigned long)r->allocs, (unsigned long)r->frees, (long)r->peak,
          (unsigned long)r->live_bytes, (unsigned long)r->live_blocks);
    w_fmt(w, "\"definite_bytes\":%lu,\"definite_blocks\":%lu,\"indirect_bytes\":%lu,"
             "\"indirect_blocks\":%lu,",
          (unsigned long)r->bytes[KIND_DEFINITE], (unsigned long)r->blocks[KIND_DEFINITE],
          (unsigned long)r->bytes[KIND_INDIRECT], (unsigned long)r->blocks[KIND_INDIRECT]);
    w_fmt(w, "\"reachable_bytes\":%lu,\"reachable_blocks\":%lu,\"suppressed_bytes\":%lu,"
             "\"suppressed_blocks\":%lu,",
          (unsigned long)r->bytes[KIND_REACHABLE], (unsigned long)r->blocks[KIND_REACHABLE],
          (unsigned long)r->bytes[KIND_SUPPRESSED], (unsigned long)r->blocks[KIND_SUPPRESSED]);
    w_fmt(w, "\"mapping_bytes\":%lu,\"mapping_blocks\":%lu,\"pool_bytes\":%lu,"
             "\"pool_blocks\":%lu,\"unknown_bytes\":%lu,\"unknown_blocks\":%lu,"
             "\"errors\":%u},\n",
          (unsigned long)r->bytes[KIND_MAPPING], (unsigned long)r->blocks[KIND_MAPPING],
          (unsigned long)r->bytes[KIND_POOL], (unsigned long)r->blocks[KIND_POOL],
          (unsigned long)r->bytes[KIND_UNKNOWN], (unsigned long)r->blocks[KIND_UNKNOWN],
          errors_count());
    /* Sampling: what the counts stand for. */
    if (core_sampling())
        w_fmt(w, "\"sampling\":{\"sample_bytes\":%zu,\"estimates\":[\"profile\",\"sites\","
                 "\"growth\",\"summary.allocations\",\"summary.frees\",\"summary.peak_bytes\"]},\n",
              core_sample_bytes);
    else
        w_str(w, "\"sampling\":null,\n");
    growth_write_json(w, r);
    w_str(w, "\"leaks\":[");
    bool first = true;
    for (size_t i = 0; i < r->ng; i++) {
        const struct group *g = &r->g[i];
        if (g->kind == KIND_SUPPRESSED || (g->kind == KIND_REACHABLE && !options.report_reachable))
            continue;
        w_fmt(w, "%s\n{\"kind\":\"%s\",\"bytes\":%lu,\"blocks\":%lu", first ? "" : ",",
              kind_name[g->kind], (unsigned long)g->bytes, (unsigned long)g->blocks);
        json_where(w, g->heap, g->tag);
        if (g->mapping)
            w_str(w, ",\"mapping\":true");
        if (g->kind == KIND_POOL) {
            w_str(w, ",\"pool\":");
            w_json_str(w, g->pool);
        }
        w_str(w, ",\"stack\":");
        frames_json(w, r->sym, stack_by_id(g->stack));
        w_str(w, "}");
        first = false;
    }
    w_str(w, "],\n\"heap_leaks\":[");
    heap_leaks_json(w, r->sym);
    w_str(w, "],\n\"errors\":[");
    errors_write_json(w, r->sym);
    w_str(w, "],\n\"suppressions\":[");
    bool firsts = true;
    for (unsigned k = 0; r->supp && k < r->supp->n; k++) {
        /* The default file's patterns only when they did something: a report lists what
         * the user asked for, and what silenced part of the program. */
        if (r->supp->s[k].builtin && !r->supp->s[k].hits)
            continue;
        w_str(w, firsts ? "{\"pattern\":" : ",{\"pattern\":");
        firsts = false;
        w_json_str(w, r->supp->s[k].pattern);
        w_fmt(w, ",\"blocks\":%lu,\"bytes\":%lu}", (unsigned long)r->supp->s[k].hits,
              (unsigned long)r->supp->s[k].bytes);
    }
    w_str(w, "],\n");
    profile_write_json(w, r);
    profile_write_timeline(w);
    char secs[32];
    diag_format(secs, sizeof secs, "%lu.%06lu", (unsigned long)r->scan_seconds,
              (unsigned long)((r->scan_seconds - (double)(unsigned long)r->scan_seconds) * 1e6));
    uint64_t hits, misses;
    stack_stats(&hits, &misses);
    w_fmt(w, ",\n\"mallocspy\":{\"own_bytes\":%lu,\"tracking_bytes\":%lu,"
             "\"rss_peak_before_report\":%lu,\"table_bytes\":%lu,\"stacks\":%u,"
             "\"sites\":%u,\"scan_seconds\":%s,\"threads_stopped\":%u,"
             "\"threads_not_stopped\":%u,\"threads_not_scanned\":%u,"
             "\"stack_cache_hits\":%lu,"
             "\"stack_cache_misses\":%lu}}\n",
          (unsigned long)(arena_bytes() + blocks_map_bytes()), (unsigned long)r->tracking_bytes,
          (unsigned long)r->rss_peak, (unsigned long)blocks_map_bytes(), stacks_count(),
          sites_count(), secs, r->stats.threads_stopped, r->stats.threads_unstopped,
          r->stats.threads_unscanned,
          (unsigned long)hits, (unsigned long)misses);
}

