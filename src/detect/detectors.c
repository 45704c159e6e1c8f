/* Heap error detectors, each a spy registered through the public API when its option asks
 * for it — an example of what the spy API can build:
 *   mismatch    malloc with delete, new with free, new[] with delete, and the reverse;
 *   guard       redzones before and after each block, checked on free, realloc, and in
 *               every report (overflow, underflow);
 *   quarantine  freed blocks filled and held back from reuse; a write to one is a use
 *               after free, a second free of one a double free;
 *   fill        new blocks and freed ones filled with a byte (malloc_fill, free_fill).
 * They nest from the inside out in that reverse order: the quarantine sees the real blocks
 * (it frees them itself later), the guard its own redzones, fill and mismatch what the
 * program sees.  None of them runs, and none costs anything, while its option is off. */
#include <stdlib.h>
#include <string.h>

#include "base/diag.h"
#include "base/lock.h"
#include "base/mem.h"
#include "base/options.h"
#include "core/blocks.h"
#include "core/dispatch.h"
#include "core/registry.h"
#include "core/sites.h"
#include "detect/detectors.h"
#include "output/errors.h"
#include "stacks/stacks.h"

/* ---- mismatch ------------------------------------------------------------------------ */

static void check_mismatch(void)
{
    const ms_call *c = ms_spy_call();
    if (!c->block_known)
        return;
    int a = core_kind_family(c->block_kind, false), f = core_kind_family(c->kind, true);
    if (a == FAMILY_NONE || f == FAMILY_NONE || a == f)
        return;
    char detail[128];
    diag_format(detail, sizeof detail, "allocated with %s, released with %s",
              core_call_name(c->block_kind), core_call_name(c->kind));
    const ms_stack *here = ms_spy_stack();
    struct heap_error e = { .kind = ERR_MISMATCH, .address = (uintptr_t)c->block,
                          .bytes = c->block_size, .call = core_call_name(c->kind),
                          .alloc = (const struct stack_rec *)c->block_stack,
                          .here = (const struct stack_rec *)here, .detail = detail };
    error_report(&e);
}

static void *mm_pre_free(ms_spy *self, void *request, bool spied)
{
    (void)self;
    (void)spied;
    check_mismatch();
    return request;
}

static size_t mm_pre_realloc(ms_spy *self, void *request, size_t size, void **new_request,
                             bool spied)
{
    (void)self;
    (void)spied;
    check_mismatch();
    *new_request = request;
    return size;
}

static const ms_spy_ops mismatch_ops = { .pre_free = mm_pre_free, .pre_realloc = mm_pre_realloc };
static ms_spy mismatch_spy = { &mismatch_ops };

/* ---- guard ----------------------------------------------------------------------------
 * A guarded block:  [ 0xFA ... | meta ][ the program's bytes ][ 0xFB ... | meta copy ]
 *                   <--- front --------><------ size --------><------ back ----------->
 * meta (16 bytes) says how big front and size are; its copy at the far end lets a block
 * whose front was overwritten still be found and freed. */

#define GUARD_MAGIC 0x47524431u     /* "GRD1" */
#define FRONT_BYTE 0xFA
#define BACK_BYTE 0xFB

struct guard_meta {
    uint32_t check;            /* GUARD_MAGIC mixed with the two fields: damage to any of
                                  them shows */
    uint32_t front;
    uint64_t size;
};

static uint32_t meta_check(uint32_t front, uint64_t size)
{
    return GUARD_MAGIC ^ front ^ (uint32_t)size ^ (uint32_t)(size >> 32) ^ 0x9e3779b9u;
}

static bool meta_ok(const struct guard_meta *m, size_t known_size)
{
    return m->check == meta_check(m->front, m->size) && m->front >= sizeof *m &&
           m->front <= (1u << 20) && !(m->front % 16) &&
           (!known_size || m->size == known_size);
}

