/*
 * mallocspy.h - the COM task allocator (IMalloc) and its spy (IMallocSpy) on Linux.
 *
 * Usage
 * -----
 * Run any dynamically linked program under the spy, with no change to it:
 *
 *     LD_PRELOAD=libmallocspy.so ./app          (or: mallocspy -- ./app)
 *
 * and read the leak report it writes when the program exits.  From code, link with
 * -lmallocspy (pkg-config mallocspy) and:
 *
 *     ms_malloc *m = ms_get_malloc();           // the process task allocator
 *     char *p = ms_alloc(m, 100);               // the same heap as malloc()
 *     ms_free(m, p);                            // free(p) would do as well
 *
 *     static const ms_spy_ops my_ops = { .post_alloc = my_post_alloc };
 *     static struct my_spy { ms_spy base; long count; } spy = { { &my_ops } };
 *     ms_register_spy(&spy.base);               // sees every allocation from now on
 *     ...
 *     ms_revoke_spy(&spy.base);                 // MS_OK, or MS_E_PENDING (see below)
 *
 * Every function here is thread-safe.  Nothing here may be called from a signal handler.
 * mallocspy(3) has the whole story; this header reads top to bottom as a summary of it.
 */
#ifndef MALLOCSPY_H
#define MALLOCSPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------
 * Version
 * ------------------------------------------------------------------------------------- */

#define MALLOCSPY_VERSION_MAJOR 0
#define MALLOCSPY_VERSION_MINOR 1
#define MALLOCSPY_VERSION_PATCH 0
#define MALLOCSPY_VERSION "0.1.0"

/* The version of the library actually loaded (may differ from the header's). */
const char *ms_version(void);

/* ---------------------------------------------------------------------------------------
 * Result codes
 * ------------------------------------------------------------------------------------- */

#define MS_OK                    0  /* success */
#define MS_E_INVALIDARG        (-1) /* a NULL or malformed argument (COM: E_INVALIDARG) */
#define MS_E_ALREADY_REGISTERED (-2) /* the spy is registered, or its revoke is pending (CO_E_OBJISREG) */
#define MS_E_NOT_REGISTERED    (-3) /* the spy is not registered (CO_E_OBJNOTREG) */
#define MS_E_PENDING           (-4) /* revoke accepted, but blocks the spy saw are still live; its
                                       release hook runs when the last of them is freed (COM answers
                                       E_ACCESSDENIED here) */
#define MS_E_OUTOFMEMORY       (-5) /* mallocspy could not get the memory (or, for a spy, the slot:
                                       MS_MAX_SPIES at once) it needed (E_OUTOFMEMORY) */
/* Buffer pools (IMemAllocator), below. */
#define MS_E_NOT_COMMITTED     (-10) /* the pool is not committed, or was decommitted while the
                                        caller waited (VFW_E_NOT_COMMITTED) */
#define MS_E_TIMEOUT           (-11) /* no buffer free and MS_POOL_NOWAIT given (VFW_E_TIMEOUT) */
#define MS_E_BUFFERS_OUTSTANDING (-12) /* buffers are still held (VFW_E_BUFFERS_OUTSTANDING) */
#define MS_E_ALREADY_COMMITTED (-13) /* properties cannot change while committed
                                        (VFW_E_ALREADY_COMMITTED) */
#define MS_E_BADALIGN          (-14) /* alignment zero or not a power of two (VFW_E_BADALIGN) */
#define MS_E_SIZENOTSET        (-15) /* commit before any buffer size was set (VFW_E_SIZENOTSET) */

/* ---------------------------------------------------------------------------------------
 * The task allocator (IMalloc, CoGetMalloc)
 *
 * One process-wide allocator.  It is the same heap as the interposed malloc family:
 * ms_alloc'd memory may be released with free() and malloc'd memory with ms_free(),
 * and every registered spy sees both.
 * ------------------------------------------------------------------------------------- */

typedef struct ms_malloc ms_malloc;

/* The process task allocator.  Never NULL; never needs releasing. */
ms_malloc *ms_get_malloc(void);

