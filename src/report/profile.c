/* The allocation profile as the reports show it: report=profile's text (the top stacks by
 * each measure), and the JSON report's "profile", "sites" and "timeline". */
#include <unistd.h>

#include "base/mem.h"
#include "base/options.h"
#include "leaks/tracker.h"
#include "output/frames.h"
#include "output/writer.h"
#include "report/model.h"
#include "stacks/stacks.h"

enum { M_BYTES, M_ALLOCS, M_PEAK, M_TEMPS, NMEASURES };
static const char *const measure_name[NMEASURES] = { "bytes", "allocations", "peak_bytes",
                                                     "temporary" };

static uint64_t measure(const struct prof_stack *s, int m)
{
    switch (m) {
    case M_BYTES: return s->bytes;
    case M_ALLOCS: return s->allocs;
    case M_PEAK: return (uint64_t)s->at_peak;
    default: return s->temps;
    }
}

/* The indices of the top `k` stacks by measure m (ties: the earlier, so the larger in
 * bytes), largest first, in idx[0..return). */
static size_t top_by(const struct prof_stack *s, size_t n, int m, size_t k, uint32_t *idx)
{
    size_t got = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t v = measure(&s[i], m);
        if (!v)
            continue;
        if (got == k && v <= measure(&s[idx[got - 1]], m))
            continue;
        size_t j = got < k ? got++ : got - 1;
        while (j > 0 && measure(&s[idx[j - 1]], m) < v) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = (uint32_t)i;
    }
    return got;
}

/* Which measures each stack is among the top of: bit m set.  NULL when none. */
static uint8_t *top_marks(const struct prof_stack *s, size_t n, size_t *bytes_out)
{
    size_t k = options.sites_top;
    *bytes_out = n;
    if (!n || !k)
        return NULL;
    uint8_t *mark = pages_alloc(n);
    uint32_t *idx = pages_alloc(k * sizeof *idx);
    if (!mark || !idx) {
        if (mark)
            pages_free(mark, n);
        if (idx)
            pages_free(idx, k * sizeof *idx);
        return NULL;
    }
    for (int m = 0; m < NMEASURES; m++) {
        size_t got = top_by(s, n, m, k, idx);
        for (size_t i = 0; i < got; i++)
            mark[idx[i]] |= (uint8_t)(1u << m);
    }
    pages_free(idx, k * sizeof *idx);
    return mark;
}

void profile_write_json(struct writer *w, struct report *r)
{
    struct symbolizer *sym = r->sym;
    const struct prof_stack *s = r->ps;
    size_t n = r->nps;
    const struct prof_summary *sum = &r->psum;
    if (!tracker_active()) {
        w_str(w, "\"profile\":null,\n\"sites\":null");   /* leak_check=0: nothing counted */
        return;
    }
    w_fmt(w, "\"profile\":{\"allocations\":%lu,\"frees\":%lu,\"bytes\":%lu,\"temporary\":%lu,"
             "\"peak_bytes\":%ld,\"stacks\":%lu,\"sites_top\":%u},\n\"sites\":[",
          (unsigned long)sum->allocs, (unsigned long)sum->frees, (unsigned long)sum->bytes,
          (unsigned long)sum->temps, (long)sum->peak, (unsigned long)n, options.sites_top);
    size_t mbytes;
    uint8_t *mark = top_marks(s, n, &mbytes);
    bool first = true;
    for (size_t i = 0; mark && i < n; i++) {
        if (!mark[i])
            continue;
        const struct prof_stack *p = &s[i];
        w_fmt(w, "%s\n{\"allocations\":%lu,\"bytes\":%lu,\"peak_bytes\":%ld,\"temporary\":%lu,"
                 "\"live_bytes\":%ld,\"top\":[",
              first ? "" : ",", (unsigned long)p->allocs, (unsigned long)p->bytes,
              (long)p->at_peak, (unsigned long)p->temps, (long)p->live);
        bool f2 = true;
        for (int m = 0; m < NMEASURES; m++)
            if (mark[i] & (1u << m)) {
                w_fmt(w, "%s\"%s\"", f2 ? "" : ",", measure_name[m]);
                f2 = false;
            }
        w_str(w, "],\"stack\":");
        frames_json(w, sym, p->stack ? stack_by_id(p->stack) : NULL);
        w_str(w, "}");
        first = false;
    }
    w_str(w, "]");
    if (mark)
        pages_free(mark, mbytes);
}

