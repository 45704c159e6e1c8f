/* Private heaps (HeapCreate and its family) and debug tags (IHostMalloc::DebugAlloc).
 * A heap's blocks are ordinary blocks whose site names the heap; the heap itself is a
 * handle in a region of its own, so that any pointer handed in as a heap can be checked
 * without reading memory that may not be there. */
#include <string.h>

#include "base/diag.h"
#include "base/mem.h"
#include "base/tags.h"
#include "base/ut.h"
#include "core/blocks.h"
#include "core/dispatch.h"
#include "core/heaps.h"
#include "core/real.h"
#include "core/sites.h"
#include "output/heap_leaks.h"
#include "stacks/stacks.h"

#define MAX_HEAPS 65536

ms_malloc heap_task = { .magic = TASK_MAGIC };

static struct {
    spinlock lock;              /* slots' allocation, region creation */
    ms_malloc *slots;          /* MAX_HEAPS handles, id = index; 0 is never used */
    uint32_t next;             /* first never-used id */
    uint32_t *free_ids;        /* ids of destroyed heaps, for reuse */
    uint32_t nfree;
    size_t capfree;
} hp = { .lock = SPIN_INIT, .next = 1 };

static ms_malloc *slots(void)
{
    ms_malloc *s = __atomic_load_n(&hp.slots, __ATOMIC_ACQUIRE);
    if (s)
        return s;
    spin_lock(&hp.lock);
    if (!hp.slots)
        __atomic_store_n(&hp.slots, pages_alloc((size_t)MAX_HEAPS * sizeof(ms_malloc)),
                         __ATOMIC_RELEASE);
    spin_unlock(&hp.lock);
    return hp.slots;
}

int64_t heap_id_of(const ms_malloc *m)
{
    if (!m || m == &heap_task)
        return 0;
    ms_malloc *s = __atomic_load_n(&hp.slots, __ATOMIC_ACQUIRE);
    uintptr_t a = (uintptr_t)m, lo = (uintptr_t)s;
    if (!s || a < lo + sizeof *m || a >= lo + (size_t)MAX_HEAPS * sizeof *m ||
        (a - lo) % sizeof *m)
        return -1;
    if (__atomic_load_n(&m->magic, __ATOMIC_ACQUIRE) != HEAP_MAGIC)
        return -1;
    return (int64_t)((a - lo) / sizeof *m);
}

ms_malloc *heap_handle(uint32_t id)
{
    if (!id || !hp.slots)
        return &heap_task;
    return &hp.slots[id];
}

const char *heap_name(uint32_t id)
{
    if (!id || !hp.slots)
        return NULL;
    return hp.slots[id].name;
}

const char *heap_describe(uint32_t id)
{
    static __thread char buf[256];
    if (!id)
        return "the task allocator (malloc)";
    diag_format(buf, sizeof buf, "heap '%s'", heap_name(id) ? heap_name(id) : "?");
    return buf;
}

ms_malloc *heap_create(const char *name, unsigned flags)
{
    ms_malloc *s = slots();
    if (!s)
        return NULL;
    if (!name)
        name = "heap";
    size_t len = strlen(name) + 1;
    char *copy = arena_alloc(len);
    if (!copy)
        return NULL;
    memcpy(copy, name, len);
    spin_lock(&hp.lock);
    uint32_t id = 0;
    if (hp.nfree)
        id = hp.free_ids[--hp.nfree];
    else if (hp.next < MAX_HEAPS)
        id = hp.next++;
    if (!id) {
        spin_unlock(&hp.lock);
        arena_free(copy, len);
        return NULL;
    }
    ms_malloc *h = &s[id];
    h->id = id;
    h->flags = flags;
    h->name = copy;
    spin_reset(&h->lock);
    __atomic_store_n(&h->magic, HEAP_MAGIC, __ATOMIC_RELEASE);
    spin_unlock(&hp.lock);
    return h;
}

/* The handle stops being valid at once; the id is reused by a later heap.  The name is
 * kept: a site of the old heap may still be shown in a report. */
static void heap_forget(ms_malloc *h)
{
    spin_lock(&hp.lock);
    __atomic_store_n(&h->magic, 0, __ATOMIC_RELEASE);
    if (arena_reserve(&hp.free_ids, hp.nfree, &hp.capfree, sizeof *hp.free_ids, 64))
        hp.free_ids[hp.nfree++] = h->id;
    spin_unlock(&hp.lock);
}

void heaps_fork_child(void)
{
    spin_reset(&hp.lock);
    for (uint32_t i = 1; hp.slots && i < hp.next; i++)
        spin_reset(&hp.slots[i].lock);
}

