/* What the interposed entry points (preload/) call, and all they call: the allocation
 * entries with the caller's frame, the page-mapping and loader calls, and C++'s
 * out-of-memory contract. */
#ifndef MS_ENTRY_H
#define MS_ENTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <spawn.h>
#include <sys/types.h>

#include <errno.h>
#include <stdatomic.h>

#include "base/base.h"
#include "base/start.h"
#include "core/blocks.h"
#include "core/dispatch.h"
#include "core/real.h"
#include "core/registry.h"

/* Not inside mallocspy, and started: an entry point may decide on its own. */
static inline bool core_ready(void)
{
    return likely(!tls_guard) &&
           likely(atomic_load_explicit(&start_state, memory_order_acquire) == 2);
}

/* Loaded dormant (start=0) and nothing recorded: the entry points call the real allocator
 * themselves, before any frame of the dispatcher's is set up, so that the dormant cost is
 * the interposition's alone.  Anything else (recording, blocks recorded before a stop,
 * start-up, a call from inside mallocspy) takes the dispatcher's path. */
static inline bool core_idle(void)
{
    return unlikely(!core_recording()) && !blocks_used && core_ready();
}

/* Sampling, recording, and this allocation is not the one sampled: the thread's countdown
 * says so here, and the allocation goes to the real allocator with no frame of the
 * dispatcher's (the same decision core_heap_alloc's sampler takes: the countdown stays
 * above zero). */
static inline bool core_unsampled(size_t size)
{
    if (likely(!core_sampling()) || core_tls.sample_left <= (int64_t)size ||
        unlikely(!core_recording()) || !core_ready())
        return false;
    core_tls.sample_left -= (int64_t)size;
    return true;
}

/* Sampling, and p is no block the sampler recorded, while only mallocspy's own spies are
 * registered: nobody has anything to do with its free (core_heap_free decides the same). */
static inline bool core_never_sampled(const void *p)
{
    struct block b;
    return unlikely(core_sampling()) && core_ready() && registry_only_ours() &&
           !blocks_find((uintptr_t)p, &b);
}

/* The task allocator's calls (heap 0, no tag). */
static inline void *core_alloc(size_t size, size_t align, bool zero, ms_call_kind kind,
                               void *fp)
{
    if (core_idle() || core_unsampled(size)) {
        if (align <= ALIGN_MIN && likely(real_fns.malloc)) {
            /* At least 16 bytes, as real_alloc asks (jemalloc aligns less below that). */
            size_t n = size < ALIGN_MIN ? ALIGN_MIN : size;
            return zero ? real_fns.calloc(1, n) : real_fns.malloc(n);
        }
        return real_alloc(size, align, zero);
    }
    return core_heap_alloc(size, align, zero, kind, 0, 0, fp);
}
static inline void core_free(void *p, ms_call_kind kind, void *fp)
{
    if (p && (core_idle() || core_never_sampled(p)) && !early_owns(p) &&
        likely(real_fns.free)) {
        int saved = errno;
        real_fns.free(p);
        errno = saved;
        return;
    }
    core_heap_free(p, kind, 0, fp);
}
static inline void *core_realloc(void *p, size_t size, ms_call_kind kind, void *fp)
{
    if (p && size && core_idle() && !early_owns(p))
        return real_realloc(p, size);
    return core_heap_realloc(p, size, kind, 0, fp);
}
static inline size_t core_get_size(const void *p, ms_call_kind kind, void *fp)
{
    return core_heap_get_size(p, kind, 0, fp);
}

/* operator new found no memory: the new-handler is called until it frees some (it may
 * throw), then std::bad_alloc is thrown, or NULL returned for the nothrow forms. */
void *core_new_failed(size_t size, size_t align, ms_call_kind kind, bool nothrow, void *fp);

/* The page-mapping calls, forwarded to the real ones; the program's anonymous mappings
 * are recorded (by the hooks the mappings module sets). */
void *core_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off, void *fp);
int core_munmap(void *addr, size_t len);
void *core_mremap(void *old, size_t oldlen, size_t len, int flags, void *want);
/* dlclose: what was known of the library's addresses is forgotten. */
int core_dlclose(void *handle);

/* Starting a program (core/spawn.c): the real call, with the environment the run asks for
 * (with or without the preload, the run's variable).  execv, execvp, execl... come here
 * with `environ`; `search`: the file is looked for in PATH (execvp, posix_spawnp). */
int core_execve(const char *path, char *const argv[], char *const envp[]);
int core_execvpe(const char *file, char *const argv[], char *const envp[]);
int core_fexecve(int fd, char *const argv[], char *const envp[]);
int core_posix_spawn(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
                     const posix_spawnattr_t *attr, char *const argv[], char *const envp[],
                     bool search);

#endif

/* start_signal=SIG: each SIG starts or stops recording (core_set_recording). */
void core_install_start_signal(int sig);

/* The mappings module (family/) records the program's mappings through these, set at
 * start-up; none is called inside mallocspy.  `replaces`: mapped with MAP_FIXED over
 * memory that was mapped already (inside a tracked region: a commit); `fp` the entry
 * frame. */
struct core_mapping_hooks {
    void (*add)(uintptr_t addr, size_t len, bool replaces, void *fp);
    void (*remove)(uintptr_t addr, size_t len);
    void (*move)(uintptr_t old, size_t oldlen, uintptr_t addr, size_t len, bool keep_old);
};
void core_set_mapping_hooks(const struct core_mapping_hooks *h);
