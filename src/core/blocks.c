/* The live blocks.  Each tracked block carries its record in a 16-byte header in front of
 * it, in the same allocation, so that a free reads it where the block already is (in the
 * freeing thread's cache, as the program just used the block) instead of probing a shared
 * table.  Which addresses start a block is kept in a byte map, one byte for each 16 bytes
 * of address space, two levels deep: a free checks the map before it reads any header, so
 * a foreign or garbage pointer is never dereferenced.  A map byte also says how far before
 * the program's pointer the header is (spies may put headers of their own in between).
 *
 * Nothing here takes a lock on the way of an allocation or a free, and nothing waits: each
 * byte is written by the thread that allocates or frees its block, with a plain store.  A
 * block freed by another thread than the one that allocated it costs no more than any
 * other.  The header is written before the map byte is set, and the map byte cleared before
 * the memory goes back to the real allocator, so a thread stopped for a scan at any point
 * never leaves the scan a mark without its header.
 *
 * Leaves of the map are mapped on first use (4 MiB of address space each, of which only
 * the pages that hold marks are ever touched); they are never unmapped. */
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/diag.h"
#include "base/lock.h"
#include "base/mem.h"
#include "base/thread.h"
#include "core/blocks.h"

#define GRAIN_SHIFT 4                           /* a map byte per 16 bytes */
#define LEAF_SHIFT 26                           /* a leaf covers 64 MiB of addresses */
#define LEAF_BYTES ((size_t)1 << (LEAF_SHIFT - GRAIN_SHIFT))
#define ADDR_BITS 47
#define NLEAVES ((size_t)1 << (ADDR_BITS - LEAF_SHIFT))

/* Map codes: 0 nothing; 1..MAX_NEAR a block whose header ends 8 * (code - 1) bytes before
 * the program's pointer; FAR a header further away or at an odd distance, found in the
 * far list (spies with big or odd headers; rare); SIDE a block without a header (an
 * aligned one), whose record is in the side table. */
#define MAX_NEAR 239
#define SIDE 254
#define FAR 255

/* The side table: aligned blocks' records, by pointer, in shards under spinlocks.  Its
 * locks count as critical sections (a thread is never stopped for a scan inside one), and
 * a thread inside one that a signal handler interrupts gives the handler's aligned blocks
 * headers instead. */
#define SIDE_SHARDS 64
struct side_rec {
    uintptr_t p, actual, real;
    uint64_t size;
    uint32_t site;
};
struct side_shard {
    spinlock lock;
    struct side_rec *r;        /* open addressing, by p; p 0: empty */
    uint32_t n, cap;
} __attribute__((aligned(64)));
static struct side_shard side[SIDE_SHARDS];
static TLS_IE unsigned in_side;

/* Header flags, in the top bits of the size word. */
#define H_REAL_BEFORE (1ull << 63)              /* the real pointer is stored just before
                                                   the header (aligned blocks) */
#define H_SIZE_MASK ((1ull << 62) - 1)

struct header {
    uint64_t size_flags;
    uint32_t site;
    uint32_t check;                             /* a mix of the rest and of where it is */
};

struct far {
    uintptr_t p, header;
};

static struct {
    _Atomic(uint8_t *) dir[NLEAVES];            /* set once each, by CAS */
    _Atomic uint32_t leaf_ids[65536];           /* which dir entries are set, for walks:
                                                   4 TiB of addresses holding blocks */
    _Atomic uint32_t nleaves;
    spinlock far_lock;                           /* far, nfar, capfar (taken in no
                                                   critical section: FAR marks are made
                                                   only by spies with odd headers) */
    struct far *far;
    size_t nfar, capfar;
} map = { .far_lock = SPIN_INIT };

bool blocks_used;

static inline uint32_t check_of(uintptr_t at, uint64_t size_flags, uint32_t site)
{
    uint64_t h = (uint64_t)at * 0x9E3779B97F4A7C15ULL ^ size_flags * 0xff51afd7ed558ccdULL ^
                 (uint64_t)site * 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 31;
    return (uint32_t)(h >> 32) ^ 0x4d53424bu;   /* "MSBK" */
}

