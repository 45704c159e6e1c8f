/* Snapshots and what grew between them (report=growth's text, the JSON report's
 * "snapshot" and "growth"): per stack, the live bytes now over those at the previous
 * snapshot, largest growth first, with how much of what is live was allocated since.  A
 * call site whose blocks pile up shows here; one that keeps a steady amount live does
 * not, even when it frees and allocates all the time. */
#include <unistd.h>

#include "base/options.h"
#include "output/frames.h"
#include "output/writer.h"
#include "report/model.h"
#include "stacks/stacks.h"

/* "12.345" seconds, from a double, with the formatter's integer conversions. */
static void w_seconds(struct writer *w, double s)
{
    if (s < 0)
        s = 0;
    unsigned long whole = (unsigned long)s;
    w_fmt(w, "%lu.%03lu", whole, (unsigned long)((s - (double)whole) * 1000));
}

static uint64_t per_minute(const struct report *r, uint64_t bytes)
{
    double span = r->seconds - r->since;
    return span > 0 ? (uint64_t)((double)bytes * 60.0 / span) : 0;
}

void growth_write_text(struct writer *w, struct report *r)
{
    w_str(w, "\n=================================================================\n");
    w_fmt(w, "==%d==GROWTH: mallocspy: live memory grew by %lu byte(s) in %lu block(s) since ",
          (int)getpid(), (unsigned long)r->grow_bytes, (unsigned long)r->grow_blocks);
    if (r->number > 1) {
        w_fmt(w, "snapshot %u (", r->number - 1);
        w_seconds(w, r->seconds - r->since);
        w_str(w, " s ago)");
    } else {
        w_str(w, "start-up (");
        w_seconds(w, r->seconds);
        w_str(w, " s ago)");
    }
    w_fmt(w, "; snapshot %u%s\n", r->number, r->at_exit ? " (at exit)" : "");
    size_t top = options.sites_top < r->ngr ? options.sites_top : r->ngr;
    for (size_t i = 0; i < top; i++) {
        const struct growth *g = &r->gr[i];
        w_fmt(w, "\nGrowth of %lu byte(s) in %lu block(s) (%lu bytes/min; %lu byte(s) live "
                 "allocated since) from:\n", (unsigned long)g->bytes, (unsigned long)g->blocks,
              (unsigned long)per_minute(r, g->bytes), (unsigned long)g->new_bytes);
        frames_text(w, r->sym, stack_by_id(g->stack));
    }
    w_str(w, "\n");
}

void growth_write_json(struct writer *w, struct report *r)
{
    w_fmt(w, "\"snapshot\":{\"number\":%u,\"at_exit\":%s,\"seconds\":", r->number,
          r->at_exit ? "true" : "false");
    w_seconds(w, r->seconds);
    w_str(w, "},\n\"growth\":{\"since_seconds\":");
    w_seconds(w, r->since);
    w_fmt(w, ",\"blocks\":%lu,\"bytes\":%lu,\"bytes_per_minute\":%lu,\"stacks\":[",
          (unsigned long)r->grow_blocks, (unsigned long)r->grow_bytes,
          (unsigned long)per_minute(r, r->grow_bytes));
    for (size_t i = 0; i < r->ngr; i++) {
        const struct growth *g = &r->gr[i];
        w_fmt(w, "%s\n{\"blocks\":%lu,\"bytes\":%lu,\"bytes_per_minute\":%lu,"
                 "\"new_blocks\":%lu,\"new_bytes\":%lu,\"stack\":",
              i ? "," : "", (unsigned long)g->blocks, (unsigned long)g->bytes,
              (unsigned long)per_minute(r, g->bytes), (unsigned long)g->new_blocks,
              (unsigned long)g->new_bytes);
        frames_json(w, r->sym, stack_by_id(g->stack));
        w_str(w, "}");
    }
    w_str(w, "]},\n");
}
