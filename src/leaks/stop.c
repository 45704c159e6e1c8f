/* Stopping the other threads for a leak scan, without ptrace (which many containers
 * forbid): each thread is sent a real-time signal whose handler records the thread's
 * registers and stack pointer and waits on a futex until the scan is over.  A thread
 * inside the block table's critical section parks as soon as it leaves it, so the table
 * is never seen half-changed; a thread blocked in a system call is interrupted and
 * resumes it afterwards (SA_RESTART).  During the stop the reporting thread takes no lock
 * and allocates nothing but fresh pages: a stopped thread may hold any other lock, the
 * real allocator's included. */
#include <dirent.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "base/diag.h"
#include "base/mem.h"
#include "base/options.h"
#include "base/thread.h"
#include "leaks/stop.h"

#define STOP_MAGIC 0x4d535354   /* "MSST": si_value of our own stop signals */
#define WAIT_MS 100             /* how long a thread may take to answer; one that blocks the
                                   signal is not waited for at all */

static struct {
    struct stopped_thread *t;   /* the threads being stopped, fresh pages */
    size_t n, cap;
    atomic_int active;          /* a stop is in progress */
    atomic_int acks;            /* threads parked */
    atomic_int release;         /* futex: bumped to let them go */
    atomic_int resumed;         /* threads that have left the handler */
    pid_t reporter;
    int signo;
    struct sigaction previous;  /* the program's own action for our signal */
    bool installed;
} world;

static pid_t gettid_raw(void) { return (pid_t)syscall(SYS_gettid); }

static void futex_wait(atomic_int *addr, int val)
{
    struct timespec ts = { 0, 50 * 1000 * 1000 };
    syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, &ts, NULL, 0);
}
static void futex_wake(atomic_int *addr) { syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0); }

static struct stopped_thread *slot_of(pid_t tid)
{
    for (size_t i = 0; i < world.n; i++)
        if (world.t[i].tid == tid)
            return &world.t[i];
    return NULL;
}

/* Records where this thread's roots are and waits for the scan to end.  `uc` is the
 * interrupted context (NULL when parking on the way out of a critical section, where the
 * program's registers are saved in the frames above us, which are scanned). */
static void park(ucontext_t *uc)
{
    struct stopped_thread *s = slot_of(gettid_raw());
    if (!s)
        return;
    int gen = atomic_load(&world.release);
    if (uc) {
        const greg_t *g = uc->uc_mcontext.gregs;
        for (unsigned i = 0; i < NGREG && i < ARRAY_SIZE(s->regs); i++)
            s->regs[i] = (uintptr_t)g[i];
        s->nregs = NGREG < ARRAY_SIZE(s->regs) ? NGREG : ARRAY_SIZE(s->regs);
        s->sp = (uintptr_t)g[REG_RSP];
    } else {
        __builtin_unwind_init();   /* callee-saved registers onto this frame */
        s->nregs = 0;
        s->sp = (uintptr_t)__builtin_frame_address(0);
    }
    s->tp = (uintptr_t)__builtin_thread_pointer();
    atomic_store(&s->state, THREAD_PARKED);
    atomic_fetch_add(&world.acks, 1);
    futex_wake(&world.acks);
    while (atomic_load(&world.release) == gen)
        futex_wait(&world.release, gen);
    atomic_store(&s->state, THREAD_RUNNING);
    atomic_fetch_add(&world.resumed, 1);
    futex_wake(&world.resumed);
}

static void handler(int sig, siginfo_t *si, void *uc)
{
    int saved = errno;
    if (si->si_code == SI_QUEUE && si->si_pid == getpid() &&
        si->si_value.sival_int == STOP_MAGIC) {
        if (atomic_load(&world.active)) {
            if (thread_tls.crit)
                thread_tls.stop_deferred = 1;   /* parks on leaving the critical section */
            else
                park(uc);
        }
    } else if (world.previous.sa_flags & SA_SIGINFO) {
        /* Not ours: the program uses this signal too. */
        if (world.previous.sa_sigaction)
            world.previous.sa_sigaction(sig, si, uc);
    } else if (world.previous.sa_handler != SIG_DFL && world.previous.sa_handler != SIG_IGN) {
        world.previous.sa_handler(sig);
    }
    errno = saved;
}

