/* What every module of mallocspy needs, and nothing more: compiler helpers, the export
 * macro, and the per-thread guard.
 *
 * The layers, lowest first; a layer includes its own headers and those of the layers below
 * it, never one above (tests/check_layers.c checks it from the compiler's own view):
 *   base/     this header, locks, own memory, warnings, options, per-thread state, start-up
 *   stacks/   walking stacks by the modules' unwind tables, the modules, interned stacks
 *   output/   every channel written to, the symbolizer process, heap errors as reported
 *   core/     the real allocator, the block map, sites, the spy registry, the dispatcher
 *   detect/   the heap error detectors (spies)        family/   buffer pools, page mappings
 *   leaks/    the leak tracker, stopping the threads, the scan, suppressions
 *   report/   the leak report: text, JSON, pictures, on a signal, at exit
 *   init/     start-up and fork, wiring the layers     com/      COM's names (on the API)
 * The symbolizer (symbolizer/) is a program of its own and includes none of them. */
#ifndef MS_BASE_H
#define MS_BASE_H

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mallocspy.h"

/* A name the library exports (the ms_ API and the interposed entry points). */
#define PUBLIC __attribute__((visibility("default")))
/* Thread-local in the static TLS block: reading it never calls the loader (or malloc). */
#define TLS_IE __thread __attribute__((tls_model("initial-exec")))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
/* Every block the program gets is aligned to this at least (what glibc gives). */
#define ALIGN_MIN 16

/* Non-zero while this thread is inside mallocspy (a hook, a report, its own work):
 * allocations then go straight to the real allocator and no spy runs. */
extern TLS_IE unsigned tls_guard;

static inline unsigned guard_enter(void)
{
    unsigned was = tls_guard;
    tls_guard = 1;
    return was;
}
static inline void guard_leave(unsigned was) { tls_guard = was; }

#endif
