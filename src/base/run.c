/* The run a process belongs to, and what it means for the programs it starts.  Everything
 * here is set at start-up (run_init, before the program runs) and after fork in the child;
 * it is read-only otherwise, and read without a lock, also on the way to execve in a child
 * of vfork. */
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "base/diag.h"
#include "base/environ.h"
#include "base/mem.h"
#include "base/options.h"
#include "base/pattern.h"
#include "base/run.h"

static struct {
    bool preloaded;            /* this library is an item of LD_PRELOAD */
    bool inherited;            /* MALLOCSPY_RUN came with the environment */
    bool top;                  /* the process the user started; false after fork */
    struct timespec start;     /* the run's start, by the coarse clock file times use */
    /* The report files (named without %p) there when the run began: dev, ino, mtime. */
    struct { unsigned long long dev, ino; struct timespec mtime; } old[8];
    unsigned nold;
    char var[512];             /* RUN_VAR "=<top pid>:<s>.<ns>[:<dev>.<ino>@<s>.<ns>]..." */
    char self[PATH_MAX];       /* this library's file, as the loader named it */
    dev_t dev;
    ino_t ino;
    bool have_id;              /* dev and ino are known */
    char skip_lib[PATH_MAX];   /* "" when not found */
} run;

static bool parse_u(const char **p, unsigned long long *out)
{
    const char *s = *p;
    unsigned long long v = 0;
    if (*s < '0' || *s > '9')
        return false;
    while (*s >= '0' && *s <= '9' && v < (1ULL << 60))
        v = v * 10 + (unsigned long long)(*s++ - '0');
    *p = s;
    *out = v;
    return true;
}

static bool parse_time(const char **v, struct timespec *ts)
{
    unsigned long long s, ns;
    if (!parse_u(v, &s) || *(*v)++ != '.' || !parse_u(v, &ns) || ns >= 1000000000ULL)
        return false;
    ts->tv_sec = (time_t)s;
    ts->tv_nsec = (long)ns;
    return true;
}

/* "<pid>:<seconds>.<nanoseconds>", then ":<dev>.<ino>@<seconds>.<nanoseconds>" for each
 * report file that was there when the run began. */
static bool parse_var(const char *v, pid_t *pid, struct timespec *ts)
{
    unsigned long long a;
    if (!parse_u(&v, &a) || *v++ != ':' || !parse_time(&v, ts) || a == 0 || a > INT_MAX)
        return false;
    *pid = (pid_t)a;
    run.nold = 0;
    while (*v == ':' && run.nold < ARRAY_SIZE(run.old)) {
        v++;
        unsigned long long dev, ino;
        struct timespec mt;
        if (!parse_u(&v, &dev) || *v++ != '.' || !parse_u(&v, &ino) || *v++ != '@' ||
            !parse_time(&v, &mt))
            return false;
        run.old[run.nold].dev = dev;
        run.old[run.nold].ino = ino;
        run.old[run.nold++].mtime = mt;
    }
    return *v == 0;
}

bool run_file_predates(const struct stat *st)
{
    for (unsigned i = 0; i < run.nold; i++)
        if (run.old[i].dev == (unsigned long long)st->st_dev &&
            run.old[i].ino == (unsigned long long)st->st_ino &&
            run.old[i].mtime.tv_sec == st->st_mtim.tv_sec &&
            run.old[i].mtime.tv_nsec == st->st_mtim.tv_nsec)
            return true;
    /* File times come from the same coarse clock as the start, so a file the run wrote is
     * never older than it.  A time with no nanoseconds may come from a file system that
     * keeps seconds only: then the same second counts as the run's (never overwritten). */
    if (st->st_mtim.tv_nsec == 0)
        return st->st_mtim.tv_sec < run.start.tv_sec;
    return st->st_mtim.tv_sec < run.start.tv_sec ||
           (st->st_mtim.tv_sec == run.start.tv_sec && st->st_mtim.tv_nsec < run.start.tv_nsec);
}