/* ---- walking, validating, destroying --------------------------------------------------- */

struct heap_block {
    uintptr_t addr;
    size_t size;
    uint32_t site;
};

struct collect {
    uint32_t heap;
    struct heap_block *b;
    size_t n, cap;
};

static void collect_block(const struct block *b, void *arg)
{
    struct collect *c = arg;
    if (b->site <= SITE_HELD)
        return;
    const struct site *s = site_by_id(b->site);
    if (!s || s->key.heap != c->heap)
        return;
    if (!pages_reserve(&c->b, c->n, &c->cap, sizeof *c->b, 256))
        return;
    c->b[c->n++] = (struct heap_block){ b->addr, (size_t)b->size, b->site };
}

/* The blocks of a heap as they are now (a walk of the block map; nothing is held). */
static struct collect collect(uint32_t heap)
{
    struct collect c = { heap, NULL, 0, 0 };
    blocks_for_each(collect_block, &c);
    return c;
}

static void collect_free(struct collect *c)
{
    if (c->b)
        pages_free(c->b, c->cap * sizeof *c->b);
}

int heap_walk(uint32_t heap, int (*visit)(const ms_block_info *, void *), void *arg)
{
    unsigned guard = tls_guard;
    tls_guard = 1;
    struct collect c = collect(heap);
    tls_guard = guard;
    int rc = MS_OK;
    for (size_t i = 0; i < c.n && rc == MS_OK; i++) {
        /* visit may have freed blocks not yet visited: skip those that are gone. */
        struct block b;
        if (!blocks_find(c.b[i].addr, &b) || b.site != c.b[i].site)
            continue;
        size_t size = (size_t)b.size;
        const struct site *s = site_by_id(b.site);
        ms_block_info info = { (const void *)c.b[i].addr, size,
                               s && s->stack ? &s->stack->pub : NULL, heap_name(heap), NULL, 0 };
        if (s && s->key.tag)
            tag_lookup(s->key.tag, &info.file, &info.line);
        rc = visit(&info, arg);
    }
    collect_free(&c);
    return rc;
}

bool heap_validate(uint32_t heap, const void *p)
{
    if (p)
        return core_heap_did_alloc(p, heap, NULL) == 1;
    /* The whole heap: every block the map gives it must be a block the real allocator
     * agrees about (with glibc, its chunk holds the block and what precedes it). */
    unsigned guard = tls_guard;
    tls_guard = 1;
    struct collect c = collect(heap);
    bool ok = true;
    struct block b;
    for (size_t i = 0; i < c.n && ok; i++) {
        const struct site *s = site_by_id(c.b[i].site);
        if (!s)
            ok = false;
        else if (!blocks_find(c.b[i].addr, &b) || b.site != c.b[i].site)
            ok = false;
        else if (real_is_glibc && real_fns.malloc_usable_size &&
                 real_fns.malloc_usable_size((void *)b.real) <
                     (b.addr - b.real) + c.b[i].size)
            ok = false;
    }
    collect_free(&c);
    tls_guard = guard;
    return ok;
}

void heap_destroy(ms_malloc *h, void *fp)
{
    bool locked = !(h->flags & MS_HEAP_NO_SERIALIZE) && !tls_guard;
    if (locked)
        spin_lock(&h->lock);
    unsigned guard = tls_guard;
    tls_guard = 1;
    struct collect c = collect(h->id);
    if ((h->flags & MS_HEAP_REPORT_LEAKS) && c.n) {
        uint32_t *tag = pages_alloc(c.n * sizeof *tag);
        size_t *sz = pages_alloc(c.n * sizeof *sz);
        uint32_t *st = pages_alloc(c.n * sizeof *st);
        if (tag && sz && st) {
            for (size_t i = 0; i < c.n; i++) {
                const struct site *s = site_by_id(c.b[i].site);
                st[i] = s ? s->key.stack : 0;
                tag[i] = s ? s->key.tag : 0;
                sz[i] = c.b[i].size;
            }
            heap_leaks_add(h->name, st, tag, sz, c.n);
        }
        pages_free(tag, c.n * sizeof *tag);
        pages_free(sz, c.n * sizeof *sz);
        pages_free(st, c.n * sizeof *st);
    }
    tls_guard = guard;
    /* HeapDestroy frees every block at once: through the core, so spies see the frees. */
    for (size_t i = 0; i < c.n; i++)
        core_heap_free((void *)c.b[i].addr, MS_CALL_TASK_FREE, h->id, fp);
    collect_free(&c);
    if (locked)
        spin_unlock(&h->lock);
    heap_forget(h);
}
