/* Anonymous mappings the program makes with mmap, mremap and munmap, kept like heap blocks
 * (with the stack of the call) and reported as their own kind.  A sorted array under one
 * lock: mapping calls are system calls, rarer and dearer than any lookup here.  Partial
 * unmaps split or trim the ranges they touch.
 *
 * A region is what one mmap made: the pieces left by partial unmaps, and the MAP_FIXED
 * mappings made inside it (a reservation committed piece by piece, as the JVM does), stay
 * one region, reachable or leaked as a whole (scan.c). */
#include <string.h>
#include <unistd.h>

#include "base/lock.h"
#include "base/mem.h"
#include "base/thread.h"
#include "core/dispatch.h"
#include "core/entry.h"
#include "core/sites.h"
#include "family/mappings.h"
#include "stacks/stacks.h"

struct range {
    uintptr_t start, end;
    uint32_t site;
    uint32_t region;
};

static struct {
    spinlock lock;              /* everything below; counted as a critical section: the
                                  scan reads the array with the world stopped */
    struct range *r;
    size_t n, cap;
    uint32_t next_region;
} mp = { .lock = SPIN_INIT, .next_region = 1 };

static inline void lock(void)
{
    crit_enter();
    spin_lock(&mp.lock);
}

static inline void unlock(void)
{
    spin_unlock(&mp.lock);
    crit_leave();
}

static size_t first_after(uintptr_t a)   /* index of the first range with start >= a */
{
    size_t lo = 0, hi = mp.n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (mp.r[mid].start < a)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool reserve(size_t extra)
{
    if (mp.n + extra <= mp.cap)
        return true;
    size_t ncap = mp.cap ? mp.cap * 2 : 256;
    while (ncap < mp.n + extra)
        ncap *= 2;
    struct range *nr = pages_alloc(ncap * sizeof *nr);
    if (!nr)
        return false;
    if (mp.r) {
        memcpy(nr, mp.r, mp.n * sizeof *nr);
        pages_free(mp.r, mp.cap * sizeof *nr);
    }
    mp.r = nr;
    mp.cap = ncap;
    return true;
}

/* Removes [start, end) from every range; under the lock. */
static void cut(uintptr_t start, uintptr_t end)
{
    size_t i = first_after(start);
    if (i > 0 && mp.r[i - 1].end > start)
        i--;
    while (i < mp.n && mp.r[i].start < end) {
        struct range *r = &mp.r[i];
        if (r->start >= start && r->end <= end) {            /* all of it */
            memmove(r, r + 1, (mp.n - i - 1) * sizeof *r);
            mp.n--;
            continue;
        }
        if (r->start < start && r->end > end) {              /* a hole in the middle */
            if (!reserve(1))
                return;
            r = &mp.r[i];
            memmove(r + 2, r + 1, (mp.n - i - 1) * sizeof *r);
            mp.r[i + 1] = (struct range){ end, r->end, r->site, r->region };
            r->end = start;
            mp.n++;
            return;
        }
        if (r->start < start)
            r->end = start;                                   /* its tail */
        else
            r->start = end;                                   /* its head */
        i++;
    }
}

/* The range holding all of [start, end), or NULL. */
static struct range *holding(uintptr_t start, uintptr_t end)
{
    size_t i = first_after(start + 1);
    if (i > 0 && mp.r[i - 1].start <= start && mp.r[i - 1].end >= end)
        return &mp.r[i - 1];
    return NULL;
}

static void add(uintptr_t start, uintptr_t end, uint32_t site, uint32_t region)
{
    cut(start, end);   /* MAP_FIXED over an older mapping replaces that part of it */
    if (!reserve(1))
        return;
    size_t i = first_after(start);
    memmove(&mp.r[i + 1], &mp.r[i], (mp.n - i) * sizeof *mp.r);
    mp.r[i] = (struct range){ start, end, site, region };
    mp.n++;
}

static uintptr_t page_up(size_t n)
{
    static uintptr_t page;
    if (!page) {
        long ps = sysconf(_SC_PAGESIZE);
        page = ps > 0 ? (uintptr_t)ps : 4096;
    }
    return (n + page - 1) & ~(page - 1);
}

static void mappings_add(uintptr_t start, size_t len, bool replaces, void *fp)
{
    struct thread_state *ts = thread_state();
    unsigned guard = guard_enter();
    const struct stack_rec *stack = core_table_complete() ? stack_capture(fp) : NULL;
    struct site_key key = { .stack = stack ? stack->pub.id : 0, .kind = CALL_MMAP };
    uint32_t site = stack ? site_for_stack(ts, &key) : site_get(ts, &key);
    lock();
    uintptr_t end = start + page_up(len);
    /* Mapped over memory that was mapped already: inside a region of the program's, a
     * commit (still that region); elsewhere, memory the program did not get from mmap
     * (a thread stack glibc made, where a JVM puts its guard pages), remapped: no new
     * region, and what was tracked there is gone. */
    if (!replaces)
        add(start, end, site, mp.next_region++);
    else if (!holding(start, end))
        cut(start, end);
    unlock();
    guard_leave(guard);
}

static void mappings_remove(uintptr_t start, size_t len)
{
    lock();
    cut(start, start + page_up(len));
    unlock();
}

/* mremap: the part that stays keeps its site; the new part belongs to it too.  With
 * MREMAP_DONTUNMAP the old range stays mapped, and tracked. */
static void mappings_move(uintptr_t old, size_t oldlen, uintptr_t start, size_t len, bool keep_old)
{
    lock();
    size_t i = first_after(old + 1);
    uint32_t site = 0, region = 0;
    if (i > 0 && mp.r[i - 1].start <= old && mp.r[i - 1].end > old) {
        site = mp.r[i - 1].site;
        region = mp.r[i - 1].region;
    }
    if (!keep_old)
        cut(old, old + page_up(oldlen));
    if (site)
        add(start, start + page_up(len), site, keep_old ? mp.next_region++ : region);
    unlock();
}

static const struct core_mapping_hooks hooks = { mappings_add, mappings_remove, mappings_move };

void mappings_init(void) { core_set_mapping_hooks(&hooks); }

void mappings_for_each(void (*fn)(uintptr_t start, size_t len, uint32_t site, uint32_t region,
                                  void *arg),
                       void *arg, bool stopped)
{
    if (!stopped)
        lock();
    for (size_t i = 0; i < mp.n; i++)
        fn(mp.r[i].start, mp.r[i].end - mp.r[i].start, mp.r[i].site, mp.r[i].region, arg);
    if (!stopped)
        unlock();
}

void mappings_fork_prepare(void) { spin_lock(&mp.lock); }
void mappings_fork_parent(void) { spin_unlock(&mp.lock); }
void mappings_fork_child(void) { spin_reset(&mp.lock); }
