/* runner - runs one command for scripts/bench.py and measures it.
 *
 * Usage: runner RESULT_FILE program [args...]
 *
 * The preload under test is passed as RUNNER_LD_PRELOAD, so that it applies to the
 * program and not to this runner: the child moves it to LD_PRELOAD before the exec.
 *
 * Forks, execs the program, waits for it with wait4 and writes one line to RESULT_FILE:
 *   <wait status> <wall ns> <ru_maxrss KiB> <CLOCK_MONOTONIC ns at the end> <CPU ns>
 *   <orphans> <orphans' largest ru_maxrss KiB> <orphans' CPU ns>
 * where CPU is the user plus system time of the program and its waited-for descendants.
 *
 * The runner is a child subreaper (PR_SET_CHILD_SUBREAPER): a descendant whose parent
 * ends before it, and that nobody else waits for, is reparented to the runner, which
 * reaps it once the program has ended (waiting at most ORPHAN_WAIT seconds) and counts it
 * apart: the orphans.  mallocspy's symbolizer is one: each process starts its own helper
 * and never waits for it (it ends when the process that started it has closed its
 * socket), so its memory and CPU are never in the program's wait4 figures, only here.
 *
 * Why not straight from Python: Linux carries a process's peak RSS across execve, so a
 * child forked from the harness would report the harness's own RSS (tens of MB) as its
 * peak whenever the program stays smaller.  Forked from this small program instead, the
 * figure is the program's own (or its largest descendant's).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ORPHAN_WAIT 60

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static long long cpu_ns(const struct rusage *ru)
{
    return (long long)(ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) * 1000000000ll +
           (long long)(ru->ru_utime.tv_usec + ru->ru_stime.tv_usec) * 1000ll;
}

static void on_alarm(int sig)
{
    (void)sig;
}

int main(int argc, char **argv)
{
    struct rusage ru;
    int status;
    long long t0, t1;
    pid_t pid;
    FILE *out;

    if (argc < 3) {
        fprintf(stderr, "usage: runner RESULT_FILE program [args...]\n");
        return 125;
    }
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
        perror("runner: PR_SET_CHILD_SUBREAPER");
    t0 = now_ns();
    pid = fork();
    if (pid < 0) {
        perror("runner: fork");
        return 125;
    }
    if (pid == 0) {
        const char *preload = getenv("RUNNER_LD_PRELOAD");
        if (preload) {
            setenv("LD_PRELOAD", preload, 1);
            unsetenv("RUNNER_LD_PRELOAD");
        }
        execvp(argv[2], argv + 2);
        fprintf(stderr, "runner: %s: %s\n", argv[2], strerror(errno));
        _exit(127);
    }
    while (wait4(pid, &status, 0, &ru) < 0)
        if (errno != EINTR) {
            perror("runner: wait4");
            return 125;
        }
    t1 = now_ns();

    /* The orphans: wait4(-1) until none is left, or until the alarm interrupts it. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;       /* no SA_RESTART: the alarm ends a wait */
    sigaction(SIGALRM, &sa, NULL);
    alarm(ORPHAN_WAIT);
    long orphans = 0, orphan_rss = 0;
    long long orphan_cpu = 0;
    struct rusage oru;
    int ost;
    while (wait4(-1, &ost, __WALL, &oru) > 0) {
        orphans++;
        if (oru.ru_maxrss > orphan_rss)
            orphan_rss = oru.ru_maxrss;
        orphan_cpu += cpu_ns(&oru);
    }
    alarm(0);

    out = fopen(argv[1], "w");
    if (!out) {
        perror(argv[1]);
        return 125;
    }
    fprintf(out, "%d %lld %ld %lld %lld %ld %ld %lld\n", status, t1 - t0, ru.ru_maxrss, t1,
            cpu_ns(&ru), orphans, orphan_rss, orphan_cpu);
    return fclose(out) == 0 ? 0 : 125;
}
