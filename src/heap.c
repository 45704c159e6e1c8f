/* Private heaps (HeapCreate and its family) and debug tags (IHostMalloc::DebugAlloc).
 * A heap's blocks are ordinary blocks whose site names the heap; the heap itself is a
 * handle in a region of its own, so that any pointer handed in as a heap can be checked
 * without reading memory that may not be there. */
#include <string.h>

#include "blocks.h"
#include "heap.h"
#include "ut.h"

#define MAX_HEAPS 65536

ms_malloc ms_task_allocator = { .magic = TASK_MAGIC };

static struct {
    ms_lock lock;              /* slots' allocation, region creation */
    ms_malloc *slots;          /* MAX_HEAPS handles, id = index; 0 is never used */
    uint32_t next;             /* first never-used id */
    uint32_t *free_ids;        /* ids of destroyed heaps, for reuse */
    uint32_t nfree;
    size_t capfree;
} hp = { .lock = MS_LOCK_INIT, .next = 1 };

static ms_malloc *slots(void)
{
    ms_malloc *s = __atomic_load_n(&hp.slots, __ATOMIC_ACQUIRE);
    if (s)
        return s;
    ms_lock_acquire(&hp.lock);
    if (!hp.slots)
        __atomic_store_n(&hp.slots, pages_alloc((size_t)MAX_HEAPS * sizeof(ms_malloc)),
                         __ATOMIC_RELEASE);
    ms_lock_release(&hp.lock);
    return hp.slots;
}

int64_t heap_id_of(const ms_malloc *m)
{
    if (!m || m == &ms_task_allocator)
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
        return &ms_task_allocator;
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
    ms_format(buf, sizeof buf, "heap '%s'", heap_name(id) ? heap_name(id) : "?");
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
    ms_lock_acquire(&hp.lock);
    uint32_t id = 0;
    if (hp.nfree)
        id = hp.free_ids[--hp.nfree];
    else if (hp.next < MAX_HEAPS)
        id = hp.next++;
    if (!id) {
        ms_lock_release(&hp.lock);
        arena_free(copy, len);
        return NULL;
    }
    ms_malloc *h = &s[id];
    h->id = id;
    h->flags = flags;
    h->name = copy;
    ms_lock_reset(&h->lock);
    __atomic_store_n(&h->magic, HEAP_MAGIC, __ATOMIC_RELEASE);
    ms_lock_release(&hp.lock);
    return h;
}

/* The handle stops being valid at once; the id is reused by a later heap.  The name is
 * kept: a site of the old heap may still be shown in a report. */
void heap_forget(ms_malloc *h)
{
    ms_lock_acquire(&hp.lock);
    __atomic_store_n(&h->magic, 0, __ATOMIC_RELEASE);
    if (arena_reserve(&hp.free_ids, hp.nfree, &hp.capfree, sizeof *hp.free_ids, 64))
        hp.free_ids[hp.nfree++] = h->id;
    ms_lock_release(&hp.lock);
}

/* ---- debug tags ------------------------------------------------------------------------ */

struct tag {
    UT_hash_handle hh;
    uint32_t id;
    int line;
    char file[];               /* a copy: the string may live in a library unloaded later */
};

static struct {
    ms_lock lock;              /* table, next, by_id */
    struct tag *table;
    struct tag **by_id;
    uint32_t next;
    size_t cap;
} tg = { .lock = MS_LOCK_INIT, .next = 1 };

uint32_t tag_get(const char *file, int line)
{
    if (!file)
        file = "?";
    size_t flen = strlen(file);
    char key[4096 + sizeof(int)];
    if (flen > 4096)
        flen = 4096;
    memcpy(key, &line, sizeof line);
    memcpy(key + sizeof line, file, flen);
    size_t klen = sizeof line + flen;
    ms_lock_acquire(&tg.lock);
    struct tag *t;
    HASH_FIND(hh, tg.table, key, klen, t);
    if (t) {
        ms_lock_release(&tg.lock);
        return t->id;
    }
    if (!arena_reserve(&tg.by_id, tg.next, &tg.cap, sizeof *tg.by_id, 256)) {
        ms_lock_release(&tg.lock);
        return 0;
    }
    /* The key is stored right after the line: file[] follows `line` in the struct. */
    t = arena_alloc(sizeof *t + flen + 1);
    if (!t) {
        ms_lock_release(&tg.lock);
        return 0;
    }
    t->id = tg.next++;
    t->line = line;
    memcpy(t->file, file, flen);
    t->file[flen] = 0;
    char *k = arena_alloc(klen);
    if (k) {
        memcpy(k, key, klen);
        HASH_ADD_KEYPTR(hh, tg.table, k, klen, t);
    }
    tg.by_id[t->id] = t;
    uint32_t id = t->id;
    ms_lock_release(&tg.lock);
    return id;
}

