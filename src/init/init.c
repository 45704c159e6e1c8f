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

#include "base/diag.h"
#include "base/mem.h"
#include "base/options.h"
#include "base/start.h"
#include "base/tags.h"
#include "base/thread.h"
#include "core/blocks.h"
#include "core/dispatch.h"
#include "core/entry.h"
#include "core/heaps.h"
#include "core/real.h"
#include "core/registry.h"
#include "core/sites.h"
#include "detect/detectors.h"
#include "family/mappings.h"
#include "family/pool.h"
#include "leaks/scan.h"
#include "leaks/stop.h"
#include "leaks/tracker.h"
#include "output/channels.h"
#include "output/errors.h"
#include "output/heap_leaks.h"
#include "output/symclient.h"
#include "report/pprof.h"
#include "report/report.h"
#include "stacks/modules.h"
#include "stacks/stacks.h"

atomic_int start_state;

static void fork_prepare(void)
{
    tls_guard++;
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
    tls_guard--;
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
    tags_fork_child();
    tracker_fork_child();
    stop_fork_child();
    report_fork_child();
    channels_fork_child();
    symclient_fork_child();
    report_signal_fork_child();
    errors_fork_child();
    heap_leaks_fork_child();
    detectors_fork_child();
    tls_guard--;
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

bool start_try(void)
{
    int expect = 0;
    if (atomic_compare_exchange_strong(&start_state, &expect, 1))
        init();
    return atomic_load_explicit(&start_state, memory_order_acquire) == 2;
}

void start_wait_slow(void)
{
    while (!start_try())
        sched_yield();
}

static void init(void)
{
    unsigned guard = guard_enter();
    real_resolve();
    options_defaults(&options);
    options_parse(&options, options_env());
    /* Set before anything else can allocate: from here every block is recorded (but
     * with start=0, when blocks made while dormant are unknown to the map). */
    core_set_table_complete(options.leak_check && options.start && !options.sample_bytes);
    core_set_recording(options.start || !options.leak_check);
    /* Every module's part of the thread states, before any state exists (none does
     * until this is done: meanwhile allocations take the guarded path). */
    threads_init();
    stacks_init();
    sites_init();
    registry_init();
    core_init();
    scan_init();
    mappings_init();
    pthread_atfork(fork_prepare, fork_parent, fork_child);
    if (options.start_signal && options.leak_check)
        core_install_start_signal(options.start_signal);
    /* The error detectors first: registered first, they are inside the tracker. */
    detectors_init();
    channels_init();
    if (options.help)
        options_help();
    diag_note("version %s in pid %d: leak checking %s; options: %s", MALLOCSPY_VERSION,
              (int)getpid(), options.leak_check ? "on" : "off",
              options_env() ? options_env() : "(none)");
    pprof_init();
    if (!options.leak_check)
        tracker_warn_off();
    else if (!tracker_init())
        core_set_table_complete(false);
    /* At exit: the leak report, or without it the checks of redzones and quarantine, the
     * errors' JSON report and their exit status. */
    if (options.leak_check || options.guard || options.quarantine || options.error_exitcode ||
        options.json_path[0])
        report_register_exit();
    /* Lookups that found nothing (a C program has no libstdc++) left a message the
     * program's first dlerror() would read: clear it. */
    dlerror();
    guard_leave(guard);
    atomic_store_explicit(&start_state, 2, memory_order_release);
}

/* Runs before the program's main and, being a library's, before __libc_start_main
 * registers the loader's destructors: what we register at exit runs after them. */
__attribute__((constructor)) static void start_constructor(void)
{
    start_wait();
    /* A thread is started here, not in start_wait_slow: the first allocation may come before
     * libc can start threads. */
    report_signal_start();
}
