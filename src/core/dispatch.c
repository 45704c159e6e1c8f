/* The spy dispatcher: every interposed entry point and every ms_ call ends here.  Each
 * operation runs the registered spies' pre_ hooks outermost first, calls the real
 * allocator, and runs the post_ hooks innermost first (IMallocSpy, nested); one walker
 * (chain_pre, chain_post) does it for all six operations.  The blocks handed out carry
 * their record in a header (blocks.h). */
#include <math.h>
#include <string.h>
#include <time.h>

#include "base/diag.h"
#include "base/options.h"
#include "base/start.h"
#include "base/thread.h"
#include "core/blocks.h"
#include "core/dispatch.h"
#include "core/heaps.h"
#include "core/real.h"
#include "core/registry.h"
#include "core/sites.h"
#include "output/errors.h"
#include "stacks/stacks.h"

bool core_complete;
atomic_bool core_rec = true;

void core_set_recording(bool on) { atomic_store(&core_rec, on); }
TLS_IE struct core_tls core_tls;

void core_set_table_complete(bool complete) { core_complete = complete; }

static const struct core_fast_counter *fast_counter;
void core_set_fast_counter(const struct core_fast_counter *c) { fast_counter = c; }

/* ---- the walker --------------------------------------------------------------------------- */

enum op { OP_ALLOC, OP_FREE, OP_REALLOC, OP_GET_SIZE, OP_DID_ALLOC, OP_MINIMIZE };

/* One operation as it goes through the chain: the values each hook hands the next. */
struct walk {
    enum op op;
    uint32_t mask;             /* spies that saw the block (its `spied`) */
    size_t size;               /* alloc, realloc: the size asked of the next; get_size */
    void *ptr;                 /* the pointer handed on */
    void *new_req;             /* realloc: the real block to reallocate */
    const void *query;         /* did_alloc: the caller's pointer */
    int answer;                /* did_alloc */
    bool failed;               /* a pre_alloc or pre_realloc failed the call */
    bool taken;                /* a pre_free took the block in charge (NULL) */
    uint8_t order[MS_MAX_SPIES]; /* spies whose pre_ hook ran, outermost first */
    unsigned n;
    uint32_t called;
};

static inline void hook_enter(struct spy_slot *sl)
{
    if (unlikely(sl->flags & MS_SPY_SERIALIZED))
        spin_lock(&sl->serial);
}
static inline void hook_leave(struct spy_slot *sl)
{
    if (unlikely(sl->flags & MS_SPY_SERIALIZED))
        spin_unlock(&sl->serial);
}

/* Who takes part: new allocations and heap minimizing see the active spies only; calls on
 * a block also the spies whose revoke is pending, for the blocks they spied. */
static inline bool takes_part(enum op op, const struct spy_slot *sl, bool spied)
{
    int st = atomic_load_explicit(&sl->state, memory_order_relaxed);
    if (op == OP_ALLOC || op == OP_MINIMIZE)
        return st == SLOT_ACTIVE;
    return st == SLOT_ACTIVE || (st == SLOT_PENDING && spied);
}

static void chain_pre(const struct chain *ch, struct walk *w)
{
    w->n = 0;
    w->called = 0;
    for (uint32_t i = 0; ch && i < ch->n; i++) {
        unsigned s = ch->slot[i];
        struct spy_slot *sl = &registry.slots[s];
        bool spied = w->mask & (1u << s);
        if (!takes_part(w->op, sl, spied))
            continue;
        const ms_spy_ops *ops = sl->ops;
        hook_enter(sl);
        switch (w->op) {
        case OP_ALLOC:
            if (ops->pre_alloc) {
                size_t in = w->size;
                w->size = ops->pre_alloc(sl->spy, in);
                /* IMallocSpy: PreAlloc can force the allocation to fail, but not when
                 * cb == 0.  This spy then gets no PostAlloc; the ones outside it see NULL. */
                w->failed = w->size == 0 && in != 0;
            }
            break;
        case OP_FREE:
            if (ops->pre_free)
                w->ptr = ops->pre_free(sl->spy, w->ptr, spied);
            w->taken = !w->ptr;
            break;
        case OP_REALLOC:
            if (ops->pre_realloc) {
                void *next = w->new_req;
                size_t in = w->size;
                w->size = ops->pre_realloc(sl->spy, w->new_req, in, &next, spied);
                w->new_req = next;
                w->failed = w->size == 0 && in != 0;
            }
            break;
        case OP_GET_SIZE:
            if (ops->pre_get_size)
                w->ptr = ops->pre_get_size(sl->spy, w->ptr, spied);
            break;
        case OP_DID_ALLOC:
            if (ops->pre_did_alloc)
                w->ptr = ops->pre_did_alloc(sl->spy, w->ptr, spied);
            break;
        case OP_MINIMIZE:
            if (ops->pre_heap_minimize)
                ops->pre_heap_minimize(sl->spy);
            break;
        }
        hook_leave(sl);
        if (w->failed)
            break;             /* the spy that failed the call gets no post_ hook */
        w->order[w->n++] = (uint8_t)s;
        w->called |= 1u << s;
        if (w->taken)
            break;             /* taken in charge: the spies inside have nothing to free */
    }
}

