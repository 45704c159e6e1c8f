/* Private declarations shared by the core modules; nothing here is exported. */
#ifndef MS_INTERNAL_H
#define MS_INTERNAL_H

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mallocspy.h"

#define MS_EXPORT __attribute__((visibility("default")))
#define MS_TLS __thread __attribute__((tls_model("initial-exec")))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define MS_ALIGN_MIN 16
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- locks ------------------------------------------------------------------------------
 * Test-and-test-and-set spinlocks: unlock is a plain release store, which matters on the
 * malloc path.  Waiters yield so that a preempted holder gets the CPU back. */
typedef struct { atomic_int v; } ms_lock;
#define MS_LOCK_INIT { 0 }

static inline void ms_lock_acquire(ms_lock *l)
{
    for (unsigned spins = 0;; spins++) {
        if (!atomic_load_explicit(&l->v, memory_order_relaxed) &&
            !atomic_exchange_explicit(&l->v, 1, memory_order_acquire))
            return;
        if (spins < 64)
            __builtin_ia32_pause();
        else
            sched_yield();
    }
}
static inline bool ms_lock_try(ms_lock *l)
{
    return !atomic_load_explicit(&l->v, memory_order_relaxed) &&
           !atomic_exchange_explicit(&l->v, 1, memory_order_acquire);
}
static inline void ms_lock_release(ms_lock *l)
{
    atomic_store_explicit(&l->v, 0, memory_order_release);
}
static inline void ms_lock_reset(ms_lock *l) { atomic_store(&l->v, 0); }

/* A site is what the blocks of one kind from one place share: their allocation stack, the
 * spies that saw them, how they were allocated, and how much the spies added. */
enum {
    SITE_INTERNAL = 0,         /* allocated inside mallocspy or a hook: not the program's */
    SITE_HELD = 1,             /* freed by the program, kept by a spy that took it in charge
                                  (a quarantine): the program's pointer is no block any more */
};
struct site_key {
    uint32_t stack;            /* stack id, 0: none */
    uint32_t mask;             /* spies that saw the blocks */
    uint32_t kind;             /* ms_call_kind of the allocating call */
    uint32_t heap;             /* 0: the task allocator */
    uint64_t delta;            /* real size minus requested size */
    uint64_t tag;              /* debug tag (file, line), 0: none */
};
struct stack_rec;
/* Allocation profile counters (see profile.h): a thread's share of one stack's, and the
 * stack's own. */
#define PROF_SLOTS 256         /* per thread; a power of two */

struct prof_entry {
    uint32_t stack;            /* stack id + 1; 0: empty */
    uint32_t temps;
    uint64_t epoch;            /* prof.epoch when `live` last changed */
    uint64_t allocs, bytes;
    int64_t live;              /* bytes allocated here minus freed here */
    int64_t at_peak;           /* `live` as it was at the peak of `epoch`... see above */
};

struct prof_stats {
    ms_lock lock;
    uint64_t epoch, allocs, bytes, temps;
    int64_t live, at_peak;
};

struct site {
    struct site_key key;
    uint32_t id;
    uint32_t flags;
    const struct stack_rec *stack;   /* key.stack's record, NULL for none */
};
#define SITE_CACHE 64
struct site_cache_entry {
    struct site_key key;
    uint32_t id;
};

/* ---- per-thread state ---------------------------------------------------------------- */
struct thread_state;
struct chain_rec;

/* Everything a thread needs before it has a thread_state, in static TLS so that reading it
 * never calls into the loader (and so never into malloc). */
struct ms_tls {
    struct thread_state *ts;   /* created on the thread's first tracked operation */
    unsigned guard;            /* non-zero inside mallocspy: allocations go straight to the
                                  real allocator and no spy runs */
    unsigned crit;             /* block-table locks held: a stop-the-world request waits */
    unsigned stop_deferred;    /* a stop request arrived inside a critical section */
    const ms_call *call;       /* what the running hook was called for */
    void *call_fp;             /* that call's entry frame, for ms_spy_stack */
    unsigned gate_depth;       /* inside mallocspy's calls that may reach the loader's lock */
};
extern MS_TLS struct ms_tls ms_tls;

