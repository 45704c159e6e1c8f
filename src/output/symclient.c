/* The client side of mallocspy-symbolizer.  libdw, DWARF decompression, demangling and any
 * debuginfod lookup are heavy and risky (at exit, a program's libraries may be torn down
 * already; a server may never answer), so they run in a process of their own, started on
 * the first need and kept for the rest of the program's life.
 *
 * The program must not notice it: no SIGCHLD may reach it for our helper, and no
 * waitpid(-1) of the program's may see it.  execve gives a child the exit signal SIGCHLD
 * whatever clone said, so the helper is not the program's child: an intermediate child
 * (clone(CLONE_VM|CLONE_VFORK), no exit signal, which only __WALL waits see) starts it
 * and exits at once, and the helper belongs to init (or the nearest subreaper) from then
 * on.  We keep a pidfd of it, to stop it without ever signalling a recycled pid.  It
 * gets a clean environment
 * (no preload, no debuginfod unless asked), descriptors 0 and 1 on a socket of ours and
 * 2 on /dev/null; we write with MSG_NOSIGNAL, so a helper that dies cannot raise SIGPIPE
 * in the program.  A program that closes or reuses our descriptor is noticed (its
 * identity is checked before each use) and never written to.
 *
 * Protocol (src/symbolizer/): a batch of "M <id> <build-id|-> <path>" module declarations
 * (the path percent-encoded)
 * and "F <id> <offset>" frames, ended by "E"; the helper reads it all before it answers
 * (so neither side can block on a full buffer) with one "R <status> <n>[\t<fn>\t<file>\t
 * <line>]..." line per frame, "W <text>" warnings, and "E".
 *
 * pprof_path adds profile batches (symclient_profile): "P <time_nanos> <duration_nanos>
 * <period> <names 0|1>" first, sent with the descriptor of the file to write (SCM_RIGHTS:
 * the file is opened here, by chan_open's rules, and written there), then the M lines,
 * "A <id> <start> <limit> <base>" (hex) for each module the samples use, the main program's
 * first, and one "S <alloc_objects> <alloc_space> <inuse_objects> <inuse_space> <frame>..."
 * line per stack, frames innermost first as "<id>:<offset>" or "@<address>" (hex), outside
 * any module; "E".  The helper names the frames, encodes, compresses and writes, and
 * answers "P ok <bytes>" or "P failed <reason>" with its W lines, then "E". */
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "base/diag.h"
#include "base/lock.h"
#include "base/mem.h"
#include "base/options.h"
#include "base/self.h"
#include "output/channels.h"
#include "output/symbolize.h"
#include "output/symclient.h"
#include "stacks/modules.h"

#define PROGRAM "mallocspy-symbolizer"
#define CHILD_STACK (64 * 1024)
#define ANSWER_LIMIT 60         /* seconds a helper may take without debuginfod */
#define MAX_STARTS 2            /* a helper that died is started once more, no more */

static struct {
    spinlock lock;              /* everything below: one batch at a time */
    pid_t pid;                 /* 0: not running */
    int fd;                    /* our end of the socket, -1 */
    int pidfd;                 /* the helper's pidfd, -1 (a kernel without pidfd_open) */
    dev_t dev;
    ino_t ino;
    unsigned starts;
    bool broken;               /* gave up for this process; why says why */
    char why[320];
    uint8_t *declared;         /* module ids declared to the running helper */
    size_t ndeclared;
    double deadline;           /* debuginfod's budget, shared by the process's batches */
} sc = { .lock = SPIN_INIT, .fd = -1, .pidfd = -1 };

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* ---- finding and starting the helper --------------------------------------------------- */

/* The helper sits beside the library: <dir>/mallocspy/mallocspy-symbolizer once
 * installed, <dir>/mallocspy-symbolizer in the build tree. */
