/* Buffer pools with DirectShow's IMemAllocator contract.  The pool and its buffers are
 * memory of the task allocator (spies see them, and a pool the program loses is reported
 * like any block); the buffers a program still holds at exit are reported as leaks with
 * the stack of the ms_pool_get_buffer call that took them. */
#include <pthread.h>
#include <string.h>

#include "base/lock.h"
#include "base/mem.h"
#include "base/start.h"
#include "base/thread.h"
#include "core/entry.h"
#include "family/pool.h"
#include "stacks/stacks.h"

#define FRAME __builtin_frame_address(0)
#define POOL_MAGIC 0x4d53504cu  /* "MSPL" */

struct buffer {
    bool held;
    const struct stack_rec *taken;   /* where ms_pool_get_buffer took it */
};

struct ms_pool {
    uint32_t magic;
    pthread_mutex_t lock;            /* everything below */
    pthread_cond_t freed;            /* a buffer came back, or the pool was decommitted */
    char *name;
    ms_pool_properties props;
    bool committed;                  /* GetBuffer may hand out buffers */
    bool destroyed;                  /* goes when the last held buffer comes back */
    char *region;                    /* count * (size + prefix) bytes, aligned; NULL when
                                        no memory is held */
    long nbuf;                       /* buffers in the region */
    struct buffer *buf;
    long held;                       /* buffers out */
    struct ms_pool *next;            /* pools.all */
};

static struct {
    spinlock lock;                    /* all */
    struct ms_pool *all;
} pools = { .lock = SPIN_INIT };

/* Whether p is a pool of ours (a bad pointer must not be followed). */
static bool live(const ms_pool *p)
{
    if (!p)
        return false;
    spin_lock(&pools.lock);
    bool found = false;
    for (struct ms_pool *q = pools.all; q && !found; q = q->next)
        found = q == p;
    spin_unlock(&pools.lock);
    return found && p->magic == POOL_MAGIC;
}

static const struct stack_rec *here(void *fp)
{
    start_wait();
    struct thread_state *ts = thread_state();
    unsigned guard = tls_guard;
    tls_guard = 1;
    (void)ts;
    const struct stack_rec *s = stack_capture(fp);
    tls_guard = guard;
    return s;
}

PUBLIC ms_pool *ms_pool_create(const char *name)
{
    struct ms_pool *p = core_alloc(sizeof *p, ALIGN_MIN, true, MS_CALL_TASK_ALLOC, FRAME);
    if (!p)
        return NULL;
    const char *n = name ? name : "pool";
    p->name = core_alloc(strlen(n) + 1, ALIGN_MIN, false, MS_CALL_TASK_ALLOC, FRAME);
    if (!p->name) {
        core_free(p, MS_CALL_TASK_FREE, FRAME);
        return NULL;
    }
    memcpy(p->name, n, strlen(n) + 1);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->freed, NULL);
    p->props.align = 1;
    p->magic = POOL_MAGIC;
    spin_lock(&pools.lock);
    p->next = pools.all;
    pools.all = p;
    spin_unlock(&pools.lock);
    return p;
}

PUBLIC int ms_pool_set_properties(ms_pool *pool, const ms_pool_properties *request,
                                     ms_pool_properties *actual)
{
    if (!live(pool) || !request || !actual)
        return MS_E_INVALIDARG;
    if (request->count < 0 || request->size < 0 || request->prefix < 0)
        return MS_E_INVALIDARG;
    long align = request->align;
    if (align <= 0 || (align & (align - 1)))
        return MS_E_BADALIGN;
    /* The buffers sit end to end, each prefix start aligned: size + prefix is rounded up
     * to a multiple of the alignment, by growing size. */
    long step, rounded;
    if (__builtin_add_overflow(request->size, request->prefix, &step) ||
        __builtin_add_overflow(step, align - 1, &rounded))
        return MS_E_INVALIDARG;
    rounded &= ~(align - 1);
    pthread_mutex_lock(&pool->lock);
    int rc = MS_OK;
    if (pool->destroyed)
        rc = MS_E_INVALIDARG;
    else if (pool->committed)
        rc = MS_E_ALREADY_COMMITTED;
    else if (pool->held)
        rc = MS_E_BUFFERS_OUTSTANDING;
    else {
        pool->props.count = request->count;
        pool->props.size = request->size + (rounded - step);
        pool->props.align = align;
        pool->props.prefix = request->prefix;
        *actual = pool->props;
    }
    pthread_mutex_unlock(&pool->lock);
    return rc;
}