/* A block of at least `size` bytes, aligned for any object; size 0 gives a valid
 * zero-length block.  NULL (errno ENOMEM) when out of memory. */
void *ms_alloc(ms_malloc *m, size_t size);

/* IMalloc::Realloc: p NULL allocates; size 0 with p frees p and returns NULL; on failure
 * returns NULL and the block is left intact. */
void *ms_realloc(ms_malloc *m, void *p, size_t size);

/* Frees p.  NULL does nothing.  errno is left alone. */
void ms_free(ms_malloc *m, void *p);

/* The size the caller asked for when p was allocated (or last reallocated);
 * (size_t)-1 for NULL or for a pointer that is not a live block. */
size_t ms_get_size(ms_malloc *m, const void *p);

/* 1: p is a live block from this allocator.  0: it is not (a foreign or interior pointer).
 * -1: p is NULL, or mallocspy cannot tell (a block allocated while no spy was registered
 * and the leak tracker is off). */
int ms_did_alloc(ms_malloc *m, const void *p);

/* Returns free memory to the system (malloc_trim). */
void ms_heap_minimize(ms_malloc *m);

/* ---------------------------------------------------------------------------------------
 * Stacks
 *
 * A call stack as mallocspy records it: return addresses, innermost first, starting in the
 * caller of the allocation function (frames inside mallocspy are never included).  Stacks
 * are interned: two identical stacks are the same object, which lives until the process
 * exits, so a spy may keep the pointer.
 * ------------------------------------------------------------------------------------- */

typedef struct ms_stack {
    uint32_t id;              /* small, unique per distinct stack, stable for the process */
    uint32_t depth;           /* number of frames */
    const uintptr_t *frames;  /* depth return addresses, innermost first */
} ms_stack;

/* ---------------------------------------------------------------------------------------
 * Debug allocations (IHostMalloc::DebugAlloc)
 *
 * The source location is kept with the block (through reallocations too) and shown in
 * the reports next to its stack, so a leak is placed even in a stripped program.
 * ------------------------------------------------------------------------------------- */

void *ms_debug_alloc(ms_malloc *m, size_t size, const char *file, int line);
#define MS_MALLOC(size) ms_debug_alloc(ms_get_malloc(), (size), __FILE__, __LINE__)
#define MS_HEAP_ALLOC(heap, size) ms_debug_alloc((heap), (size), __FILE__, __LINE__)

/* ---------------------------------------------------------------------------------------
 * Private heaps (HeapCreate, HeapAlloc, HeapFree, HeapSize, HeapValidate, HeapWalk,
 * HeapDestroy)
 *
 * A heap is an ms_malloc: ms_alloc, ms_realloc, ms_free, ms_get_size and ms_did_alloc take
 * it.  Its blocks come from the same real allocator, pass the same spies, and are
 * tracked and reported like any other, grouped by the heap's name.  A block freed or
 * resized through another heap (or with free()) is reported and the call ignored.
 * ------------------------------------------------------------------------------------- */

#define MS_HEAP_NO_SERIALIZE 0x1u  /* the heap's calls are not serialized: the caller
                                      guarantees one at a time (HEAP_NO_SERIALIZE); by
                                      default a heap's calls take its own lock */
#define MS_HEAP_REPORT_LEAKS 0x2u  /* ms_heap_destroy reports the blocks left in the heap */

/* NULL if out of memory.  `name` is copied; NULL gives "heap". */
ms_malloc *ms_heap_create(const char *name, unsigned flags);
/* Frees every block still in the heap at once, then the heap. */
void ms_heap_destroy(ms_malloc *heap);
/* p NULL: checks the whole heap's bookkeeping.  Otherwise: whether p is a live block of
 * this heap (false for a foreign, interior or freed pointer). */
bool ms_heap_validate(ms_malloc *heap, const void *p);

typedef struct ms_block_info {
    const void *address;       /* the block as the program sees it */
    size_t size;               /* bytes asked for */
    const ms_stack *stack;     /* where it was allocated, NULL if not recorded */
    const char *heap;          /* the heap's name, NULL for the task allocator */
    const char *file;          /* the debug location (ms_debug_alloc), NULL if none */
    int line;
} ms_block_info;