/* Stack cache and statistics of one thread.  Lives in mallocspy's own memory, never in the
 * thread's TLS, so that other threads may read it after the thread is gone. */
struct tracker_counters {
    uint64_t allocs, frees;
    int64_t live_delta;        /* bytes allocated minus freed since the last flush */
};

struct thread_state {
    _Atomic uint64_t op_seq;   /* odd while an operation runs: see registry_synchronize */
    pid_t tid;
    uintptr_t tp;              /* its thread pointer (TLS), for a scan that cannot stop it */
    atomic_int exiting;        /* the thread's exit destructor ran: counters are global now */
    struct thread_state *next; /* all states, linked under threads.lock; never unlinked */
    _Atomic int64_t spy_live[MS_MAX_SPIES]; /* this thread's share of each spy's live blocks */
    struct tracker_counters tracker;
    struct stack_cache *stack_cache;
    struct chain_rec *last_chain;  /* cache entry of this thread's last captured stack */
    uint64_t stack_hits, stack_misses;
    int *errno_ptr;            /* __errno_location() of this thread */
    struct site_cache_entry site_cache[SITE_CACHE];
    void *last_alloc;          /* this thread's latest allocation, until its next free */
    uint64_t tl_events;        /* timeline: operations since the clock was last read */
    struct prof_entry prof[PROF_SLOTS];
};

struct thread_state *thread_state_slow(void);
static inline struct thread_state *thread_state(void)
{
    struct thread_state *ts = ms_tls.ts;
    return likely(ts) ? ts : thread_state_slow();
}
void threads_init(void);
void threads_fork_prepare(void);
void threads_fork_parent(void);
void threads_fork_child(void);
/* The thread pointer of thread tid, 0 if unknown; takes no lock (for a stopped world). */
uintptr_t threads_tp_of(pid_t tid);
/* Calls fn for every thread state ever created (live or exited), under the threads lock. */
void threads_for_each(void (*fn)(struct thread_state *, void *), void *arg);
/* Waits until every operation that was running on another thread has finished. */
void threads_synchronize(void);
extern bool ms_fence_on_op;  /* no membarrier: operations pay for a full fence */

