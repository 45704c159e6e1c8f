/* The allocator: every interposed entry point and every ms_ call ends here.  Each
 * operation runs the registered spies' pre_ hooks outermost first, calls the real
 * allocator, and runs the post_ hooks innermost first (IMallocSpy, nested). */
#include <string.h>

#include "internal.h"
#include "modules.h"
#include "errors.h"
#include "heap.h"

bool ms_table_complete;

void registry_after_operation(void);
bool registry_has_deferred(void);

/* ---- helpers ----------------------------------------------------------------------- */

static inline void hook_enter(struct spy_slot *sl)
{
    if (unlikely(sl->flags & MS_SPY_SERIALIZED))
        ms_lock_acquire(&sl->serial);
}
static inline void hook_leave(struct spy_slot *sl)
{
    if (unlikely(sl->flags & MS_SPY_SERIALIZED))
        ms_lock_release(&sl->serial);
}

/* Which spies take part in an operation on a block: active ones always, a spy whose
 * revoke is pending only for the blocks it spied. */
static inline bool takes_part(struct spy_slot *sl, bool spied)
{
    int st = atomic_load_explicit(&sl->state, memory_order_relaxed);
    return st == SLOT_ACTIVE || (st == SLOT_PENDING && spied);
}

static inline void end_operation(struct thread_state *ts)
{
    op_end(ts);
    if (unlikely(registry_has_deferred()))
        registry_after_operation();
}

/* A pointer mallocspy never handed out: reported, and the call ignored rather than passed
 * on to corrupt the real heap. */
static void bad_pointer(const char *what, const void *p, void *fp)
{
    struct ms_error e = { .kind = ERR_INVALID_FREE, .address = (uintptr_t)p, .call = what };
    e.here = stack_capture(fp);
    /* An interior pointer: say which block it is inside, and where that came from.  A
     * walk of the whole table, paid only on this error path. */
    struct block b;
    size_t size;
    char detail[160];
    if (blocks_containing((uintptr_t)p, &b, &size)) {
        const struct site *s = site_by_id(b.site);
        e.alloc = s ? s->stack : NULL;
        e.bytes = size;
        e.block = b.addr;
        ms_format(detail, sizeof detail, "the pointer is %zu byte(s) inside a %zu-byte block "
                  "at %p", (size_t)((uintptr_t)p - b.addr), size, (void *)b.addr);
        e.detail = detail;
    }
    error_report(&e);
}

/* A block freed, resized or queried through another heap than the one it belongs to. */
static void wrong_heap(const char *what, const void *p, size_t size, const struct site *site,
                       uint32_t heap, void *fp)
{
    char owner[256], detail[512];
    /* heap_describe() answers in one per-thread buffer: the first answer is copied out. */
    ms_format(owner, sizeof owner, "%s", heap_describe(site ? site->key.heap : 0));
    ms_format(detail, sizeof detail, "the block belongs to %s, the call was made on %s; "
              "it is ignored", owner, heap_describe(heap));
    struct ms_error e = { .kind = ERR_WRONG_HEAP, .address = (uintptr_t)p, .bytes = size,
                          .call = what, .alloc = site ? site->stack : NULL, .detail = detail };
    e.here = stack_capture(fp);
    error_report(&e);
}

static bool insert_block(uintptr_t addr, size_t size, uint32_t site)
{
    if (likely(blocks_insert(addr, size, site)))
        return true;
    /* Out of memory for the table: from now on an unknown pointer may be a good one. */
    if (ms_table_complete) {
        ms_table_complete = false;
        ms_warn("out of memory for the block table; leak reports will be incomplete");
    }
    return false;
}

/* ---- inside mallocspy or a hook: straight to the real allocator --------------------
 * The blocks are recorded as internal so that a later free from outside (a FILE buffer
 * that a hook's printf allocated, freed by the program's fclose) is recognised. */

static inline bool record_internal(void)
{
    return ms_table_complete || registry_chain() != NULL;
}

