/* Starting programs (the exec family and posix_spawn, core/entry.h): each program gets the
 * environment the run asks for.  A program children_skip names runs without mallocspy
 * (the small libmallocspy-skip.so in its place gives its own children the preload back);
 * with follow_children=0 none gets the preload; and a program started with an environment
 * of its caller's making still learns that it belongs to the run.  Nothing else changes:
 * an environment that needs nothing is passed on as it is.
 *
 * This runs where little is allowed: in a child of vfork, on its parent's stack and in its
 * memory, and on the way to execve.  So no lock, no allocation (the new environment is
 * built on the stack, or in pages mapped for it when it is large), no per-thread state
 * changed, and errno is the real call's. */
#include <dlfcn.h>
#include <limits.h>
#include <spawn.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/diag.h"
#include "base/environ.h"
#include "base/options.h"
#include "base/pattern.h"
#include "base/run.h"
#include "base/start.h"
#include "core/entry.h"
#include "core/spawn.h"

static struct {
    int (*execve)(const char *, char *const[], char *const[]);
    int (*execvpe)(const char *, char *const[], char *const[]);
    int (*fexecve)(int, char *const[], char *const[]);
    int (*posix_spawn)(pid_t *, const char *, const posix_spawn_file_actions_t *,
                       const posix_spawnattr_t *, char *const[], char *const[]);
    int (*posix_spawnp)(pid_t *, const char *, const posix_spawn_file_actions_t *,
                        const posix_spawnattr_t *, char *const[], char *const[]);
} real;   /* set at start-up, read-only after */

void spawn_init(void)
{
    real.execve = (int (*)(const char *, char *const[], char *const[]))dlsym(RTLD_NEXT, "execve");
    real.execvpe = (int (*)(const char *, char *const[], char *const[]))dlsym(RTLD_NEXT, "execvpe");
    real.fexecve = (int (*)(int, char *const[], char *const[]))dlsym(RTLD_NEXT, "fexecve");
    real.posix_spawn = (int (*)(pid_t *, const char *, const posix_spawn_file_actions_t *,
                                const posix_spawnattr_t *, char *const[],
                                char *const[]))dlsym(RTLD_NEXT, "posix_spawn");
    real.posix_spawnp = (int (*)(pid_t *, const char *, const posix_spawn_file_actions_t *,
                                 const posix_spawnattr_t *, char *const[],
                                 char *const[]))dlsym(RTLD_NEXT, "posix_spawnp");
}

/* ---- what the program gets ---------------------------------------------------------- */

enum action { KEEP, ADD_RUN, STRIP, SKIP };