static void chain_post(struct walk *w)
{
    for (unsigned j = w->n; j-- > 0;) {
        unsigned s = w->order[j];
        struct spy_slot *sl = &registry.slots[s];
        const ms_spy_ops *ops = sl->ops;
        bool spied = w->mask & (1u << s);
        hook_enter(sl);
        switch (w->op) {
        case OP_ALLOC:
            if (ops->post_alloc)
                w->ptr = ops->post_alloc(sl->spy, w->ptr);   /* called with NULL too */
            break;
        case OP_FREE:
            if (ops->post_free)
                ops->post_free(sl->spy, spied);
            break;
        case OP_REALLOC:
            if (ops->post_realloc)
                w->ptr = ops->post_realloc(sl->spy, w->ptr, spied);
            break;
        case OP_GET_SIZE:
            if (ops->post_get_size)
                w->size = ops->post_get_size(sl->spy, w->size, spied);
            break;
        case OP_DID_ALLOC:
            if (ops->post_did_alloc)
                w->answer = ops->post_did_alloc(sl->spy, (void *)w->query, spied, w->answer);
            break;
        case OP_MINIMIZE:
            if (ops->post_heap_minimize)
                ops->post_heap_minimize(sl->spy);
            break;
        }
        hook_leave(sl);
    }
}

/* The call the hooks are running for, and its program frame (ms_spy_call, ms_spy_stack). */
static inline void call_begin(ms_call *call, void *fp)
{
    core_tls.call = call;
    core_tls.call_fp = fp;
}
static inline void call_end(void) { core_tls.call = NULL; }

/* A call on a block fills in what mallocspy knows of it. */
static void describe_block(ms_call *call, const void *p, bool found, const struct block *b,
                           const struct site *site)
{
    call->block = p;
    call->block_known = found;
    call->block_size = found ? (size_t)b->size : 0;
    call->block_kind = site ? (ms_call_kind)site->key.kind : 0;
    call->block_stack = site && site->stack ? &site->stack->pub : NULL;
}

/* ---- helpers -------------------------------------------------------------------------- */

static inline void end_operation(struct thread_state *ts)
{
    op_end(ts);
    if (unlikely(registry_deferred))
        registry_after_operation();
}

/* A pointer mallocspy never handed out: reported, and the call ignored rather than passed
 * on to corrupt the real heap. */