static void *guarded_alloc(size_t size, size_t align, bool zero)
{
    void *p = real_alloc(size, align, zero);
    if (p && !early_owns(p) && record_internal())
        insert_block((uintptr_t)p, size, SITE_INTERNAL);
    return p;
}

static void guarded_free(void *p)
{
    if (atomic_load_explicit(&ms_blocks_used, memory_order_relaxed)) {
        struct block b;
        size_t sz;
        if (blocks_take((uintptr_t)p, &b, &sz) && b.site != SITE_INTERNAL) {
            /* A program block freed from inside mallocspy or a hook (glibc's dlerror, say,
             * freeing the program's old message while mallocspy calls dlsym): no spy may
             * run here, and if a spy laid the block out (a header) the real block starts
             * elsewhere: it is left alone, a small leak rather than a corrupt heap. */
            const struct site *s = site_by_id(b.site);
            if (s && ms_tls.ts)
                registry_count(ms_tls.ts, s->key.mask, -1);
            if (s && s->key.delta) {
                static atomic_bool warned;
                if (!atomic_exchange(&warned, true))
                    ms_warn("a block laid out by a spy was freed from inside mallocspy; "
                            "it is left allocated");
                return;
            }
        }
    }
    real_free(p);
}

static void *guarded_realloc(void *p, size_t size)
{
    struct block b;
    size_t sz;
    bool found = atomic_load_explicit(&ms_blocks_used, memory_order_relaxed) &&
                 blocks_take((uintptr_t)p, &b, &sz);
    void *q = real_realloc(p, size);
    if (found) {
        if (q)
            insert_block((uintptr_t)q, size, b.site);
        else
            insert_block((uintptr_t)p, sz, b.site);
    } else if (q && !early_owns(q) && record_internal()) {
        insert_block((uintptr_t)q, size, SITE_INTERNAL);
    }
    return q;
}

/* ---- allocation ---------------------------------------------------------------------- */

/* The program asked: `heap` is 0 for the task allocator (malloc), `tag` a debug location
 * (0: none).  With no spy registered, only heap and tagged blocks are recorded: a heap
 * must be able to find its blocks, and a tag must reach the report. */
static void *spied_alloc(struct thread_state *ts, const struct chain *ch, size_t size,
                         size_t align, bool zero, ms_call_kind kind, uint32_t heap,
                         uint32_t tag, void *fp)
{
    int saved = *ts->errno_ptr;
    ms_call call = { .kind = kind, .request = size, .alignment = align,
                     .allocator = heap_handle(heap) };
    const struct stack_rec *stack = ch && ch->want_stacks ? stack_capture(fp) : NULL;
    call.stack = stack ? &stack->pub : NULL;
    ms_tls.call = &call;
    ms_tls.call_fp = fp;

    uint8_t order[MS_MAX_SPIES];
    unsigned n = 0;
    uint32_t called = 0;
    size_t cur = size;
    bool failed = false;
    for (uint32_t i = 0; ch && i < ch->n; i++) {
        unsigned s = ch->slot[i];
        struct spy_slot *sl = &ms_slots[s];
        if (atomic_load_explicit(&sl->state, memory_order_relaxed) != SLOT_ACTIVE)
            continue;
        if (sl->ops->pre_alloc) {
            size_t in = cur;
            hook_enter(sl);
            cur = sl->ops->pre_alloc(sl->spy, in);
            hook_leave(sl);
            /* IMallocSpy: PreAlloc can force the allocation to fail, but not when cb == 0.
             * This spy then gets no PostAlloc; the ones outside it see NULL. */
            if (cur == 0 && in != 0) {
                failed = true;
                break;
            }
        }
        order[n++] = (uint8_t)s;
        called |= 1u << s;
    }
    void *real = failed ? NULL : real_alloc(cur, align, zero);
    void *p = real;
    for (unsigned j = n; j-- > 0;) {
        struct spy_slot *sl = &ms_slots[order[j]];
        if (sl->ops->post_alloc) {
            hook_enter(sl);
            p = sl->ops->post_alloc(sl->spy, p);   /* called with NULL too */
            hook_leave(sl);
        }
    }
    ms_tls.call = NULL;
    if (real && p) {
        struct site_key key = { .stack = stack ? stack->pub.id : 0, .mask = called,
                                .kind = kind, .heap = heap, .tag = tag,
                                .delta = (uint64_t)(cur - size) };
        uint32_t site = stack ? stack_site(ts, &key) : site_get(ts, &key);
        insert_block((uintptr_t)p, size, site);
        if (called)
            registry_count(ts, called, 1);
        *ts->errno_ptr = saved;
    } else if (!p) {
        *ts->errno_ptr = ENOMEM;
    }
    return p;
}