static bool find_program(char *out, size_t cap)
{
    if (options.symbolizer[0]) {
        diag_format(out, cap, "%s", options.symbolizer);
        return true;
    }
    char dir[4096];
    if (!self_dir(dir, sizeof dir) || strlen(dir) + 64 >= cap)
        return false;
    diag_format(out, cap, "%s/mallocspy/" PROGRAM, dir);
    if (access(out, X_OK) != 0)
        diag_format(out, cap, "%s/" PROGRAM, dir);
    return true;
}

struct spawn {
    const char *path;
    char **argv, **envp;
    int sock, devnull;
    uint64_t mask;             /* the thread's signal mask, restored before exec */
    char *stack;               /* the helper's until execve */
    /* Written by the children: */
    int err;                   /* errno of a failed exec or clone */
    pid_t helper;
    int pidfd;                 /* -1 if pidfd_open is not there */
    bool died;                 /* the helper died before or as it started... */
    int status;                /* ...with this wait status (a seccomp filter kills execve) */
};

struct k_sigaction {
    void *handler;
    unsigned long flags;
    void *restorer;
    uint64_t mask;
};

/* Runs in the helper, on its own stack, in the program's memory until execve: raw system
 * calls only.  Signals arrive blocked; the program's handlers must not run here, so each
 * caught signal goes back to its default before the mask is restored. */
static int helper_main(void *arg)
{
    struct spawn *sp = arg;
    for (int s = 1; s <= 64; s++) {
        struct k_sigaction old, dfl = { 0 };
        if (s == SIGKILL || s == SIGSTOP ||
            syscall(SYS_rt_sigaction, s, NULL, &old, 8) != 0 ||
            old.handler == (void *)SIG_IGN || old.handler == (void *)SIG_DFL)
            continue;
        syscall(SYS_rt_sigaction, s, &dfl, NULL, 8);
    }
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &sp->mask, NULL, 8);
    if (syscall(SYS_dup2, sp->sock, 0) < 0 || syscall(SYS_dup2, sp->sock, 1) < 0 ||
        syscall(SYS_dup2, sp->devnull, 2) < 0) {
        sp->err = errno;
        syscall(SYS_exit, 127);
    }
    syscall(SYS_execve, sp->path, sp->argv, sp->envp);
    sp->err = errno;
    syscall(SYS_exit, 127);
    return 127;
}

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

/* Whether pid runs the program at `path` now: its name (comm) is that of the file it
 * executed.  Raw system calls only. */
