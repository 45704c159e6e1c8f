/* A host that reaps every child it is told of, for check_guest.c: a SIGCHLD handler that
 * loops on waitpid(-1, WNOHANG), and a main that waits with waitpid(-1) until none is
 * left, as shells and supervisors do.  mallocspy's symbolizer is started mid-run (by
 * ms_report_leaks, to /dev/null) before the program's own child, so that a helper the
 * program could see would be reaped by it, would send it a SIGCHLD, or would make the
 * waitpid(-1) loop wait for ever (an alarm ends the program with SIGALRM after 20 s).
 *
 * Prints, with write(2) (the handler's lines may come at any time, even during the report
 * at exit): "child <pid>" for the child it forks (it executes /bin/true), "signal <pid>"
 * for each SIGCHLD (its si_pid), "handler-reaped <pid>" and "main-reaped <pid>" for each
 * child reaped, "reaped-all" when waitpid(-1) says there is none left.  Leaks
 * GUEST_SIGCHLD_BYTES from guest_sigchld_leak and exits 0. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mallocspy.h"
#include "progutil.h"

#define GUEST_SIGCHLD_BYTES 2345

void *volatile leak_sink;

NOINLINE void guest_sigchld_leak(void)
{
    char *p = malloc(GUEST_SIGCHLD_BYTES); /* GUEST-SIGCHLD */
    memset(p, 7, GUEST_SIGCHLD_BYTES);
    leak_sink = p;
    leak_sink = NULL;
}

/* "<word> <n>\n" with write(2): safe in a signal handler. */
static void say_num(const char *word, long n)
{
    char buf[64], digits[24];
    size_t len = strlen(word), k = 0;
    memcpy(buf, word, len);
    buf[len++] = ' ';
    if (n < 0) {
        buf[len++] = '-';
        n = -n;
    }
    do
        digits[k++] = (char)('0' + n % 10);
    while ((n /= 10) > 0);
    while (k)
        buf[len++] = digits[--k];
    buf[len++] = '\n';
    if (write(1, buf, len) < 0)
        _exit(93);
}

static void on_sigchld(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    int saved = errno;
    say_num("signal", si->si_pid);
    pid_t p;
    int st;
    while ((p = waitpid(-1, &st, WNOHANG)) > 0)
        say_num("handler-reaped", p);
    errno = saved;
}

int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigchld;
    sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_NOCLDSTOP;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGCHLD, &sa, NULL) != 0)
        return 90;

    guest_sigchld_leak();
    /* The symbolizer starts here, and stays for the rest of the program's life. */
    FILE *null = fopen("/dev/null", "w");
    if (!null || ms_report_leaks(null) < 1)
        return 91;
    fclose(null);

    pid_t child = fork();
    if (child < 0)
        return 92;
    if (child == 0) {
        execl("/bin/true", "true", (char *)NULL);
        _exit(127);
    }
    say_num("child", child);
    alarm(20);
    pid_t p;
    int st;
    while ((p = waitpid(-1, &st, 0)) > 0 || (p < 0 && errno == EINTR))
        if (p > 0)
            say_num("main-reaped", p);
    if (errno != ECHILD)
        return 94;
    alarm(0);
    if (write(1, "reaped-all\n", 11) != 11)
        return 95;
    scrub_stack();
    return 0;
}