void *ms_core_alloc_in(size_t size, size_t align, bool zero, ms_call_kind kind, uint32_t heap,
                       uint32_t tag, void *fp)
{
    if (align < MS_ALIGN_MIN)
        align = MS_ALIGN_MIN;
    if (unlikely(ms_tls.guard))
        return guarded_alloc(size, align, zero);
    ms_ensure_init();
    struct thread_state *ts = thread_state();
    op_begin(ts);
    const struct chain *ch = registry_chain();
    void *p;
    if (!ch && !heap && !tag)
        p = real_alloc(size, align, zero);
    else
        p = spied_alloc(ts, ch, size, align, zero, kind, heap, tag, fp);
    end_operation(ts);
    return p;
}

/* ---- free ------------------------------------------------------------------------------ */

/* The call as the reports name it ("allocated with %s, released with %s"). */
const char *call_kind_name(ms_call_kind kind)
{
    static const char *const names[] = {
        [MS_CALL_MALLOC] = "malloc", [MS_CALL_CALLOC] = "calloc",
        [MS_CALL_REALLOC] = "realloc", [MS_CALL_MEMALIGN] = "an aligned allocation",
        [MS_CALL_FREE] = "free", [MS_CALL_USABLE_SIZE] = "malloc_usable_size",
        [MS_CALL_TASK_ALLOC] = "ms_alloc", [MS_CALL_TASK_REALLOC] = "ms_realloc",
        [MS_CALL_TASK_FREE] = "ms_free", [MS_CALL_GET_SIZE] = "ms_get_size",
        [MS_CALL_DID_ALLOC] = "ms_did_alloc", [MS_CALL_HEAP_MINIMIZE] = "ms_heap_minimize",
        [MS_CALL_NEW] = "operator new", [MS_CALL_NEW_ARRAY] = "operator new[]",
        [MS_CALL_DELETE] = "operator delete", [MS_CALL_DELETE_ARRAY] = "operator delete[]",
    };
    return (unsigned)kind < sizeof names / sizeof *names && names[kind] ? names[kind] : "malloc";
}