static struct {
    size_t pad;                /* redzone bytes each side (option guard) */
} gd;

static __thread struct {
    size_t front, size;        /* from pre_ to post_ on this thread */
    bool adopt;                /* realloc of a block without redzones */
    size_t keep;               /* bytes to move when adopting */
} gp;

static size_t round_up(size_t n, size_t a) { return (n + a - 1) & ~(a - 1); }
static size_t back_bytes(void) { return gd.pad + sizeof(struct guard_meta); }

static size_t front_for(size_t align)
{
    return round_up(gd.pad + sizeof(struct guard_meta), align < 16 ? 16 : align);
}

static void guard_write(unsigned char *user, size_t front, size_t size)
{
    struct guard_meta m = { meta_check((uint32_t)front, size), (uint32_t)front, size };
    memset(user - front, FRONT_BYTE, front - sizeof m);
    memcpy(user - sizeof m, &m, sizeof m);
    memset(user + size, BACK_BYTE, gd.pad);
    memcpy(user + size + gd.pad, &m, sizeof m);
}

/* Damage in [lo, hi) that is not `byte`: first and count of the span from first to last. */
static bool damaged(const unsigned char *lo, const unsigned char *hi, unsigned char byte,
                    const unsigned char **first, size_t *len)
{
    const unsigned char *f = NULL, *l = NULL;
    for (const unsigned char *p = lo; p < hi; p++)
        if (*p != byte) {
            if (!f)
                f = p;
            l = p;
        }
    if (!f)
        return false;
    *first = f;
    *len = (size_t)(l - f) + 1;
    return true;
}

static void report_redzone(enum err_kind kind, const unsigned char *user, size_t size,
                           const unsigned char *first, size_t len, const ms_stack *alloc,
                           const ms_stack *here, const char *call)
{
    /* Inside a hook the erring call's stack is taken now, only because there is damage. */
    if (!here)
        here = ms_spy_stack();
    if (!call && ms_spy_call())
        call = core_call_name(ms_spy_call()->kind);
    struct heap_error e = { .kind = kind, .address = (uintptr_t)user, .bytes = size,
                          .call = call, .alloc = (const struct stack_rec *)alloc,
                          .here = (const struct stack_rec *)here,
                          .offset = (long)(first - user), .length = len };
    error_report(&e);
}

/* Checks a guarded block; returns its front size, or 0 when its geometry cannot be read
 * any more (then the block must not be freed: it is left alone). */
static size_t guard_check(unsigned char *user, size_t known_size, const ms_stack *alloc,
                          const ms_stack *here, const char *call)
{
    struct guard_meta m, back;
    memcpy(&m, user - sizeof m, sizeof m);
    bool front_ok = meta_ok(&m, known_size);
    /* The size the core knows is trusted over what memory says. */
    size_t size = known_size ? known_size : front_ok ? (size_t)m.size : 0;
    if (!known_size && !front_ok) {
        report_redzone(ERR_UNDERFLOW, user, 0, user - sizeof m, sizeof m, alloc, here, call);
        return 0;
    }
    memcpy(&back, user + size + gd.pad, sizeof back);
    bool back_ok = meta_ok(&back, size);
    if (!front_ok && back_ok)
        m = back;
    if (!front_ok && !back_ok) {
        const unsigned char *f = user - sizeof m;
        report_redzone(ERR_UNDERFLOW, user, size, f, sizeof m, alloc, here, call);
        return 0;
    }
    /* Each redzone compared with what it should hold (pattern, then the metadata as the
     * intact copy says it was), so that the report names the exact bytes damaged. */
    struct guard_meta want = { meta_check(m.front, size), m.front, size };
    unsigned char expect_front[1 << 12], expect_back[1 << 12];
    size_t flen = m.front, blen = gd.pad + sizeof want;
    if (flen <= sizeof expect_front && blen <= sizeof expect_back) {
        memset(expect_front, FRONT_BYTE, flen - sizeof want);
        memcpy(expect_front + flen - sizeof want, &want, sizeof want);
        memset(expect_back, BACK_BYTE, gd.pad);
        memcpy(expect_back + gd.pad, &want, sizeof want);
        const unsigned char *f = NULL, *l = NULL;
        for (size_t i = 0; i < flen; i++)
            if (user[(long)i - (long)flen] != expect_front[i]) {
                if (!f)
                    f = user - flen + i;
                l = user - flen + i;
            }
        if (f)
            report_redzone(ERR_UNDERFLOW, user, size, f, (size_t)(l - f) + 1, alloc, here, call);
        f = l = NULL;
        for (size_t i = 0; i < blen; i++)
            if (user[size + i] != expect_back[i]) {
                if (!f)
                    f = user + size + i;
                l = user + size + i;
            }
        if (f)
            report_redzone(ERR_OVERFLOW, user, size, f, (size_t)(l - f) + 1, alloc, here, call);
    }
    /* Reported once: the redzones are made whole again, so only new damage is reported
     * again (by the next report, or when the block goes). */
    guard_write(user, m.front, size);
    return m.front;
}