static bool runs_program(pid_t pid, const char *path)
{
    char file[64], comm[32];
    diag_format(file, sizeof file, "/proc/%d/comm", (int)pid);
    int fd = (int)syscall(SYS_openat, AT_FDCWD, file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = syscall(SYS_read, fd, comm, sizeof comm - 1);
    syscall(SYS_close, fd);
    if (n <= 0)
        return false;
    comm[n] = 0;
    if (comm[n - 1] == '\n')
        comm[n - 1] = 0;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    return !strncmp(comm, base, 15);   /* comm keeps 15 characters */
}

/* The intermediate child: shares the program's memory and descriptors (the pidfd lands
 * in the program's table), signals blocked.  The helper is its child until it exits, so
 * its pid cannot be recycled before the pidfd holds it, and if the helper dies as it
 * starts (a seccomp filter kills execve), how it died is learnt here. */
static int intermediate_main(void *arg)
{
    struct spawn *sp = arg;
    pid_t pid = clone(helper_main, sp->stack + CHILD_STACK, CLONE_VM | CLONE_VFORK, sp);
    if (pid < 0) {
        sp->err = errno;
        syscall(SYS_exit, 0);
    }
    sp->helper = pid;
    sp->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    /* clone returns once the helper has exec'd or is on its way out.  Not yet the new
     * program by its name: either it is dying (then it is a zombie within moments), or
     * the kernel has not renamed it yet (it releases the vfork parent before it sets the
     * name).  Looked at again every 50 us, for 100 ms at most: a single wait on the pidfd
     * would last the whole 100 ms for a helper that is alive and well, at every report. */
    if (!sp->err && sp->pidfd >= 0) {
        for (int i = 0; i < 2000 && !runs_program(pid, sp->path); i++) {
            struct pollfd p = { sp->pidfd, POLLIN, 0 };
            struct timespec step = { 0, 50 * 1000 };
            if (syscall(SYS_ppoll, &p, 1, &step, NULL, 8) > 0)
                break;                /* it has died */
        }
    }
    int st;
    if (syscall(SYS_wait4, pid, &st, __WALL | WNOHANG, NULL) == pid) {
        sp->died = true;
        sp->status = st;
    }
    syscall(SYS_exit, 0);
    return 0;
}

/* A clean environment: the program's own is none of the helper's business, and must not
 * preload mallocspy into it.  DEBUGINFOD_* only when asked, never in secure mode. */
static char **helper_env(char *buf, size_t cap, char **slots, size_t nslots)
{
    size_t n = 0, used = 0;
    if (options.debuginfod && !getauxval(AT_SECURE) && environ) {
        for (char **e = environ; *e && n + 1 < nslots; e++) {
            size_t len = strlen(*e) + 1;
            if (strncmp(*e, "DEBUGINFOD_", 11) || used + len > cap)
                continue;
            memcpy(buf + used, *e, len);
            slots[n++] = buf + used;
            used += len;
        }
    }
    slots[n] = NULL;
    return slots;
}

/* $XDG_CACHE_HOME/mallocspy or ~/.cache/mallocspy; none in secure mode or when off. */
static bool cache_dir(char *out, size_t cap)
{
    if (!options.symbol_cache || getauxval(AT_SECURE))
        return false;
    const char *x = getenv("XDG_CACHE_HOME"), *h = getenv("HOME");
    if (x && x[0] == '/')
        diag_format(out, cap, "%s/mallocspy", x);
    else if (h && h[0] == '/')
        diag_format(out, cap, "%s/.cache/mallocspy", h);
    else
        return false;
    return strlen(out) + 1 < cap;
}

/* The pidfd is still the helper's (a program that closes every descriptor may have taken
 * the number for something else). */
static bool pidfd_ours(void)
{
    if (sc.pidfd < 0 || sc.pid <= 0)
        return false;
    char path[64];
    diag_format(path, sizeof path, "/proc/self/fdinfo/%d", sc.pidfd);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    char text[512];
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n <= 0)
        return false;
    text[n] = 0;
    const char *p = strstr(text, "\nPid:");
    return p && strtol(p + 6, NULL, 10) == sc.pid;
}

/* Whether the helper has ended, waiting at most ms for it. */
static bool helper_ended(int ms)
{
    if (!pidfd_ours())
        return false;
    struct pollfd p = { sc.pidfd, POLLIN, 0 };
    return poll(&p, 1, ms) == 1;
}

static void forget_helper(void)
{
    sc.pid = 0;
    sc.fd = -1;
    sc.pidfd = -1;
    if (sc.declared)
        memset(sc.declared, 0, sc.ndeclared);
}

/* The helper reads until its input ends: closing our end stops it.  One that hung is
 * killed, through its pidfd only (its pid may be another process's by now). */
static void stop_helper(bool kill_it)
{
    if (kill_it && pidfd_ours())
        syscall(SYS_pidfd_send_signal, sc.pidfd, SIGKILL, NULL, 0);
    if (sc.pidfd >= 0 && pidfd_ours())
        close(sc.pidfd);
    if (sc.fd >= 0)
        close(sc.fd);
    forget_helper();
}