/* ---- layout ---------------------------------------------------------------------------- */

size_t block_extra(size_t align, size_t shift, bool headed)
{
    if (!headed)
        return (align - shift % align) % align;
    if ((BLOCK_HEADER + shift) % align == 0)
        return BLOCK_HEADER;
    /* Room for the header and the real pointer before it, and the spies' region placed so
     * that their shift lands the program's pointer on the alignment. */
    size_t need = BLOCK_HEADER + sizeof(uintptr_t) + shift;
    return ((need + align - 1) & ~(align - 1)) - shift;
}

uintptr_t block_actual(uintptr_t real, size_t align, size_t shift, bool headed)
{
    return real + block_extra(align, shift, headed);
}

bool blocks_side_for(size_t align)
{
    return align > BLOCK_HEADER && !in_side;
}

/* ---- the side table ----------------------------------------------------------------------- */

static inline struct side_shard *shard_of(uintptr_t p)
{
    return &side[((p >> 4) * 0x9E3779B97F4A7C15ULL) >> 58];
}

static inline uint32_t home(uintptr_t p, uint32_t cap)
{
    return (uint32_t)(((p >> 4) * 0xff51afd7ed558ccdULL) >> 32) & (cap - 1);
}

static void side_lock(struct side_shard *sh)
{
    crit_enter();
    in_side++;
    spin_lock(&sh->lock);
}

static void side_unlock(struct side_shard *sh)
{
    spin_unlock(&sh->lock);
    in_side--;
    crit_leave();
}

static bool side_grow(struct side_shard *sh)
{
    uint32_t ncap = sh->cap ? sh->cap * 2 : 256;
    struct side_rec *n = pages_alloc((size_t)ncap * sizeof *n);
    if (!n)
        return false;
    for (uint32_t i = 0; i < sh->cap; i++) {
        if (!sh->r[i].p)
            continue;
        uint32_t j = home(sh->r[i].p, ncap);
        while (n[j].p)
            j = (j + 1) & (ncap - 1);
        n[j] = sh->r[i];
    }
    pages_free(sh->r, (size_t)sh->cap * sizeof *n);
    sh->r = n;
    sh->cap = ncap;
    return true;
}

/* The slot of p, or the empty one where it would go; under the lock. */
static uint32_t side_slot(const struct side_shard *sh, uintptr_t p)
{
    uint32_t i = home(p, sh->cap);
    while (sh->r[i].p && sh->r[i].p != p)
        i = (i + 1) & (sh->cap - 1);
    return i;
}

static bool side_put(const struct block *b)
{
    struct side_shard *sh = shard_of(b->addr);
    side_lock(sh);
    bool ok = (sh->n + 1) * 2 <= sh->cap || side_grow(sh);
    if (ok) {
        uint32_t i = side_slot(sh, b->addr);
        if (!sh->r[i].p)
            sh->n++;
        sh->r[i] = (struct side_rec){ b->addr, b->actual, b->real, b->size, b->site };
    }
    side_unlock(sh);
    return ok;
}

static bool side_get(uintptr_t p, struct block *out, bool remove)
{
    struct side_shard *sh = shard_of(p);
    side_lock(sh);
    bool found = false;
    if (sh->cap) {
        uint32_t i = side_slot(sh, p);
        if (sh->r[i].p) {
            found = true;
            const struct side_rec *r = &sh->r[i];
            *out = (struct block){ r->p, r->actual, r->real, r->size, r->site, true };
            if (remove) {
                /* Backward-shift deletion: no tombstones. */
                uint32_t hole = i, j = i, mask = sh->cap - 1;
                for (;;) {
                    j = (j + 1) & mask;
                    if (!sh->r[j].p)
                        break;
                    uint32_t h = home(sh->r[j].p, sh->cap);
                    bool between = hole <= j ? (h > hole && h <= j) : (h > hole || h <= j);
                    if (!between) {
                        sh->r[hole] = sh->r[j];
                        hole = j;
                    }
                }
                sh->r[hole].p = 0;
                sh->n--;
            }
        }
    }
    side_unlock(sh);
    return found;
}

