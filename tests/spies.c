/* Spies used by the tests. */
#include "spies.h"

#include <stdlib.h>
#include <string.h>

/* ---- counting spy -------------------------------------------------------------------- */

static void trace(struct counting_spy *s, char hook)
{
    if (!s->trace)
        return;
    size_t at = atomic_fetch_add(s->trace_len, 2);
    if (at + 2 < s->trace_cap) {
        s->trace[at] = s->name;
        s->trace[at + 1] = hook;
    }
}

static void count(struct counting_spy *s, int h, bool spied, char letter)
{
    if (!atomic_load(&s->armed) && h != H_RELEASE)
        return;
    atomic_fetch_add(&s->calls[h], 1);
    if (spied)
        atomic_fetch_add(&s->spied_true[h], 1);
    s->last_spied = spied;
    trace(s, letter);
    if (s->alloc_in_hooks) {
        /* Goes straight to the real allocator: no spy may see it, this one included. */
        char *p = malloc(64);
        memset(p, 0x5a, 64);
        free(p);
    }
}

#define CS(self) ((struct counting_spy *)(self))

static size_t c_pre_alloc(ms_spy *self, size_t request)
{
    count(CS(self), H_PRE_ALLOC, false, 'a');
    if (CS(self)->armed)
        CS(self)->last_request = request;
    if (CS(self)->fail_size && request == CS(self)->fail_size)
        return 0;
    return request;
}
static void *c_post_alloc(ms_spy *self, void *actual)
{
    count(CS(self), H_POST_ALLOC, false, 'A');
    if (CS(self)->armed)
        CS(self)->last_actual = actual;
    return actual;
}
static void *c_pre_free(ms_spy *self, void *request, bool spied)
{
    count(CS(self), H_PRE_FREE, spied, 'f');
    if (CS(self)->armed)
        CS(self)->last_free = request;
    if (CS(self)->watch && request == CS(self)->watch)
        atomic_fetch_add(&CS(self)->matched, 1);
    return request;
}
static void c_post_free(ms_spy *self, bool spied) { count(CS(self), H_POST_FREE, spied, 'F'); }
static size_t c_pre_realloc(ms_spy *self, void *request, size_t size, void **new_request,
                            bool spied)
{
    count(CS(self), H_PRE_REALLOC, spied, 'r');
    if (CS(self)->armed)
        CS(self)->last_request = size;
    *new_request = request;
    if (CS(self)->fail_size && size == CS(self)->fail_size)
        return 0;
    return size;
}
static void *c_post_realloc(ms_spy *self, void *actual, bool spied)
{
    count(CS(self), H_POST_REALLOC, spied, 'R');
    if (CS(self)->armed)
        CS(self)->last_actual = actual;
    return actual;
}
static void *c_pre_get_size(ms_spy *self, void *request, bool spied)
{
    count(CS(self), H_PRE_GET_SIZE, spied, 's');
    return request;
}
static size_t c_post_get_size(ms_spy *self, size_t actual, bool spied)
{
    count(CS(self), H_POST_GET_SIZE, spied, 'S');
    return actual;
}
static void *c_pre_did_alloc(ms_spy *self, void *request, bool spied)
{
    count(CS(self), H_PRE_DID_ALLOC, spied, 'd');
    return request;
}
static int c_post_did_alloc(ms_spy *self, void *request, bool spied, int actual)
{
    (void)request;
    count(CS(self), H_POST_DID_ALLOC, spied, 'D');
    return actual;
}
static void c_pre_heap_minimize(ms_spy *self) { count(CS(self), H_PRE_HEAP_MINIMIZE, false, 'm'); }
static void c_post_heap_minimize(ms_spy *self) { count(CS(self), H_POST_HEAP_MINIMIZE, false, 'M'); }
static void c_release(ms_spy *self) { count(CS(self), H_RELEASE, false, 'X'); }

/* post_alloc also notes when it sees the watched pointer (libc's own allocations). */
static void *c_post_alloc_watch(ms_spy *self, void *actual)
{
    return c_post_alloc(self, actual);
}