PUBLIC int ms_pool_get_properties(ms_pool *pool, ms_pool_properties *props)
{
    if (!live(pool) || !props)
        return MS_E_INVALIDARG;
    pthread_mutex_lock(&pool->lock);
    *props = pool->props;
    int rc = pool->destroyed ? MS_E_INVALIDARG : MS_OK;
    pthread_mutex_unlock(&pool->lock);
    return rc;
}

/* The region goes back when nothing of it is held and the pool no longer needs it. */
static void release_region(struct ms_pool *p, void *fp)
{
    if (!p->region || p->held || p->committed)
        return;
    core_free(p->region, MS_CALL_TASK_FREE, fp);
    core_free(p->buf, MS_CALL_TASK_FREE, fp);
    p->region = NULL;
    p->buf = NULL;
    p->nbuf = 0;
}

PUBLIC int ms_pool_commit(ms_pool *pool)
{
    if (!live(pool))
        return MS_E_INVALIDARG;
    pthread_mutex_lock(&pool->lock);
    int rc = MS_OK;
    if (pool->destroyed) {
        /* Destroyed, waiting for its last buffers: only they may still come back. */
        rc = MS_E_INVALIDARG;
    } else if (pool->committed) {
        /* committing twice is fine */
    } else if (pool->props.size <= 0 || pool->props.count <= 0) {
        rc = MS_E_SIZENOTSET;
    } else if (pool->region) {
        /* Decommitted with buffers still out: committing again cancels the decommit and
         * keeps the same buffers. */
        pool->committed = true;
    } else {
        long step = pool->props.size + pool->props.prefix;
        size_t bytes;
        if (__builtin_mul_overflow((size_t)step, (size_t)pool->props.count, &bytes)) {
            rc = MS_E_OUTOFMEMORY;
        } else {
            size_t align = (size_t)pool->props.align < ALIGN_MIN ? ALIGN_MIN
                                                                   : (size_t)pool->props.align;
            pool->region = core_alloc(bytes, align, false, MS_CALL_MEMALIGN, FRAME);
            pool->buf = core_alloc((size_t)pool->props.count * sizeof *pool->buf,
                                      ALIGN_MIN, true, MS_CALL_TASK_ALLOC, FRAME);
            if (!pool->region || !pool->buf) {
                core_free(pool->region, MS_CALL_TASK_FREE, FRAME);
                core_free(pool->buf, MS_CALL_TASK_FREE, FRAME);
                pool->region = NULL;
                pool->buf = NULL;
                rc = MS_E_OUTOFMEMORY;
            } else {
                pool->nbuf = pool->props.count;
                pool->committed = true;
            }
        }
    }
    pthread_mutex_unlock(&pool->lock);
    return rc;
}

PUBLIC int ms_pool_get_buffer(ms_pool *pool, void **buffer, unsigned flags)
{
    if (!live(pool) || !buffer || (flags & ~MS_POOL_NOWAIT))
        return MS_E_INVALIDARG;
    const struct stack_rec *taken = here(FRAME);
    pthread_mutex_lock(&pool->lock);
    int rc;
    /* A destroyed pool takes no new call; a thread already waiting when it goes wakes,
     * as for a decommit, to MS_E_NOT_COMMITTED. */
    for (bool first = true;; first = false) {
        if (first && pool->destroyed) {
            rc = MS_E_INVALIDARG;
            break;
        }
        if (!pool->committed) {
            rc = MS_E_NOT_COMMITTED;
            break;
        }
        long i;
        for (i = 0; i < pool->nbuf && pool->buf[i].held; i++) {}
        if (i < pool->nbuf) {
            pool->buf[i].held = true;
            pool->buf[i].taken = taken;
            pool->held++;
            *buffer = pool->region + i * (pool->props.size + pool->props.prefix) +
                      pool->props.prefix;
            rc = MS_OK;
            break;
        }
        if (flags & MS_POOL_NOWAIT) {
            rc = MS_E_TIMEOUT;
            break;
        }
        pthread_cond_wait(&pool->freed, &pool->lock);
    }
    pthread_mutex_unlock(&pool->lock);
    return rc;
}

