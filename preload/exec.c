/* The interposed calls that start programs: the exec family and posix_spawn.  Each one only
 * gathers its arguments (the list forms into an array, as the C library does) and forwards
 * to the core, which passes on the environment the run asks for. */
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <unistd.h>

#include "core/entry.h"

PUBLIC int execve(const char *path, char *const argv[], char *const envp[])
{
    return core_execve(path, argv, envp);
}

PUBLIC int execv(const char *path, char *const argv[]) { return core_execve(path, argv, environ); }

PUBLIC int execvpe(const char *file, char *const argv[], char *const envp[])
{
    return core_execvpe(file, argv, envp);
}

PUBLIC int execvp(const char *file, char *const argv[])
{
    return core_execvpe(file, argv, environ);
}

PUBLIC int fexecve(int fd, char *const argv[], char *const envp[])
{
    return core_fexecve(fd, argv, envp);
}

/* The arguments, `arg` and those after it up to the NULL, counted (the C library's
 * declarations make `arg` non-null; its own execl counts the same way). */
static size_t count_args(va_list ap)
{
    size_t n = 1;
    while (va_arg(ap, const char *))
        n++;
    return n;
}

/* argv[0..n]: `arg`, the n - 1 after it and the NULL that ends them; *ap is left after
 * that NULL (where execle's environment is). */
static void take_args(char **argv, const char *arg, size_t n, va_list *ap)
{
    argv[0] = (char *)arg;
    for (size_t i = 1; i <= n; i++)
        argv[i] = va_arg(*ap, char *);
}

PUBLIC int execl(const char *path, const char *arg, ...)
{
    va_list ap;
    va_start(ap, arg);
    size_t n = count_args(ap);
    va_end(ap);
    char *argv[n + 1];
    va_start(ap, arg);
    take_args(argv, arg, n, &ap);
    va_end(ap);
    return core_execve(path, argv, environ);
}

PUBLIC int execlp(const char *file, const char *arg, ...)
{
    va_list ap;
    va_start(ap, arg);
    size_t n = count_args(ap);
    va_end(ap);
    char *argv[n + 1];
    va_start(ap, arg);
    take_args(argv, arg, n, &ap);
    va_end(ap);
    return core_execvpe(file, argv, environ);
}

/* The environment follows the NULL that ends the arguments. */
PUBLIC int execle(const char *path, const char *arg, ...)
{
    va_list ap;
    va_start(ap, arg);
    size_t n = count_args(ap);
    va_end(ap);
    char *argv[n + 1];
    va_start(ap, arg);
    take_args(argv, arg, n, &ap);
    char *const *envp = va_arg(ap, char *const *);
    va_end(ap);
    return core_execve(path, argv, envp);
}

PUBLIC int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
                       const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    return core_posix_spawn(pid, path, fa, attr, argv, envp, false);
}

PUBLIC int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
                        const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    return core_posix_spawn(pid, file, fa, attr, argv, envp, true);
}
