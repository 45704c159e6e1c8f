/* Per-thread state (base/thread.h): the list of states, the modules' parts in them, the
 * operation counter that grace periods wait on, and the per-thread guard. */
#include <linux/membarrier.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/diag.h"
#include "base/lock.h"
#include "base/mem.h"
#include "base/thread.h"

TLS_IE unsigned tls_guard;
TLS_IE struct thread_tls thread_tls;
bool thread_fence_on_op;

#define MAX_PARTS 8
struct part {
    size_t offset, size;
    void (*exited)(struct thread_state *, void *);
    void (*reused)(struct thread_state *, void *);
};

static struct {
    spinlock lock;                     /* list insertion and recycling */
    _Atomic(struct thread_state *) head; /* every state ever made; append-only */
    pthread_key_t key;                 /* read-only after init: runs thread_exit */
    bool key_ok;
    bool membarrier_ok;                /* read-only after init */
    struct part parts[MAX_PARTS];      /* read-only once a state exists */
    unsigned nparts;
    size_t size;                       /* of a state with its parts */
    atomic_bool made;                  /* a state exists: no more parts */
    void (*park)(void);                /* what a deferred stop does (leaks/stop.c) */
} threads = { .lock = SPIN_INIT, .size = sizeof(struct thread_state) };

size_t thread_part_register(size_t size, void (*exited)(struct thread_state *, void *),
                            void (*reused)(struct thread_state *, void *))
{
    if (atomic_load(&threads.made) || threads.nparts == MAX_PARTS)
        return 0;
    size_t offset = (threads.size + 63) & ~(size_t)63;   /* each part on lines of its own */
    threads.parts[threads.nparts++] = (struct part){ offset, size, exited, reused };
    threads.size = offset + size;
    return offset;
}

static void parts_exited(struct thread_state *ts)
{
    for (unsigned i = 0; i < threads.nparts; i++)
        if (threads.parts[i].exited)
            threads.parts[i].exited(ts, thread_part(ts, threads.parts[i].offset));
}

void thread_set_park(void (*park)(void)) { threads.park = park; }

void thread_park_deferred(void)
{
    thread_tls.stop_deferred = 0;
    if (threads.park)
        threads.park();
}

static pid_t gettid_raw(void) { return (pid_t)syscall(SYS_gettid); }

static bool thread_gone(pid_t tid)
{
    return syscall(SYS_tgkill, getpid(), tid, 0) != 0 && errno == ESRCH;
}

static void thread_exit(void *arg);

struct thread_state *thread_state_slow(void)
{
    int saved = errno;
    unsigned guard = guard_enter();
    pid_t tid = gettid_raw();
    struct thread_state *ts = NULL;

    spin_lock(&threads.lock);
    atomic_store(&threads.made, true);
    /* Reuse the state of a thread that has exited and is gone, so that programs which
     * start threads forever do not grow mallocspy forever. */
    for (struct thread_state *s = atomic_load(&threads.head); s; s = s->next) {
        if (atomic_load(&s->exiting) == 1 && thread_gone(s->tid)) {
            ts = s;
            break;
        }
    }
    if (ts) {
        ts->tid = tid;
        for (unsigned i = 0; i < threads.nparts; i++)
            if (threads.parts[i].reused)
                threads.parts[i].reused(ts, thread_part(ts, threads.parts[i].offset));
        atomic_store(&ts->exiting, 0);
    } else {
        ts = arena_alloc(threads.size);
        if (!ts) {
            spin_unlock(&threads.lock);
            diag_warn("out of memory for a thread's state; aborting");
            abort();
        }
        ts->tid = tid;
        ts->next = atomic_load(&threads.head);
        atomic_store_explicit(&threads.head, ts, memory_order_release);
    }
    spin_unlock(&threads.lock);

    ts->errno_ptr = __errno_location();
    ts->tp = (uintptr_t)__builtin_thread_pointer();
    thread_tls.ts = ts;
    if (threads.key_ok)
        pthread_setspecific(threads.key, ts);
    guard_leave(guard);
    errno = saved;
    return ts;
}

/* The thread is exiting: hand its shares of the counters to the globals.  It may still
 * allocate afterwards (later destructors); with `exiting` set those go straight to the
 * globals. */
static void thread_exit(void *arg)
{
    struct thread_state *ts = arg;
    if (!ts || atomic_load(&ts->exiting))
        return;
    unsigned guard = guard_enter();
    parts_exited(ts);
    atomic_store(&ts->exiting, 1);
    guard_leave(guard);
}

void threads_init(void)
{
    if (pthread_key_create(&threads.key, thread_exit) == 0)
        threads.key_ok = true;
    long cmds = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    if (cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
        syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0)
        threads.membarrier_ok = true;
    else
        thread_fence_on_op = true;  /* every operation pays for a fence instead */
}

uintptr_t threads_tp_of(pid_t tid)
{
    for (struct thread_state *s = atomic_load_explicit(&threads.head, memory_order_acquire); s;
         s = s->next)
        if (s->tid == tid && !atomic_load(&s->exiting))
            return s->tp;
    return 0;
}

struct thread_state *threads_head(void)
{
    return atomic_load_explicit(&threads.head, memory_order_acquire);
}

void threads_for_each(void (*fn)(struct thread_state *, void *), void *arg)
{
    spin_lock(&threads.lock);
    for (struct thread_state *s = atomic_load(&threads.head); s; s = s->next)
        fn(s, arg);
    spin_unlock(&threads.lock);
}

/* Grace period: when it returns, every operation that was running on another thread when
 * it was called has finished, and every later operation sees what the caller stored
 * before calling.  Operations mark themselves with plain stores (op_begin); the barrier
 * they would need is paid here, once, by membarrier. */
void thread_synchronize(void)
{
    int saved = errno;
    if (threads.membarrier_ok)
        syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
    else
        atomic_thread_fence(memory_order_seq_cst);
    struct thread_state *self = thread_tls.ts;
    for (struct thread_state *s = atomic_load_explicit(&threads.head, memory_order_acquire); s;
         s = s->next) {
        if (s == self)
            continue;
        uint64_t seq = atomic_load_explicit(&s->op_seq, memory_order_acquire);
        if (!(seq & 1))
            continue;
        for (unsigned spins = 0;
             atomic_load_explicit(&s->op_seq, memory_order_acquire) == seq; spins++) {
            if (spins < 100)
                __builtin_ia32_pause();
            else if (spins % 1000 == 0 && thread_gone(s->tid))
                break;   /* died inside an operation (killed by a signal in a hook) */
            else
                sched_yield();
        }
    }
    errno = saved;
}

void threads_fork_prepare(void) { spin_lock(&threads.lock); }
void threads_fork_parent(void) { spin_unlock(&threads.lock); }

/* Only the forking thread survives in the child: the others' shares are merged now. */
void threads_fork_child(void)
{
    spin_reset(&threads.lock);
    struct thread_state *self = thread_tls.ts;
    for (struct thread_state *s = atomic_load(&threads.head); s; s = s->next) {
        if (s == self)
            continue;
        atomic_store(&s->op_seq, atomic_load(&s->op_seq) & ~(uint64_t)1);
        thread_exit(s);
    }
    if (self)
        self->tid = gettid_raw();
}