static bool start_helper(void)
{
    char path[4096];
    if (!find_program(path, sizeof path)) {
        diag_format(sc.why, sizeof sc.why, "cannot tell where " PROGRAM " is");
        return false;
    }
    char cache[4096], timeout[16];
    char *argv[8];
    unsigned a = 0;
    argv[a++] = path;
    if (cache_dir(cache, sizeof cache)) {
        argv[a++] = "--cache";
        argv[a++] = cache;
    }
    if (options.debuginfod && !getauxval(AT_SECURE)) {
        diag_format(timeout, sizeof timeout, "%u", options.debuginfod_timeout);
        argv[a++] = "--debuginfod";
        argv[a++] = "--timeout";
        argv[a++] = timeout;
    }
    argv[a] = NULL;
    char envbuf[8192];
    char *envslots[32];
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        diag_format(sc.why, sizeof sc.why, "cannot start %s: %s", path, strerror(errno));
        return false;
    }
    /* A program at exit may have closed its standard descriptors, and these may be 0, 1
     * or 2: above 2, the child's dup2s cannot clobber one another. */
    for (int i = 0; i < 2; i++)
        if (sv[i] <= 2) {
            int high = fcntl(sv[i], F_DUPFD_CLOEXEC, 3);
            if (high >= 0) {
                close(sv[i]);
                sv[i] = high;
            }
        }
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull >= 0 && devnull <= 2) {
        int high = fcntl(devnull, F_DUPFD_CLOEXEC, 3);
        close(devnull);
        devnull = high;
    }
    struct spawn sp = { .path = path, .argv = argv,
                        .envp = helper_env(envbuf, sizeof envbuf, envslots, 32),
                        .sock = sv[1], .devnull = devnull, .pidfd = -1 };
    char *stack = pages_alloc(2 * CHILD_STACK);
    sp.stack = stack ? stack + CHILD_STACK : NULL;
    pid_t mid = -1;
    int err = ENOMEM;
    if (stack && sp.devnull >= 0) {
        uint64_t all = ~(uint64_t)0;
        syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, &sp.mask, 8);
        /* No exit signal: the program is told nothing of this child, and reaps it never;
         * it has ended when clone returns, and is reaped here. */
        mid = clone(intermediate_main, stack + CHILD_STACK, CLONE_VM | CLONE_VFORK | CLONE_FILES,
                    &sp);
        err = errno;
        if (mid > 0) {
            int st;
            while (waitpid(mid, &st, __WALL) < 0 && errno == EINTR) {}
        }
        syscall(SYS_rt_sigprocmask, SIG_SETMASK, &sp.mask, NULL, 8);
    } else if (sp.devnull < 0) {
        err = errno;
    }
    if (stack)
        pages_free(stack, 2 * CHILD_STACK);
    if (sp.devnull >= 0)
        close(sp.devnull);
    close(sv[1]);
    pid_t pid = mid > 0 && !sp.err ? sp.helper : -1;
    if (mid > 0 && sp.err)
        err = sp.err;
    if (pid > 0 && sp.died) {
        /* Killed as it started (a seccomp filter that forbids execve kills it there). */
        if (WIFSIGNALED(sp.status))
            diag_format(sc.why, sizeof sc.why, PROGRAM " was killed by signal %d as it "
                        "started", WTERMSIG(sp.status));
        else
            diag_format(sc.why, sizeof sc.why, PROGRAM " stopped as it started (exit status "
                        "%d)", WEXITSTATUS(sp.status));
        if (sp.pidfd >= 0)
            close(sp.pidfd);
        close(sv[0]);
        return false;
    }
    if (pid <= 0) {
        if (sp.pidfd >= 0)
            close(sp.pidfd);
        close(sv[0]);
        diag_format(sc.why, sizeof sc.why, "cannot start %s: %s", path, strerror(err));
        return false;
    }
    sc.pidfd = sp.pidfd >= 0 ? chan_high_fd(sp.pidfd) : -1;
    if (sc.pidfd < 0 && sp.pidfd >= 0)
        sc.pidfd = sp.pidfd;
    int fd = chan_high_fd(sv[0]);
    sc.fd = fd >= 0 ? fd : sv[0];
    struct stat st;
    fstat(sc.fd, &st);
    sc.dev = st.st_dev;
    sc.ino = st.st_ino;
    sc.pid = pid;
    sc.starts++;
    return true;
}