const ms_spy_ops counting_ops = {
    .pre_alloc = c_pre_alloc,
    .post_alloc = c_post_alloc_watch,
    .pre_free = c_pre_free,
    .post_free = c_post_free,
    .pre_realloc = c_pre_realloc,
    .post_realloc = c_post_realloc,
    .pre_get_size = c_pre_get_size,
    .post_get_size = c_post_get_size,
    .pre_did_alloc = c_pre_did_alloc,
    .post_did_alloc = c_post_did_alloc,
    .pre_heap_minimize = c_pre_heap_minimize,
    .post_heap_minimize = c_post_heap_minimize,
    .release = c_release,
};

void counting_spy_init(struct counting_spy *s, char name)
{
    memset(s, 0, sizeof *s);
    s->base.ops = &counting_ops;
    s->name = name;
}

/* ---- header spy -----------------------------------------------------------------------
 * Layout of a spied block:  [ header: hdr bytes ][ user: size bytes ][ canary: 8 bytes ]
 * The last 16 bytes of the header hold { magic, size, hdr } packed as below. */

struct hdr_tail {
    uint64_t magic;
    uint32_t size_lo;            /* user size, low and high halves */
    uint16_t size_hi;
    uint16_t hdr;                /* header bytes / 16 */
};

#define HS(self) ((struct header_spy *)(self))

static size_t header_bytes(void)
{
    const ms_call *c = ms_spy_call();
    size_t a = c && c->alignment > 16 ? c->alignment : 16;
    return a;
}

static void put_tail(unsigned char *user, size_t size, size_t hdr)
{
    struct hdr_tail *t = (struct hdr_tail *)(user - sizeof *t);
    t->magic = HEADER_MAGIC;
    t->size_lo = (uint32_t)size;
    t->size_hi = (uint16_t)(size >> 32);
    t->hdr = (uint16_t)(hdr / 16);
    uint64_t c = CANARY;
    memcpy(user + size, &c, sizeof c);
}

/* Checks a spied block; returns its user size and header bytes, or counts an error. */
static bool check_block(struct header_spy *s, const unsigned char *user, size_t *size,
                        size_t *hdr)
{
    if ((uintptr_t)user % 16) {
        atomic_fetch_add(&s->errors, 1);
        return false;
    }
    const struct hdr_tail *t = (const struct hdr_tail *)(user - sizeof *t);
    if (t->magic != HEADER_MAGIC) {
        atomic_fetch_add(&s->errors, 1);
        return false;
    }
    *size = t->size_lo | (size_t)t->size_hi << 32;
    *hdr = (size_t)t->hdr * 16;
    uint64_t c;
    memcpy(&c, user + *size, sizeof c);
    if (c != CANARY)
        atomic_fetch_add(&s->errors, 1);
    return true;
}

/* What this spy was asked for in pre_ is what it lays out in post_: when spies nest, that
 * is not the program's request (ms_spy_call()->request) but what the outer spy passed in.
 * Kept per thread and per spy, as two instances of this spy may nest. */
struct pending { const void *spy; size_t asked, hdr; void *queried; };
static __thread struct pending pend[8];
static struct pending *mine(const void *spy)
{
    for (int i = 0; i < 8; i++)
        if (pend[i].spy == spy || !pend[i].spy) {
            pend[i].spy = spy;
            return &pend[i];
        }
    return &pend[0];
}

static size_t h_pre_alloc(ms_spy *self, size_t request)
{
    mine(self)->asked = request;
    return request + header_bytes() + sizeof(uint64_t);
}

static void *h_post_alloc(ms_spy *self, void *actual)
{
    if (!actual)
        return NULL;
    const ms_call *c = ms_spy_call();
    size_t hdr = header_bytes();
    if ((uintptr_t)actual % (c->alignment < 16 ? 16 : c->alignment))
        atomic_fetch_add(&HS(self)->errors, 1);  /* mallocspy must hand us an aligned block */
    unsigned char *user = (unsigned char *)actual + hdr;
    put_tail(user, mine(self)->asked, hdr);
    atomic_fetch_add(&HS(self)->blocks, 1);
    atomic_fetch_add(&HS(self)->allocs, 1);
    return user;
}

