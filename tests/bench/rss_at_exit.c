/* rss_at_exit - records each process's peak RSS after mallocspy's exit report, for
 * `make bench` (scripts/bench.py).
 *
 * Usage: RSS_AT_EXIT_DIR=DIR LD_PRELOAD="rss_at_exit.so libmallocspy.so" program...
 *
 * mallocspy writes its exit report from an atexit handler, and the peak RSS wait4 gives
 * for a command of several processes is only its largest process's.  To know each
 * process's peak during its report, this library interposes __cxa_atexit (preloaded
 * first, it is the one every other module's calls bind to, mallocspy's included) and,
 * before the first handler of the process is registered, registers one of its own: as
 * atexit handlers run last registered first, it runs after all the others, mallocspy's
 * report included.  It reads VmHWM from /proc/self/status and writes "<pid> <VmHWM kB>"
 * to DIR/hwm.<pid>.  A process that ends without exit (_exit, a signal, exec) writes
 * nothing, and neither does mallocspy's report.
 *
 * The bench runs it in an extra run of its own, apart from the timed ones.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int (*real_cxa_atexit)(void (*)(void *), void *, void *);
static int registered;
static char dir[1024];

static void record(void *arg)
{
    (void)arg;
    char buf[4096], path[1100];
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || !dir[0])
        return;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return;
    buf[n] = 0;
    const char *hwm = strstr(buf, "\nVmHWM:");
    if (!hwm)
        return;
    long kb = strtol(hwm + 7, NULL, 10);
    int pid = (int)getpid();
    snprintf(path, sizeof path, "%s/hwm.%d", dir, pid);
    int len = snprintf(buf, sizeof buf, "%d %ld\n", pid, kb);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    if (write(fd, buf, (size_t)len) != len)
        unlink(path);
    close(fd);
}

/* Registers record before any other handler of the process. */
static void ensure_registered(void)
{
    if (!real_cxa_atexit) {
        real_cxa_atexit = (int (*)(void (*)(void *), void *, void *))
            dlsym(RTLD_NEXT, "__cxa_atexit");
        if (!real_cxa_atexit)
            abort();
    }
    if (!__atomic_exchange_n(&registered, 1, __ATOMIC_ACQ_REL)) {
        const char *d = getenv("RSS_AT_EXIT_DIR");
        if (d && strlen(d) < sizeof dir)
            strcpy(dir, d);
        real_cxa_atexit(record, NULL, NULL);
    }
}

int __cxa_atexit(void (*fn)(void *), void *arg, void *dso)
{
    ensure_registered();
    return real_cxa_atexit(fn, arg, dso);
}

/* A process whose modules register nothing still gets its record. */
__attribute__((constructor)) static void rss_at_exit_init(void)
{
    ensure_registered();
}