static size_t g_pre_alloc(ms_spy *self, size_t request)
{
    (void)self;
    gp.front = front_for(ms_spy_call()->alignment);
    gp.size = request;
    /* No room for the redzones: the allocation fails, as it would have anyway. */
    if (request > SIZE_MAX - gp.front - back_bytes())
        return 0;
    return request + gp.front + back_bytes();
}

static void *g_post_alloc(ms_spy *self, void *actual)
{
    (void)self;
    if (!actual)
        return NULL;
    unsigned char *user = (unsigned char *)actual + gp.front;
    guard_write(user, gp.front, gp.size);
    return user;
}

static void *g_pre_free(ms_spy *self, void *request, bool spied)
{
    (void)self;
    if (!spied)
        return request;
    const ms_call *c = ms_spy_call();
    unsigned char *user = request;
    size_t front = guard_check(user, c->block_size, c->block_stack, NULL, NULL);
    if (!front)
        return NULL;   /* unreadable: leaking it is safer than freeing a wrong pointer */
    /* No longer a guarded block: a later look at this memory must not take it for one. */
    memset(user - sizeof(struct guard_meta), 0, sizeof(struct guard_meta));
    return user - front;
}

static size_t g_pre_realloc(ms_spy *self, void *request, size_t size, void **new_request,
                            bool spied)
{
    (void)self;
    const ms_call *c = ms_spy_call();
    if (spied) {
        unsigned char *user = request;
        size_t front = guard_check(user, c->block_size, c->block_stack, NULL, NULL);
        if (!front) {
            *new_request = request;
            return 0;   /* geometry lost: refuse the realloc, keep the block */
        }
        gp.front = front;
        gp.adopt = false;
        *new_request = user - front;
    } else {
        /* A block allocated before the guard: it gains redzones, its data moves up. */
        gp.front = front_for(16);
        gp.adopt = true;
        gp.keep = c->block_size && c->block_size < size ? c->block_size : size;
        *new_request = request;
    }
    gp.size = size;
    if (size > SIZE_MAX - gp.front - back_bytes())
        return 0;      /* the realloc fails; the block stays as it was */
    return size + gp.front + back_bytes();
}

static void *g_post_realloc(ms_spy *self, void *actual, bool spied)
{
    (void)self;
    (void)spied;
    if (!actual)
        return NULL;
    unsigned char *user = (unsigned char *)actual + gp.front;
    if (gp.adopt)
        memmove(user, actual, gp.keep);
    guard_write(user, gp.front, gp.size);
    return user;
}

static void *g_pre_query(ms_spy *self, void *request, bool spied)
{
    (void)self;
    if (!spied)
        return request;
    struct guard_meta m;
    memcpy(&m, (unsigned char *)request - sizeof m, sizeof m);
    gp.front = meta_ok(&m, ms_spy_call()->block_size) ? m.front : front_for(16);
    return (unsigned char *)request - gp.front;
}