/* The first process of the run remembers the report files already there, so that the run
 * may take their names even when they were written a moment before it began (within the
 * clock's tick: they would look like its own). */
static void remember_old_files(void)
{
    const char *const names[] = { options.log_path, options.json_path, options.folded_path,
                                  options.flamegraph_path };
    run.nold = 0;
    for (size_t i = 0; i < ARRAY_SIZE(names) && run.nold < ARRAY_SIZE(run.old); i++) {
        struct stat st;
        if (!names[i][0] || strstr(names[i], "%p") || lstat(names[i], &st) != 0 ||
            !S_ISREG(st.st_mode))
            continue;
        run.old[run.nold].dev = (unsigned long long)st.st_dev;
        run.old[run.nold].ino = (unsigned long long)st.st_ino;
        run.old[run.nold++].mtime = st.st_mtim;
    }
}

static bool is_sep(char c) { return c == ' ' || c == ':' || c == '\t'; }

bool run_preload_entry_is_ours(const char *entry, size_t len)
{
    if (!run.self[0] || !len || len >= PATH_MAX)
        return false;
    if (strlen(run.self) == len && !memcmp(run.self, entry, len))
        return true;
    char path[PATH_MAX];
    memcpy(path, entry, len);
    path[len] = 0;
    if (!memchr(entry, '/', len)) {
        /* Found by the loader in its search path: named by its file name alone. */
        const char *base = strrchr(run.self, '/');
        return base && !strcmp(base + 1, path);
    }
    struct stat st;
    return run.have_id && stat(path, &st) == 0 && st.st_dev == run.dev && st.st_ino == run.ino;
}

bool run_preload_has_us(const char *value)
{
    for (const char *p = value; p && *p;) {
        while (*p && is_sep(*p))
            p++;
        const char *e = p;
        while (*e && !is_sep(*e))
            e++;
        if (e > p && run_preload_entry_is_ours(p, (size_t)(e - p)))
            return true;
        p = e;
    }
    return false;
}

size_t run_preload_without_us(const char *value, const char *with, char *out, size_t cap)
{
    size_t n = 0;
    bool replaced = false;
#define PUT(s, l)                                                                          \
    do {                                                                                   \
        if (n && n < cap)                                                                  \
            out[n] = ' ';                                                                  \
        n += n != 0;                                                                       \
        for (size_t k_ = 0; k_ < (l); k_++, n++)                                           \
            if (n < cap)                                                                   \
                out[n] = (s)[k_];                                                          \
    } while (0)
    for (const char *p = value; *p;) {
        while (*p && is_sep(*p))
            p++;
        const char *e = p;
        while (*e && !is_sep(*e))
            e++;
        if (e > p) {
            if (!run_preload_entry_is_ours(p, (size_t)(e - p)))
                PUT(p, (size_t)(e - p));
            else if (with && !replaced) {
                PUT(with, strlen(with));
                replaced = true;
            }
        }
        p = e;
    }
#undef PUT
    if (cap)
        out[n < cap ? n : cap - 1] = 0;
    return n + 1;
}

/* The helper library sits beside this one: <dir>/mallocspy/ once installed, <dir> in the
 * build tree (as the symbolizer does). */
static void find_skip_library(void)
{
    char dir[PATH_MAX];
    if (!realpath(run.self, dir))
        return;
    char *slash = strrchr(dir, '/');
    if (!slash)
        return;
    *slash = 0;
    diag_format(run.skip_lib, sizeof run.skip_lib, "%s/mallocspy/libmallocspy-skip.so", dir);
    if (access(run.skip_lib, R_OK) != 0)
        diag_format(run.skip_lib, sizeof run.skip_lib, "%s/libmallocspy-skip.so", dir);
    if (access(run.skip_lib, R_OK) != 0 || strpbrk(run.skip_lib, " :\t")) {
        diag_warn("children_skip: the helper library libmallocspy-skip.so is not beside %s: "
                  "skipped programs run without mallocspy, and so do the programs they "
                  "start", run.self);
        run.skip_lib[0] = 0;
    }
}