void profile_write_text(struct writer *w, struct report *r)
{
    struct symbolizer *sym = r->sym;
    const struct prof_stack *s = r->ps;
    size_t n = r->nps;
    const struct prof_summary *sum = &r->psum;
    w_str(w, "\n=================================================================\n");
    w_fmt(w, "==%d==PROFILE: mallocspy: %lu allocation(s) (%lu temporary), %lu byte(s) "
             "allocated in total, %ld byte(s) live at the peak\n",
          (int)getpid(), (unsigned long)sum->allocs, (unsigned long)sum->temps,
          (unsigned long)sum->bytes, (long)sum->peak);
    size_t k = options.sites_top;
    uint32_t *idx = k && n ? pages_alloc(k * sizeof *idx) : NULL;
    static const char *const title[NMEASURES] = {
        "Most bytes allocated", "Most allocations", "Most bytes live at the peak",
        "Most temporary allocations",
    };
    static const int order[NMEASURES] = { M_PEAK, M_BYTES, M_ALLOCS, M_TEMPS };
    for (int o = 0; idx && o < NMEASURES; o++) {
        int m = order[o];
        size_t got = top_by(s, n, m, k, idx);
        if (!got)
            continue;
        w_fmt(w, "\n%s:\n", title[m]);
        for (size_t i = 0; i < got; i++) {
            const struct prof_stack *p = &s[idx[i]];
            w_fmt(w, "\n%lu byte(s) in %lu allocation(s) (%lu temporary), %ld byte(s) live at "
                     "the peak, from:\n",
                  (unsigned long)p->bytes, (unsigned long)p->allocs, (unsigned long)p->temps,
                  (long)p->at_peak);
            frames_text(w, sym, p->stack ? stack_by_id(p->stack) : NULL);
        }
    }
    if (idx)
        pages_free(idx, k * sizeof *idx);
    w_str(w, "\n");
}

void profile_write_timeline(struct writer *w)
{
    struct tl_sample *s;
    size_t cap;
    uint64_t interval;
    size_t n = tracker_timeline(&s, &cap, &interval);
    if (!tracker_timeline_on())
        return;
    int64_t top = 0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i].max > top) {
            top = s[i].max;
            at = i;
        }
    if (options.timeline_events)
        w_fmt(w, ",\n\"timeline\":{\"interval_events\":%lu,", (unsigned long)interval);
    else
        w_fmt(w, ",\n\"timeline\":{\"interval_ms\":%lu.%03lu,",
              (unsigned long)(interval / 1000000), (unsigned long)(interval / 1000 % 1000));
    w_fmt(w, "\"peak_bytes\":%ld,\"peak_ms\":%lu.%03lu,\"samples\":[", (long)top,
          (unsigned long)(n ? s[at].ns / 1000000 : 0),
          (unsigned long)(n ? s[at].ns / 1000 % 1000 : 0));
    for (size_t i = 0; i < n; i++)
        w_fmt(w, "%s{\"ms\":%lu.%03lu,\"bytes\":%ld,\"max\":%ld}", i ? "," : "",
              (unsigned long)(s[i].ns / 1000000), (unsigned long)(s[i].ns / 1000 % 1000),
              (long)s[i].bytes, (long)s[i].max);
    w_str(w, "]}");
    if (s)
        pages_free(s, cap);
}