static void pool_free(struct ms_pool *p, void *fp);

PUBLIC int ms_pool_release_buffer(ms_pool *pool, void *buffer)
{
    if (!live(pool) || !buffer)
        return MS_E_INVALIDARG;
    pthread_mutex_lock(&pool->lock);
    long step = pool->props.size + pool->props.prefix;
    uintptr_t off = (uintptr_t)buffer - (uintptr_t)pool->region - (uintptr_t)pool->props.prefix;
    long i = step > 0 ? (long)(off / (uintptr_t)step) : -1;
    if (!pool->region || (uintptr_t)buffer < (uintptr_t)pool->region || off % (uintptr_t)step ||
        i < 0 || i >= pool->nbuf || !pool->buf[i].held) {
        pthread_mutex_unlock(&pool->lock);
        return MS_E_INVALIDARG;
    }
    pool->buf[i].held = false;
    pool->buf[i].taken = NULL;
    pool->held--;
    pthread_cond_signal(&pool->freed);
    release_region(pool, FRAME);
    bool gone = pool->destroyed && !pool->held;
    pthread_mutex_unlock(&pool->lock);
    if (gone)
        pool_free(pool, FRAME);
    return MS_OK;
}

PUBLIC int ms_pool_decommit(ms_pool *pool)
{
    if (!live(pool))
        return MS_E_INVALIDARG;
    pthread_mutex_lock(&pool->lock);
    if (pool->destroyed) {
        pthread_mutex_unlock(&pool->lock);
        return MS_E_INVALIDARG;
    }
    pool->committed = false;
    /* Every thread waiting for a buffer wakes to MS_E_NOT_COMMITTED. */
    pthread_cond_broadcast(&pool->freed);
    release_region(pool, FRAME);
    pthread_mutex_unlock(&pool->lock);
    return MS_OK;
}

static void pool_free(struct ms_pool *p, void *fp)
{
    spin_lock(&pools.lock);
    for (struct ms_pool **q = &pools.all; *q; q = &(*q)->next)
        if (*q == p) {
            *q = p->next;
            break;
        }
    spin_unlock(&pools.lock);
    p->magic = 0;
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->freed);
    core_free(p->name, MS_CALL_TASK_FREE, fp);
    core_free(p, MS_CALL_TASK_FREE, fp);
}

PUBLIC void ms_pool_destroy(ms_pool *pool)
{
    if (!live(pool))
        return;
    pthread_mutex_lock(&pool->lock);
    if (pool->destroyed) {
        pthread_mutex_unlock(&pool->lock);   /* destroyed twice: the first one stands */
        return;
    }
    pool->committed = false;
    pool->destroyed = true;
    pthread_cond_broadcast(&pool->freed);
    release_region(pool, FRAME);
    bool gone = !pool->held;
    pthread_mutex_unlock(&pool->lock);
    if (gone)
        pool_free(pool, FRAME);
}

/* For the report at exit: each buffer still held, with where it was taken.  No lock is
 * taken on the pools' mutexes, which threads stopped by the scan may hold: the report
 * reads what it finds, which is exact once the program has stopped calling the pools. */
void pools_for_each_held(void (*fn)(const char *pool, size_t bytes,
                                    const struct stack_rec *taken, void *arg),
                         void *arg)
{
    spin_lock(&pools.lock);
    for (struct ms_pool *p = pools.all; p; p = p->next)
        for (long i = 0; i < p->nbuf && p->buf; i++)
            if (p->buf[i].held)
                fn(p->name, (size_t)p->props.size, p->buf[i].taken, arg);
    spin_unlock(&pools.lock);
}

void pools_fork_child(void) { spin_reset(&pools.lock); }

/* For the scan: a destroyed pool waits, allocated, for its last buffer, and only mallocspy's
 * own list (never a root) still points to it: its memory must not be taken for a leak. */
void pools_for_each_destroyed(void (*fn)(const void *pool, void *arg), void *arg)
{
    spin_lock(&pools.lock);
    for (struct ms_pool *p = pools.all; p; p = p->next)
        if (p->destroyed)
            fn(p, arg);
    spin_unlock(&pools.lock);
}