/* ---- the map ----------------------------------------------------------------------------- */

static inline uint8_t *leaf_of(uintptr_t p)
{
    return atomic_load_explicit(&map.dir[p >> LEAF_SHIFT], memory_order_acquire);
}

static inline size_t slot_of(uintptr_t p)
{
    return (p >> GRAIN_SHIFT) & (LEAF_BYTES - 1);
}

static uint8_t *leaf_for(uintptr_t p)
{
    uint8_t *leaf = leaf_of(p);
    if (likely(leaf))
        return leaf;
    long r = syscall(SYS_mmap, NULL, LEAF_BYTES, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (r == -1)
        return NULL;
    uint8_t *fresh = (uint8_t *)r, *expect = NULL;
    if (!atomic_compare_exchange_strong(&map.dir[p >> LEAF_SHIFT], &expect, fresh)) {
        syscall(SYS_munmap, fresh, LEAF_BYTES);
        return expect;
    }
    uint32_t n = atomic_fetch_add(&map.nleaves, 1);
    if (n < ARRAY_SIZE(map.leaf_ids))
        atomic_store(&map.leaf_ids[n], (uint32_t)(p >> LEAF_SHIFT) + 1);
    else if (n == ARRAY_SIZE(map.leaf_ids))
        diag_warn("blocks spread over more than 4 TiB of addresses: the reports will not see "
                "all of them");
    return fresh;
}

static bool far_add(uintptr_t p, uintptr_t header)
{
    spin_lock(&map.far_lock);
    bool ok = arena_reserve(&map.far, map.nfar, &map.capfar, sizeof *map.far, 64);
    if (ok)
        map.far[map.nfar++] = (struct far){ p, header };
    spin_unlock(&map.far_lock);
    return ok;
}

static uintptr_t far_find(uintptr_t p, bool remove)
{
    uintptr_t h = 0;
    spin_lock(&map.far_lock);
    for (size_t i = 0; i < map.nfar; i++)
        if (map.far[i].p == p) {
            h = map.far[i].header;
            if (remove)
                map.far[i] = map.far[--map.nfar];
            break;
        }
    spin_unlock(&map.far_lock);
    return h;
}

static inline uintptr_t header_at(uintptr_t p, uint8_t code)
{
    return code == FAR ? far_find(p, false) : p - BLOCK_HEADER - 8 * (uintptr_t)(code - 1);
}

/* ---- headers ------------------------------------------------------------------------------- */

static void write_header(uintptr_t at, uint64_t size_flags, uint32_t site)
{
    struct header h = { size_flags, site, check_of(at, size_flags, site) };
    memcpy((void *)at, &h, sizeof h);
}

/* The block a header read at `at` describes; false if it is not a header of ours. */
static bool decode(uintptr_t p, uintptr_t at, const struct header *h, struct block *out)
{
    if (h->check != check_of(at, h->size_flags, h->site))
        return false;
    out->addr = p;
    out->actual = at + BLOCK_HEADER;
    out->size = h->size_flags & H_SIZE_MASK;
    out->site = h->site;
    out->headless = false;
    if (h->size_flags & H_REAL_BEFORE)
        memcpy(&out->real, (const void *)(at - sizeof(uintptr_t)), sizeof out->real);
    else
        out->real = at;
    return true;
}

bool blocks_publish(const struct block *b)
{
    if ((b->addr >> ADDR_BITS) || b->actual < BLOCK_HEADER)
        return false;
    /* A block's pointer is aligned, but a spy's pActual, marked when a spy takes a block in
     * charge, may not be: its granule is the block's own, and the side table has it. */
    uintptr_t at = b->actual - BLOCK_HEADER, d = b->addr - at;
    bool aligned = !(b->addr & ((1u << GRAIN_SHIFT) - 1));
    uint8_t code = (aligned && d >= BLOCK_HEADER && !((d - BLOCK_HEADER) & 7) &&
                    (d - BLOCK_HEADER) / 8 + 1 <= MAX_NEAR)
                       ? (uint8_t)((d - BLOCK_HEADER) / 8 + 1)
                       : FAR;
    uint8_t *leaf = leaf_for(b->addr);
    if (!leaf || (code == FAR && !far_add(b->addr, at)))
        return false;
    uint64_t flags = b->real != at ? H_REAL_BEFORE : 0;
    if (flags)
        memcpy((void *)(at - sizeof(uintptr_t)), &b->real, sizeof b->real);
    write_header(at, (b->size & H_SIZE_MASK) | flags, b->site);
    __atomic_store_n(&leaf[slot_of(b->addr)], code, __ATOMIC_RELEASE);
    if (unlikely(!blocks_used))
        blocks_used = true;
    return true;
}

bool blocks_publish_side(const struct block *b)
{
    if (b->addr >> ADDR_BITS)
        return false;
    uint8_t *leaf = leaf_for(b->addr);
    if (!leaf || !side_put(b))
        return false;
    __atomic_store_n(&leaf[slot_of(b->addr)], SIDE, __ATOMIC_RELEASE);
    if (unlikely(!blocks_used))
        blocks_used = true;
    return true;
}

bool blocks_find(uintptr_t p, struct block *out)
{
    if (p >> ADDR_BITS)
        return false;
    uint8_t *leaf = leaf_of(p);
    if (!leaf)
        return false;
    uint8_t code = __atomic_load_n(&leaf[slot_of(p)], __ATOMIC_ACQUIRE);
    if (!code || (code < SIDE && (p & ((1u << GRAIN_SHIFT) - 1))))
        return false;
    if (code == SIDE)
        return side_get(p, out, false);
    uintptr_t at = header_at(p, code);
    if (!at)
        return false;
    struct header h;
    memcpy(&h, (const void *)at, sizeof h);
    return decode(p, at, &h, out);
}

void blocks_unpublish(uintptr_t p)
{
    uint8_t *leaf = leaf_of(p);
    if (!leaf)
        return;
    uint8_t code = leaf[slot_of(p)];
    __atomic_store_n(&leaf[slot_of(p)], 0, __ATOMIC_RELEASE);
    struct block gone;
    if (code == FAR)
        far_find(p, true);
    else if (code == SIDE)
        side_get(p, &gone, true);
}

void blocks_set_site(struct block *b, uint32_t site)
{
    b->site = site;
    if (b->headless) {
        side_put(b);
        return;
    }
    uintptr_t at = b->actual - BLOCK_HEADER;
    uint64_t flags = b->real != at ? H_REAL_BEFORE : 0;
    write_header(at, (b->size & H_SIZE_MASK) | flags, site);
}

void blocks_move_to_actual(struct block *b)
{
    if (b->addr == b->actual)
        return;
    blocks_unpublish(b->addr);
    struct block moved = *b;
    moved.addr = b->actual;
    if (b->headless ? blocks_publish_side(&moved) : blocks_publish(&moved))
        *b = moved;
}

/* ---- walks ------------------------------------------------------------------------------ */

/* Reads n headers with process_vm_readv, which fails where a plain read would fault (a
 * block freed and its memory given back under the walk); where the call itself is refused
 * (seccomp), they are read directly.  ok[i] tells which were read. */
static void read_headers(const uintptr_t *at, struct header *h, bool *ok, size_t n)
{
    static int vm_works = -1;                  /* -1 unknown, 0 refused, 1 works */
    size_t i = 0;
    while (i < n) {
        size_t k = n - i < 1024 ? n - i : 1024;
        if (vm_works != 0) {
            struct iovec local[1024], remote[1024];
            for (size_t j = 0; j < k; j++) {
                local[j] = (struct iovec){ &h[i + j], sizeof *h };
                remote[j] = (struct iovec){ (void *)at[i + j], sizeof *h };
            }
            ssize_t got = syscall(SYS_process_vm_readv, (long)getpid(), local, (long)k, remote,
                                  (long)k, 0L);
            if (got >= 0 || (errno != ENOSYS && errno != EPERM)) {
                vm_works = 1;
                size_t done = got > 0 ? (size_t)got / sizeof *h : 0;
                for (size_t j = 0; j < done; j++)
                    ok[i + j] = true;
                if (done < k) {
                    ok[i + done] = false;   /* the one that failed; go on after it */
                    done++;
                }
                i += done;
                continue;
            }
            vm_works = 0;
        }
        for (size_t j = 0; j < k; j++) {
            memcpy(&h[i + j], (const void *)at[i + j], sizeof *h);
            ok[i + j] = true;
        }
        i += k;
    }
}

struct batch {
    uintptr_t p[1024], at[1024];
    struct header h[1024];
    bool ok[1024];
    size_t n;
};

static void flush(struct batch *bt, void (*fn)(const struct block *, void *), void *arg)
{
    read_headers(bt->at, bt->h, bt->ok, bt->n);
    for (size_t i = 0; i < bt->n; i++) {
        struct block b;
        if (bt->ok[i] && decode(bt->p[i], bt->at[i], &bt->h[i], &b))
            fn(&b, arg);
    }
    bt->n = 0;
}

static bool id_before(const void *a, const void *b)
{
    return *(const uint32_t *)a < *(const uint32_t *)b;
}

/* In address order: the leaves by their place in the address space, the blocks of a leaf
 * by their place in it (the scan then needs no sort of its own, nor the memory for one). */
void blocks_for_each(void (*fn)(const struct block *, void *), void *arg)
{
    uint32_t nl = atomic_load(&map.nleaves);
    if (nl > ARRAY_SIZE(map.leaf_ids))
        nl = ARRAY_SIZE(map.leaf_ids);
    struct batch *bt = pages_alloc(sizeof *bt);
    unsigned char *vec = pages_alloc(LEAF_BYTES / 4096);
    uint32_t *ids = pages_alloc((nl ? nl : 1) * sizeof *ids);
    if (!bt || !vec || !ids) {
        pages_free(bt, sizeof *bt);
        pages_free(vec, LEAF_BYTES / 4096);
        pages_free(ids, (nl ? nl : 1) * sizeof *ids);
        return;
    }
    for (uint32_t l = 0; l < nl; l++)
        ids[l] = atomic_load(&map.leaf_ids[l]);
    sort_small(ids, nl, sizeof *ids, id_before);
    for (uint32_t l = 0; l < nl; l++) {
        uint32_t id = ids[l];
        if (!id)
            continue;
        uintptr_t base = (uintptr_t)(id - 1) << LEAF_SHIFT;
        const uint8_t *leaf = atomic_load(&map.dir[id - 1]);
        /* Only the pages of the map that were ever written can hold a mark. */
        bool have_vec = syscall(SYS_mincore, leaf, LEAF_BYTES, vec) == 0;
        for (size_t pg = 0; pg < LEAF_BYTES / 4096; pg++) {
            if (have_vec && !(vec[pg] & 1))
                continue;
            const uint64_t *w = (const uint64_t *)(leaf + pg * 4096);
            for (size_t k = 0; k < 512; k++) {
                uint64_t word = __atomic_load_n(&w[k], __ATOMIC_RELAXED);
                for (unsigned byte = 0; word && byte < 8; byte++) {
                    uint8_t code = (uint8_t)(word >> (byte * 8));
                    if (!code)
                        continue;
                    size_t s = pg * 4096 + k * 8 + byte;
                    uintptr_t p = base + ((uintptr_t)s << GRAIN_SHIFT);
                    struct block sb;
                    if (code == SIDE) {
                        if (bt->n)
                            flush(bt, fn, arg);    /* the blocks before it first */
                        if (side_get(p, &sb, false))
                            fn(&sb, arg);
                        continue;
                    }
                    uintptr_t at = header_at(p, code);
                    if (!at)
                        continue;
                    bt->p[bt->n] = p;
                    bt->at[bt->n] = at;
                    if (++bt->n == ARRAY_SIZE(bt->p))
                        flush(bt, fn, arg);
                }
            }
        }
    }
    if (bt->n)
        flush(bt, fn, arg);
    pages_free(bt, sizeof *bt);
    pages_free(vec, LEAF_BYTES / 4096);
    pages_free(ids, (nl ? nl : 1) * sizeof *ids);
}

static void count_one(const struct block *b, void *arg)
{
    (void)b;
    ++*(size_t *)arg;
}

size_t blocks_count(void)
{
    size_t n = 0;
    blocks_for_each(count_one, &n);
    return n;
}

bool blocks_containing(uintptr_t p, struct block *out)
{
    /* Backwards over at most 1 MiB of addresses: a pointer further inside a bigger block
     * is reported without naming it. */
    for (uintptr_t q = p & ~(uintptr_t)((1u << GRAIN_SHIFT) - 1), n = 0; n < 65536 && q; q -= 1u << GRAIN_SHIFT, n++) {
        uint8_t *leaf = leaf_of(q);
        if (!leaf) {
            /* A whole leaf without marks: skip to the end of the one before. */
            uintptr_t start = q & ~(((uintptr_t)1 << LEAF_SHIFT) - 1);
            n += (q - start) >> GRAIN_SHIFT;
            q = start;
            continue;
        }
        uint8_t code = leaf[slot_of(q)];
        if (!code || code == FAR)
            continue;
        struct block b;
        if (code == SIDE) {
            if (side_get(q, &b, false) && p - q < (b.size ? b.size : 1)) {
                *out = b;
                return true;
            }
            return false;
        }
        uintptr_t at = header_at(q, code);
        struct header h;
        bool ok = false;
        if (at)
            read_headers(&at, &h, &ok, 1);
        if (ok && decode(q, at, &h, &b) && p - q < (b.size ? b.size : 1)) {
            *out = b;
            return true;
        }
        return false;   /* the nearest block before p does not reach it */
    }
    return false;
}

size_t blocks_map_bytes(void)
{
    size_t n = 0;
    for (unsigned k = 0; k < SIDE_SHARDS; k++)
        n += (size_t)__atomic_load_n(&side[k].cap, __ATOMIC_RELAXED) * sizeof(struct side_rec);
    unsigned char *vec = pages_alloc(LEAF_BYTES / 4096);
    uint32_t nl = atomic_load(&map.nleaves);
    for (uint32_t l = 0; vec && l < nl && l < ARRAY_SIZE(map.leaf_ids); l++) {
        uint32_t id = atomic_load(&map.leaf_ids[l]);
        if (id && syscall(SYS_mincore, atomic_load(&map.dir[id - 1]), LEAF_BYTES, vec) == 0)
            for (size_t pg = 0; pg < LEAF_BYTES / 4096; pg++)
                n += (vec[pg] & 1) * 4096;
    }
    pages_free(vec, LEAF_BYTES / 4096);
    return n;
}

/* Across fork every shard is held, so the child finds none half-changed. */
void blocks_fork_prepare(void)
{
    for (unsigned k = 0; k < SIDE_SHARDS; k++)
        spin_lock(&side[k].lock);
    spin_lock(&map.far_lock);
}

void blocks_fork_parent(void)
{
    spin_unlock(&map.far_lock);
    for (unsigned k = 0; k < SIDE_SHARDS; k++)
        spin_unlock(&side[k].lock);
}

void blocks_fork_child(void)
{
    for (unsigned k = 0; k < SIDE_SHARDS; k++)
        spin_reset(&side[k].lock);
    spin_reset(&map.far_lock);
    in_side = 0;
}