static void spied_free(struct thread_state *ts, const struct chain *ch, void *p,
                       ms_call_kind kind, uint32_t heap, void *fp)
{
    int saved = *ts->errno_ptr;
    struct block b;
    size_t bsize = 0;
    bool found = blocks_take((uintptr_t)p, &b, &bsize);
    if (found && b.site == SITE_INTERNAL) {
        real_free(p);
        *ts->errno_ptr = saved;
        return;
    }
    const struct site *site = found ? site_by_id(b.site) : NULL;
    if (found && site && site->key.heap != heap) {
        insert_block((uintptr_t)p, bsize, b.site);   /* untouched: it stays live */
        wrong_heap(call_kind_name(kind), p, bsize, site, heap, fp);
        *ts->errno_ptr = saved;
        return;
    }
    bool unknown = !found && (ms_table_complete || heap);
    uint32_t mask = site ? site->key.mask : 0;
    const struct stack_rec *bstack = site ? site->stack : NULL;
    ms_call call = { .kind = kind, .alignment = MS_ALIGN_MIN, .block = p, .block_size = bsize,
                     .block_stack = bstack ? &bstack->pub : NULL,
                     .block_kind = site ? (ms_call_kind)site->key.kind : 0,
                     .block_known = found, .allocator = heap_handle(heap) };
    if (ch && ch->want_free_stacks) {
        const struct stack_rec *s = stack_capture(fp);
        call.stack = s ? &s->pub : NULL;
    }
    ms_tls.call = &call;
    ms_tls.call_fp = fp;
    uint8_t order[MS_MAX_SPIES];
    unsigned n = 0;
    void *q = p;
    for (uint32_t i = 0; ch && i < ch->n; i++) {
        unsigned s = ch->slot[i];
        struct spy_slot *sl = &ms_slots[s];
        bool spied = mask & (1u << s);
        if (!takes_part(sl, spied))
            continue;
        if (sl->ops->pre_free) {
            hook_enter(sl);
            q = sl->ops->pre_free(sl->spy, q, spied);
            hook_leave(sl);
        }
        order[n++] = (uint8_t)s;
        if (!q)
            break;   /* taken in charge: the spies inside it have nothing to free */
    }
    /* A spy may return NULL to keep the block (a quarantine), or to take charge of a
     * pointer mallocspy does not know (one it freed already); then nothing is freed.  A
     * pointer no spy claims is reported, and never passed to the real free. */
    if (unknown) {
        if (q)
            bad_pointer(call_kind_name(kind), p, fp);
    } else if (q) {
        real_free(q);
    }
    for (unsigned j = n; j-- > 0;) {
        struct spy_slot *sl = &ms_slots[order[j]];
        if (sl->ops->post_free) {
            hook_enter(sl);
            sl->ops->post_free(sl->spy, (mask & (1u << order[j])) != 0);
            hook_leave(sl);
        }
    }
    ms_tls.call = NULL;
    if (mask)
        registry_count(ts, mask, -1);
    *ts->errno_ptr = saved;
}

void ms_core_free_in(void *p, ms_call_kind kind, uint32_t heap, void *fp)
{
    if (!p)
        return;                       /* free(NULL): no hook */
    if (unlikely(early_owns(p)))
        return;                       /* the static arena is never reused */
    if (unlikely(ms_tls.guard)) {
        int saved = errno;
        guarded_free(p);
        errno = saved;
        return;
    }
    ms_ensure_init();
    struct thread_state *ts = thread_state();
    op_begin(ts);
    const struct chain *ch = registry_chain();
    if (!ch && !heap && !atomic_load_explicit(&ms_blocks_used, memory_order_relaxed)) {
        int saved = errno;
        real_free(p);
        errno = saved;
    } else {
        spied_free(ts, ch, p, kind, heap, fp);
    }
    end_operation(ts);
}

/* ---- realloc ----------------------------------------------------------------------- */

