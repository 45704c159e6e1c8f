/* A host that forbids execve with seccomp before it leaks, for check_guest.c: mallocspy's
 * symbolizer cannot be started, and the report must come out all the same.  argv[1] is
 * what the filter does to execve and execveat: "eperm" (fails with EPERM), "kill-thread"
 * (SECCOMP_RET_KILL_THREAD), "kill-process" (SECCOMP_RET_KILL_PROCESS), or "none" (no
 * filter: the control).  Leaks GUEST_SECCOMP_BYTES from guest_seccomp_leak and exits 0;
 * prints "filter=<what>" (write(2): no stdio buffer left behind). */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "progutil.h"

#define GUEST_SECCOMP_BYTES 4321

void *volatile leak_sink;

NOINLINE void guest_seccomp_leak(void)
{
    char *p = malloc(GUEST_SECCOMP_BYTES); /* GUEST-SECCOMP */
    memset(p, 5, GUEST_SECCOMP_BYTES);
    leak_sink = p;
    leak_sink = NULL;
}

static void say(const char *s)
{
    if (write(1, s, strlen(s)) < 0)
        _exit(92);
}

static int install(unsigned action)
{
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_execve, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_execveat, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, action),
    };
    struct sock_fprog prog = { (unsigned short)(sizeof code / sizeof code[0]), code };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -1;
    return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

int main(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "none";
    unsigned action = 0;
    bool filter = strcmp(what, "none") != 0;   /* SECCOMP_RET_KILL_THREAD is 0 */
    if (!strcmp(what, "eperm"))
        action = SECCOMP_RET_ERRNO | EPERM;
    else if (!strcmp(what, "kill-thread"))
        action = SECCOMP_RET_KILL_THREAD;
    else if (!strcmp(what, "kill-process"))
        action = SECCOMP_RET_KILL_PROCESS;
    else if (filter)
        return 2;
    if (filter && install(action) != 0) {
        say("cannot install the seccomp filter\n");
        return 90;
    }
    if (!strcmp(what, "eperm")) {
        /* The filter works: execve fails here, as it will in mallocspy's child. */
        char *args[] = { "/bin/true", NULL };
        execve(args[0], args, NULL);
        if (errno != EPERM) {
            say("execve did not fail with EPERM\n");
            return 91;
        }
    }
    say("filter=");
    say(what);
    say("\n");
    guest_seccomp_leak();
    scrub_stack();
    return 0;
}
