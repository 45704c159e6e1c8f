/* Heap errors: reported the moment they are found, in the manner of the leak report, and
 * kept (a bounded number of them) for the JSON report at exit. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "base/diag.h"
#include "base/lock.h"
#include "base/mem.h"
#include "base/options.h"
#include "output/channels.h"
#include "output/errors.h"
#include "output/frames.h"
#include "output/symbolize.h"
#include "output/writer.h"

#define MAX_KEPT 10000          /* errors kept for the JSON; the rest are counted */
#define MAX_TEXT 1000           /* errors written out in full; the rest get one line */

static const char *const kind_name[NERR] = {
    "invalid_free", "double_free", "mismatch", "overflow", "underflow", "use_after_free",
    "wrong_heap",
};

static struct {
    spinlock lock;              /* everything below */
    struct heap_error *kept;
    size_t nkept, cap;
    atomic_uint count;
    struct symbolizer *sym;    /* kept between errors: they tend to come in bursts */
    bool noted;                /* said once why frames have no names */
} er = { .lock = SPIN_INIT };

/* The call that erred says what was attempted: a realloc or a size query of a bad pointer
 * is no free. */
static const char *invalid_what(const char *call)
{
    if (call && strstr(call, "realloc"))
        return "attempting to reallocate a pointer that is not a live block";
    if (call && (strstr(call, "size") || strstr(call, "did_alloc")))
        return "attempting to query the size of a pointer that is not a live block";
    return "attempting to free a pointer that is not a live block";
}

const char *error_title(const struct heap_error *e)
{
    static const char *const what[NERR] = {
        NULL,                  /* worded after the call: see invalid_what() */
        "attempting double-free",
        "mismatched deallocation",
        "heap-buffer-overflow",
        "heap-buffer-underflow",
        "heap-use-after-free",
        "call through the wrong heap",
    };
    return e->kind == ERR_INVALID_FREE ? invalid_what(e->call) : what[e->kind];
}

const char *error_kind_name(enum err_kind k) { return k < NERR ? kind_name[k] : "?"; }

static void write_error(struct writer *w, const struct heap_error *e)
{
    w_str(w, "=================================================================\n");
    w_fmt(w, "==%d==ERROR: mallocspy: %s on 0x%lx", (int)getpid(), error_title(e),
          (unsigned long)e->address);
    if (e->call)
        w_fmt(w, " in %s", e->call);
    w_str(w, "\n");
    if (e->detail)
        w_fmt(w, "%s\n", e->detail);
    if (e->kind == ERR_OVERFLOW || e->kind == ERR_UNDERFLOW || e->kind == ERR_USE_AFTER_FREE)
        w_fmt(w, "%lu byte(s) damaged at offset %ld of the %lu-byte block\n",
              (unsigned long)e->length, e->offset, (unsigned long)e->bytes);
    if (e->here) {
        w_str(w, "  here:\n");
        frames_text(w, er.sym, e->here);
    }
    if (e->free) {
        w_str(w, "  freed by:\n");
        frames_text(w, er.sym, e->free);
    }
    if (e->alloc) {
        w_fmt(w, "  %lu-byte block allocated by:\n", (unsigned long)e->bytes);
        frames_text(w, er.sym, e->alloc);
    }
    w_str(w, "\n");
}

void error_report(const struct heap_error *e)
{
    unsigned guard = tls_guard;
    tls_guard = 1;
    unsigned n = atomic_fetch_add(&er.count, 1);
    spin_lock(&er.lock);
    if (er.nkept < MAX_KEPT) {
        if (arena_reserve(&er.kept, er.nkept, &er.cap, sizeof *er.kept, 64)) {
            er.kept[er.nkept] = *e;
            er.kept[er.nkept].detail = NULL;   /* a caller's buffer: not kept */
            er.nkept++;
        }
    }
    int fd = chan_log_fd();
    if (fd >= 0 && n < MAX_TEXT) {
        if (!er.sym)
            er.sym = symbolizer_new();
        /* Named at once, by the symbolizer process, which stays for the errors to come. */
        if (er.sym) {
            symbolizer_collect(er.sym);
            symbolizer_want_stack(er.sym, e->here);
            symbolizer_want_stack(er.sym, e->free);
            symbolizer_want_stack(er.sym, e->alloc);
            if (!symbolizer_resolve(er.sym) && symbolizer_note(er.sym) && !er.noted) {
                er.noted = true;
                diag_warn("%s", symbolizer_note(er.sym));
            }
        }
        struct writer w;
        if (w_open(&w, fd, NULL)) {
            write_error(&w, e);
            w_close(&w);
        }
    } else if (fd >= 0 && n == MAX_TEXT) {
        diag_warn("more than %u heap errors: the others are counted, not shown", MAX_TEXT);
    }
    spin_unlock(&er.lock);
    tls_guard = guard;
    if (options.halt_on_error) {
        diag_warn("halt_on_error: aborting after the first error");
        abort();
    }
}

unsigned errors_count(void) { return atomic_load(&er.count); }

struct heap_error *errors_copy(size_t *n, size_t *bytes)
{
    spin_lock(&er.lock);
    *n = er.nkept;
    *bytes = er.nkept * sizeof *er.kept;
    struct heap_error *copy = *n ? pages_alloc(*bytes) : NULL;
    if (copy)
        memcpy(copy, er.kept, *bytes);
    else
        *n = 0;
    spin_unlock(&er.lock);
    return copy;
}

void errors_write_json(struct writer *w, struct symbolizer *sym)
{
    spin_lock(&er.lock);
    for (unsigned i = 0; i < er.nkept; i++) {
        const struct heap_error *e = &er.kept[i];
        w_fmt(w, "%s\n{\"kind\":\"%s\",\"address\":\"0x%lx\",\"bytes\":%lu,\"call\":",
              i ? "," : "", kind_name[e->kind], (unsigned long)e->address,
              (unsigned long)e->bytes);
        w_json_str(w, e->call);
        if (e->kind == ERR_OVERFLOW || e->kind == ERR_UNDERFLOW ||
            e->kind == ERR_USE_AFTER_FREE)
            w_fmt(w, ",\"offset\":%ld,\"length\":%lu", e->offset, (unsigned long)e->length);
        if (e->kind == ERR_INVALID_FREE && e->block)
            w_fmt(w, ",\"block\":\"0x%lx\",\"offset\":%lu", (unsigned long)e->block,
                  (unsigned long)(e->address - e->block));
        w_str(w, ",\"stacks\":{\"alloc\":");
        frames_json(w, sym, e->alloc);
        w_str(w, ",\"free\":");
        frames_json(w, sym, e->free);
        w_str(w, ",\"here\":");
        frames_json(w, sym, e->here);
        w_str(w, "}}");
    }
    spin_unlock(&er.lock);
}

void errors_fork_child(void)
{
    spin_reset(&er.lock);
    atomic_store(&er.count, 0);
    er.nkept = 0;
    er.sym = NULL;   /* another thread may have been using it: left behind */
}