static void *spied_realloc(struct thread_state *ts, const struct chain *ch, void *p,
                           size_t size, ms_call_kind kind, uint32_t heap, void *fp)
{
    int saved = *ts->errno_ptr;
    struct block b;
    size_t bsize = 0;
    /* Taken out now, put back if the call fails: once the real realloc has moved the
     * block another thread may be handed the old address and record it. */
    bool found = blocks_take((uintptr_t)p, &b, &bsize);
    if (found && b.site == SITE_INTERNAL) {
        void *q = real_realloc(p, size);
        insert_block((uintptr_t)(q ? q : p), q ? size : bsize, SITE_INTERNAL);
        if (q)
            *ts->errno_ptr = saved;
        return q;
    }
    const struct site *site = found ? site_by_id(b.site) : NULL;
    if (found && site && site->key.heap != heap) {
        insert_block((uintptr_t)p, bsize, b.site);
        wrong_heap(call_kind_name(kind), p, bsize, site, heap, fp);
        *ts->errno_ptr = saved;
        return NULL;
    }
    if (!found && (ms_table_complete || heap)) {
        bad_pointer(call_kind_name(kind), p, fp);
        *ts->errno_ptr = saved;
        return NULL;
    }
    uint32_t mask = site ? site->key.mask : 0;
    const struct stack_rec *bstack = site ? site->stack : NULL;
    const struct stack_rec *stack = ch && ch->want_stacks ? stack_capture(fp) : NULL;
    ms_call call = { .kind = kind, .request = size, .alignment = MS_ALIGN_MIN, .block = p,
                     .block_size = bsize, .block_stack = bstack ? &bstack->pub : NULL,
                     .block_kind = site ? (ms_call_kind)site->key.kind : 0,
                     .block_known = found, .stack = stack ? &stack->pub : NULL,
                     .allocator = heap_handle(heap) };
    ms_tls.call = &call;
    ms_tls.call_fp = fp;
    uint8_t order[MS_MAX_SPIES];
    unsigned n = 0;
    uint32_t called = 0;
    void *req = p;
    size_t cur = size;
    bool failed = false;
    for (uint32_t i = 0; ch && i < ch->n; i++) {
        unsigned s = ch->slot[i];
        struct spy_slot *sl = &ms_slots[s];
        bool spied = mask & (1u << s);
        if (!takes_part(sl, spied))
            continue;
        if (sl->ops->pre_realloc) {
            void *nreq = req;
            size_t in = cur;
            hook_enter(sl);
            cur = sl->ops->pre_realloc(sl->spy, req, in, &nreq, spied);
            hook_leave(sl);
            req = nreq;
            if (cur == 0 && in != 0) {
                failed = true;
                break;
            }
        }
        order[n++] = (uint8_t)s;
        called |= 1u << s;
    }
    void *real = failed ? NULL : real_realloc(req, cur);
    void *q = real;
    for (unsigned j = n; j-- > 0;) {
        struct spy_slot *sl = &ms_slots[order[j]];
        if (sl->ops->post_realloc) {
            hook_enter(sl);
            q = sl->ops->post_realloc(sl->spy, q, (mask & (1u << order[j])) != 0);
            hook_leave(sl);
        }
    }
    ms_tls.call = NULL;
    if (!real || !q) {
        /* IMalloc::Realloc: on failure the old block is intact, and still spied as it
         * was. */
        if (found)
            insert_block((uintptr_t)p, bsize, b.site);
        *ts->errno_ptr = ENOMEM;
        return q;
    }
    if (found || ch || heap) {
        /* Every spy that took part now counts the block as spied (PostRealloc); the block
         * keeps its heap and its debug tag. */
        struct site_key key = { .stack = stack ? stack->pub.id : 0, .mask = called,
                                .kind = kind, .heap = heap, .tag = site ? site->key.tag : 0,
                                .delta = (uint64_t)(cur - size) };
        insert_block((uintptr_t)q, size, stack ? stack_site(ts, &key) : site_get(ts, &key));
    }
    if (called & ~mask)
        registry_count(ts, called & ~mask, 1);
    if (mask & ~called)
        registry_count(ts, mask & ~called, -1);
    *ts->errno_ptr = saved;
    return q;
}

void *ms_core_realloc_in(void *p, size_t size, ms_call_kind kind, uint32_t heap, void *fp)
{
    if (!p)
        return ms_core_alloc_in(size, MS_ALIGN_MIN, false, kind, heap, 0, fp);
    if (size == 0) {
        /* realloc(p, 0) frees and returns NULL, as glibc and IMalloc::Realloc do. */
        ms_core_free_in(p, kind, heap, fp);
        return NULL;
    }
    if (unlikely(early_owns(p))) {
        void *q = ms_core_alloc_in(size, MS_ALIGN_MIN, false, kind, heap, 0, fp);
        if (q) {
            size_t old = early_size(p);
            memcpy(q, p, old < size ? old : size);
        }
        return q;
    }
    if (unlikely(ms_tls.guard))
        return guarded_realloc(p, size);
    ms_ensure_init();
    struct thread_state *ts = thread_state();
    op_begin(ts);
    const struct chain *ch = registry_chain();
    void *q;
    if (!ch && !heap && !atomic_load_explicit(&ms_blocks_used, memory_order_relaxed))
        q = real_realloc(p, size);
    else
        q = spied_realloc(ts, ch, p, size, kind, heap, fp);
    end_operation(ts);
    return q;
}

/* ---- queries ------------------------------------------------------------------------- */

