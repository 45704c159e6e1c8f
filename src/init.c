/* Start-up: find the real allocator, read the options, register the built-in spies, and
 * arrange for fork.  Runs on the first allocation of the process, or from our
 * constructor, whichever comes first. */
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "internal.h"
#include "modules.h"
#include "mappings.h"
#include "heap.h"
#include "pool.h"
#include "blocks.h"
#include "channels.h"

atomic_int ms_init_state;

static void fork_prepare(void)
{
    ms_tls.guard++;
    loader_gate_fork_prepare();   /* first: its holders may need the locks below */
    /* In the order the locks nest everywhere else, so that no thread holding one can be
     * waiting for another we already hold. */
    registry_fork_prepare();
    threads_fork_prepare();
    sites_fork_prepare();
    stacks_fork_prepare();
    modules_fork_prepare();
    mappings_fork_prepare();
    blocks_fork_prepare();
    arena_fork_prepare();
}

static void fork_parent(void)
{
    arena_fork_parent();
    blocks_fork_parent();
    mappings_fork_parent();
    modules_fork_parent();
    stacks_fork_parent();
    sites_fork_parent();
    threads_fork_parent();
    registry_fork_parent();
    loader_gate_fork_parent();
    ms_tls.guard--;
}

static void fork_child(void)
{
    /* Every lock is reset before anything that could take one runs. */
    loader_gate_fork_child();
    arena_fork_child();
    blocks_fork_child();
    mappings_fork_child();
    modules_fork_child();
    heaps_fork_child();
    pools_fork_child();
    stacks_fork_child();
    sites_fork_child();
    registry_fork_child();
    threads_fork_child();
    tracker_fork_child();
    extern void stop_fork_child(void);
    extern void report_fork_child(void);
    stop_fork_child();
    report_fork_child();
    channels_fork_child();
    extern void symclient_fork_child(void);
    symclient_fork_child();
    extern void report_signal_fork_child(void);
    report_signal_fork_child();
    extern void errors_fork_child(void);
    errors_fork_child();
    extern void detectors_fork_child(void);
    detectors_fork_child();
    ms_tls.guard--;
}

/* MALLOCSPY_OPTIONS.  A program whose start-up code allocates before the C library has
 * set up `environ` (clang's sanitizer runtimes do, from .preinit_array) would see none:
 * then the process's initial environment is read from /proc.  Not for setuid programs,
 * as secure_getenv. */
static const char *options_env(void)
{
    const char *v = secure_getenv("MALLOCSPY_OPTIONS");
    if (v || environ || getauxval(AT_SECURE))
        return v;
    static const char key[] = "MALLOCSPY_OPTIONS=";
    static char value[8192];
    int fd = open("/proc/self/environ", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    /* Entries are NUL-terminated; `at` counts the bytes of the current one matched so
     * far against key, then copies its value. */
    char buf[4096];
    size_t at = 0, len = 0;
    bool in_value = false, found = false, dead = false;
    ssize_t n;
    while (!found && (n = read(fd, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < n && !found; i++) {
            char c = buf[i];
            if (c == 0) {
                found = in_value;
                at = 0;
                dead = false;
                in_value = false;
            } else if (in_value) {
                if (len < sizeof value - 1)
                    value[len++] = c;
            } else if (!dead && c == key[at]) {
                if (++at == sizeof key - 1)
                    in_value = true;
            } else {
                dead = true;
            }
        }
    }
    close(fd);
    value[len] = 0;
    return found || in_value ? value : NULL;
}

static void init(void);

bool ms_init_try(void)
{
    int expect = 0;
    if (atomic_compare_exchange_strong(&ms_init_state, &expect, 1))
        init();
    return atomic_load_explicit(&ms_init_state, memory_order_acquire) == 2;
}

void ms_init_slow(void)
{
    while (!ms_init_try())
        sched_yield();
}

static void init(void)
{
    unsigned guard = ms_tls.guard;
    ms_tls.guard = 1;
    real_resolve();
    options_defaults(&ms_opt);
    options_parse(&ms_opt, options_env());
    /* Set before anything else can allocate: from here every block is recorded. */
    ms_table_complete = ms_opt.leak_check;
    sites_init();
    threads_init();
    stacks_init();
    extern void scan_init(void);
    scan_init();
    pthread_atfork(fork_prepare, fork_parent, fork_child);
    /* The error detectors first: registered first, they are inside the tracker. */
    extern void detectors_init(void);
    detectors_init();
    extern void report_register_exit(void);
    channels_init();
    if (ms_opt.leak_check) {
        tracker_init();
    } else {
        extern void prof_warn_off(void);
        prof_warn_off();
    }
    /* At exit: the leak report, or without it the checks of redzones and quarantine, the
     * errors' JSON report and their exit status. */
    if (ms_opt.leak_check || ms_opt.guard || ms_opt.quarantine || ms_opt.error_exitcode ||
        ms_opt.json_path[0])
        report_register_exit();
    /* Lookups that found nothing (a C program has no __cxa_demangle) left a message the
     * program's first dlerror() would read: clear it. */
    dlerror();
    ms_tls.guard = guard;
    atomic_store_explicit(&ms_init_state, 2, memory_order_release);
}

/* Runs before the program's main and, being a library's, before __libc_start_main
 * registers the loader's destructors: what we register at exit runs after them. */
__attribute__((constructor)) static void ms_constructor(void)
{
    ms_ensure_init();
    /* A thread is started here, not in ms_init_slow: the first allocation may come before
     * libc can start threads. */
    extern void report_signal_start(void);
    report_signal_start();
}