static size_t g_post_get_size(ms_spy *self, size_t actual, bool spied)
{
    (void)self;
    return spied ? actual - gp.front - back_bytes() : actual;
}

static const ms_spy_ops guard_ops = {
    .pre_alloc = g_pre_alloc, .post_alloc = g_post_alloc, .pre_free = g_pre_free,
    .pre_realloc = g_pre_realloc, .post_realloc = g_post_realloc,
    .pre_get_size = g_pre_query, .post_get_size = g_post_get_size,
    .pre_did_alloc = g_pre_query,
};
static ms_spy guard_spy = { &guard_ops };

/* Every guarded block still live: checked at exit and by every report.  Blocks are
 * collected first (the table's locks are not held while reading the program's memory). */
struct guarded { uintptr_t addr; size_t size; const struct stack_rec *stack; };
struct guard_walk { uint32_t bit; struct guarded *g; size_t n, cap; };

static void collect_guarded(const struct block *b, void *arg)
{
    struct guard_walk *w = arg;
    const struct site *s = site_by_id(b->site);
    if (!s || b->site <= SITE_HELD || !(s->key.mask & w->bit))
        return;
    if (!pages_reserve(&w->g, w->n, &w->cap, sizeof *w->g, 1024))
        return;
    w->g[w->n++] = (struct guarded){ b->addr, (size_t)b->size, s->stack };
}

static void guard_check_all(void)
{
    if (!gd.pad)
        return;
    int slot = registry_slot_of(&guard_spy);
    if (slot < 0)
        return;
    struct guard_walk w = { 1u << slot, NULL, 0, 0 };
    unsigned guard = tls_guard;
    tls_guard = 1;
    blocks_for_each(collect_guarded, &w);
    for (size_t i = 0; i < w.n; i++) {
        struct block b;
        /* Freed meanwhile by another thread: not ours to read any more. */
        if (!blocks_find(w.g[i].addr, &b))
            continue;
        guard_check((unsigned char *)w.g[i].addr, w.g[i].size,
                    w.g[i].stack ? &w.g[i].stack->pub : NULL, NULL, "(report)");
    }
    if (w.g)
        pages_free(w.g, w.cap * sizeof *w.g);
    tls_guard = guard;
}

/* ---- quarantine ------------------------------------------------------------------------- */

struct held {
    uintptr_t user;            /* the program's pointer, the key for double frees */
    void *real;                /* what to free when it leaves (pActual) */
    unsigned char *bytes;      /* filled and checked: the program's bytes */
    size_t usable;             /* how many */
    size_t size;               /* what the program asked for */
    const ms_stack *alloc, *freed;
};

static struct {
    spinlock lock;              /* everything below (hooks run on many threads at once) */
    size_t limit, bytes;
    struct held *ring;         /* FIFO, oldest at head */
    size_t head, n, cap;
    uint32_t *map;             /* open addressing: ring index + 1 by user pointer; 0 empty */
    size_t mapcap;
    unsigned char byte;
} qt = { .lock = SPIN_INIT };

static size_t qhash(uintptr_t a) { return (size_t)((a >> 4) * 0x9E3779B97F4A7C15ULL >> 20); }