size_t ms_core_get_size_in(const void *p, ms_call_kind kind, uint32_t heap, void *fp)
{
    size_t none = kind == MS_CALL_USABLE_SIZE ? 0 : (size_t)-1;
    if (!p)
        return none;                  /* no hook for NULL */
    if (unlikely(early_owns(p)))
        return heap ? none : early_size(p);
    struct block b;
    size_t bsize;
    if (unlikely(ms_tls.guard)) {
        if (atomic_load_explicit(&ms_blocks_used, memory_order_relaxed) &&
            blocks_find((uintptr_t)p, &b, &bsize) && b.site != SITE_INTERNAL)
            return bsize;
        return real_usable_size((void *)p);
    }
    ms_ensure_init();
    struct thread_state *ts = thread_state();
    op_begin(ts);
    int saved = errno;
    const struct chain *ch = registry_chain();
    bool found = (ch || heap || atomic_load_explicit(&ms_blocks_used, memory_order_relaxed)) &&
                 blocks_find((uintptr_t)p, &b, &bsize);
    const struct site *site = found ? site_by_id(b.site) : NULL;
    size_t result;
    if (found && b.site == SITE_INTERNAL) {
        result = heap ? none : real_usable_size((void *)p);
    } else if (found && site && site->key.heap != heap) {
        result = none;                /* HeapSize on another heap's block: failure */
    } else if (!found && (ms_table_complete || heap)) {
        if (!heap)
            bad_pointer(call_kind_name(kind), p, fp);
        result = none;
    } else if (!ch) {
        result = found ? bsize : real_usable_size((void *)p);
    } else {
        uint32_t mask = site ? site->key.mask : 0;
        const struct stack_rec *bstack = site ? site->stack : NULL;
        ms_call call = { .kind = kind, .alignment = MS_ALIGN_MIN, .block = p,
                         .block_size = found ? bsize : 0,
                         .block_stack = bstack ? &bstack->pub : NULL,
                         .block_kind = site ? (ms_call_kind)site->key.kind : 0,
                         .block_known = found, .allocator = heap_handle(heap) };
        ms_tls.call = &call;
        ms_tls.call_fp = fp;
        uint8_t order[MS_MAX_SPIES];
        unsigned n = 0;
        void *q = (void *)p;
        for (uint32_t i = 0; i < ch->n; i++) {
            unsigned s = ch->slot[i];
            struct spy_slot *sl = &ms_slots[s];
            bool spied = mask & (1u << s);
            if (!takes_part(sl, spied))
                continue;
            if (sl->ops->pre_get_size) {
                hook_enter(sl);
                q = sl->ops->pre_get_size(sl->spy, q, spied);
                hook_leave(sl);
            }
            order[n++] = (uint8_t)s;
        }
        /* The real size: what was asked of the real allocator, not its rounded-up usable
         * size, so a spy that strips its header and trailer gives back the request.  A
         * block the table does not know is measured where the hooks said it starts. */
        size_t actual = found ? bsize + (size_t)(site ? site->key.delta : 0)
                              : real_usable_size(q);
        for (unsigned j = n; j-- > 0;) {
            struct spy_slot *sl = &ms_slots[order[j]];
            if (sl->ops->post_get_size) {
                hook_enter(sl);
                actual = sl->ops->post_get_size(sl->spy, actual, (mask & (1u << order[j])) != 0);
                hook_leave(sl);
            }
        }
        ms_tls.call = NULL;
        result = actual;
    }
    errno = saved;
    end_operation(ts);
    return result;
}