static inline void op_begin(struct thread_state *ts)
{
    ms_tls.guard = 1;
    atomic_store_explicit(&ts->op_seq,
                          atomic_load_explicit(&ts->op_seq, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    if (unlikely(ms_fence_on_op))
        atomic_thread_fence(memory_order_seq_cst);
    else
        atomic_signal_fence(memory_order_seq_cst);
}
static inline void op_end(struct thread_state *ts)
{
    atomic_store_explicit(&ts->op_seq,
                          atomic_load_explicit(&ts->op_seq, memory_order_relaxed) + 1,
                          memory_order_release);
    ms_tls.guard = 0;
}

/* ---- the real allocator ---------------------------------------------------------------- */
struct real_allocator {
    void *(*malloc)(size_t);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    void (*free)(void *);
    int (*posix_memalign)(void **, size_t, size_t);
    size_t (*malloc_usable_size)(void *);
    int (*malloc_trim)(size_t);
    void *(*mmap)(void *, size_t, int, int, int, off_t);
    int (*munmap)(void *, size_t);
    void *(*mremap)(void *, size_t, size_t, int, ...);
    int (*dlclose)(void *);
};
/* The site kind of a page mapping (beyond the calls spies see). */
#define MS_CALL_MMAP 100
extern struct real_allocator ms_real;

/* What libstdc++ offers, looked up once at start-up: dlsym later would clobber the
 * program's dlerror() state (glibc frees the pending message on every dlsym).  NULL when
 * the program has no libstdc++ (a C program has no mangled names to show). */
struct cxx_runtime {
    char *(*demangle)(const char *, char *, size_t *, int *);
    void (*(*get_new_handler)(void))(void);
    void *(*operator_new)(size_t);
};
extern struct cxx_runtime ms_cxx;
extern bool ms_real_is_glibc;   /* the allocator below is glibc's own malloc */
void real_resolve(void);
/* The static arena serves allocations made before the real allocator is known. */
void *early_alloc(size_t size, size_t align, bool zero);
bool early_owns(const void *p);
size_t early_size(const void *p);

/* Plain real-allocator calls with alignment, used by every path. */
void *real_alloc(size_t size, size_t align, bool zero);
void *real_realloc(void *p, size_t size);
void real_free(void *p);
size_t real_usable_size(void *p);

/* ---- mallocspy's own memory (mmap, never the spied heap) ---------------------------- */
void *arena_alloc(size_t size);        /* zeroed; NULL when out of memory */
void arena_free(void *p, size_t size);
void *arena_realloc(void *p, size_t old, size_t size);
/* Room for one more element in *array (a pointer to an arena array of *cap elements of
 * `elem` bytes, n of them used): the array doubles, from `first`.  False, the array left as
 * it was, when out of memory.  pages_reserve: the same for an array in pages. */
const char *call_kind_name(ms_call_kind kind);   /* "free", "operator new[]"... */
bool arena_reserve(void *array, size_t n, size_t *cap, size_t elem, size_t first);
bool pages_reserve(void *array, size_t n, size_t *cap, size_t elem, size_t first);
void *pages_alloc(size_t size);        /* page-granular, zeroed */
void pages_free(void *p, size_t size);
char *pages_read_fd(int fd, size_t *len, size_t *cap);
/* Sorts n elements of `size` bytes (at most 128) so that before(a, b) holds of each pair in
 * order; allocates nothing. */
void ms_sort(void *base, size_t n, size_t size, bool (*before)(const void *, const void *));
size_t arena_bytes(void);              /* bytes mallocspy holds for itself */
void arena_fork_prepare(void);
void arena_fork_parent(void);
void arena_fork_child(void);

/* ---- initialisation and options ------------------------------------------------------- */
extern atomic_int ms_init_state;       /* 0 not started, 1 running, 2 done */
void ms_init_slow(void);
bool ms_init_try(void);
/* For the API: initialises on first use, waiting if another thread is at it. */
static inline void ms_ensure_init(void)
{
    if (unlikely(atomic_load_explicit(&ms_init_state, memory_order_acquire) != 2))
        ms_init_slow();
}
/* For allocations: initialises on first use; false while another thread is at it, and
 * the caller then goes straight to the real allocator (or the static arena) rather than
 * wait for a thread that may itself be waiting for it (inside the loader's lock). */
static inline bool ms_ready(void)
{
    return likely(atomic_load_explicit(&ms_init_state, memory_order_acquire) == 2) ||
           ms_init_try();
}

struct ms_options {
    char log_path[4096];
    char json_path[4096];
    char suppressions[4096];
    unsigned depth;            /* frames per stack, 1..256 */
    bool leak_check;
    int exitcode;              /* exit status when leaks are reported; 0 keeps the program's */
    int report;                /* REPORT_TEXT, REPORT_QUIET */
    bool report_reachable;
    int report_signal;         /* 0: none */
    int stop_signal;           /* real-time signal that stops threads for a scan; 0: default */
    bool halt_on_error;        /* abort after reporting the first heap error */
    bool mappings;             /* track the program's anonymous mappings */
    bool mismatch;             /* report malloc/delete, new/free and new[]/delete mixes */
    size_t guard;              /* redzone bytes on each side of a block; 0: none */
    size_t quarantine;         /* bytes of freed blocks held back; 0: none */
    int malloc_fill, free_fill; /* byte new and freed blocks are filled with; -1: none */
    int error_exitcode;        /* exit status of a process that had a heap error; 0: keep */
    unsigned stack_cache;      /* entries of the per-thread stack cache (0: off) */
    unsigned sites_top;        /* the profile's top sites by each measure */
    bool timeline;             /* sample live bytes over time */
    unsigned timeline_ms;      /* every this many milliseconds, */
    uint64_t timeline_events;  /* or, if not 0, every this many operations of a thread */
    char folded_path[4096];    /* folded stacks, weighted by `weight` */
    char flamegraph_path[4096];
    int weight;                /* enum prof_weight */
    int symbolize;             /* name frames with the symbolizer process: SYMBOLIZE_* */
    char symbolizer[4096];     /* that program; "": found next to the library */
    bool symbol_cache;         /* the symbolizer keeps what it resolved in the user's cache */
    bool debuginfod;           /* the symbolizer may ask debuginfod (never in secure mode) */
    unsigned debuginfod_timeout; /* seconds, for all of a process's lookups */
};
enum { REPORT_TEXT = 0, REPORT_QUIET = 1, REPORT_PROFILE = 2 };
/* symbolize=0: module+offset only; 1: name what is printed (a clean process's JSON stays
 * unnamed); all: name every stack of the JSON report, the profile's sites too. */
enum { SYMBOLIZE_NEVER = 0, SYMBOLIZE_PRINTED = 1, SYMBOLIZE_ALL = 2 };
extern struct ms_options ms_opt;
void options_defaults(struct ms_options *o);
/* Parses a MALLOCSPY_OPTIONS string; warns on stderr about each bad item and goes on. */
void options_parse(struct ms_options *o, const char *s);

/* ---- spies ---------------------------------------------------------------------------- */
enum { SLOT_FREE = 0, SLOT_ACTIVE, SLOT_PENDING, SLOT_RELEASED };

struct spy_slot {
    ms_spy *spy;               /* under registry.lock; read by operations through a chain */
    const ms_spy_ops *ops;     /* copied at registration */
    unsigned flags;
    atomic_int state;
    ms_lock serial;            /* MS_SPY_SERIALIZED */
    _Atomic int64_t pending_live; /* blocks still live once the revoke is pending */
    _Atomic int64_t retired_live; /* shares of exited threads */
};

#define CHAIN_ALIGNS 21      /* alignments 16 to 16 MiB */
/* The registered spies, outermost first; immutable once published (but for `shift`). */
struct chain {
    uint32_t n;
    uint32_t mask;             /* slots in the chain */
    bool want_stacks;
    bool want_free_stacks;
    int32_t shift[CHAIN_ALIGNS]; /* the spies' total shift of the pointer modulo each
                                  alignment 16 << i, as last seen; 0 until seen (dispatch.c);
                                  written with relaxed atomics */
    uint8_t slot[MS_MAX_SPIES];
};

extern struct spy_slot ms_slots[MS_MAX_SPIES];
extern _Atomic(const struct chain *) ms_chain;
static inline const struct chain *registry_chain(void)
{
    return atomic_load_explicit(&ms_chain, memory_order_acquire);
}
void registry_fork_prepare(void);
void registry_fork_parent(void);
void registry_fork_child(void);
/* A pending spy's last block is gone: release it. */
void registry_release_pending(unsigned slot);
/* Adds a share to a spy's live count (the tracker of when a revoke may complete). */
void registry_count(struct thread_state *ts, uint32_t mask, int64_t d);
/* The thread's shares of the spies' live counts go to the spies. */
void registry_thread_exit(struct thread_state *ts);
/* For the built-in spies: register before any user spy can. */
int registry_register(ms_spy *spy, unsigned flags);

void stop_park_deferred(void);

/* ---- stacks and sites ----------------------------------------------------------------- */
struct stack_rec {
    ms_stack pub;              /* what spies see */
    uint64_t hash;
    uint32_t modgen;           /* module generation when it was first seen */
    struct prof_stats stats;   /* the allocation profile of the blocks allocated here */
    uintptr_t frames[];
};
void stacks_init(void);
/* The stack of the current call, `fp` being the frame pointer of the entry point. */
const struct stack_rec *stack_capture(void *fp);
const struct stack_rec *stack_by_id(uint32_t id);
uint32_t stacks_count(void);
/* The site for an allocation whose stack this thread just captured (remembered with the
 * call chain in the stack cache). */
uint32_t stack_site(struct thread_state *ts, const struct site_key *key);
void stack_stats(uint64_t *hits, uint64_t *misses);
void stacks_fork_prepare(void);
void stacks_fork_parent(void);
void stacks_fork_child(void);
void stack_thread_exit(struct thread_state *ts);
/* After a dlclose: forgets what was known of a module that went away. */
void stacks_after_dlclose(void);

void sites_init(void);
uint32_t site_get(struct thread_state *ts, const struct site_key *key);
extern struct site **ms_site_pages[];
#define SITE_PAGE_BITS 12
#define SITE_PAGE_SIZE (1u << SITE_PAGE_BITS)
#define SITE_MAX_PAGES (1u << 14)
static inline const struct site *site_by_id(uint32_t id)
{
    struct site **page = ms_site_pages[(id >> SITE_PAGE_BITS) & (SITE_MAX_PAGES - 1)];
    return page ? page[id & (SITE_PAGE_SIZE - 1)] : NULL;
}
uint32_t sites_count(void);
void sites_fork_prepare(void);
void sites_fork_parent(void);
void sites_fork_child(void);

/* ---- the allocator ---------------------------------------------------------------------- */
/* `heap` 0 is the task allocator (malloc); `tag` a debug location (0: none). */
void *ms_core_alloc_in(size_t size, size_t align, bool zero, ms_call_kind kind, uint32_t heap,
                       uint32_t tag, void *fp);
void ms_core_free_in(void *p, ms_call_kind kind, uint32_t heap, void *fp);
void *ms_core_realloc_in(void *p, size_t size, ms_call_kind kind, uint32_t heap, void *fp);
size_t ms_core_get_size_in(const void *p, ms_call_kind kind, uint32_t heap, void *fp);
int ms_core_did_alloc_in(const void *p, uint32_t heap, void *fp);
static inline void *ms_core_alloc(size_t size, size_t align, bool zero, ms_call_kind kind,
                                  void *fp)
{
    return ms_core_alloc_in(size, align, zero, kind, 0, 0, fp);
}
static inline void ms_core_free(void *p, ms_call_kind kind, void *fp)
{
    ms_core_free_in(p, kind, 0, fp);
}
static inline void *ms_core_realloc(void *p, size_t size, ms_call_kind kind, void *fp)
{
    return ms_core_realloc_in(p, size, kind, 0, fp);
}
static inline size_t ms_core_get_size(const void *p, ms_call_kind kind, void *fp)
{
    return ms_core_get_size_in(p, kind, 0, fp);
}
static inline int ms_core_did_alloc(const void *p, void *fp)
{
    return ms_core_did_alloc_in(p, 0, fp);
}
void ms_core_heap_minimize(void);
/* The table holds every block since start-up, so an unknown pointer is a bad one. */
extern bool ms_table_complete;

/* ---- diagnostics ----------------------------------------------------------------------- */
/* One line, "mallocspy: ...", to the log (log_path) or else the program's stderr;
 * formats %s %d %u %zu %lu %x %p only; never allocates.  Kept until the sink is set. */
void diag_set_sink(int (*sink)(void), int (*fallback)(void));
void ms_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
size_t ms_vformat(char *buf, size_t cap, const char *fmt, __builtin_va_list ap);
size_t ms_format(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- the tracker ---------------------------------------------------------------------- */
void tracker_init(void);
void tracker_thread_exit(struct thread_state *ts);
void tracker_fork_child(void);

#endif