static bool q_grow(void)
{
    size_t nc = qt.cap ? qt.cap * 2 : 1024;
    struct held *nr = pages_alloc(nc * sizeof *nr);
    uint32_t *nm = pages_alloc(nc * 4 * sizeof *nm);
    if (!nr || !nm) {
        pages_free(nr, nc * sizeof *nr);
        pages_free(nm, nc * 4 * sizeof *nm);
        return false;
    }
    for (size_t i = 0; i < qt.n; i++)
        nr[i] = qt.ring[(qt.head + i) % qt.cap];
    if (qt.ring) {
        pages_free(qt.ring, qt.cap * sizeof *qt.ring);
        pages_free(qt.map, qt.mapcap * sizeof *qt.map);
    }
    qt.ring = nr;
    qt.cap = nc;
    qt.head = 0;
    qt.map = nm;
    qt.mapcap = nc * 4;
    for (size_t i = 0; i < qt.n; i++) {
        size_t h = qhash(nr[i].user) & (qt.mapcap - 1);
        while (nm[h])
            h = (h + 1) & (qt.mapcap - 1);
        nm[h] = (uint32_t)(i + 1);
    }
    return true;
}

/* Index in the ring of the block the program knew as `user`, or -1. */
static long q_find(uintptr_t user, size_t *slot)
{
    if (!qt.map)
        return -1;
    size_t h = qhash(user) & (qt.mapcap - 1);
    for (; qt.map[h]; h = (h + 1) & (qt.mapcap - 1)) {
        size_t idx = qt.map[h] - 1;
        if (qt.ring[idx].user == user) {
            *slot = h;
            return (long)idx;
        }
    }
    return -1;
}

static void q_unmap(size_t slot)
{
    /* Backward shift, as in the block table. */
    size_t hole = slot, j = slot, mask = qt.mapcap - 1;
    for (;;) {
        j = (j + 1) & mask;
        if (!qt.map[j])
            break;
        size_t home = qhash(qt.ring[qt.map[j] - 1].user) & mask;
        bool between = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!between) {
            qt.map[hole] = qt.map[j];
            hole = j;
        }
    }
    qt.map[hole] = 0;
}

static void q_check(const struct held *h, const char *when)
{
    const unsigned char *first;
    size_t len;
    if (!damaged(h->bytes, h->bytes + h->usable, qt.byte, &first, &len))
        return;
    struct heap_error e = { .kind = ERR_USE_AFTER_FREE, .address = h->user, .bytes = h->size,
                          .call = when, .alloc = (const struct stack_rec *)h->alloc,
                          .free = (const struct stack_rec *)h->freed,
                          .offset = (long)((uintptr_t)first - h->user), .length = len };
    error_report(&e);
    /* Reported once: the pattern is put back, so only new damage is reported again. */
    memset(h->bytes, qt.byte, h->usable);
}

/* The oldest block leaves the quarantine: checked, then really freed.  Under qt.lock. */
static void q_release_oldest(void)
{
    struct held h = qt.ring[qt.head];
    size_t slot;
    if (q_find(h.user, &slot) == (long)qt.head)
        q_unmap(slot);
    /* The map holds positions in the ring, which stay put as the head moves; q_grow,
     * which compacts the ring, renumbers them. */
    qt.head = (qt.head + 1) % qt.cap;
    qt.n--;
    qt.bytes -= h.usable + 16;
    q_check(&h, "(leaving the quarantine)");
    free(h.real);   /* inside a hook: straight to the real allocator */
}

