/* Output channels.  mallocspy is a guest: the program's descriptors are the program's.
 * Its stderr is copied at start-up to a high descriptor (programs close stderr in their
 * exit handlers, and another file may then take descriptor 2), report files are never
 * opened through a symbolic link nor into someone else's file, and with log_path every
 * word of mallocspy's goes to that log, not to the program's stderr. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "base/diag.h"
#include "base/options.h"
#include "base/run.h"
#include "output/channels.h"
#include "output/errors.h"

static struct {
    int err_fd;                /* close-on-exec duplicate of stderr, -1 if none */
    dev_t dev;
    ino_t ino;
    bool err_known;
    int log_fd;                /* log_path, opened on first use; -1 before */
    bool log_failed;
    bool ready;                /* channels_init ran: warnings are written, not kept */
    bool silent;               /* not observed: nothing is written at all */
    bool leaked;               /* the last report found leaks: the process has news */
    /* The names this process took for its report files, by pattern (an option's value):
     * its later reports go to the same file. */
    struct { const char *pattern; char path[4096]; } taken[8];
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
    if (ch.silent)
        return -1;
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
    if (ch.silent)
        return -1;
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

/* Where `pattern` may be written, k-th choice: with %p, the pid (then "<pid>-2",
 * "<pid>-3"... when a process of the run with the same pid took it); without, the name
 * itself, then the name with ".<pid>" (and "-2"...) before its extension, so that a
 * flame graph stays an .svg or .html. */
static void candidate(const char *pattern, unsigned k, char *path, size_t cap)
{
    bool has_p = strstr(pattern, "%p") != NULL;
    /* The nth name for the pid: "<pid>", then "<pid>-2", "<pid>-3"... */
    unsigned nth = has_p ? k + 1 : k;
    char pid[32];
    if (nth <= 1)
        diag_format(pid, sizeof pid, "%d", (int)getpid());
    else
        diag_format(pid, sizeof pid, "%d-%u", (int)getpid(), nth);
    if (has_p) {
        size_t n = 0;
        for (const char *p = pattern; *p && n + 1 < cap; p++) {
            if (p[0] == '%' && p[1] == 'p') {
                n += diag_format(path + n, cap - n, "%s", pid);
                p++;
            } else {
                path[n++] = *p;
            }
        }
        path[n < cap ? n : cap - 1] = 0;
        return;
    }
    if (k == 0) {
        diag_format(path, cap, "%s", pattern);
        return;
    }
    /* The extension: a dot after the last slash, not its first character, followed by up
     * to eight letters or digits. */
    size_t len = strlen(pattern), at = len;
    const char *base = strrchr(pattern, '/');
    base = base ? base + 1 : pattern;
    const char *dot = strrchr(base, '.');
    if (dot && dot > base && dot[1] && strlen(dot + 1) <= 8) {
        bool word = true;
        for (const char *c = dot + 1; *c; c++)
            word = word && ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                            (*c >= '0' && *c <= '9'));
        if (word)
            at = (size_t)(dot - pattern);
    }
    char head[4096];
    diag_format(head, at + 1 < sizeof head ? at + 1 : sizeof head, "%s", pattern);
    diag_format(path, cap, "%s.%s%s", head, pid, pattern + at);
}

/* Opens an existing report file of ours for writing, truncated; or creates it. */
static int open_own(const char *path, bool create, const char **why)
{
    int fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC | (create ? O_CREAT : 0), 0644);
    struct stat st;
    if (fd < 0) {
        *why = errno == ELOOP ? "it is a symbolic link, which is not followed" : strerror(errno);
    } else if (fstat(fd, &st) != 0) {
        *why = strerror(errno);
    } else if (S_ISREG(st.st_mode) && st.st_uid != geteuid()) {
        /* Another user's file (a name planted in a shared directory): not ours to
         * overwrite, whatever its permissions say. */
        *why = "the file belongs to another user";
        errno = EPERM;
    } else if (S_ISREG(st.st_mode) && ftruncate(fd, 0) != 0) {
        *why = strerror(errno);
    } else {
        return fd;
    }
    int saved = errno;
    if (fd >= 0)
        close(fd);
    errno = saved;
    return -1;
}

/* Takes `path` for this process: 1 (fd set) when it is ours, 0 when another process of
 * the run wrote it or holds it open (a log), -1 on an error (why set). */
