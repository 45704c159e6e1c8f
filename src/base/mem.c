/* mallocspy's own memory: mmap'd size classes, so that tracking never allocates from the
 * heap it tracks and never recurses into it. */
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/base.h"
#include "base/lock.h"
#include "base/mem.h"

#define CLASS_MIN_SHIFT 4          /* 16 bytes */
#define CLASS_MAX_SHIFT 16         /* 64 KiB; larger requests get their own mapping */
#define NCLASSES (CLASS_MAX_SHIFT - CLASS_MIN_SHIFT + 1)
#define CHUNK_SIZE (1u << 20)

struct free_node { struct free_node *next; };

static struct {
    spinlock lock;                          /* everything below */
    struct free_node *free[NCLASSES];      /* freed blocks of each class */
    char *chunk, *chunk_end;               /* carving area */
    _Atomic size_t bytes;                  /* mapped for mallocspy's own use */
} arena = { .lock = SPIN_INIT };

static size_t page_round(size_t n) { return (n + 4095) & ~(size_t)4095; }

void *pages_alloc(size_t size)
{
    int saved = errno;
    size = page_round(size);
    /* The system call itself: mmap is interposed, and mallocspy's own pages are not the
     * program's mappings. */
    long r = syscall(SYS_mmap, NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                     -1, 0);
    errno = saved;
    if (r == -1)
        return NULL;
    void *p = (void *)r;
    atomic_fetch_add_explicit(&arena.bytes, size, memory_order_relaxed);
    return p;
}

void pages_free(void *p, size_t size)
{
    if (!p)
        return;
    int saved = errno;
    size = page_round(size);
    syscall(SYS_munmap, p, size);
    atomic_fetch_sub_explicit(&arena.bytes, size, memory_order_relaxed);
    errno = saved;
}

static unsigned class_of(size_t size)
{
    unsigned shift = CLASS_MIN_SHIFT;
    while (((size_t)1 << shift) < size)
        shift++;
    return shift - CLASS_MIN_SHIFT;
}

void *arena_alloc(size_t size)
{
    if (size == 0)
        size = 1;
    if (size > ((size_t)1 << CLASS_MAX_SHIFT))
        return pages_alloc(size);
    unsigned c = class_of(size);
    size_t csize = (size_t)1 << (c + CLASS_MIN_SHIFT);
    void *p = NULL;
    spin_lock(&arena.lock);
    if (arena.free[c]) {
        p = arena.free[c];
        arena.free[c] = arena.free[c]->next;
        spin_unlock(&arena.lock);
        memset(p, 0, csize);
        return p;
    }
    if ((size_t)(arena.chunk_end - arena.chunk) < csize) {
        /* The tail of the old chunk is too small for this class: it is lost, at most
         * 64 KiB a megabyte. */
        char *c2 = pages_alloc(CHUNK_SIZE);
        if (!c2) {
            spin_unlock(&arena.lock);
            return NULL;
        }
        arena.chunk = c2;
        arena.chunk_end = c2 + CHUNK_SIZE;
    }
    p = arena.chunk;
    arena.chunk += csize;
    spin_unlock(&arena.lock);
    return p;   /* fresh pages are zero */
}

void arena_free(void *p, size_t size)
{
    if (!p)
        return;
    if (size == 0)
        size = 1;
    if (size > ((size_t)1 << CLASS_MAX_SHIFT)) {
        pages_free(p, size);
        return;
    }
    unsigned c = class_of(size);
    spin_lock(&arena.lock);
    struct free_node *n = p;
    n->next = arena.free[c];
    arena.free[c] = n;
    spin_unlock(&arena.lock);
}

void *arena_realloc(void *p, size_t old, size_t size)
{
    void *q = arena_alloc(size);
    if (q && p)
        memcpy(q, p, old < size ? old : size);
    if (q)
        arena_free(p, old);
    return q;
}

bool arena_reserve(void *array, size_t n, size_t *cap, size_t elem, size_t first)
{
    if (n < *cap)
        return true;
    void **a = array;
    size_t nc = *cap ? *cap * 2 : first;
    void *q = arena_realloc(*a, *cap * elem, nc * elem);
    if (!q)
        return false;
    *a = q;
    *cap = nc;
    return true;
}

bool pages_reserve(void *array, size_t n, size_t *cap, size_t elem, size_t first)
{
    if (n < *cap)
        return true;
    void **a = array;
    size_t nc = *cap ? *cap * 2 : first;
    void *q = pages_alloc(nc * elem);
    if (!q)
        return false;
    if (*a) {
        memcpy(q, *a, n * elem);
        pages_free(*a, *cap * elem);
    }
    *a = q;
    *cap = nc;
    return true;
}

size_t arena_bytes(void) { return atomic_load_explicit(&arena.bytes, memory_order_relaxed); }

void arena_fork_prepare(void) { spin_lock(&arena.lock); }
void arena_fork_parent(void) { spin_unlock(&arena.lock); }
void arena_fork_child(void) { spin_reset(&arena.lock); }

/* A whole file in fresh pages, NUL-terminated: /proc files and suppressions are read
 * without stdio, which would allocate.  *cap is what to give pages_free; NULL when out of
 * memory. */
char *pages_read_fd(int fd, size_t *len, size_t *cap)
{
    size_t c = 64 * 1024, n = 0;
    char *text = pages_alloc(c);
    while (text) {
        if (n + 4096 > c) {
            char *bigger = pages_alloc(c * 2);
            if (bigger)
                memcpy(bigger, text, n);
            pages_free(text, c);
            text = bigger;
            c *= 2;
            continue;
        }
        ssize_t r = read(fd, text + n, c - n - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    if (text)
        text[n] = 0;
    *len = n;
    *cap = c;
    return text;
}