static void *h_pre_free(ms_spy *self, void *request, bool spied)
{
    if (!spied)
        return request;
    size_t size, hdr;
    if (!check_block(HS(self), request, &size, &hdr))
        return request;
    ((struct hdr_tail *)((unsigned char *)request - sizeof(struct hdr_tail)))->magic = 0;
    atomic_fetch_sub(&HS(self)->blocks, 1);
    atomic_fetch_add(&HS(self)->frees, 1);
    return (unsigned char *)request - hdr;
}

/* Spied block: resize keeping the header.  Block that is not ours yet: add the header
 * (post_realloc moves the data), because after a realloc the block counts as spied. */

static size_t h_pre_realloc(ms_spy *self, void *request, size_t size, void **new_request,
                            bool spied)
{
    size_t old, hdr = 16;
    if (spied && check_block(HS(self), request, &old, &hdr)) {
        *new_request = (unsigned char *)request - hdr;
    } else {
        *new_request = request;
    }
    mine(self)->hdr = hdr;
    mine(self)->asked = size;
    return size + hdr + sizeof(uint64_t);
}

static void *h_post_realloc(ms_spy *self, void *actual, bool spied)
{
    if (!actual)
        return NULL;
    const ms_call *c = ms_spy_call();
    size_t hdr = mine(self)->hdr, asked = mine(self)->asked;
    unsigned char *user;
    if (spied) {
        user = (unsigned char *)actual + hdr;   /* the old header came along */
    } else {
        size_t keep = c->block_size && c->block_size < asked ? c->block_size : asked;
        user = (unsigned char *)actual + hdr;
        memmove(user, actual, keep);
        atomic_fetch_add(&HS(self)->blocks, 1);
    }
    put_tail(user, asked, hdr);
    atomic_fetch_add(&HS(self)->reallocs, 1);
    return user;
}

static void *h_pre_get_size(ms_spy *self, void *request, bool spied)
{
    mine(self)->queried = request;
    size_t size, hdr;
    if (spied && check_block(HS(self), request, &size, &hdr))
        return (unsigned char *)request - hdr;
    return request;
}

static size_t h_post_get_size(ms_spy *self, size_t actual, bool spied)
{
    atomic_fetch_add(&HS(self)->sizes, 1);
    if (!spied)
        return actual;
    size_t size, hdr;
    if (!check_block(HS(self), mine(self)->queried, &size, &hdr))
        return actual;
    /* `actual` is what mallocspy asked the real allocator for: header + size + canary. */
    if (actual != size + hdr + sizeof(uint64_t))
        atomic_fetch_add(&HS(self)->errors, 1);
    return actual - hdr - sizeof(uint64_t);
}

static void *h_pre_did_alloc(ms_spy *self, void *request, bool spied)
{
    atomic_fetch_add(&HS(self)->dids, 1);
    size_t size, hdr;
    if (spied && check_block(HS(self), request, &size, &hdr))
        return (unsigned char *)request - hdr;
    return request;
}

static void h_release(ms_spy *self) { atomic_fetch_add(&HS(self)->released, 1); }

const ms_spy_ops header_ops = {
    .pre_alloc = h_pre_alloc,
    .post_alloc = h_post_alloc,
    .pre_free = h_pre_free,
    .pre_realloc = h_pre_realloc,
    .post_realloc = h_post_realloc,
    .pre_get_size = h_pre_get_size,
    .post_get_size = h_post_get_size,
    .pre_did_alloc = h_pre_did_alloc,
    .release = h_release,
};

void header_spy_init(struct header_spy *s)
{
    memset(s, 0, sizeof *s);
    s->base.ops = &header_ops;
}