/* Calls visit for each live block of `heap` (the task allocator walks the blocks of the
 * malloc family) until visit returns non-zero, which ms_heap_walk then returns; MS_OK once
 * all are visited.  The blocks are those live when the walk starts; visit may allocate and
 * free, and may free the block it is given. */
int ms_heap_walk(ms_malloc *heap, int (*visit)(const ms_block_info *block, void *arg),
                 void *arg);

/* ---------------------------------------------------------------------------------------
 * Buffer pools (IMemAllocator, DirectShow)
 *
 * A pool of `count` equal buffers.  Properties are set, then the pool committed (the
 * buffers are allocated), then buffers are taken and given back.  Decommitting wakes every
 * thread waiting for a buffer with MS_E_NOT_COMMITTED; buffers still held stay valid, and
 * the memory goes when the last one comes back.  Buffers held when the process exits are
 * reported as leaks, with the stack of the ms_pool_get_buffer call that took them.
 * ------------------------------------------------------------------------------------- */

typedef struct ms_pool ms_pool;
typedef struct ms_pool_properties {
    long count;                /* number of buffers */
    long size;                 /* bytes in each, not counting the prefix */
    long align;                /* alignment of the start of each buffer's prefix */
    long prefix;               /* bytes before the pointer ms_pool_get_buffer returns */
} ms_pool_properties;

#define MS_POOL_NOWAIT 0x1u        /* ms_pool_get_buffer fails at once when none is free */

ms_pool *ms_pool_create(const char *name);    /* NULL if out of memory */
/* Sets what is asked, with size rounded up so that size + prefix is a multiple of align,
 * and returns what was set in *actual.  MS_E_BADALIGN, MS_E_ALREADY_COMMITTED,
 * MS_E_BUFFERS_OUTSTANDING, MS_E_INVALIDARG (negative values, NULL). */
int ms_pool_set_properties(ms_pool *pool, const ms_pool_properties *request,
                           ms_pool_properties *actual);
int ms_pool_get_properties(ms_pool *pool, ms_pool_properties *props);
/* Allocates the buffers.  MS_OK also when already committed; MS_E_SIZENOTSET;
 * MS_E_OUTOFMEMORY. */
int ms_pool_commit(ms_pool *pool);
/* Waits for a free buffer (or fails at once with MS_POOL_NOWAIT: MS_E_TIMEOUT);
 * MS_E_NOT_COMMITTED when not committed or decommitted meanwhile.  *buffer points past
 * the prefix. */
int ms_pool_get_buffer(ms_pool *pool, void **buffer, unsigned flags);
/* MS_E_INVALIDARG for a pointer that is not a buffer of this pool held by the caller. */
int ms_pool_release_buffer(ms_pool *pool, void *buffer);
/* MS_OK also when not committed. */
int ms_pool_decommit(ms_pool *pool);
/* Decommits and frees the pool; its memory goes when the last held buffer comes back. */
void ms_pool_destroy(ms_pool *pool);

