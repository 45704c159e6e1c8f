/* The leak report as text, in LeakSanitizer's manner: the groups of leaked blocks, each
 * with its stack, largest first; the suppressions used; the SUMMARY line. */
#include <unistd.h>

#include "base/options.h"
#include "base/tags.h"
#include "core/dispatch.h"
#include "core/heaps.h"
#include "leaks/suppress.h"
#include "output/frames.h"
#include "output/symbolize.h"
#include "output/writer.h"
#include "report/model.h"
#include "stacks/stacks.h"

/* " in heap 'name'", " at file:line": the heap and the debug location of a group. */
static void write_where(struct writer *w, uint32_t heap, uint32_t tag)
{
    const char *file;
    int line;
    if (heap && heap_name(heap))
        w_fmt(w, " in heap '%s'", heap_name(heap));
    if (tag && tag_lookup(tag, &file, &line))
        w_fmt(w, " at %s:%d", file, line);
}

static void write_suggestion(struct writer *w, struct report *r, const struct stack_rec *st)
{
    if (!st)
        return;
    const struct symbol *fr[256];
    unsigned n = st->pub.depth < 256 ? st->pub.depth : 256;
    for (unsigned i = 0; i < n; i++)
        fr[i] = symbolize(r->sym, st->frames[i], st->modgen);
    char line[1024];
    if (supp_suggest(fr, n, options.alloc_functions, line, sizeof line))
        w_fmt(w, "  Suppress with: %s\n", line);
}

static const char *const kind_title[NKINDS] = {
    "Direct leak of", "Indirect leak of", "Still reachable:", "Suppressed leak of",
    "Mapping leak of", "Pool leak of", "Not classified (sampled):",
};

void report_write_text(struct writer *w, struct report *r)
{
    uint64_t leaked_bytes = report_leaked(r->bytes), leaked_blocks = report_leaked(r->blocks);
    bool reachable = options.report_reachable &&
                     (r->blocks[KIND_REACHABLE] || r->blocks[KIND_UNKNOWN]);
    if (options.report == REPORT_PROFILE && tracker_active())
        profile_write_text(w, r);
    if (options.report == REPORT_GROWTH)
        growth_write_text(w, r);
    if (leaked_blocks || reachable) {
        w_str(w, "\n=================================================================\n");
        w_fmt(w, "==%d==ERROR: mallocspy: detected memory leaks\n", (int)getpid());
        /* Direct leaks first, then indirect ones, then what is still reachable (when
         * asked), each largest first: the order LeakSanitizer uses. */
        static const uint8_t order[] = { KIND_DEFINITE, KIND_INDIRECT, KIND_MAPPING, KIND_POOL,
                                         KIND_REACHABLE, KIND_UNKNOWN };
        for (unsigned k = 0; k < ARRAY_SIZE(order); k++)
            for (size_t i = 0; i < r->ng; i++) {
                const struct group *g = &r->g[i];
                if (g->kind != order[k] ||
                    ((g->kind == KIND_REACHABLE || g->kind == KIND_UNKNOWN) && !reachable))
                    continue;
                if (g->kind == KIND_MAPPING || g->mapping) {
                    w_fmt(w, "\n%s %lu byte(s) in %lu mapping(s) made by:\n",
                          g->kind == KIND_MAPPING ? "Mapping leak of" : kind_title[g->kind],
                          (unsigned long)g->bytes, (unsigned long)g->blocks);
                } else if (g->kind == KIND_POOL) {
                    w_fmt(w, "\nPool leak of %lu byte(s) in %lu buffer(s) of pool '%s' "
                             "still held, taken by:\n", (unsigned long)g->bytes,
                          (unsigned long)g->blocks, g->pool ? g->pool : "?");
                } else {
                    w_fmt(w, "\n%s %lu byte(s) in %lu object(s) allocated", kind_title[g->kind],
                          (unsigned long)g->bytes, (unsigned long)g->blocks);
                    write_where(w, g->heap, g->tag);
                    w_str(w, " from:\n");
                }
                frames_text(w, r->sym, stack_by_id(g->stack));
                /* Suppressions apply to these kinds; an indirect leak goes with the leak
                 * that holds it. */
                if (options.suggest_suppressions &&
                    (g->kind == KIND_DEFINITE || g->kind == KIND_MAPPING))
                    write_suggestion(w, r, stack_by_id(g->stack));
            }
        if (r->supp && r->blocks[KIND_SUPPRESSED] && options.print_suppressions) {
            w_str(w, "\n-----------------------------------------------------\n");
            w_str(w, "Suppressions used:\n  count      bytes template\n");
            for (unsigned k = 0; k < r->supp->n; k++)
                if (r->supp->s[k].hits)
                    w_fmt(w, "%7lu %10lu %s\n", (unsigned long)r->supp->s[k].hits,
                          (unsigned long)r->supp->s[k].bytes, r->supp->s[k].pattern);
            w_str(w, "-----------------------------------------------------\n");
        }
        w_str(w, "\n");
    }
    if (core_sampling())
        w_fmt(w, "==%d==mallocspy: sampled (sample_bytes=%zu): only sampled blocks are known; "
                 "%lu byte(s) in %lu of them are reachable, %lu byte(s) in %lu are not classified "
                 "(unsampled memory may hold them), and none is called leaked; the profile and "
                 "the growth are estimates\n", (int)getpid(), core_sample_bytes,
              (unsigned long)r->bytes[KIND_REACHABLE], (unsigned long)r->blocks[KIND_REACHABLE],
              (unsigned long)r->bytes[KIND_UNKNOWN], (unsigned long)r->blocks[KIND_UNKNOWN]);
    w_fmt(w, "SUMMARY: mallocspy: %lu byte(s) leaked in %lu allocation(s).\n",
          (unsigned long)leaked_bytes, (unsigned long)leaked_blocks);
}

