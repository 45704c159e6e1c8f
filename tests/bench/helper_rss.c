/* helper_rss - measures mallocspy's symbolizer helpers on their own, for `make bench`
 * (scripts/bench.py).
 *
 * Usage: MALLOCSPY_OPTIONS=...:symbolizer=DIR/helper_rss, with mallocspy-symbolizer in DIR.
 *
 * The library starts its helper with clone(CLONE_VM|CLONE_VFORK): until the execve, the
 * helper shares the program's memory, and Linux keeps a process's peak RSS across execve,
 * so the helper's own ru_maxrss is at least the program's peak when it started it.  This
 * program, started in the helper's place, forks (a fresh process, whose peak starts from
 * this small program's), runs DIR/mallocspy-symbolizer there with the same arguments
 * and descriptors, waits for it and writes "<pid> <ru_maxrss KiB> <CPU ns>" to
 * DIR/helper-rss/<pid>: the helper's own peak RSS and CPU time.  It ends with the
 * helper's status.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    char self[PATH_MAX], real[PATH_MAX + 32], out[PATH_MAX + 64];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    (void)argc;
    if (n <= 0)
        return 127;
    self[n] = 0;
    char *slash = strrchr(self, '/');
    if (!slash)
        return 127;
    *slash = 0;
    snprintf(real, sizeof real, "%s/mallocspy-symbolizer", self);
    pid_t pid = fork();
    if (pid < 0)
        return 127;
    if (pid == 0) {
        argv[0] = real;
        execv(real, argv);
        _exit(127);
    }
    int st;
    struct rusage ru;
    while (wait4(pid, &st, 0, &ru) < 0)
        if (errno != EINTR)
            return 127;
    snprintf(out, sizeof out, "%s/helper-rss", self);
    mkdir(out, 0755);
    snprintf(out, sizeof out, "%s/helper-rss/%d", self, (int)pid);
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
        char buf[128];
        int len = snprintf(buf, sizeof buf, "%d %ld %lld\n", (int)pid, ru.ru_maxrss,
                           (long long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ll +
                           (long long)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ll);
        if (write(fd, buf, (size_t)len) != len)
            unlink(out);
        close(fd);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