bool tag_lookup(uint32_t id, const char **file, int *line)
{
    if (!id)
        return false;
    ms_lock_acquire(&tg.lock);
    bool ok = id < tg.next && tg.by_id[id];
    if (ok) {
        *file = tg.by_id[id]->file;
        *line = tg.by_id[id]->line;
    }
    ms_lock_release(&tg.lock);
    return ok;
}

void heaps_fork_child(void)
{
    ms_lock_reset(&hp.lock);
    ms_lock_reset(&tg.lock);
    for (uint32_t i = 1; hp.slots && i < hp.next; i++)
        ms_lock_reset(&hp.slots[i].lock);
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
    unsigned guard = ms_tls.guard;
    ms_tls.guard = 1;
    struct collect c = collect(heap);
    ms_tls.guard = guard;
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
            tag_lookup((uint32_t)s->key.tag, &info.file, &info.line);
        rc = visit(&info, arg);
    }
    collect_free(&c);
    return rc;
}

bool heap_validate(uint32_t heap, const void *p)
{
    if (p)
        return ms_core_did_alloc_in(p, heap, NULL) == 1;
    /* The whole heap: every block the map gives it must be a block the real allocator
     * agrees about (with glibc, its chunk holds the block and what precedes it). */
    unsigned guard = ms_tls.guard;
    ms_tls.guard = 1;
    struct collect c = collect(heap);
    bool ok = true;
    struct block b;
    for (size_t i = 0; i < c.n && ok; i++) {
        const struct site *s = site_by_id(c.b[i].site);
        if (!s)
            ok = false;
        else if (!blocks_find(c.b[i].addr, &b) || b.site != c.b[i].site)
            ok = false;
        else if (ms_real_is_glibc && ms_real.malloc_usable_size &&
                 ms_real.malloc_usable_size((void *)b.real) <
                     (b.addr - b.real) + c.b[i].size)
            ok = false;
    }
    collect_free(&c);
    ms_tls.guard = guard;
    return ok;
}

void report_heap_leaks(const char *name, const uintptr_t *addr, const size_t *size,
                       const uint32_t *site, size_t n);

void heap_destroy(ms_malloc *h, void *fp)
{
    bool locked = !(h->flags & MS_HEAP_NO_SERIALIZE) && !ms_tls.guard;
    if (locked)
        ms_lock_acquire(&h->lock);
    unsigned guard = ms_tls.guard;
    ms_tls.guard = 1;
    struct collect c = collect(h->id);
    if ((h->flags & MS_HEAP_REPORT_LEAKS) && c.n) {
        uintptr_t *a = pages_alloc(c.n * sizeof *a);
        size_t *sz = pages_alloc(c.n * sizeof *sz);
        uint32_t *st = pages_alloc(c.n * sizeof *st);
        if (a && sz && st) {
            for (size_t i = 0; i < c.n; i++) {
                a[i] = c.b[i].addr;
                sz[i] = c.b[i].size;
                st[i] = c.b[i].site;
            }
            report_heap_leaks(h->name, a, sz, st, c.n);
        }
        pages_free(a, c.n * sizeof *a);
        pages_free(sz, c.n * sizeof *sz);
        pages_free(st, c.n * sizeof *st);
    }
    ms_tls.guard = guard;
    /* HeapDestroy frees every block at once: through the core, so spies see the frees. */
    for (size_t i = 0; i < c.n; i++)
        ms_core_free_in((void *)c.b[i].addr, MS_CALL_TASK_FREE, h->id, fp);
    collect_free(&c);
    if (locked)
        ms_lock_release(&h->lock);
    heap_forget(h);
}