/* ---------------------------------------------------------------------------------------
 * The spy (IMallocSpy, CoRegisterMallocSpy, CoRevokeMallocSpy)
 *
 * A spy is a struct of the user's own whose first member is an ms_spy.  Its hooks see,
 * and may adjust, every allocation, free, reallocation and query made through the
 * allocator.  A NULL hook passes its value through unchanged.
 *
 * Hooks follow IMallocSpy's documented semantics:
 *  - pre_alloc returns the size really allocated (a spy may add a header or a trailer).
 *    Returning 0 for a non-zero request fails the allocation (errno ENOMEM); post_alloc
 *    is then not called for this spy.
 *  - post_alloc receives the block really allocated, NULL when the allocation failed, and
 *    returns what the caller gets.
 *  - pre_free returns the pointer really freed.  post_free follows the free.
 *  - pre_realloc sets *new_request to the real block and returns the size really used;
 *    0 for a non-zero size fails the call and leaves the block intact.  post_realloc
 *    receives the new real block, or NULL when the reallocation failed, and returns what
 *    the caller gets.  After a successful realloc the block counts as spied.
 *  - pre_get_size / pre_did_alloc return the pointer really queried; post_get_size gets
 *    `actual`, the size mallocspy really requested for the block from the allocator
 *    below (what HeapSize reports, not a rounded-up usable size), and returns the size the
 *    caller sees; post_did_alloc returns the answer the caller sees.
 *  - `spied` tells whether the block was allocated, or last reallocated, while this spy
 *    was registered.
 *  - free(NULL), and size or ownership queries on NULL, call no hook.
 *
 * Beyond COM:
 *  - Up to MS_MAX_SPIES spies may be registered at once.  They nest like wrappers: the
 *    spy registered last is outermost, its pre_ hooks run first and its post_ hooks
 *    last, and their pointer and size adjustments compose.  When one spy fails an
 *    allocation in pre_alloc, the spies outside it see post_alloc(NULL).
 *  - Hooks run concurrently on several threads (register with MS_SPY_SERIALIZED for
 *    COM's one-at-a-time behaviour).  An operation's pre_ and post_ hooks run on the
 *    calling thread with the real allocator call between them.
 *  - No mallocspy lock is held while a hook runs.  Memory allocated inside a hook (by
 *    the spy itself, printf, fopen...) comes straight from the real allocator and is
 *    seen by no spy; it is not reported as leaked and not searched for pointers.
 *  - Alignment: every pointer handed to the program keeps the alignment it asked for
 *    (16 bytes for malloc).  mallocspy hands post_alloc a block with that alignment, so
 *    a spy that moves the pointer must move it by a multiple of ms_spy_call()->alignment
 *    (always a multiple of 16).
 * ------------------------------------------------------------------------------------- */

#define MS_MAX_SPIES 32

typedef struct ms_spy ms_spy;

typedef struct ms_spy_ops {
    size_t (*pre_alloc)(ms_spy *self, size_t request);
    void  *(*post_alloc)(ms_spy *self, void *actual);
    void  *(*pre_free)(ms_spy *self, void *request, bool spied);
    void   (*post_free)(ms_spy *self, bool spied);
    size_t (*pre_realloc)(ms_spy *self, void *request, size_t size, void **new_request,
                          bool spied);
    void  *(*post_realloc)(ms_spy *self, void *actual, bool spied);
    void  *(*pre_get_size)(ms_spy *self, void *request, bool spied);
    size_t (*post_get_size)(ms_spy *self, size_t actual, bool spied);
    void  *(*pre_did_alloc)(ms_spy *self, void *request, bool spied);
    int    (*post_did_alloc)(ms_spy *self, void *request, bool spied, int actual);
    void   (*pre_heap_minimize)(ms_spy *self);
    void   (*post_heap_minimize)(ms_spy *self);
    /* Called once, when the spy is revoked and no block it spied is live any more.
     * The spy may free itself here. */
    void   (*release)(ms_spy *self);
} ms_spy_ops;

struct ms_spy {
    const ms_spy_ops *ops;    /* must be the first member of the user's struct */
};

/* Registration flags. */
#define MS_SPY_SERIALIZED 0x1u  /* this spy's hooks never run concurrently (COM's behaviour) */
#define MS_SPY_STACKS     0x2u  /* capture the call stack of each allocation and
                                   reallocation while this spy is registered, show it to the
                                   hooks in ms_spy_call()->stack, and keep it with the block
                                   (ms_spy_call()->block_stack) */
#define MS_SPY_FREE_STACKS 0x4u /* the same for each free */

/* MS_OK; MS_E_INVALIDARG for NULL or a spy with no ops (checked first);
 * MS_E_ALREADY_REGISTERED if it is registered or its revoke is pending;
 * MS_E_OUTOFMEMORY if MS_MAX_SPIES spies are registered already. */
int ms_register_spy(ms_spy *spy);
int ms_register_spy_flags(ms_spy *spy, unsigned flags);