static void *q_pre_free(ms_spy *self, void *request, bool spied)
{
    (void)self;
    (void)spied;
    const ms_call *c = ms_spy_call();
    if (!c->block_known) {
        /* A pointer mallocspy does not know: one of ours is a double free. */
        spin_lock(&qt.lock);
        size_t slot;
        long idx = q_find((uintptr_t)c->block, &slot);
        struct held h = idx >= 0 ? qt.ring[idx] : (struct held){ 0 };
        spin_unlock(&qt.lock);
        if (idx < 0)
            return request;
        struct heap_error e = { .kind = ERR_DOUBLE_FREE, .address = h.user, .bytes = h.size,
                              .call = core_call_name(c->kind), .alloc = (const struct stack_rec *)h.alloc,
                              .free = (const struct stack_rec *)h.freed,
                              .here = (const struct stack_rec *)ms_spy_stack() };
        error_report(&e);
        return NULL;   /* taken in charge: the second free is ignored */
    }
    if (!spied)
        return request;
    /* The program's bytes are filled and watched; the pointer given (pActual) is what is
     * freed when the block leaves. */
    unsigned char *bytes = (unsigned char *)c->block;
    memset(bytes, qt.byte, c->block_size);
    struct held h = { (uintptr_t)c->block, request, bytes, c->block_size, c->block_size,
                      c->block_stack, ms_spy_stack() };
    spin_lock(&qt.lock);
    if ((qt.n + 1) * 4 > qt.cap * 3 && !q_grow()) {
        spin_unlock(&qt.lock);
        return request;   /* no room to hold it: freed at once */
    }
    size_t idx = (qt.head + qt.n) % qt.cap;
    qt.ring[idx] = h;
    qt.n++;
    qt.bytes += h.usable + 16;   /* the header and the real allocator's own count too */
    size_t m = qhash(h.user) & (qt.mapcap - 1);
    while (qt.map[m])
        m = (m + 1) & (qt.mapcap - 1);
    qt.map[m] = (uint32_t)(idx + 1);
    while (qt.bytes > qt.limit && qt.n)
        q_release_oldest();
    spin_unlock(&qt.lock);
    return NULL;   /* held back: the real free comes when it leaves the quarantine */
}

static const ms_spy_ops quarantine_ops = { .pre_free = q_pre_free };
static ms_spy quarantine_spy = { &quarantine_ops };

static void quarantine_check_all(void)
{
    if (!qt.limit)
        return;
    unsigned guard = tls_guard;
    tls_guard = 1;
    spin_lock(&qt.lock);
    for (size_t i = 0; i < qt.n; i++)
        q_check(&qt.ring[(qt.head + i) % qt.cap], "(report)");
    spin_unlock(&qt.lock);
    tls_guard = guard;
}

/* ---- fill -------------------------------------------------------------------------------- */

static void *f_post_alloc(ms_spy *self, void *actual)
{
    (void)self;
    const ms_call *c = ms_spy_call();
    if (actual && options.malloc_fill >= 0 && c->kind != MS_CALL_CALLOC)
        memset(actual, options.malloc_fill, c->request);
    return actual;
}

static void *f_post_realloc(ms_spy *self, void *actual, bool spied)
{
    (void)self;
    (void)spied;
    const ms_call *c = ms_spy_call();
    if (actual && options.malloc_fill >= 0 && c->request > c->block_size)
        memset((char *)actual + c->block_size, options.malloc_fill, c->request - c->block_size);
    return actual;
}

static void *f_pre_free(ms_spy *self, void *request, bool spied)
{
    (void)self;
    const ms_call *c = ms_spy_call();
    if (spied && options.free_fill >= 0 && c->block_known)
        memset(request, options.free_fill, c->block_size);
    return request;
}

static const ms_spy_ops fill_ops = { .post_alloc = f_post_alloc, .post_realloc = f_post_realloc,
                                     .pre_free = f_pre_free };
static ms_spy fill_spy = { &fill_ops };

/* ---- registration ------------------------------------------------------------------------ */

void detectors_init(void)
{
    /* Registered innermost first: the quarantine sees the real blocks, fill and mismatch
     * what the program sees. */
    if (options.quarantine) {
        qt.limit = options.quarantine;
        qt.byte = options.free_fill >= 0 ? (unsigned char)options.free_fill : 0xFE;
        registry_register(&quarantine_spy, 0);
    }
    if (options.guard) {
        gd.pad = options.guard;
        registry_register(&guard_spy, 0);
    }
    if (options.malloc_fill >= 0 || options.free_fill >= 0)
        registry_register(&fill_spy, 0);
    if (options.mismatch)
        registry_register(&mismatch_spy, SPY_FAST_MISMATCH);
}

void detectors_check_all(void)
{
    guard_check_all();
    quarantine_check_all();
}

void detectors_fork_child(void) { spin_reset(&qt.lock); }