void run_init(void)
{
    Dl_info di;
    struct stat st;
    if (dladdr((void *)run_init, &di) && di.dli_fname && di.dli_fname[0] &&
        strlen(di.dli_fname) < sizeof run.self) {
        memcpy(run.self, di.dli_fname, strlen(di.dli_fname) + 1);
        if (stat(run.self, &st) == 0) {
            run.dev = st.st_dev;
            run.ino = st.st_ino;
            run.have_id = true;
        }
    }
    char buf[8192];
    const char *pre = env_initial("LD_PRELOAD", buf, sizeof buf);
    run.preloaded = run_preload_has_us(pre);
    pid_t top = getpid();
    const char *v = run.preloaded ? env_initial(RUN_VAR, buf, sizeof buf) : NULL;
    run.inherited = v && parse_var(v, &top, &run.start);
    if (!run.inherited) {
        top = getpid();
        clock_gettime(CLOCK_REALTIME_COARSE, &run.start);
        remember_old_files();
    }
    run.top = top == getpid();
    size_t n = diag_format(run.var, sizeof run.var, RUN_VAR "=%d:%lu.%09lu", (int)top,
                           (unsigned long)run.start.tv_sec, (unsigned long)run.start.tv_nsec);
    for (unsigned i = 0; i < run.nold && n < sizeof run.var; i++)
        n += diag_format(run.var + n, sizeof run.var - n, ":%lu.%lu@%lu.%09lu",
                         (unsigned long)run.old[i].dev, (unsigned long)run.old[i].ino,
                         (unsigned long)run.old[i].mtime.tv_sec,
                         (unsigned long)run.old[i].mtime.tv_nsec);
    if (run.preloaded && options.children_skip[0])
        find_skip_library();
}

void run_setup_environ(void)
{
    if (!run.preloaded || getauxval(AT_SECURE) || !environ)
        return;
    if (options.follow_children) {
        if (!env_entry(environ, RUN_VAR, NULL))
            env_self_put(run.var);
        return;
    }
    /* Only this process is observed: the programs it starts get no mallocspy, whichever
     * way they are started. */
    char *e = env_entry(environ, "LD_PRELOAD", NULL);
    if (!e)
        return;
    const char *value = e + sizeof "LD_PRELOAD=" - 1;
    size_t need = run_preload_without_us(value, NULL, NULL, 0);
    if (need <= 1) {
        env_self_remove("LD_PRELOAD");
        return;
    }
    char *entry = arena_alloc(need + sizeof "LD_PRELOAD=");
    if (!entry)
        return;
    memcpy(entry, "LD_PRELOAD=", sizeof "LD_PRELOAD=" - 1);
    run_preload_without_us(value, NULL, entry + sizeof "LD_PRELOAD=" - 1, need);
    env_self_put(entry);
}

bool run_preloaded(void) { return run.preloaded; }
bool run_is_top(void) { return run.top; }
bool run_inherited(void) { return run.inherited; }
const char *run_variable(void) { return run.preloaded ? run.var : NULL; }
const char *run_skip_library(void) { return run.skip_lib[0] ? run.skip_lib : NULL; }

/* The first NUL-terminated string of /proc/self/cmdline: argv[0], whatever libc knows. */
static bool read_argv0(char *out, size_t cap)
{
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, out, cap - 1);
    close(fd);
    if (n <= 0)
        return false;
    out[n] = 0;
    return out[0] != 0;
}

static const char *base_of(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

bool run_skipped_here(void)
{
    if (!run.inherited || !options.children_skip[0])
        return false;
    char exe[PATH_MAX], argv0[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        if (pattern_list_match(options.children_skip, exe, base_of(exe)))
            return true;
    }
    return read_argv0(argv0, sizeof argv0) &&
           pattern_list_match(options.children_skip, argv0, base_of(argv0));
}

void run_fork_child(void) { run.top = false; }
