/* Stacks as the reports show them (output/frames.h). */
#include "output/frames.h"
#include "output/symbolize.h"
#include "output/writer.h"
#include "stacks/stacks.h"

void frames_text(struct writer *w, struct symbolizer *sym, const struct stack_rec *st)
{
    if (!st) {
        w_str(w, "    <no stack recorded>\n");
        return;
    }
    unsigned k = 0;
    for (uint32_t i = 0; i < st->pub.depth; i++) {
        const struct symbol *s = symbolize(sym, st->frames[i], st->modgen);
        /* Functions inlined at the address come first, each a frame of its own, as
         * LeakSanitizer shows them. */
        for (unsigned j = 0; j <= s->ninline; j++) {
            const char *fn, *file;
            int line;
            symbol_frame(s, j, &fn, &file, &line);
            w_fmt(w, "    #%u 0x%lx", k++, (unsigned long)s->addr);
            if (fn)
                w_fmt(w, " in %s", fn);
            if (file && line)
                w_fmt(w, " %s:%d", file, line);
            if (s->has_module)
                w_fmt(w, " (%s+0x%lx)", s->module ? s->module : "?", (unsigned long)s->offset);
            w_str(w, "\n");
        }
    }
}

void frames_json(struct writer *w, struct symbolizer *sym, const struct stack_rec *st)
{
    if (!st) {
        w_str(w, "null");
        return;
    }
    w_str(w, "[");
    bool first = true;
    for (uint32_t i = 0; i < st->pub.depth; i++) {
        const struct symbol *s = symbolize(sym, st->frames[i], st->modgen);
        for (unsigned j = 0; j <= s->ninline; j++) {
            const char *fn, *file;
            int line;
            symbol_frame(s, j, &fn, &file, &line);
            w_fmt(w, "%s{\"address\":\"0x%lx\",\"function\":", first ? "" : ",",
                  (unsigned long)s->addr);
            first = false;
            w_json_str(w, fn);
            w_str(w, ",\"module\":");
            w_json_str(w, s->has_module ? s->module : NULL);
            w_str(w, ",\"build_id\":");
            w_json_str(w, s->has_module ? s->build_id : NULL);
            if (s->has_module)
                w_fmt(w, ",\"offset\":\"0x%lx\"", (unsigned long)s->offset);
            else
                w_str(w, ",\"offset\":null");
            w_str(w, ",\"file\":");
            w_json_str(w, file && line ? file : NULL);
            if (file && line)
                w_fmt(w, ",\"line\":%d", line);
            else
                w_str(w, ",\"line\":null");
            w_str(w, j < s->ninline ? ",\"inlined\":true}" : ",\"inlined\":false}");
        }
    }
    w_str(w, "]");
}