/* Our descriptor is still our socket: a program that closes every descriptor, or opens
 * a file that takes the number, must never receive our requests. */
static bool still_ours(void)
{
    struct stat st;
    return sc.fd >= 0 && fstat(sc.fd, &st) == 0 && st.st_dev == sc.dev && st.st_ino == sc.ino &&
           S_ISSOCK(st.st_mode);
}

/* ---- one batch --------------------------------------------------------------------------- */

struct buf {
    char *p;
    size_t len, cap;
    bool oom;
};

static void put(struct buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 64 * 1024;
        while (nc < b->len + n + 1)
            nc *= 2;
        char *q = pages_alloc(nc);
        if (!q) {
            b->oom = true;
            return;
        }
        if (b->p) {
            memcpy(q, b->p, b->len);
            pages_free(b->p, b->cap);
        }
        b->p = q;
        b->cap = nc;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void putf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct buf *b, const char *fmt, ...)
{
    char tmp[4200];
    __builtin_va_list ap;
    __builtin_va_start(ap, fmt);
    size_t n = diag_vformat(tmp, sizeof tmp, fmt, ap);
    __builtin_va_end(ap);
    put(b, tmp, n < sizeof tmp ? n : sizeof tmp - 1);
}

static bool declared(uint32_t id)
{
    return id < sc.ndeclared && sc.declared[id];
}

static void mark_declared(uint32_t id)
{
    if (id >= sc.ndeclared) {
        size_t n = (id + 64) & ~(size_t)63;
        uint8_t *d = arena_realloc(sc.declared, sc.ndeclared, n);
        if (!d)
            return;
        sc.declared = d;
        sc.ndeclared = n;
    }
    sc.declared[id] = 1;
}

/* A path on the wire: '%' and the bytes a line cannot carry as %XX. */
static void put_path(struct buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7f || c == '%') {
            char e[3] = { '%', hex[c >> 4], hex[c & 15] };
            put(b, e, 3);
        } else {
            put(b, (const char *)&c, 1);
        }
    }
}

