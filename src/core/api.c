/* The public task-allocator and heap calls (IMalloc, HeapAlloc...).  Entry points like the
 * interposed ones: built with frame pointers so that stacks start in the caller. */
#include <string.h>

#include "base/diag.h"
#include "base/options.h"
#include "base/start.h"
#include "base/tags.h"
#include "base/thread.h"
#include "core/dispatch.h"
#include "core/heaps.h"
#include "output/errors.h"
#include "stacks/stacks.h"

#define FRAME __builtin_frame_address(0)

PUBLIC const char *ms_version(void) { return MALLOCSPY_VERSION; }

PUBLIC int ms_start_tracking(void)
{
    start_wait();
    if (!options.leak_check)
        return MS_E_NOT_REGISTERED;
    core_set_recording(true);
    return MS_OK;
}

PUBLIC int ms_stop_tracking(void)
{
    start_wait();
    if (!options.leak_check)
        return MS_E_NOT_REGISTERED;
    core_set_recording(false);
    return MS_OK;
}

PUBLIC ms_malloc *ms_get_malloc(void)
{
    start_wait();
    return &heap_task;
}

/* A handle that is not a heap: reported, and the call fails as a heap call on a bad
 * handle would.  NULL stands for the task allocator: a call on a NULL allocator must not
 * crash the program, and this is the allocator there is to mean. */
static bool bad_handle(const ms_malloc *m, const char *call, void *fp)
{
    char detail[128];
    diag_format(detail, sizeof detail, "%p is not a heap (destroyed, or never created)",
              (const void *)m);
    struct heap_error e = { .kind = ERR_WRONG_HEAP, .address = (uintptr_t)m, .call = call,
                          .detail = detail };
    start_wait();
    unsigned guard = tls_guard;
    tls_guard = 1;
    if (thread_tls.ts || thread_state())
        e.here = stack_capture(fp);
    tls_guard = guard;
    error_report(&e);
    return false;
}

/* Serializes a heap's calls (unless MS_HEAP_NO_SERIALIZE).  Inside a hook the call goes
 * straight to the real allocator and takes no lock, so a hook may use the heap. */
static inline bool lock_heap(ms_malloc *h)
{
    if (!h || h == &heap_task || (h->flags & MS_HEAP_NO_SERIALIZE) || tls_guard)
        return false;
    spin_lock(&h->lock);
    return true;
}
static inline void unlock_heap(ms_malloc *h, bool locked)
{
    if (locked)
        spin_unlock(&h->lock);
}

#define HEAP_OR(m, call, fail)                                                            \
    int64_t id_ = heap_id_of(m);                                                          \
    if (id_ < 0) {                                                                        \
        bad_handle(m, call, FRAME);                                                       \
        fail;                                                                             \
    }                                                                                     \
    uint32_t heap = (uint32_t)id_;                                                        \
    bool locked_ = lock_heap(m)

PUBLIC void *ms_alloc(ms_malloc *m, size_t size)
{
    HEAP_OR(m, "ms_alloc", { errno = EINVAL; return NULL; });
    void *p = core_heap_alloc(size, ALIGN_MIN, false, MS_CALL_TASK_ALLOC, heap, 0, FRAME);
    unlock_heap(m, locked_);
    return p;
}

PUBLIC void *ms_debug_alloc(ms_malloc *m, size_t size, const char *file, int line)
{
    HEAP_OR(m, "ms_debug_alloc", { errno = EINVAL; return NULL; });
    start_wait();
    unsigned guard = tls_guard;
    tls_guard = 1;
    uint32_t tag = tag_get(file, line);
    tls_guard = guard;
    void *p = core_heap_alloc(size, ALIGN_MIN, false, MS_CALL_TASK_ALLOC, heap, tag, FRAME);
    unlock_heap(m, locked_);
    return p;
}

PUBLIC void *ms_realloc(ms_malloc *m, void *p, size_t size)
{
    HEAP_OR(m, "ms_realloc", { errno = EINVAL; return NULL; });
    void *q = core_heap_realloc(p, size, MS_CALL_TASK_REALLOC, heap, FRAME);
    unlock_heap(m, locked_);
    return q;
}

PUBLIC void ms_free(ms_malloc *m, void *p)
{
    if (!p)
        return;
    HEAP_OR(m, "ms_free", return);
    core_heap_free(p, MS_CALL_TASK_FREE, heap, FRAME);
    unlock_heap(m, locked_);
}

PUBLIC size_t ms_get_size(ms_malloc *m, const void *p)
{
    HEAP_OR(m, "ms_get_size", return (size_t)-1);
    size_t n = core_heap_get_size(p, MS_CALL_GET_SIZE, heap, FRAME);
    unlock_heap(m, locked_);
    return n;
}

PUBLIC int ms_did_alloc(ms_malloc *m, const void *p)
{
    HEAP_OR(m, "ms_did_alloc", return -1);
    int r = core_heap_did_alloc(p, heap, FRAME);
    unlock_heap(m, locked_);
    return r;
}

PUBLIC void ms_heap_minimize(ms_malloc *m)
{
    (void)m;
    core_heap_minimize();
}

PUBLIC const ms_call *ms_spy_call(void) { return core_tls.call; }

PUBLIC const ms_stack *ms_spy_stack(void)
{
    const ms_call *c = core_tls.call;
    if (!c)
        return NULL;
    if (c->stack)
        return c->stack;
    const struct stack_rec *s = core_tls.call_fp ? stack_capture(core_tls.call_fp) : NULL;
    return s ? &s->pub : NULL;
}

/* ---- private heaps --------------------------------------------------------------------- */

PUBLIC ms_malloc *ms_heap_create(const char *name, unsigned flags)
{
    start_wait();
    if (flags & ~(MS_HEAP_NO_SERIALIZE | MS_HEAP_REPORT_LEAKS)) {
        errno = EINVAL;
        return NULL;
    }
    unsigned guard = tls_guard;
    tls_guard = 1;
    ms_malloc *h = heap_create(name, flags);
    tls_guard = guard;
    if (!h)
        errno = ENOMEM;
    return h;
}

PUBLIC void ms_heap_destroy(ms_malloc *m)
{
    if (!m || m == &heap_task)
        return;   /* the task allocator is never destroyed */
    if (heap_id_of(m) <= 0) {
        bad_handle(m, "ms_heap_destroy", FRAME);
        return;
    }
    heap_destroy(m, FRAME);
}

PUBLIC bool ms_heap_validate(ms_malloc *m, const void *p)
{
    int64_t id = heap_id_of(m);
    if (id < 0)
        return false;
    bool locked = lock_heap(m);
    bool ok = heap_validate((uint32_t)id, p);
    unlock_heap(m, locked);
    return ok;
}

PUBLIC int ms_heap_walk(ms_malloc *m, int (*visit)(const ms_block_info *, void *), void *arg)
{
    int64_t id = heap_id_of(m);
    if (id < 0 || !visit)
        return MS_E_INVALIDARG;
    start_wait();
    return heap_walk((uint32_t)id, visit, arg);
}
