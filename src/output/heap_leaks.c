/* Heaps destroyed with blocks in them (output/heap_leaks.h). */
#include <string.h>
#include <unistd.h>

#include "base/diag.h"
#include "base/lock.h"
#include "base/mem.h"
#include "base/tags.h"
#include "output/channels.h"
#include "output/frames.h"
#include "output/heap_leaks.h"
#include "output/symbolize.h"
#include "output/writer.h"
#include "stacks/stacks.h"

struct heap_leak {
    const char *heap;
    uint32_t stack, tag;
    uint64_t bytes, blocks;
};

static struct {
    spinlock lock;              /* everything below */
    struct heap_leak *l;
    size_t n, cap;
} hl = { .lock = SPIN_INIT };

static void write_text(struct writer *w, struct symbolizer *sym, const char *name,
                       size_t first, uint64_t total, size_t n)
{
    w_fmt(w, "\n==%d==mallocspy: heap '%s' destroyed with %lu byte(s) in %lu block(s) "
             "still allocated\n", (int)getpid(), name, (unsigned long)total,
          (unsigned long)n);
    for (size_t k = first; k < hl.n; k++) {
        w_fmt(w, "\nHeap leak of %lu byte(s) in %lu object(s) allocated",
              (unsigned long)hl.l[k].bytes, (unsigned long)hl.l[k].blocks);
        const char *file;
        int line;
        if (hl.l[k].tag && tag_lookup(hl.l[k].tag, &file, &line))
            w_fmt(w, " at %s:%d", file, line);
        w_str(w, " from:\n");
        frames_text(w, sym, stack_by_id(hl.l[k].stack));
    }
    w_str(w, "\n");
}

void heap_leaks_add(const char *name, const uint32_t *stack, const uint32_t *tag,
                    const size_t *size, size_t n)
{
    spin_lock(&hl.lock);
    size_t first = hl.n;
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k;
        for (k = first; k < hl.n; k++)
            if (hl.l[k].stack == stack[i] && hl.l[k].tag == tag[i])
                break;
        if (k == hl.n) {
            if (!arena_reserve(&hl.l, hl.n, &hl.cap, sizeof *hl.l, 64))
                break;
            hl.l[hl.n++] = (struct heap_leak){ name, stack[i], tag[i], 0, 0 };
        }
        hl.l[k].bytes += size[i];
        hl.l[k].blocks++;
        total += size[i];
    }
    int fd = chan_log_fd();
    struct symbolizer *sym = fd >= 0 ? symbolizer_new() : NULL;
    if (sym) {
        symbolizer_collect(sym);
        for (size_t k = first; k < hl.n; k++)
            symbolizer_want_stack(sym, stack_by_id(hl.l[k].stack));
        if (!symbolizer_resolve(sym) && symbolizer_note(sym))
            diag_warn("%s", symbolizer_note(sym));
    }
    struct writer w;
    if (sym && w_open(&w, fd, NULL)) {
        write_text(&w, sym, name, first, total, n);
        w_close(&w);
    }
    symbolizer_free(sym);
    spin_unlock(&hl.lock);
}

size_t heap_leaks_count(void)
{
    spin_lock(&hl.lock);
    size_t n = hl.n;
    spin_unlock(&hl.lock);
    return n;
}

void heap_leaks_json(struct writer *w, struct symbolizer *sym)
{
    spin_lock(&hl.lock);
    for (size_t k = 0; k < hl.n; k++) {
        w_fmt(w, "%s\n{\"heap\":", k ? "," : "");
        w_json_str(w, hl.l[k].heap);
        w_fmt(w, ",\"bytes\":%lu,\"blocks\":%lu,\"tag\":", (unsigned long)hl.l[k].bytes,
              (unsigned long)hl.l[k].blocks);
        const char *file;
        int line;
        if (hl.l[k].tag && tag_lookup(hl.l[k].tag, &file, &line)) {
            w_str(w, "{\"file\":");
            w_json_str(w, file);
            w_fmt(w, ",\"line\":%d}", line);
        } else {
            w_str(w, "null");
        }
        w_str(w, ",\"stack\":");
        frames_json(w, sym, stack_by_id(hl.l[k].stack));
        w_str(w, "}");
    }
    spin_unlock(&hl.lock);
}

void heap_leaks_fork_child(void) { spin_reset(&hl.lock); }