/* A stop request came while the thread was inside a critical section: it parks as it
 * leaves the last one (base/thread.h calls this). */
static void park_deferred(void)
{
    if (atomic_load(&world.active))
        park(NULL);
}

static bool install(void)
{
    if (!world.signo)
        world.signo = options.stop_signal ? options.stop_signal : SIGRTMAX - 3;
    struct sigaction cur;
    if (sigaction(world.signo, NULL, &cur) != 0)
        return false;
    if ((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == handler)
        return true;
    /* Ours stays installed once set: a thread that had the signal blocked may receive it
     * after the stop, and must then find a handler, not the default (which kills). */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = handler;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigfillset(&sa.sa_mask);
    world.previous = cur;
    return sigaction(world.signo, &sa, NULL) == 0;
}

static bool send_stop(pid_t tid)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    si.si_signo = world.signo;
    si.si_code = SI_QUEUE;
    si.si_pid = getpid();
    si.si_uid = getuid();
    si.si_value.sival_int = STOP_MAGIC;
    return syscall(SYS_rt_tgsigqueueinfo, getpid(), tid, world.signo, &si) == 0;
}

static bool add_thread(pid_t tid)
{
    if (world.n == world.cap) {
        size_t ncap = world.cap ? world.cap * 2 : 256;
        struct stopped_thread *nt = pages_alloc(ncap * sizeof *nt);
        if (!nt)
            return false;
        if (world.t) {
            memcpy(nt, world.t, world.n * sizeof *nt);
            /* Handlers may be scanning the old array right now: it is freed at resume. */
        }
        world.t = nt;
        world.cap = ncap;
    }
    struct stopped_thread *s = &world.t[world.n];
    memset(s, 0, sizeof *s);
    s->tid = tid;
    atomic_store(&s->state, THREAD_SIGNALLED);
    world.n++;
    return true;
}

/* Reads a small /proc file into buf (NUL-terminated); false if it cannot. */
static bool read_small(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = 0;
    return true;
}

static uint64_t parse_hex(const char **p)
{
    uint64_t v = 0;
    const char *s = *p;
    if (s[0] == '0' && s[1] == 'x')
        s += 2;
    for (;; s++) {
        unsigned d;
        if (*s >= '0' && *s <= '9') d = (unsigned)(*s - '0');
        else if (*s >= 'a' && *s <= 'f') d = (unsigned)(*s - 'a' + 10);
        else break;
        v = v * 16 + d;
    }
    *p = s;
    return v;
}

/* The thread blocks our signal: it will never answer, and is not waited for. */
static bool blocks_signal(pid_t tid)
{
    char path[64], buf[4096];
    diag_format(path, sizeof path, "/proc/self/task/%d/status", (int)tid);
    if (!read_small(path, buf, sizeof buf))
        return false;
    const char *p = strstr(buf, "\nSigBlk:");
    if (!p)
        return false;
    p += 9;
    while (*p == ' ' || *p == '\t')
        p++;
    uint64_t mask = parse_hex(&p);
    return (mask >> (world.signo - 1)) & 1;
}

/* Where a thread that cannot be stopped stands: if it waits in a system call, its stack
 * pointer and the call's six arguments (registers) from /proc/self/task/TID/syscall. */
static void running_context(struct stopped_thread *t)
{
    char path[64], buf[512];
    diag_format(path, sizeof path, "/proc/self/task/%d/syscall", (int)t->tid);
    t->sp = 0;
    t->nregs = 0;
    for (int tries = 0; tries < 20; tries++) {
        if (!read_small(path, buf, sizeof buf))
            return;
        if (buf[0] < '0' || buf[0] > '9') {        /* "running", or -1: not in a call */
            sched_yield();
            continue;
        }
        const char *p = buf;
        while (*p && *p != ' ')
            p++;
        uintptr_t v[8];
        unsigned n = 0;
        while (*p == ' ' && n < 8) {
            p++;
            v[n++] = (uintptr_t)parse_hex(&p);
        }
        if (n < 7)
            return;
        for (unsigned i = 0; i < 6; i++)
            t->regs[i] = v[i];
        t->nregs = 6;
        t->sp = v[6];
        return;
    }
}