/* MS_OK, after which release has been called, when no block the spy saw is still live;
 * MS_E_NOT_REGISTERED if it is not registered (or its revoke is already pending);
 * MS_E_PENDING when blocks it spied are still live: from now on it sees no new
 * allocation but still sees the frees, reallocations and queries of its own blocks, and
 * release is called after the last of them is gone.  MS_E_INVALIDARG for NULL. */
int ms_revoke_spy(ms_spy *spy);

/* What the hook now running was called for.  Valid only inside a hook, on the calling
 * thread; NULL elsewhere. */
typedef enum ms_call_kind {
    MS_CALL_MALLOC = 1,     /* malloc */
    MS_CALL_CALLOC,         /* calloc */
    MS_CALL_REALLOC,        /* realloc, reallocarray */
    MS_CALL_MEMALIGN,       /* posix_memalign, aligned_alloc, memalign, valloc, pvalloc */
    MS_CALL_FREE,           /* free */
    MS_CALL_USABLE_SIZE,    /* malloc_usable_size */
    MS_CALL_TASK_ALLOC,     /* ms_alloc */
    MS_CALL_TASK_REALLOC,   /* ms_realloc */
    MS_CALL_TASK_FREE,      /* ms_free */
    MS_CALL_GET_SIZE,       /* ms_get_size */
    MS_CALL_DID_ALLOC,      /* ms_did_alloc */
    MS_CALL_HEAP_MINIMIZE,  /* ms_heap_minimize */
    MS_CALL_NEW,            /* operator new (plain, nothrow, aligned) */
    MS_CALL_NEW_ARRAY,      /* operator new[] */
    MS_CALL_DELETE,         /* operator delete (plain, sized, nothrow, aligned) */
    MS_CALL_DELETE_ARRAY    /* operator delete[] */
} ms_call_kind;

typedef struct ms_call {
    ms_call_kind kind;
    size_t request;          /* bytes the program asked for (allocations, reallocations) */
    size_t alignment;        /* alignment the program asked for (16 at least) */
    const void *block;       /* the program's pointer being freed, reallocated or queried */
    size_t block_size;       /* its size as the program asked for it, when mallocspy knows
                                it (a block allocated while some spy was registered), else 0 */
    ms_call_kind block_kind; /* how it was allocated (MS_CALL_NEW...), 0 if unknown */
    bool block_known;        /* mallocspy knows the block.  When it does not (a pointer it
                                never handed out, or one freed already), pre_free hooks
                                still run, with spied false; a hook that returns NULL takes
                                charge of the call, else mallocspy reports an invalid free
                                and ignores it */
    const ms_stack *block_stack; /* where that block was allocated, if it was recorded */
    const ms_stack *stack;   /* this call's stack, when a registered spy asked for stacks */
    ms_malloc *allocator;    /* the task allocator, or the private heap the call is made on */
} ms_call;

const ms_call *ms_spy_call(void);

/* The stack of the call the running hook is for, captured now if no spy asked for it in
 * advance (MS_SPY_STACKS): a detector pays for stacks only when it finds something.  NULL
 * outside a hook. */
const ms_stack *ms_spy_stack(void);

/* ---------------------------------------------------------------------------------------
 * Reports
 * ------------------------------------------------------------------------------------- */

/* Tracking on demand (MALLOCSPY_OPTIONS start=0 loads mallocspy dormant: allocations go
 * straight to the real allocator and nothing is recorded).  ms_start_tracking() starts
 * recording allocations (their stacks, the profile); ms_stop_tracking() stops recording
 * new ones, keeping those recorded for the reports.  Both return MS_OK, or
 * MS_E_NOT_REGISTERED when leak checking is off (leak_check=0).  A block allocated while
 * dormant is never reported, and its free is passed to the real allocator silently. */
int ms_start_tracking(void);
int ms_stop_tracking(void);

/* Writes the leak report of what is live now, in the text format of the exit report, to
 * `out`.  Returns the number of leaked blocks reported, or a negative MS_E_ code
 * (MS_E_INVALIDARG for a NULL stream; MS_E_NOT_REGISTERED when leak checking is off). */
int ms_report_leaks(FILE *out);

#ifdef __cplusplus
}
#endif

#endif /* MALLOCSPY_H */