static bool send_all(const char *p, size_t n, double limit)
{
    while (n) {
        struct pollfd pf = { sc.fd, POLLOUT, 0 };
        int ms = (int)((limit - now()) * 1000);
        if (ms <= 0 || poll(&pf, 1, ms) <= 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        ssize_t w = send(sc.fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static char *keep(const char *s, size_t n)
{
    if (!n)
        return NULL;
    char *p = arena_alloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}

/* "R <status> <n>[\t<fn>\t<file>\t<line>]...": the names of one symbol. */
static void parse_answer(const char *line, struct symbol *s)
{
    const char *p = line + 2;
    const char *sp = strchr(p, ' ');
    if (!sp)
        return;
    bool late = !strncmp(p, "late", 4);
    unsigned n = (unsigned)strtoul(sp + 1, NULL, 10);
    if (late)
        s->late = true;
    if (!n || n > 64)
        return;
    const char *fn[64], *file[64];
    int ln[64];
    const char *f = strchr(sp, '\t');
    unsigned k = 0;
    while (f && k < n) {
        const char *a = f + 1, *b = a ? strchr(a, '\t') : NULL;
        const char *c = b ? strchr(b + 1, '\t') : NULL;
        if (!b || !c)
            break;
        const char *d = strchr(c + 1, '\t');
        fn[k] = keep(a, (size_t)(b - a));
        file[k] = keep(b + 1, (size_t)(c - b - 1));
        ln[k] = atoi(c + 1);
        k++;
        f = d;
    }
    if (!k)
        return;
    struct inline_frame *inl = k > 1 ? arena_alloc((k - 1) * sizeof *inl) : NULL;
    if (k > 1 && !inl)
        k = 1;
    for (unsigned j = 0; j + 1 < k; j++)
        inl[j] = (struct inline_frame){ fn[j], file[j] && ln[j] ? file[j] : NULL, ln[j] };
    s->inl = inl;
    s->ninline = k - 1;
    s->function = fn[k - 1];
    s->file = file[k - 1] && ln[k - 1] ? file[k - 1] : NULL;
    s->line = ln[k - 1];
    s->named = true;
}

/* A profile batch's answer: "P ok <bytes>" or "P failed <why>". */
struct p_answer {
    bool seen, ok;
    uint64_t bytes;
    char why[256];
};

static void parse_p(const char *line, struct p_answer *pa)
{
    pa->seen = true;
    if (!strncmp(line, "P ok ", 5)) {
        pa->ok = true;
        pa->bytes = strtoull(line + 5, NULL, 10);
    } else {
        diag_format(pa->why, sizeof pa->why, "%s",
                    !strncmp(line, "P failed ", 9) ? line + 9 : line);
    }
}

/* Reads answers until "E"; returns false if the helper stopped or ran out of time.  After
 * a second, `waiting` is said once on the log. */
static bool read_answers(struct symbol *const *s, size_t n, double limit, const char *waiting,
                         struct p_answer *pa)
{
    struct buf in = { 0 };
    size_t next = 0, parsed = 0;
    bool said = false, done = false;
    double start = now();
    while (!done) {
        double left = limit - now();
        if (left <= 0)
            break;
        if (!said && now() - start >= 1.0) {
            diag_warn("%s", waiting);
            said = true;
        }
        struct pollfd pf = { sc.fd, POLLIN, 0 };
        int ms = said ? (int)(left * 1000) : 1000;
        int r = poll(&pf, 1, ms < 1 ? 1 : ms);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            continue;
        char chunk[16384];
        ssize_t got = read(sc.fd, chunk, sizeof chunk);
        if (got < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (got <= 0)
            break;
        put(&in, chunk, (size_t)got);
        if (in.oom)
            break;
        for (;;) {
            char *line = in.p + parsed;
            char *nl = memchr(line, '\n', in.len - parsed);
            if (!nl)
                break;
            *nl = 0;
            parsed = (size_t)(nl - in.p) + 1;
            if (line[0] == 'R' && line[1] == ' ') {
                if (next < n)
                    parse_answer(line, s[next]);
                next++;
            } else if (line[0] == 'W' && line[1] == ' ') {
                diag_warn("%s", line + 2);
            } else if (line[0] == 'P' && line[1] == ' ' && pa) {
                parse_p(line, pa);
            } else if (line[0] == 'E' && line[1] == 0) {
                done = true;
                break;
            }
        }
    }
    if (in.p)
        pages_free(in.p, in.cap);
    return done && next == n;
}

/* The helper, started if need be; false (sc.why says why) when it cannot be had. */
static bool helper_ready(void)
{
    if (sc.broken)
        return false;
    if (sc.pid && !still_ours())
        forget_helper();   /* not ours any more: never written to, never closed */
    if (!sc.pid && (sc.starts >= MAX_STARTS || !start_helper())) {
        if (sc.starts >= MAX_STARTS)
            diag_format(sc.why, sizeof sc.why, PROGRAM " stopped answering");
        sc.broken = true;
        return false;
    }
    return true;
}

/* How long a batch may take: `base` seconds; with debuginfod, what is left of its budget
 * and a little more. */
static double answer_limit(double base)
{
    if (options.debuginfod && !sc.deadline)
        sc.deadline = now() + options.debuginfod_timeout + 5;
    double limit = now() + base;
    if (sc.deadline && sc.deadline > now())
        limit = sc.deadline + ANSWER_LIMIT / 6;
    return limit;
}

/* The helper failed a batch: it died, or it hung (then it is killed, and not asked again:
 * it would hang again). */
static void helper_failed(void)
{
    /* Its end of the socket closed as it died: a moment for the kernel to say so. */
    bool exited = helper_ended(200);
    if (exited)
        diag_format(sc.why, sizeof sc.why, PROGRAM " ended without answering");
    else
        diag_format(sc.why, sizeof sc.why, PROGRAM " did not answer in time");
    sc.broken = !exited;
    stop_helper(!exited);
}

/* "M" for a module the running helper does not know yet. */
static void declare(struct buf *b, uint32_t id, const char *path, const char *build_id)
{
    if (declared(id))
        return;
    putf(b, "M %u %s ", id, build_id ? build_id : "-");
    put_path(b, path);
    put(b, "\n", 1);
    mark_declared(id);
}

bool symclient_resolve(struct symbol *const *s, size_t n, char *why, size_t cap)
{
    if (!n)
        return true;
    unsigned guard = tls_guard;
    tls_guard = 1;
    spin_lock(&sc.lock);
    bool ok = false;
    struct buf req = { 0 };
    if (!helper_ready())
        goto out;
    size_t nframes = 0;
    struct symbol **todo = pages_alloc(n * sizeof *todo);
    if (!todo) {
        diag_format(sc.why, sizeof sc.why, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const struct symbol *x = s[i];
        if (!x->has_module || !x->module || x->module[0] != '/')
            continue;
        declare(&req, x->module_id, x->module, x->build_id);
        putf(&req, "F %u %lx\n", x->module_id, (unsigned long)x->offset);
        todo[nframes++] = (struct symbol *)x;
    }
    put(&req, "E\n", 2);
    if (req.oom) {
        diag_format(sc.why, sizeof sc.why, "out of memory");
    } else if (nframes) {
        double limit = answer_limit(ANSWER_LIMIT);
        char waiting[128];
        diag_format(waiting, sizeof waiting, "naming %zu frame(s) with " PROGRAM "; the report "
                    "waits for it", nframes);
        if (send_all(req.p, req.len, limit) && read_answers(todo, nframes, limit, waiting, NULL))
            ok = true;
        else
            helper_failed();
    } else {
        ok = true;
    }
    pages_free(todo, n * sizeof *todo);
out:
    if (!ok)
        diag_format(why, cap, "%s", sc.why);
    if (req.p)
        pages_free(req.p, req.cap);
    spin_unlock(&sc.lock);
    tls_guard = guard;
    return ok;
}

/* ---- a profile batch ------------------------------------------------------------------ */

/* The P line's first bytes carry the file's descriptor (SCM_RIGHTS): the helper writes the
 * file the host opened, under chan_open's rules, and no profile passes through the host. */
static bool send_with_fd(const char *p, size_t n, int fd, double limit)
{
    for (;;) {
        union {
            struct cmsghdr h;
            char buf[CMSG_SPACE(sizeof(int))];
        } ctl;
        memset(&ctl, 0, sizeof ctl);
        struct iovec iov = { (void *)p, n };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                              .msg_controllen = sizeof ctl.buf };
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof fd);
        ssize_t w = sendmsg(sc.fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0)
            return send_all(p + w, n - (size_t)w, limit);
        if (w < 0 && errno != EINTR && errno != EAGAIN)
            return false;
        struct pollfd pf = { sc.fd, POLLOUT, 0 };
        int ms = (int)((limit - now()) * 1000);
        if (ms <= 0 || (poll(&pf, 1, ms) <= 0 && errno != EINTR))
            return false;
    }
}

/* The request goes out as it is built, a megabyte at a time: a profile of many stacks is
 * never held whole (the helper reads a batch to its end before it answers). */
struct stream {
    struct buf b;
    int fd;                    /* to send with the first bytes; -1 once sent */
    double limit;
    bool failed;
};

static void stream_flush(struct stream *st)
{
    if (st->failed || st->b.oom || !st->b.len)
        return;
    bool ok = st->fd >= 0 ? send_with_fd(st->b.p, st->b.len, st->fd, st->limit)
                          : send_all(st->b.p, st->b.len, st->limit);
    st->fd = -1;
    st->failed = !ok;
    st->b.len = 0;
}

bool symclient_profile(int fd, const struct profile_head *h, const struct profile_sample *s,
                       size_t n, uint64_t *bytes, char *why, size_t cap)
{
    unsigned guard = tls_guard;
    tls_guard = 1;
    spin_lock(&sc.lock);
    bool ok = false;
    struct stream st = { .fd = fd };
    uint32_t nmods = modules_count();
    uint8_t *used = NULL;
    if (!helper_ready())
        goto out;
    used = pages_alloc(nmods + 1);
    if (!used) {
        diag_format(sc.why, sizeof sc.why, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        for (unsigned k = 0; k < s[i].nframes; k++) {
            const struct symbol *x = s[i].frame[k];
            if (x->has_module && x->module && x->module[0] == '/' && x->module_id < nmods)
                used[x->module_id] = 1;
        }
    st.limit = answer_limit(2 * ANSWER_LIMIT);
    putf(&st.b, "P %lu %lu %lu %d\n", (unsigned long)h->time_ns, (unsigned long)h->duration_ns,
         (unsigned long)h->period, h->names ? 1 : 0);
    /* The main program's mapping first, as pprof wants it. */
    for (int pass = 0; pass < 2; pass++)
        for (uint32_t id = 0; id < nmods; id++) {
            struct module m;
            if (!used[id] || !module_by_id(id, &m) || m.is_main != !pass)
                continue;
            declare(&st.b, id, m.path, m.build_id);
            putf(&st.b, "A %u %lx %lx %lx\n", id, (unsigned long)m.start, (unsigned long)m.end,
                 (unsigned long)m.base);
            used[id] = 2;
        }
    for (size_t i = 0; i < n && !st.failed; i++) {
        const struct profile_sample *x = &s[i];
        putf(&st.b, "S %lu %lu %lu %lu", (unsigned long)x->value[0], (unsigned long)x->value[1],
             (unsigned long)x->value[2], (unsigned long)x->value[3]);
        for (unsigned k = 0; k < x->nframes; k++) {
            const struct symbol *f = x->frame[k];
            if (f->has_module && f->module_id < nmods && used[f->module_id] == 2)
                putf(&st.b, " %u:%lx", f->module_id, (unsigned long)f->offset);
            else
                putf(&st.b, " @%lx", (unsigned long)f->addr);
        }
        put(&st.b, "\n", 1);
        if (st.b.len >= (1u << 20))
            stream_flush(&st);
    }
    put(&st.b, "E\n", 2);
    stream_flush(&st);
    if (st.b.oom) {
        /* The helper has a batch without its end: it is stopped, and started anew. */
        diag_format(sc.why, sizeof sc.why, "out of memory");
        stop_helper(true);
        goto out;
    }
    struct p_answer pa = { 0 };
    if (!st.failed && read_answers(NULL, 0, st.limit, "writing the pprof profile with "
                                   PROGRAM "; the report waits for it", &pa)) {
        ok = pa.ok;
        if (!pa.seen)   /* it ended the batch all the same: it knows no profile batch */
            diag_format(sc.why, sizeof sc.why, PROGRAM " does not write pprof profiles "
                        "(not the one of this version of mallocspy?)");
        else if (!ok)
            diag_format(sc.why, sizeof sc.why, "%s", pa.why);
        *bytes = pa.bytes;
    } else {
        helper_failed();
    }
out:
    if (!ok)
        diag_format(why, cap, "%s", sc.why);
    if (used)
        pages_free(used, nmods + 1);
    if (st.b.p)
        pages_free(st.b.p, st.b.cap);
    spin_unlock(&sc.lock);
    tls_guard = guard;
    return ok;
}

/* The child after fork has no helper of its own: the parent's is the parent's. */
void symclient_fork_child(void)
{
    spin_reset(&sc.lock);
    if (sc.fd >= 0)
        close(sc.fd);
    if (sc.pidfd >= 0)
        close(sc.pidfd);
    forget_helper();
    sc.starts = 0;
    sc.broken = false;
}