static int claim(const char *path, int *fd, const char **why)
{
    for (int tries = 0; tries < 4; tries++) {
        int f = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (f >= 0) {
            *fd = f;
            return 1;
        }
        if (errno != EEXIST) {
            *why = errno == ELOOP ? "it is a symbolic link, which is not followed"
                                  : strerror(errno);
            return -1;
        }
        f = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        if (f < 0 && errno == ENOENT)
            continue;   /* removed meanwhile: create it */
        struct stat st;
        if (f < 0 || fstat(f, &st) != 0) {
            *why = errno == ELOOP ? "it is a symbolic link, which is not followed"
                                  : strerror(errno);
            if (f >= 0)
                close(f);
            return -1;
        }
        if (!S_ISREG(st.st_mode)) {
            /* A device or a pipe (/dev/null, a FIFO the user reads): written as it is. */
            int flags = fcntl(f, F_GETFL);
            if (flags >= 0)
                fcntl(f, F_SETFL, flags & ~O_NONBLOCK);
            *fd = f;
            return 1;
        }
        if (st.st_uid != geteuid()) {
            close(f);
            *why = "the file belongs to another user";
            errno = EPERM;
            return -1;
        }
        /* The lock is held as long as the file is open: another process of the run that
         * writes its log there has it; one that has written its report there has left its
         * time on it. */
        if ((flock(f, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK) ||
            !run_file_predates(&st)) {
            close(f);
            return 0;
        }
        if (ftruncate(f, 0) != 0) {
            *why = strerror(errno);
            close(f);
            return -1;
        }
        *fd = f;
        return 1;
    }
    *why = "it keeps disappearing";
    return -1;
}

static int open_pattern(const char *pattern, const char *what, char *path, size_t cap,
                        bool remember);

static atomic_uint snapshot_number;

void chan_set_number(unsigned n) { atomic_store(&snapshot_number, n); }

int chan_open(const char *pattern, const char *what, char *path, size_t cap)
{
    return chan_open_n(pattern, (long)atomic_load(&snapshot_number), what, path, cap);
}

/* %n first: each number names a file of its own, claimed as any other name (not
 * remembered as the pattern's: the next number is another file). */
int chan_open_n(const char *pattern, long number, const char *what, char *path, size_t cap)
{
    if (number < 0 || !strstr(pattern, "%n"))
        return open_pattern(pattern, what, path, cap, true);
    char expanded[4096];
    size_t n = 0;
    for (const char *p = pattern; *p && n + 1 < sizeof expanded; p++) {
        if (p[0] == '%' && p[1] == 'n') {
            n += diag_format(expanded + n, sizeof expanded - n, "%ld", number);
            p++;
        } else {
            expanded[n++] = *p;
        }
    }
    expanded[n < sizeof expanded ? n : sizeof expanded - 1] = 0;
    return open_pattern(expanded, what, path, cap, false);
}

static int open_pattern(const char *pattern, const char *what, char *path, size_t cap,
                        bool remember)
{
    if (ch.silent) {
        errno = EPERM;
        return -1;
    }
    const char *why = NULL;
    int fd = -1;
    /* The file a pattern (an option's string) got is remembered by the string's address;
     * a name made for one call (%n expanded) is not. */
    size_t slot = 0;
    while (remember && slot < ARRAY_SIZE(ch.taken) && ch.taken[slot].pattern &&
           ch.taken[slot].pattern != pattern)
        slot++;
    if (!remember)
        slot = ARRAY_SIZE(ch.taken);
    if (slot < ARRAY_SIZE(ch.taken) && ch.taken[slot].pattern) {
        /* A later report of this process (a snapshot, then the one at exit). */
        diag_format(path, cap, "%s", ch.taken[slot].path);
        fd = open_own(path, true, &why);
    } else {
        /* The name itself goes to the process with something to say (a leak, a heap
         * error) that comes first, or to the process the user started when it writes
         * before any had; every other process of the run gets its own name. */
        bool plain = !strstr(pattern, "%p");
        bool may_take = !plain || run_is_top() || ch.leaked || errors_count();
        int got = 0;
        for (unsigned k = may_take ? 0 : 1; k < 10000 && got == 0; k++) {
            candidate(pattern, k, path, cap);
            got = claim(path, &fd, &why);
        }
        if (got == 0)
            why = "every name is taken";
        if (got == 1 && slot < ARRAY_SIZE(ch.taken)) {
            ch.taken[slot].pattern = pattern;
            diag_format(ch.taken[slot].path, sizeof ch.taken[slot].path, "%s", path);
        }
    }
    if (fd < 0) {
        int saved = errno;
        diag_warn("cannot write the %s to '%s': %s", what, path, why ? why : strerror(saved));
        errno = saved;
        return -1;
    }
    /* The log is where the note would go: it is not open yet. */
    if (strcmp(what, "log"))
        diag_note("writing the %s to '%s'", what, path);
    return fd;
}

void chan_report_leaked(bool leaked) { ch.leaked = leaked; }

void chan_silence(void)
{
    ch.silent = true;
    if (ch.log_fd >= 0)
        close(ch.log_fd);
    ch.log_fd = -1;
    ch.log_failed = true;
}

bool chan_silent(void) { return ch.silent; }

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

/* A child after fork is another process of the run: its reports get names of their own,
 * its log too (the parent's stays the parent's). */
void channels_fork_child(void)
{
    if (ch.log_fd >= 0)
        close(ch.log_fd);
    ch.log_fd = -1;
    ch.log_failed = false;
    ch.leaked = false;
    memset(ch.taken, 0, sizeof ch.taken);
}