static const char *base_of(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* The file execvp would run: the first executable regular file of PATH's directories
 * (an empty one meaning the current directory).  Only for matching. */
static bool search_path(const char *file, char *out, size_t cap)
{
    char *const *env = environ;
    char *e = env_entry(env, "PATH", NULL);
    const char *p = e ? e + 5 : "/bin:/usr/bin";
    size_t flen = strlen(file);
    for (;;) {
        const char *colon = strchr(p, ':');
        size_t dlen = colon ? (size_t)(colon - p) : strlen(p);
        if (dlen + flen + 2 < cap) {
            if (dlen) {
                memcpy(out, p, dlen);
                out[dlen] = '/';
                memcpy(out + dlen + 1, file, flen + 1);
            } else {
                memcpy(out, file, flen + 1);
            }
            if (access(out, X_OK) == 0)
                return true;
        }
        if (!colon)
            return false;
        p = colon + 1;
    }
}

static bool skipped(const char *file, bool search)
{
    const char *list = options.children_skip;
    if (!list[0])
        return false;
    char found[PATH_MAX];
    const char *path = file;
    if (search && !strchr(file, '/') && strchr(list, '/') && search_path(file, found, sizeof found))
        path = found;
    return pattern_list_match(list, path, base_of(file));
}

static enum action decide(const char *file, bool search, char *const envp[])
{
    char *pre = run_preloaded() && envp ? env_entry(envp, "LD_PRELOAD", NULL) : NULL;
    /* A preload the program set up itself, without mallocspy, is its own business. */
    if (!pre || !run_preload_has_us(pre + sizeof "LD_PRELOAD=" - 1))
        return KEEP;
    if (!options.follow_children)
        return STRIP;
    if (skipped(file, search))
        return SKIP;
    return env_entry(envp, RUN_VAR, NULL) ? KEEP : ADD_RUN;
}

/* Pages mapped for an environment too large for the stack buffer; left mapped when the
 * exec succeeds in a child of vfork (they are the parent's then), which only a very large
 * environment costs. */
struct pages { void *p; size_t len; };

static void release(struct pages *m)
{
    if (m->p)
        syscall(SYS_munmap, m->p, m->len);
    m->p = NULL;
}

/* The environment to pass: envp itself, or a copy built in buf (cap bytes) or in pages. */
static char *const *prepare(const char *file, bool search, char *const envp[], char *buf,
                            size_t cap, struct pages *m)
{
    enum action a = decide(file, search, envp);
    if (a == KEEP)
        return envp;
    size_t n = 0, at = 0;
    while (envp[n])
        n++;
    char *pre = env_entry(envp, "LD_PRELOAD", &at);
    const char *value = pre + sizeof "LD_PRELOAD=" - 1;
    size_t vlen = strlen(value);
    const char *stub = a == SKIP ? run_skip_library() : NULL;
    size_t need = (n + 4) * sizeof(char *) + 2 * (vlen + 64) + (stub ? strlen(stub) : 0) + 16;
    char *mem = buf;
    if (need > cap) {
        void *p = (void *)syscall(SYS_mmap, NULL, need, PROT_READ | PROT_WRITE,
                                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return envp;
        m->p = mem = p;
        m->len = need;
    }
    char **env = (char **)mem;
    char *str = mem + (n + 4) * sizeof(char *);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (i == at && a != ADD_RUN)
            continue;
        if (a == SKIP && !strncmp(envp[i], RUN_CHILDREN_PRELOAD_VAR "=",
                                  sizeof RUN_CHILDREN_PRELOAD_VAR))
            continue;
        env[k++] = envp[i];
    }
    if (a == STRIP || a == SKIP) {
        /* LD_PRELOAD without mallocspy (the helper library in its place for a skipped
         * program); gone when nothing else was in it. */
        memcpy(str, "LD_PRELOAD=", sizeof "LD_PRELOAD=" - 1);
        size_t len = run_preload_without_us(value, stub, str + sizeof "LD_PRELOAD=" - 1,
                                            vlen + (stub ? strlen(stub) : 0) + 2);
        if (len > 1) {
            env[k++] = str;
            str += sizeof "LD_PRELOAD=" - 1 + len;
        }
    }
    if (a == SKIP && stub) {
        /* What the helper puts back for the skipped program's own children. */
        size_t pl = sizeof RUN_CHILDREN_PRELOAD_VAR "=" - 1;
        memcpy(str, RUN_CHILDREN_PRELOAD_VAR "=", pl);
        memcpy(str + pl, pre, sizeof "LD_PRELOAD=" - 1 + vlen + 1);
        env[k++] = str;
    }
    if ((a == ADD_RUN || a == SKIP) && !env_entry(envp, RUN_VAR, NULL) && run_variable())
        env[k++] = (char *)run_variable();
    env[k] = NULL;
    return env;
}

/* ---- the entry points ----------------------------------------------------------------- */

#define STACK_ENV 16384

int core_execve(const char *path, char *const argv[], char *const envp[])
{
    int saved = errno;
    _Alignas(16) char buf[STACK_ENV];
    struct pages m = { NULL, 0 };
    char *const *env = start_ready() && path ? prepare(path, false, envp, buf, sizeof buf, &m)
                                             : envp;
    errno = saved;
    int r = real.execve ? real.execve(path, argv, env)
                        : (int)syscall(SYS_execve, path, argv, env);
    saved = errno;
    release(&m);
    errno = saved;
    return r;
}

int core_execvpe(const char *file, char *const argv[], char *const envp[])
{
    int saved = errno;
    _Alignas(16) char buf[STACK_ENV];
    struct pages m = { NULL, 0 };
    char *const *env = start_ready() && file && *file
                           ? prepare(file, true, envp, buf, sizeof buf, &m) : envp;
    errno = saved;
    int r = -1;
    if (real.execvpe)
        r = real.execvpe(file, argv, env);
    else
        errno = ENOSYS;
    saved = errno;
    release(&m);
    errno = saved;
    return r;
}

int core_fexecve(int fd, char *const argv[], char *const envp[])
{
    int saved = errno;
    _Alignas(16) char buf[STACK_ENV];
    struct pages m = { NULL, 0 };
    char *const *env = envp;
    if (start_ready()) {
        /* The file behind the descriptor names the program. */
        char link[64], path[PATH_MAX];
        diag_format(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t len = readlink(link, path, sizeof path - 1);
        if (len > 0) {
            path[len] = 0;
            env = prepare(path, false, envp, buf, sizeof buf, &m);
        }
    }
    errno = saved;
    int r = -1;
    if (real.fexecve)
        r = real.fexecve(fd, argv, env);
    else
        errno = ENOSYS;
    saved = errno;
    release(&m);
    errno = saved;
    return r;
}

int core_posix_spawn(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
                     const posix_spawnattr_t *attr, char *const argv[], char *const envp[],
                     bool search)
{
    int saved = errno;
    _Alignas(16) char buf[STACK_ENV];
    struct pages m = { NULL, 0 };
    char *const *env = start_ready() && file && envp
                           ? prepare(file, search, envp, buf, sizeof buf, &m) : envp;
    errno = saved;
    int (*fn)(pid_t *, const char *, const posix_spawn_file_actions_t *,
              const posix_spawnattr_t *, char *const[], char *const[]) =
        search ? real.posix_spawnp : real.posix_spawn;
    int r = fn ? fn(pid, file, fa, attr, argv, env) : ENOSYS;
    release(&m);
    errno = saved;
    return r;
}
