/* Three processes, each leaking its own block, for check_tracker.c's per-pid reports:
 *  - a forked child leaks FORK_BYTES in leak_in_fork_child and ends with exit();
 *  - a second child execs this program again with the argument "exec", which leaks
 *    EXEC_BYTES in leak_in_exec_child;
 *  - the parent waits for both and leaks PARENT_BYTES in leak_in_parent.
 * The parent prints "parent=P fork=F exec=E" on stdout (write(2), no stdio); the exec'd
 * one prints "exec=E". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "progutil.h"

#define FORK_BYTES 1501
#define EXEC_BYTES 1502
#define PARENT_BYTES 1503

void *volatile leak_sink;

static NOINLINE void drop(void *p)
{
    memset(p, 1, 16);
    leak_sink = p;
    leak_sink = NULL;
}

NOINLINE void leak_in_fork_child(void) { drop(malloc(FORK_BYTES)); }
NOINLINE void leak_in_exec_child(void) { drop(malloc(EXEC_BYTES)); }
NOINLINE void leak_in_parent(void) { drop(malloc(PARENT_BYTES)); }

static void out(const char *s)
{
    if (write(1, s, strlen(s)) < 0)
        _exit(95);
}

int main(int argc, char **argv)
{
    char line[128];
    if (argc > 1 && !strcmp(argv[1], "exec")) {
        leak_in_exec_child();
        scrub_stack();
        snprintf(line, sizeof line, "exec=%d\n", (int)getpid());
        out(line);
        return 0;
    }
    pid_t f = fork();
    if (f < 0)
        return 90;
    if (f == 0) {
        leak_in_fork_child();
        scrub_stack();
        exit(0);
    }
    int st;
    if (waitpid(f, &st, 0) != f || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return 91;
    pid_t e = fork();
    if (e < 0)
        return 92;
    if (e == 0) {
        execl("/proc/self/exe", argv[0], "exec", (char *)NULL);
        _exit(127);
    }
    if (waitpid(e, &st, 0) != e || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return 93;
    leak_in_parent();
    scrub_stack();
    snprintf(line, sizeof line, "parent=%d fork=%d exec=%d\n", (int)getpid(), (int)f, (int)e);
    out(line);
    return 0;
}
