/* report_signal: a signal asks a running process for a leak report.  The handler only
 * writes to an eventfd; a thread of mallocspy's waits on it and writes the report, so the
 * program is stopped only while the scan itself runs.  The thread is mallocspy's own: it
 * is not stopped by the scan and its stack is not a root.  With pprof_interval, the same
 * thread wakes every interval to write a pprof profile: no timer signal reaches the
 * program, and no thread of its is stopped for it. */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "base/diag.h"
#include "base/options.h"
#include "base/start.h"
#include "report/report.h"

static struct {
    int fd;                    /* eventfd the handler writes to; -1 before start */
    atomic_int tid;            /* the reporting thread */
    struct sigaction previous;
} rs = { .fd = -1 };

static void on_signal(int sig)
{
    (void)sig;
    int saved = errno;
    uint64_t one = 1;
    if (rs.fd >= 0)
        (void)!write(rs.fd, &one, sizeof one);
    errno = saved;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void *reporter(void *arg)
{
    (void)arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    atomic_store(&rs.tid, (int)syscall(SYS_gettid));
    int fd = rs.fd;
    bool pprof = options.pprof_interval && options.pprof_path[0];
    double every = options.pprof_interval, next = now() + every;
    for (;;) {
        int ms = -1;
        if (pprof) {
            double left = next - now();
            ms = left <= 0 ? 0 : left > 86400 ? 86400000 : (int)(left * 1000) + 1;
        }
        struct pollfd p = { fd, POLLIN, 0 };
        int r = poll(&p, 1, ms);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0 || (pprof && now() >= next)) {
            report_pprof_now();
            /* A slow profile skips the intervals it overran rather than catch up. */
            next += every;
            if (next <= now())
                next = now() + every;
            continue;
        }
        uint64_t v;
        ssize_t n = read(fd, &v, sizeof v);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n != sizeof v)
            return NULL;
        report_run(false, NULL, NULL);
    }
}

/* mallocspy's reporting thread, which no scan stops (it blocks every signal, and holds
 * nothing of the program's); 0 if there is none. */
pid_t report_signal_thread(void) { return rs.fd >= 0 ? (pid_t)atomic_load(&rs.tid) : 0; }

void report_signal_start(void)
{
    bool interval = options.pprof_interval && options.pprof_path[0];
    if ((!options.report_signal && !interval) || !options.leak_check)
        return;
    unsigned guard = tls_guard;
    tls_guard = 1;
    rs.fd = eventfd(0, EFD_CLOEXEC);
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    if (rs.fd < 0 || pthread_create(&t, &attr, reporter, NULL) != 0) {
        diag_warn("cannot start the thread that answers %s: %s",
                  options.report_signal ? "report_signal" : "pprof_interval", strerror(errno));
        if (rs.fd >= 0)
            close(rs.fd);
        rs.fd = -1;
    } else if (options.report_signal) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sa.sa_flags = SA_RESTART;
        sigemptyset(&sa.sa_mask);
        sigaction(options.report_signal, &sa, &rs.previous);
    }
    pthread_attr_destroy(&attr);
    tls_guard = guard;
}

/* The child has no reporting thread, and shares the parent's eventfd: its own of each. */
void report_signal_fork_child(void)
{
    if (rs.fd < 0)
        return;
    close(rs.fd);
    rs.fd = -1;
    report_signal_start();
}