/* Every thread of the process, from /proc/self/task, read with raw getdents64 (opendir
 * would allocate).  Returns how many new ones were added. */
static size_t enumerate(pid_t exclude)
{
    int fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    size_t added = 0;
    char buf[4096];
    for (;;) {
        long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
        if (n <= 0)
            break;
        for (long off = 0; off < n;) {
            struct { uint64_t ino; int64_t off; unsigned short reclen; unsigned char type;
                     char name[]; } *d = (void *)(buf + off);
            off += d->reclen;
            if (d->name[0] < '0' || d->name[0] > '9')
                continue;
            pid_t tid = 0;
            for (const char *c = d->name; *c; c++)
                tid = tid * 10 + (*c - '0');
            if (tid == world.reporter || tid == exclude || slot_of(tid))
                continue;
            if (add_thread(tid))
                added++;
        }
    }
    close(fd);
    return added;
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool world_stop(pid_t exclude, struct stopped_thread **threads, size_t *n)
{
    memset(&world.acks, 0, sizeof world.acks);
    world.reporter = gettid_raw();
    world.n = 0;
    atomic_store(&world.acks, 0);
    atomic_store(&world.resumed, 0);
    thread_set_park(park_deferred);
    if (!install()) {
        *threads = NULL;
        *n = 0;
        return false;
    }
    atomic_store(&world.active, 1);
    size_t signalled = 0;
    /* Threads may be born while we stop the others: look again until no new one shows. */
    for (int round = 0; round < 50; round++) {
        size_t first = world.n;
        if (!enumerate(exclude))
            break;
        for (size_t i = first; i < world.n; i++) {
            if (blocks_signal(world.t[i].tid))
                atomic_store(&world.t[i].state, THREAD_UNSTOPPED);
            else if (send_stop(world.t[i].tid))
                signalled++;
            else
                atomic_store(&world.t[i].state, THREAD_GONE);   /* exited meanwhile */
        }
        long deadline = now_ms() + WAIT_MS;
        for (;;) {
            size_t pending = 0;
            for (size_t i = 0; i < world.n; i++)
                if (atomic_load(&world.t[i].state) == THREAD_SIGNALLED)
                    pending++;
            if (!pending || now_ms() > deadline)
                break;
            int acks = atomic_load(&world.acks);
            futex_wait(&world.acks, acks);
        }
    }
    (void)signalled;
    /* Threads that never answered (the signal blocked, stopped by a debugger, exiting)
     * are left running, and scanned where they are: the report says how many. */
    for (size_t i = 0; i < world.n; i++) {
        int st = atomic_load(&world.t[i].state);
        if (st == THREAD_SIGNALLED) {
            if (syscall(SYS_tgkill, getpid(), world.t[i].tid, 0) != 0)
                atomic_store(&world.t[i].state, THREAD_GONE);
            else
                atomic_store(&world.t[i].state, THREAD_UNSTOPPED);
        }
        if (atomic_load(&world.t[i].state) == THREAD_UNSTOPPED)
            running_context(&world.t[i]);
    }
    *threads = world.t;
    *n = world.n;
    return true;
}

void world_resume(void)
{
    size_t parked = 0;
    for (size_t i = 0; i < world.n; i++)
        if (atomic_load(&world.t[i].state) == THREAD_PARKED)
            parked++;
    atomic_store(&world.active, 0);
    atomic_fetch_add(&world.release, 1);
    futex_wake(&world.release);
    /* The slots must outlive the parked threads' last look at them. */
    long deadline = now_ms() + WAIT_MS;
    while ((size_t)atomic_load(&world.resumed) < parked && now_ms() < deadline) {
        int r = atomic_load(&world.resumed);
        futex_wait(&world.resumed, r);
    }
}

void stop_fork_child(void)
{
    atomic_store(&world.active, 0);
    world.t = NULL;
    world.n = world.cap = 0;
}
