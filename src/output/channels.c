/* Output channels.  mallocspy is a guest: the program's descriptors are the program's.
 * Its stderr is copied at start-up to a high descriptor (programs close stderr in their
 * exit handlers, and another file may then take descriptor 2), report files are never
 * opened through a symbolic link nor into someone else's file, and with log_path every
 * word of mallocspy's goes to that log, not to the program's stderr. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/diag.h"
#include "base/options.h"
#include "output/channels.h"

static struct {
    int err_fd;                /* close-on-exec duplicate of stderr, -1 if none */
    dev_t dev;
    ino_t ino;
    bool err_known;
    int log_fd;                /* log_path, opened on first use; -1 before */
    bool log_failed;
    bool ready;                /* channels_init ran: warnings are written, not kept */
} ch = { .err_fd = -1, .log_fd = -1 };

int chan_high_fd(int fd)
{
    struct rlimit rl;
    int want = 900;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        (rlim_t)want >= rl.rlim_cur)
        want = rl.rlim_cur > 16 ? (int)rl.rlim_cur - 8 : -1;
    if (want <= 2)
        return -1;
    int high = fcntl(fd, F_DUPFD_CLOEXEC, want);
    if (high >= 0)
        close(fd);
    return high;
}

static bool is_stderr(int fd)
{
    struct stat st;
    return fd >= 0 && fstat(fd, &st) == 0 && st.st_dev == ch.dev && st.st_ino == ch.ino;
}

int chan_stderr_fd(void)
{
    if (!ch.err_known)
        return 2;
    if (is_stderr(ch.err_fd))
        return ch.err_fd;
    if (is_stderr(2))
        return 2;
    return -1;
}

int chan_log_fd(void)
{
    if (!options.log_path[0])
        return chan_stderr_fd();
    if (ch.log_fd < 0 && !ch.log_failed) {
        char path[4096];
        /* Failing here warns, and a warning wants the log: it then goes to stderr. */
        ch.log_failed = true;
        ch.log_fd = chan_open(options.log_path, "log", path, sizeof path);
        ch.log_failed = ch.log_fd < 0;
    }
    return ch.log_fd;
}

/* Where a warning goes: the log when there is one, else the program's stderr. */
static int warn_fd(void)
{
    if (!ch.ready)
        return -1;
    int fd = options.log_path[0] && !ch.log_failed ? chan_log_fd() : -1;
    return fd >= 0 ? fd : chan_stderr_fd();
}

static atomic_uint snapshot_number;

void chan_set_number(unsigned n) { atomic_store(&snapshot_number, n); }

int chan_open(const char *pattern, const char *what, char *path, size_t cap)
{
    return chan_open_n(pattern, (long)atomic_load(&snapshot_number), what, path, cap);
}

/* Every report file's name is made here: %p, and %n where the caller numbers its files. */
int chan_open_n(const char *pattern, long number, const char *what, char *path, size_t cap)
{
    size_t n = 0;
    for (const char *p = pattern; *p && n + 1 < cap; p++) {
        if (p[0] == '%' && p[1] == 'p') {
            n += diag_format(path + n, cap - n, "%d", (int)getpid());
            p++;
        } else if (p[0] == '%' && p[1] == 'n' && number >= 0) {
            n += diag_format(path + n, cap - n, "%ld", number);
            p++;
        } else {
            path[n++] = *p;
        }
    }
    path[n < cap ? n : cap - 1] = 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    const char *why = NULL;
    struct stat st;
    if (fd < 0) {
        why = errno == ELOOP ? "it is a symbolic link, which is not followed" : strerror(errno);
    } else if (fstat(fd, &st) != 0) {
        why = strerror(errno);
    } else if (S_ISREG(st.st_mode) && st.st_uid != geteuid()) {
        /* Another user's file (a name planted in a shared directory): not ours to
         * overwrite, whatever its permissions say. */
        why = "the file belongs to another user";
        errno = EPERM;
    } else if (S_ISREG(st.st_mode) && ftruncate(fd, 0) != 0) {
        why = strerror(errno);
    }
    if (why) {
        int saved = errno;
        if (fd >= 0)
            close(fd);
        diag_warn("cannot write the %s to '%s': %s", what, path, why);
        errno = saved;
        return -1;
    }
    /* The log is where the note would go: it is not open yet. */
    if (strcmp(what, "log"))
        diag_note("writing the %s to '%s'", what, path);
    return fd;
}

void channels_init(void)
{
    struct stat st;
    if (fstat(2, &st) == 0) {
        ch.dev = st.st_dev;
        ch.ino = st.st_ino;
        ch.err_known = true;
        int dup = fcntl(2, F_DUPFD_CLOEXEC, 3);
        if (dup >= 0) {
            ch.err_fd = chan_high_fd(dup);
            if (ch.err_fd < 0)
                close(dup);
        }
    }
    ch.ready = true;
    diag_set_sink(warn_fd, chan_stderr_fd);
}

/* A child after fork writes its own log when the name has %p; without, it shares the
 * parent's (appending at the same offset). */
void channels_fork_child(void)
{
    if (strstr(options.log_path, "%p") && ch.log_fd >= 0) {
        close(ch.log_fd);
        ch.log_fd = -1;
    }
    ch.log_failed = false;
}