static void bad_pointer(const char *what, const void *p, void *fp)
{
    struct heap_error e = { .kind = ERR_INVALID_FREE, .address = (uintptr_t)p, .call = what };
    e.here = stack_capture(fp);
    /* An interior pointer: say which block it is inside, and where that came from. */
    struct block b;
    char detail[160];
    if (blocks_containing((uintptr_t)p, &b) && b.site > SITE_HELD) {
        const struct site *s = site_by_id(b.site);
        e.alloc = s ? s->stack : NULL;
        e.bytes = (size_t)b.size;
        e.block = b.addr;
        diag_format(detail, sizeof detail, "the pointer is %zu byte(s) inside a %zu-byte block "
                  "at %p", (size_t)((uintptr_t)p - b.addr), (size_t)b.size, (void *)b.addr);
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
    diag_format(owner, sizeof owner, "%s", heap_describe(site ? site->key.heap : 0));
    diag_format(detail, sizeof detail, "the block belongs to %s, the call was made on %s; "
              "it is ignored", owner, heap_describe(heap));
    struct heap_error e = { .kind = ERR_WRONG_HEAP, .address = (uintptr_t)p, .bytes = size,
                          .call = what, .alloc = site ? site->stack : NULL, .detail = detail };
    e.here = stack_capture(fp);
    error_report(&e);
}

static void map_full(void)
{
    /* Out of memory for the map: from now on an unknown pointer may be a good one. */
    if (core_complete) {
        core_complete = false;
        diag_warn("out of memory for the block map; leak reports will be incomplete");
    }
}

/* A block laid out for `cur` bytes of spies' region, with a header in front unless it is
 * an aligned block (blocks.h), the spies expected to move the pointer by `shift`.  NULL
 * (errno set) when the real allocator has no memory. */
static void *headed_alloc(size_t cur, size_t align, size_t shift, bool zero, bool headed,
                          uintptr_t *actual)
{
    size_t off = block_extra(align, shift, headed);
    if (cur > SIZE_MAX - off) {
        errno = ENOMEM;
        return NULL;
    }
    void *real = real_alloc(cur + off, align, zero);
    *actual = real ? (uintptr_t)real + off : 0;
    return real;
}

/* The spies' total shift (pActual to the program's pointer), modulo the alignment, is
 * learned per chain and alignment: pActual is placed so that the shift lands the pointer on
 * the alignment the program asked for.  Until a call has shown otherwise, pActual itself
 * is aligned (mallocspy's own spies move by multiples of the alignment, as mallocspy.h
 * asks); a COM spy, which knows nothing of alignment, is learned from its first call. */
static inline unsigned align_class(size_t align)
{
    unsigned c = (unsigned)__builtin_ctzl(align) - 4;
    return c < CHAIN_ALIGNS ? c : CHAIN_ALIGNS - 1;
}

static size_t shift_guess(const struct chain *ch, size_t align)
{
    return ch ? (size_t)__atomic_load_n(&((struct chain *)ch)->shift[align_class(align)],
                                        __ATOMIC_RELAXED)
              : 0;
}

static void shift_learn(const struct chain *ch, size_t align, size_t shift)
{
    if (ch)
        __atomic_store_n(&((struct chain *)ch)->shift[align_class(align)],
                         (int32_t)(shift & (align - 1)), __ATOMIC_RELAXED);
}

/* The block the program's pointer p starts, if p is one: not one a spy holds after the
 * program freed it (a second free of it is a double free, for the spy to tell). */
static inline bool program_block(const void *p, struct block *b)
{
    return blocks_used && blocks_find((uintptr_t)p, b) && b->site != SITE_HELD;
}

/* ---- inside mallocspy or a hook: straight to the real allocator --------------------
 * Blocks are still headed (as internal) while blocks are tracked, so that a later free
 * from outside (a FILE buffer a hook's printf allocated, freed by the program's fclose) is
 * recognised.  Nothing here takes a lock: a signal handler may come here while its thread
 * is inside mallocspy. */

static inline bool record_internal(void)
{
    return core_complete || registry_chain() != NULL;
}

static void *guarded_alloc(size_t size, size_t align, bool zero)
{
    if (!real_fns.malloc || !record_internal())
        return real_alloc(size, align, zero);
    uintptr_t actual;
    bool side = blocks_side_for(align);
    void *real = headed_alloc(size, align, 0, zero, !side, &actual);
    if (!real)
        return NULL;
    struct block b = { actual, actual, (uintptr_t)real, size, SITE_INTERNAL, side };
    if (!(side ? blocks_publish_side(&b) : blocks_publish(&b))) {
        map_full();
        real_free(real);
        return real_alloc(size, align, zero);
    }
    return (void *)actual;
}

/* The block a free is walking the spies with, on each thread (its part of the thread
 * state).  A spy that takes a block in charge (a quarantine) may free its pActual before
 * the core has marked the block held: from a hook of the same free, or from another
 * thread's free once the block has left the spy's hands.  Until the mark has moved, such
 * a free finds the block here, not in the map: it leaves the block to the thread walking
 * it, which frees it once it is done with it. */
enum { FL_IDLE = 0, FL_ACTIVE, FL_RELEASED };
struct inflight {
    atomic_int state;
    uintptr_t actual;
    uint64_t rng;              /* sampling: the thread's own generator */
};
static size_t inflight_part;

size_t core_sample_bytes;

static inline struct inflight *inflight_of(struct thread_state *ts)
{
    return inflight_part ? thread_part(ts, inflight_part) : NULL;
}

void core_init(void)
{
    inflight_part = thread_part_register(sizeof(struct inflight), NULL, NULL);
    core_sample_bytes = options.leak_check ? options.sample_bytes : 0;
}

uint64_t core_sample_weight_bytes(uint64_t size)
{
    if (!core_sample_bytes || !size)
        return size;
    double x = (double)size / (double)core_sample_bytes;
    return (uint64_t)((double)size / -expm1(-x) + 0.5);
}

double core_sample_weight_count(uint64_t size)
{
    if (!core_sample_bytes)
        return 1.0;
    double x = (double)(size ? size : 1) / (double)core_sample_bytes;
    return 1.0 / -expm1(-x);
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Bytes to the next sample: exponential, of mean sample_bytes. */
static int64_t sample_interval(struct inflight *c, struct thread_state *ts)
{
    if (!c->rng) {
        uint64_t seed = options.sample_seed;
        if (!seed) {
            struct timespec t;
            clock_gettime(CLOCK_MONOTONIC, &t);
            seed = (uint64_t)t.tv_nsec ^ ((uint64_t)t.tv_sec << 32);
        }
        c->rng = seed ^ ((uint64_t)ts->tid * 0xD6E8FEB86659FD93ULL) ^ 1;
    }
    double u = (double)((splitmix(&c->rng) >> 11) + 1) / 9007199254740993.0;   /* (0, 1] */
    double v = -log(u) * (double)core_sample_bytes;
    return v > 4e18 ? (int64_t)4e18 : (int64_t)v + 1;
}

/* Whether this allocation of `size` bytes is one the sampler records. */
static inline bool sampled(struct thread_state *ts, size_t size)
{
    struct inflight *c = inflight_of(ts);
    if (unlikely(!c))
        return true;
    int64_t *left = &core_tls.sample_left;    /* core_entry.h counts down there too */
    if (unlikely(!*left))
        *left = sample_interval(c, ts);
    *left -= (int64_t)size;
    if (likely(*left > 0))
        return false;
    /* One sample, however many intervals the allocation spans (its weight says so). */
    do
        *left += sample_interval(c, ts);
    while (*left <= 0);
    return true;
}


/* p is the pActual of a block some thread is walking: it is left to that thread. */
static bool release_inflight(uintptr_t p)
{
    for (struct thread_state *ts = threads_head(); ts; ts = ts->next) {
        struct inflight *fl = inflight_of(ts);
        if (!fl || atomic_load_explicit(&fl->state, memory_order_acquire) != FL_ACTIVE ||
            fl->actual != p)
            continue;
        int expect = FL_ACTIVE;
        if (atomic_compare_exchange_strong(&fl->state, &expect, FL_RELEASED) &&
            fl->actual == p)
            return true;
    }
    return false;
}

static void guarded_free(void *p)
{
    struct block b;
    bool found = blocks_used && blocks_find((uintptr_t)p, &b);
    /* Not a block the map holds as internal or held: it may be one being walked. */
    if ((!found || b.site > SITE_HELD) && release_inflight((uintptr_t)p))
        return;
    if (found) {
        if (b.site != SITE_INTERNAL && b.site != SITE_HELD) {
            /* A program block freed from inside mallocspy or a hook (glibc's dlerror, say,
             * freeing the program's old message while mallocspy calls dlsym): no spy may
             * run here, and if a spy laid the block out it may still know its header:
             * the block is left allocated, a small leak rather than a spy misled. */
            const struct site *s = site_by_id(b.site);
            if (s && thread_tls.ts)
                registry_count(thread_tls.ts, s->key.mask, -1);
            blocks_unpublish(b.addr);
            if (s && s->key.delta) {
                static atomic_bool warned;
                if (!atomic_exchange(&warned, true))
                    diag_warn("a block laid out by a spy was freed from inside mallocspy; "
                            "it is left allocated");
                return;
            }
        } else {
            blocks_unpublish(b.addr);
        }
        real_free((void *)b.real);
        return;
    }
    real_free(p);
}

/* Resizes a headed block without spies: the header and everything before the program's
 * pointer move with it. */
static void *relocate(struct block *b, size_t size, uint32_t site)
{
    size_t before = b->addr - b->real;
    if (size > SIZE_MAX - before)
        return NULL;
    blocks_unpublish(b->addr);
    void *nr = real_realloc((void *)b->real, before + size);
    if (!nr) {
        b->headless ? blocks_publish_side(b) : blocks_publish(b);
        return NULL;
    }
    struct block n = { (uintptr_t)nr + before, (uintptr_t)nr + (b->actual - b->real),
                       (uintptr_t)nr, size, site, b->headless };
    if (!(n.headless ? blocks_publish_side(&n) : blocks_publish(&n)))
        map_full();
    return (void *)n.addr;
}

static void *guarded_realloc(void *p, size_t size)
{
    struct block b;
    if (blocks_used && blocks_find((uintptr_t)p, &b))
        return relocate(&b, size, b.site);
    void *q = real_realloc(p, size);
    return q;
}

/* ---- allocation ---------------------------------------------------------------------- */

static void spied_free(struct thread_state *ts, const struct chain *ch, void *p,
                       ms_call_kind kind, uint32_t heap, void *fp);

static ms_call_kind release_kind(ms_call_kind k)
{
    return k == MS_CALL_NEW ? MS_CALL_DELETE : k == MS_CALL_NEW_ARRAY ? MS_CALL_DELETE_ARRAY
         : k == MS_CALL_TASK_ALLOC ? MS_CALL_TASK_FREE : MS_CALL_FREE;
}

/* A block the spies saw allocated that the program will not get (it came out off the
 * alignment, or the map had no room for it): the spies see it freed, as the matching
 * release would free it, and it goes back to the real allocator. */
static void give_back(const struct chain *ch, const ms_call *alloc, void *fp, void *p,
                      size_t size, void *real, uint32_t called)
{
    ms_call call = { .kind = release_kind(alloc->kind), .alignment = ALIGN_MIN,
                     .block = p, .block_size = size, .block_kind = alloc->kind,
                     .block_known = true, .block_stack = alloc->stack,
                     .allocator = alloc->allocator };
    call_begin(&call, fp);
    struct walk f = { .op = OP_FREE, .mask = called, .ptr = p };
    chain_pre(ch, &f);
    chain_post(&f);
    call_end();
    if (!f.taken)
        real_free(real);
}

/* The program asked: `heap` is 0 for the task allocator (malloc), `tag` a debug location
 * (0: none). */
static void *spied_alloc(struct thread_state *ts, const struct chain *ch, size_t size,
                         size_t align, bool zero, ms_call_kind kind, uint32_t heap,
                         uint32_t tag, void *fp)
{
    int saved = *ts->errno_ptr;
    ms_call call = { .kind = kind, .request = size, .alignment = align,
                     .allocator = heap_handle(heap) };
    const struct stack_rec *stack = ch && ch->want_stacks ? stack_capture(fp) : NULL;
    call.stack = stack ? &stack->pub : NULL;
    for (int attempt = 0;; attempt++) {
        call_begin(&call, fp);
        struct walk w = { .op = OP_ALLOC, .size = size };
        chain_pre(ch, &w);
        size_t cur = w.size, shift = shift_guess(ch, align);
        bool side = blocks_side_for(align);
        uintptr_t actual = 0;
        void *real = w.failed ? NULL : headed_alloc(cur, align, shift, zero, !side, &actual);
        w.ptr = (void *)actual;
        chain_post(&w);
        call_end();
        void *p = w.ptr;
        if (!real || !p) {
            if (real)
                real_free(real);   /* a post_alloc refused the block: the call failed */
            *ts->errno_ptr = ENOMEM;
            return NULL;
        }
        shift_learn(ch, align, (uintptr_t)p - actual);
        struct site_key key = { .stack = stack ? stack->pub.id : 0, .mask = w.called,
                                .kind = kind, .heap = heap, .tag = tag,
                                .delta = (uint64_t)(cur - size) };
        uint32_t site = stack ? site_for_stack(ts, &key) : site_get(ts, &key);
        struct block b = { (uintptr_t)p, actual, (uintptr_t)real, size, site, side };
        if (!(side ? blocks_publish_side(&b) : blocks_publish(&b))) {
            map_full();
            give_back(ch, &call, fp, p, size, real, w.called);
            void *q = real_alloc(size, align, zero);
            *ts->errno_ptr = q ? saved : ENOMEM;
            return q;
        }
        if (w.called)
            registry_count(ts, w.called, 1);
        if ((uintptr_t)p % align == 0) {
            *ts->errno_ptr = saved;
            return p;
        }
        /* The spies moved the pointer off the alignment the program asked for (their
         * shift was not what the chain had shown so far): the block goes back through the
         * spies as the matching release would free it, and the allocation is made again
         * where the shift, now learned, lands right. */
        spied_free(ts, ch, p, release_kind(kind), heap, fp);
        if (attempt)
            break;
    }
    static atomic_bool warned;
    if (!atomic_exchange(&warned, true))
        diag_warn("a spy moves pointers by amounts that change from call to call: an "
                "allocation aligned to %zu bytes could not be made, and fails", align);
    *ts->errno_ptr = ENOMEM;
    return NULL;
}

/* ---- the fast path ----------------------------------------------------------------------
 * When the chain holds only mallocspy's own fast spies (the leak tracker, the mismatch
 * detector: the default configuration), the dispatcher does their work itself: no call
 * record, no walk, no indirect call but the tracker's counter.  Everything else (a block
 * of another heap, a mismatch to report, a pointer the map does not know, a block laid
 * out otherwise) goes the general way, which gives the same results (fast_path=0 runs the
 * test suites that way). */

static inline const ms_stack *pub_of(const struct stack_rec *r) { return r ? &r->pub : NULL; }

static void *fast_alloc(struct thread_state *ts, const struct chain *ch, size_t size,
                        size_t align, bool zero, ms_call_kind kind, uint32_t heap, uint32_t tag,
                        void *fp)
{
    int saved = *ts->errno_ptr;
    const struct stack_rec *stack = ch->want_stacks ? stack_capture(fp) : NULL;
    bool side = blocks_side_for(align);
    uintptr_t actual;
    void *real = headed_alloc(size, align, 0, zero, !side, &actual);
    if (unlikely(!real)) {
        *ts->errno_ptr = ENOMEM;
        return NULL;
    }
    struct site_key key = { .stack = stack ? stack->pub.id : 0, .mask = ch->mask, .kind = kind,
                            .heap = heap, .tag = tag };
    uint32_t site = stack ? site_for_stack(ts, &key) : site_get(ts, &key);
    struct block b = { actual, actual, (uintptr_t)real, size, site, side };
    if (unlikely(!(side ? blocks_publish_side(&b) : blocks_publish(&b)))) {
        map_full();
        real_free(real);
        void *q = real_alloc(size, align, zero);
        *ts->errno_ptr = q ? saved : ENOMEM;
        return q;
    }
    if (ch->fast & FAST_COUNT)
        fast_counter->alloc(pub_of(stack), size, (void *)actual);
    *ts->errno_ptr = saved;
    return (void *)actual;
}

/* The block at p as the fast path may handle it: a program block of this heap, laid out by
 * mallocspy alone, released by the family that allocated it. */
static inline bool fast_block(const struct chain *ch, const void *p, ms_call_kind kind,
                              uint32_t heap, struct block *b, const struct site **site)
{
    if (!program_block(p, b) || b->site == SITE_INTERNAL || b->addr != b->actual)
        return false;
    const struct site *s = site_by_id(b->site);
    if (!s || s->key.heap != heap || s->key.delta)
        return false;
    if ((ch->fast & FAST_MISMATCH) &&
        core_kind_family(kind, true) != core_kind_family((ms_call_kind)s->key.kind, false))
        return false;
    *site = s;
    return true;
}

static bool fast_free(struct thread_state *ts, const struct chain *ch, void *p,
                      ms_call_kind kind, uint32_t heap)
{
    struct block b;
    const struct site *site;
    if (!fast_block(ch, p, kind, heap, &b, &site))
        return false;
    int saved = *ts->errno_ptr;
    if ((ch->fast & FAST_COUNT) && (site->key.mask & (1u << ch->count_slot)))
        fast_counter->free(pub_of(site->stack), (size_t)b.size, p);
    blocks_unpublish(b.addr);
    real_free((void *)b.real);
    *ts->errno_ptr = saved;
    return true;
}

/* NULL with *handled false: the general way must do it. */
static void *fast_realloc(struct thread_state *ts, const struct chain *ch, void *p, size_t size,
                          ms_call_kind kind, uint32_t heap, void *fp, bool *handled)
{
    struct block b;
    const struct site *site;
    size_t off = block_extra(ALIGN_MIN, 0, true);
    *handled = false;
    if (!fast_block(ch, p, kind, heap, &b, &site) || b.headless || b.actual - b.real != off ||
        size > SIZE_MAX - off)
        return NULL;
    *handled = true;
    int saved = *ts->errno_ptr;
    const struct stack_rec *stack = ch->want_stacks ? stack_capture(fp) : NULL;
    blocks_unpublish(b.addr);
    void *real = real_realloc((void *)b.real, size + off);
    if (!real) {
        blocks_publish(&b);            /* IMalloc::Realloc: the old block is intact */
        *ts->errno_ptr = ENOMEM;
        return NULL;
    }
    struct site_key key = { .stack = stack ? stack->pub.id : 0, .mask = ch->mask, .kind = kind,
                            .heap = heap, .tag = site->key.tag };
    uintptr_t actual = (uintptr_t)real + off;
    struct block nb = { actual, actual, (uintptr_t)real, size,
                        stack ? site_for_stack(ts, &key) : site_get(ts, &key), false };
    if (!blocks_publish(&nb))
        map_full();
    if (ch->fast & FAST_COUNT) {
        if (site->key.mask & (1u << ch->count_slot))
            fast_counter->free(pub_of(site->stack), (size_t)b.size, p);
        fast_counter->alloc(pub_of(stack), size, (void *)actual);
    }
    *ts->errno_ptr = saved;
    return (void *)actual;
}

void *core_heap_alloc(size_t size, size_t align, bool zero, ms_call_kind kind, uint32_t heap,
                       uint32_t tag, void *fp)
{
    if (align < ALIGN_MIN)
        align = ALIGN_MIN;
    if (unlikely(tls_guard) || unlikely(!start_ready()))
        return guarded_alloc(size, align, zero);
    if (unlikely(!core_recording()) && !heap && !tag)
        return real_alloc(size, align, zero);        /* dormant: nothing recorded */
    struct thread_state *ts = thread_state();
    if (unlikely(core_sampling()) && !heap && !tag && !sampled(ts, size))
        return real_alloc(size, align, zero);        /* not sampled: not recorded */
    op_begin(ts);
    const struct chain *ch = registry_chain();
    void *p;
    if (!ch && !heap && !tag && !core_complete)
        p = real_alloc(size, align, zero);
    else if (likely(ch && ch->fast))
        p = fast_alloc(ts, ch, size, align, zero, kind, heap, tag, fp);
    else
        p = spied_alloc(ts, ch, size, align, zero, kind, heap, tag, fp);
    end_operation(ts);
    return p;
}

/* ---- free ------------------------------------------------------------------------------ */

/* The call as the reports name it ("allocated with %s, released with %s"). */
const char *core_call_name(ms_call_kind kind)
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
    bool found = program_block(p, &b);
    if (found && b.site == SITE_INTERNAL) {
        blocks_unpublish(b.addr);
        real_free((void *)b.real);
        *ts->errno_ptr = saved;
        return;
    }
    const struct site *site = found ? site_by_id(b.site) : NULL;
    if (found && site && site->key.heap != heap) {
        wrong_heap(core_call_name(kind), p, (size_t)b.size, site, heap, fp);
        *ts->errno_ptr = saved;
        return;
    }
    bool unknown = !found && (core_complete || heap);
    uint32_t mask = site ? site->key.mask : 0;
    ms_call call = { .kind = kind, .alignment = ALIGN_MIN, .allocator = heap_handle(heap) };
    describe_block(&call, p, found, &b, site);
    if (ch && ch->want_free_stacks) {
        const struct stack_rec *s = stack_capture(fp);
        call.stack = s ? &s->pub : NULL;
    }
    call_begin(&call, fp);
    struct walk w = { .op = OP_FREE, .mask = mask, .ptr = p };
    struct inflight *fl = found && ch ? inflight_of(ts) : NULL;
    if (fl) {
        fl->actual = b.actual;
        atomic_store_explicit(&fl->state, FL_ACTIVE, memory_order_release);
    }
    chain_pre(ch, &w);
    /* A spy may return NULL to keep the block (a quarantine), or to take charge of a
     * pointer mallocspy does not know (one it freed already); then nothing is freed.  A
     * pointer no spy claims is reported, and never passed to the real free. */
    if (unknown) {
        if (w.ptr)
            bad_pointer(core_call_name(kind), p, fp);
    } else if (!found) {
        if (w.ptr)
            real_free(w.ptr);              /* a block from before any tracking: no header */
    } else {
        if (w.ptr && w.ptr != (void *)b.actual) {
            static atomic_bool warned;
            if (!atomic_exchange(&warned, true))
                diag_warn("a spy's pre_free returned %p for a block that starts at %p; the "
                          "block is freed where mallocspy placed it", w.ptr, (void *)b.actual);
        }
        if (!w.ptr) {
            /* Taken in charge: the spy will free pActual itself, from a hook; it is no
             * longer the program's block. */
            blocks_set_site(&b, SITE_HELD);
            blocks_move_to_actual(&b);
        }
        /* Last, once the map says where the block is: a free of pActual that came during
         * the walk was left to us. */
        int expect = FL_ACTIVE;
        bool released = fl && !atomic_compare_exchange_strong(&fl->state, &expect, FL_IDLE);
        if (released) {
            atomic_store(&fl->state, FL_IDLE);
            blocks_unpublish(w.ptr ? b.addr : b.actual);
            real_free((void *)b.real);
        } else if (w.ptr) {
            blocks_unpublish(b.addr);
            real_free((void *)b.real);
        }
    }
    chain_post(&w);
    call_end();
    if (mask)
        registry_count(ts, mask, -1);
    *ts->errno_ptr = saved;
}

void core_heap_free(void *p, ms_call_kind kind, uint32_t heap, void *fp)
{
    if (!p)
        return;                       /* free(NULL): no hook */
    if (unlikely(early_owns(p)))
        return;                       /* the static arena is never reused */
    if (unlikely(tls_guard) || unlikely(!start_ready())) {
        int saved = errno;
        guarded_free(p);
        errno = saved;
        return;
    }
    struct block b;
    if ((unlikely(!core_recording()) || (unlikely(core_sampling()) && registry_only_ours())) &&
        !heap && (!blocks_used || !blocks_find((uintptr_t)p, &b))) {
        int saved = errno;
        real_free(p);                 /* dormant or not sampled: never recorded */
        errno = saved;
        return;
    }
    struct thread_state *ts = thread_state();
    op_begin(ts);
    const struct chain *ch = registry_chain();
    if (!ch && !heap && !blocks_used) {
        int saved = errno;
        real_free(p);
        errno = saved;
    } else if (!(ch && ch->fast && fast_free(ts, ch, p, kind, heap))) {
        struct block ub;
        /* mallocspy's own spies have nothing to do with a block the map does not know
         * (sampling, start=0 leave such blocks): straight to the real free. */
        if (ch && ch->fast && !core_complete && !heap &&
            !(blocks_used && blocks_find((uintptr_t)p, &ub))) {
            int saved = errno;
            real_free(p);
            errno = saved;
        } else {
            spied_free(ts, ch, p, kind, heap, fp);
        }
    }
    end_operation(ts);
}

/* ---- realloc ----------------------------------------------------------------------- */

static void *spied_realloc(struct thread_state *ts, const struct chain *ch, void *p,
                           size_t size, ms_call_kind kind, uint32_t heap, void *fp)
{
    int saved = *ts->errno_ptr;
    struct block b;
    bool found = program_block(p, &b);
    if (found && b.site == SITE_INTERNAL) {
        void *q = relocate(&b, size, SITE_INTERNAL);
        if (q)
            *ts->errno_ptr = saved;
        else
            *ts->errno_ptr = ENOMEM;
        return q;
    }
    const struct site *site = found ? site_by_id(b.site) : NULL;
    if (found && site && site->key.heap != heap) {
        wrong_heap(core_call_name(kind), p, (size_t)b.size, site, heap, fp);
        *ts->errno_ptr = saved;
        return NULL;
    }
    if (!found && (core_complete || heap)) {
        bad_pointer(core_call_name(kind), p, fp);
        *ts->errno_ptr = saved;
        return NULL;
    }
    uint32_t mask = site ? site->key.mask : 0;
    const struct stack_rec *stack = ch && ch->want_stacks ? stack_capture(fp) : NULL;
    ms_call call = { .kind = kind, .request = size, .alignment = ALIGN_MIN,
                     .stack = stack ? &stack->pub : NULL, .allocator = heap_handle(heap) };
    describe_block(&call, p, found, &b, site);
    call_begin(&call, fp);
    struct walk w = { .op = OP_REALLOC, .mask = mask, .size = size, .new_req = p };
    chain_pre(ch, &w);
    size_t cur = w.size;
    void *real = NULL;
    uintptr_t actual = 0;
    if (!w.failed) {
        size_t off = block_extra(ALIGN_MIN, shift_guess(ch, ALIGN_MIN), true);
        if (found) {
            /* The header and what precedes the spies' region move with the block. */
            blocks_unpublish(b.addr);
            size_t before = b.actual - b.real;
            if (before == off && !b.headless && cur <= SIZE_MAX - off) {
                real = real_realloc((void *)b.real, cur + off);
            } else if (cur <= SIZE_MAX - off) {
                real = real_alloc(cur + off, ALIGN_MIN, false);
                if (real) {
                    size_t old = (size_t)b.size + (size_t)(site ? site->key.delta : 0);
                    memcpy((char *)real + off, (void *)b.actual, old < cur ? old : cur);
                    real_free((void *)b.real);
                }
            }
            if (!real)                     /* the old block is intact */
                b.headless ? blocks_publish_side(&b) : blocks_publish(&b);
        } else {
            /* A block from before any tracking: it gains a header, and moves. */
            real = cur <= SIZE_MAX - off ? real_alloc(cur + off, ALIGN_MIN, false) : NULL;
            if (real) {
                size_t old = real_usable_size(w.new_req);
                memcpy((char *)real + off, w.new_req, old < cur ? old : cur);
                real_free(w.new_req);
            }
        }
        actual = real ? (uintptr_t)real + off : 0;
    }
    w.ptr = (void *)actual;
    chain_post(&w);
    call_end();
    void *q = w.ptr;
    if (!real || !q) {
        /* IMalloc::Realloc: on failure the old block is intact, and still spied as it
         * was. */
        *ts->errno_ptr = ENOMEM;
        return q;
    }
    shift_learn(ch, ALIGN_MIN, (uintptr_t)q - actual);
    /* Every spy that took part now counts the block as spied (PostRealloc); the block
     * keeps its heap and its debug tag. */
    struct site_key key = { .stack = stack ? stack->pub.id : 0, .mask = w.called,
                            .kind = kind, .heap = heap, .tag = site ? site->key.tag : 0,
                            .delta = (uint64_t)(cur - size) };
    struct block nb = { (uintptr_t)q, actual, (uintptr_t)real, size,
                        stack ? site_for_stack(ts, &key) : site_get(ts, &key), false };
    if (!blocks_publish(&nb))
        map_full();
    if (w.called & ~mask)
        registry_count(ts, w.called & ~mask, 1);
    if (mask & ~w.called)
        registry_count(ts, mask & ~w.called, -1);
    *ts->errno_ptr = saved;
    return q;
}

void *core_heap_realloc(void *p, size_t size, ms_call_kind kind, uint32_t heap, void *fp)
{
    if (!p)
        return core_heap_alloc(size, ALIGN_MIN, false, kind, heap, 0, fp);
    if (size == 0) {
        /* realloc(p, 0) frees and returns NULL, as glibc and IMalloc::Realloc do. */
        core_heap_free(p, kind, heap, fp);
        return NULL;
    }
    if (unlikely(early_owns(p))) {
        void *q = core_heap_alloc(size, ALIGN_MIN, false, kind, heap, 0, fp);
        if (q) {
            size_t old = early_size(p);
            memcpy(q, p, old < size ? old : size);
        }
        return q;
    }
    if (unlikely(tls_guard) || unlikely(!start_ready()))
        return guarded_realloc(p, size);
    struct block b;
    if (unlikely(!core_recording()) && !heap &&
        (!blocks_used || !blocks_find((uintptr_t)p, &b)))
        return real_realloc(p, size);
    struct thread_state *ts = thread_state();
    /* Sampling: a reallocation is an allocation of its own, sampled as any other (so that
     * each recorded block stands for what its own size says).  Not sampled: an unrecorded
     * block stays one; a recorded one is freed as recorded, its bytes moved to a block
     * of the real allocator's. */
    if (unlikely(core_sampling()) && !heap && !sampled(ts, size)) {
        bool recorded = blocks_used && blocks_find((uintptr_t)p, &b) && b.site > SITE_HELD;
        if (!recorded)
            return real_realloc(p, size);
        void *q = real_alloc(size, ALIGN_MIN, false);
        if (!q) {
            errno = ENOMEM;
            return NULL;
        }
        memcpy(q, p, (size_t)b.size < size ? (size_t)b.size : size);
        core_heap_free(p, kind, heap, fp);
        return q;
    }
    op_begin(ts);
    const struct chain *ch = registry_chain();
    void *q;
    bool handled = false;
    if (!ch && !heap && !blocks_used && !core_complete)
        q = real_realloc(p, size);
    else if (ch && ch->fast && (q = fast_realloc(ts, ch, p, size, kind, heap, fp, &handled),
                               handled))
        ;
    else
        q = spied_realloc(ts, ch, p, size, kind, heap, fp);
    end_operation(ts);
    return q;
}

/* ---- queries ------------------------------------------------------------------------- */

size_t core_heap_get_size(const void *p, ms_call_kind kind, uint32_t heap, void *fp)
{
    size_t none = kind == MS_CALL_USABLE_SIZE ? 0 : (size_t)-1;
    if (!p)
        return none;                  /* no hook for NULL */
    if (unlikely(early_owns(p)))
        return heap ? none : early_size(p);
    struct block b;
    if (unlikely(tls_guard) || unlikely(!start_ready())) {
        if (blocks_used && blocks_find((uintptr_t)p, &b))
            return b.site > SITE_HELD ? (size_t)b.size
                 : real_usable_size((void *)b.real) - (b.addr - b.real);
        return real_usable_size((void *)p);
    }
    struct thread_state *ts = thread_state();
    op_begin(ts);
    int saved = errno;
    const struct chain *ch = registry_chain();
    bool found = program_block(p, &b);
    const struct site *site = found ? site_by_id(b.site) : NULL;
    size_t result;
    if (found && b.site == SITE_INTERNAL) {
        result = heap ? none : real_usable_size((void *)b.real) - (b.addr - b.real);
    } else if (found && site && site->key.heap != heap) {
        result = none;                /* HeapSize on another heap's block: failure */
    } else if (!found && (core_complete || heap)) {
        if (!heap)
            bad_pointer(core_call_name(kind), p, fp);
        result = none;
    } else if (!ch) {
        result = found ? (size_t)b.size : real_usable_size((void *)p);
    } else {
        ms_call call = { .kind = kind, .alignment = ALIGN_MIN,
                         .allocator = heap_handle(heap) };
        describe_block(&call, p, found, &b, site);
        call_begin(&call, fp);
        struct walk w = { .op = OP_GET_SIZE, .mask = site ? site->key.mask : 0,
                          .ptr = (void *)p };
        chain_pre(ch, &w);
        /* The real size: what was asked of the real allocator for the spies' region, not
         * its rounded-up usable size, so a spy that strips its header and trailer gives
         * back the request.  A block the map does not know is measured where the hooks
         * said it starts. */
        w.size = found ? (size_t)b.size + (size_t)(site ? site->key.delta : 0)
                       : real_usable_size(w.ptr);
        chain_post(&w);
        call_end();
        result = w.size;
    }
    errno = saved;
    end_operation(ts);
    return result;
}

int core_heap_did_alloc(const void *p, uint32_t heap, void *fp)
{
    if (!p)
        return -1;                    /* IMalloc::DidAlloc(NULL): -1, no hook */
    if (unlikely(early_owns(p)))
        return heap ? 0 : 1;
    struct block b;
    /* Every block starts at least 16-byte aligned, so a pointer that is not cannot be one
     * (COM's DidAlloc(p + 4) answers 0), whatever the map knows.  A heap knows all its
     * blocks. */
    bool unaligned = (uintptr_t)p % ALIGN_MIN;
    if (unlikely(tls_guard) || unlikely(!start_ready())) {
        if (blocks_used && blocks_find((uintptr_t)p, &b)) {
            const struct site *site = site_by_id(b.site);
            return !site || site->key.heap == heap;
        }
        return (core_complete || heap || unaligned) ? 0 : -1;
    }
    struct thread_state *ts = thread_state();
    op_begin(ts);
    int saved = errno;
    const struct chain *ch = registry_chain();
    bool found = program_block(p, &b);
    const struct site *site = found ? site_by_id(b.site) : NULL;
    int answer = found ? (!site || site->key.heap == heap)
               : (core_complete || heap || unaligned) ? 0 : -1;
    if (ch && !(found && b.site == SITE_INTERNAL)) {
        ms_call call = { .kind = MS_CALL_DID_ALLOC, .alignment = ALIGN_MIN,
                         .allocator = heap_handle(heap) };
        describe_block(&call, p, found, &b, site);
        call_begin(&call, fp);
        struct walk w = { .op = OP_DID_ALLOC, .mask = site ? site->key.mask : 0,
                          .ptr = (void *)p, .query = p, .answer = answer };
        chain_pre(ch, &w);
        chain_post(&w);
        call_end();
        answer = w.answer;
    }
    errno = saved;
    end_operation(ts);
    return answer;
}

void core_heap_minimize(void)
{
    if (unlikely(tls_guard) || unlikely(!start_ready())) {
        if (real_fns.malloc_trim)
            real_fns.malloc_trim(0);
        return;
    }
    struct thread_state *ts = thread_state();
    op_begin(ts);
    int saved = errno;
    const struct chain *ch = registry_chain();
    ms_call call = { .kind = MS_CALL_HEAP_MINIMIZE, .alignment = ALIGN_MIN };
    call_begin(&call, NULL);
    struct walk w = { .op = OP_MINIMIZE };
    chain_pre(ch, &w);
    if (real_fns.malloc_trim)
        real_fns.malloc_trim(0);
    chain_post(&w);
    call_end();
    errno = saved;
    end_operation(ts);
}