int ms_core_did_alloc_in(const void *p, uint32_t heap, void *fp)
{
    (void)fp;
    if (!p)
        return -1;                    /* IMalloc::DidAlloc(NULL): -1, no hook */
    if (unlikely(early_owns(p)))
        return heap ? 0 : 1;
    struct block b;
    size_t bsize;
    if (unlikely(ms_tls.guard)) {
        if (atomic_load_explicit(&ms_blocks_used, memory_order_relaxed) &&
            blocks_find((uintptr_t)p, &b, &bsize)) {
            const struct site *site = site_by_id(b.site);
            return !site || site->key.heap == heap;
        }
        return (ms_table_complete || heap || (uintptr_t)p % sizeof(void *)) ? 0 : -1;
    }
    ms_ensure_init();
    struct thread_state *ts = thread_state();
    op_begin(ts);
    int saved = errno;
    const struct chain *ch = registry_chain();
    bool found = (ch || heap || atomic_load_explicit(&ms_blocks_used, memory_order_relaxed)) &&
                 blocks_find((uintptr_t)p, &b, &bsize);
    const struct site *site = found ? site_by_id(b.site) : NULL;
    /* Every block starts at least 8-byte aligned, so a pointer that is not cannot be one
     * (COM's DidAlloc(p + 4) answers 0), whatever the table knows.  A heap knows all its
     * blocks. */
    int answer = found ? (!site || site->key.heap == heap)
               : (ms_table_complete || heap || (uintptr_t)p % sizeof(void *)) ? 0 : -1;
    if (ch && !(found && b.site == SITE_INTERNAL)) {
        uint32_t mask = site ? site->key.mask : 0;
        const struct stack_rec *bstack = site ? site->stack : NULL;
        ms_call call = { .kind = MS_CALL_DID_ALLOC, .alignment = MS_ALIGN_MIN, .block = p,
                         .block_size = found ? bsize : 0,
                         .block_stack = bstack ? &bstack->pub : NULL,
                         .block_kind = site ? (ms_call_kind)site->key.kind : 0,
                         .block_known = found, .allocator = heap_handle(heap) };
        ms_tls.call = &call;
        ms_tls.call_fp = fp;
        uint8_t order[MS_MAX_SPIES];
        unsigned n = 0;
        void *q = (void *)p;
        for (uint32_t i = 0; i < ch->n; i++) {
            unsigned s = ch->slot[i];
            struct spy_slot *sl = &ms_slots[s];
            bool spied = mask & (1u << s);
            if (!takes_part(sl, spied))
                continue;
            if (sl->ops->pre_did_alloc) {
                hook_enter(sl);
                q = sl->ops->pre_did_alloc(sl->spy, q, spied);
                hook_leave(sl);
            }
            order[n++] = (uint8_t)s;
        }
        for (unsigned j = n; j-- > 0;) {
            struct spy_slot *sl = &ms_slots[order[j]];
            if (sl->ops->post_did_alloc) {
                hook_enter(sl);
                answer = sl->ops->post_did_alloc(sl->spy, (void *)p,
                                                 (mask & (1u << order[j])) != 0, answer);
                hook_leave(sl);
            }
        }
        ms_tls.call = NULL;
    }
    errno = saved;
    end_operation(ts);
    return answer;
}

void ms_core_heap_minimize(void)
{
    if (unlikely(ms_tls.guard)) {
        if (ms_real.malloc_trim)
            ms_real.malloc_trim(0);
        return;
    }
    ms_ensure_init();
    struct thread_state *ts = thread_state();
    op_begin(ts);
    int saved = errno;
    const struct chain *ch = registry_chain();
    ms_call call = { .kind = MS_CALL_HEAP_MINIMIZE, .alignment = MS_ALIGN_MIN };
    ms_tls.call = &call;
    ms_tls.call_fp = NULL;
    uint8_t order[MS_MAX_SPIES];
    unsigned n = 0;
    for (uint32_t i = 0; ch && i < ch->n; i++) {
        struct spy_slot *sl = &ms_slots[ch->slot[i]];
        if (atomic_load_explicit(&sl->state, memory_order_relaxed) != SLOT_ACTIVE)
            continue;
        if (sl->ops->pre_heap_minimize) {
            hook_enter(sl);
            sl->ops->pre_heap_minimize(sl->spy);
            hook_leave(sl);
        }
        order[n++] = ch->slot[i];
    }
    if (ms_real.malloc_trim)
        ms_real.malloc_trim(0);
    for (unsigned j = n; j-- > 0;) {
        struct spy_slot *sl = &ms_slots[order[j]];
        if (sl->ops->post_heap_minimize) {
            hook_enter(sl);
            sl->ops->post_heap_minimize(sl->spy);
            hook_leave(sl);
        }
    }
    ms_tls.call = NULL;
    errno = saved;
    end_operation(ts);
}
