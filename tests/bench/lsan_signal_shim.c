/* lsan_signal_shim - lets Debian 12's liblsan.so.0 (GCC 12) be preloaded into programs
 * that install signal handlers, for `make bench` (scripts/bench.py).
 *
 * Preloaded on its own into an uninstrumented program, that liblsan never sets up its
 * signal and sigaction interceptors: its signal() jumps to address 0 (perl, sqlite3 and
 * as die with SIGSEGV at startup) and its sigaction() warns "REAL(sigaction_symname) ==
 * nullptr ... Sigaction will not work" and installs nothing.  Preloaded before liblsan,
 * this library supplies both functions, straight from libc, and changes nothing else:
 * LeakSanitizer still tracks every allocation and reports at exit.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <string.h>

static int (*real_sigaction)(int, const struct sigaction *, struct sigaction *);

int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    if (!real_sigaction) {
        void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
        real_sigaction = libc ? (int (*)(int, const struct sigaction *, struct sigaction *))
                                dlsym(libc, "sigaction") : NULL;
        if (!real_sigaction)
            return -1;
    }
    return real_sigaction(sig, act, old);
}

sighandler_t signal(int sig, sighandler_t handler)
{
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(sig, &sa, &old) < 0)
        return SIG_ERR;
    return old.sa_handler;
}
