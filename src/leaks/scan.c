/* Leak classification by a conservative scan of memory, as LeakSanitizer and Valgrind do
 * it, from a preloaded library.
 *
 * With the other threads stopped, every aligned word of the roots is taken for a pointer:
 * the writable segments of every loaded module, each thread's stack from its stack
 * pointer up (the red zone included), its registers and its static TLS, and the blocks
 * the dynamic loader allocated (dynamic TLS, dlopen's bookkeeping).  A block that a root
 * points to (at its start or inside it) is reachable, and so is every block a reachable
 * block points to.  Of the rest, a block pointed to by a leaked block is an indirect
 * leak; the others are definite.  In a cycle that nothing points to, one block (the
 * first met) stays definite so that the cycle shows.  mallocspy's own memory (its module,
 * its TLS, its arenas) is never a root, and its tables, which hold every pointer, are
 * never scanned.
 *
 * Memory is read only where /proc/self/maps says it is readable; file-backed mappings (a
 * module's data, whose file may have been truncated under it) are read with
 * process_vm_readv, which fails instead of faulting. */
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/diag.h"
#include "base/mem.h"
#include "base/options.h"
#include "base/thread.h"
#include "core/blocks.h"
#include "core/real.h"
#include "core/sites.h"
#include "family/mappings.h"
#include "family/pool.h"
#include "leaks/scan.h"
#include "leaks/stop.h"
#include "stacks/modules.h"
#include "stacks/stacks.h"

enum { M_NONE = 0, M_REACHABLE, M_INDIRECT, M_LEADER };

struct mapping {
    uintptr_t lo, hi;
    bool readable, writable, file;
};

struct span {
    uintptr_t lo, hi;
};

struct scanner {
    struct snapshot *snap;
    uintptr_t lo, hi;          /* first start, last end */
    uint32_t *work;            /* worklist of block indexes */
    size_t nwork, capwork;
    struct mapping *maps;
    size_t nmaps, capmaps;
    char *buf;                 /* for process_vm_readv */
    bool vm_readv;
    int phase;                 /* 0: reachability; 1: leaks from `leader` */
    uint32_t leader;
    struct leak_graph *graph;
    uint32_t cur;              /* block being scanned in phase 1 (edge source) */
    uintptr_t self_lo, self_hi; /* mallocspy's own module */
    uintptr_t ldso_lo, ldso_hi; /* the dynamic loader's text */
    uintptr_t excl_lo, excl_hi; /* mallocspy's TLS in the thread being scanned */
    uintptr_t alloc_lo, alloc_hi; /* the real allocator's module, when it is glibc's */
    bool in_allocator_data;    /* scanning the real allocator's own globals */
    bool oom;
    struct piece *pieces;      /* the mappings' pieces, by snapshot index */
    size_t npieces, cappieces;
    struct span *mods;         /* the loaded modules' address ranges */
    size_t nmods, capmods;
};

/* A piece of a mapped region (mappings.c): the pieces of one region are reachable, or
 * leaked, together. */
struct piece {
    uintptr_t addr;
    uint32_t region;
    uint32_t index;            /* in the sorted snapshot */
    uint32_t next;             /* the region's next piece (an index in pieces), circular */
};

#define VMBUF (256 * 1024)

/* ---- growable arrays in fresh pages (no lock may be taken during the stop) ------------- */

/* While the maps read at the stop are in use, no page of ours is unmapped: the kernel may
 * have merged our mapping with a neighbour the snapshot says is readable. */
static struct {
    bool on;
    unsigned n;
    void *p[128];
    size_t len[128];
} later;

static void release(void *p, size_t len)
{
    if (later.on && later.n < ARRAY_SIZE(later.p)) {
        later.p[later.n] = p;
        later.len[later.n++] = len;
    } else {
        pages_free(p, len);
    }
}

static void release_later(void)
{
    later.on = false;
    for (unsigned i = 0; i < later.n; i++)
        pages_free(later.p[i], later.len[i]);
    later.n = 0;
}

static bool grow(void **p, size_t *cap, size_t elem, size_t need)
{
    if (need <= *cap)
        return true;
    size_t ncap = *cap ? *cap : 1024;
    while (ncap < need)
        ncap *= 2;
    void *n = pages_alloc(ncap * elem);
    if (!n)
        return false;
    if (*p) {
        memcpy(n, *p, *cap * elem);
        release(*p, *cap * elem);
    }
    *p = n;
    *cap = ncap;
    return true;
}

/* ---- /proc/self/maps ---------------------------------------------------------------- */

static uintptr_t hex(const char **s)
{
    uintptr_t v = 0;
    for (;;) {
        char c = **s;
        unsigned d;
        if (c >= '0' && c <= '9') d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') d = (unsigned)(c - 'a' + 10);
        else break;
        v = v * 16 + d;
        (*s)++;
    }
    return v;
}

static bool read_maps(struct scanner *s)
{
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    size_t cap, len;
    char *text = pages_read_fd(fd, &len, &cap);
    close(fd);
    if (!text)
        return false;
    s->nmaps = 0;
    for (const char *p = text; *p;) {
        const char *line = p;
        const char *nl = strchr(p, '\n');
        p = nl ? nl + 1 : p + strlen(p);
        struct mapping m;
        m.lo = hex(&line);
        if (*line++ != '-')
            continue;
        m.hi = hex(&line);
        line++;
        m.readable = line[0] == 'r';
        m.writable = line[1] == 'w';
        /* offset, device, inode: the inode tells a file mapping from an anonymous one */
        while (*line && *line != ' ') line++;
        for (int f = 0; f < 3 && *line; f++) {
            while (*line == ' ') line++;
            if (f == 2) {
                m.file = !(line[0] == '0' && (line[1] == ' ' || line[1] == '\n'));
                break;
            }
            while (*line && *line != ' ') line++;
        }
        if (!grow((void **)&s->maps, &s->capmaps, sizeof m, s->nmaps + 1))
            break;
        s->maps[s->nmaps++] = m;
    }
    pages_free(text, cap);
    return true;
}

static const struct mapping *mapping_at(const struct scanner *s, uintptr_t a)
{
    size_t lo = 0, hi = s->nmaps;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (a < s->maps[mid].lo)
            hi = mid;
        else if (a >= s->maps[mid].hi)
            lo = mid + 1;
        else
            return &s->maps[mid];
    }
    return NULL;
}

/* ---- finding blocks ------------------------------------------------------------------- */

static inline long find_block(const struct scanner *s, uintptr_t v)
{
    if (v < s->lo || v >= s->hi)
        return -1;
    size_t lo = 0, hi = s->snap->n;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (s->snap->b[mid].addr <= v)
            lo = mid;
        else
            hi = mid;
    }
    const struct snap_block *b = &s->snap->b[lo];
    if (v < b->addr)
        return -1;
    /* Inside the bytes asked for; a zero-sized block only at its address. */
    if (v - b->addr < b->size || v == b->addr)
        return (long)lo;
    return -1;
}

static void push(struct scanner *s, uint32_t i)
{
    if (!grow((void **)&s->work, &s->capwork, sizeof *s->work, s->nwork + 1)) {
        s->oom = true;
        return;
    }
    s->work[s->nwork++] = i;
}

static void note_edge(struct scanner *s, uint32_t to)
{
    struct leak_graph *g = s->graph;
    if (!g || s->oom)
        return;
    if (!grow((void **)&g->edge, &g->capedge, sizeof *g->edge, g->nedge + 1)) {
        s->oom = true;
        return;
    }
    g->edge[g->nedge].from = s->cur;
    g->edge[g->nedge].to = to;
    g->nedge++;
}

/* glibc's main_arena, in libc's data, names chunks by their header: the top chunk, the
 * bins, the last remainder.  The header of the chunk after block B lies at
 * real(B) + usable(real(B)) - 8, which can be inside B's last bytes; such a word in
 * libc's data is the allocator's bookkeeping, not a pointer to B.  For a tiny block that
 * header is at B's own address, which libc's own pointers to B (setlocale's names) hold
 * too: there the chunk it heads must be the top chunk, or a free one, to be bookkeeping. */
static bool allocator_bookkeeping(const struct scanner *s, const struct snap_block *b,
                                  uintptr_t v)
{
    if (!s->in_allocator_data || !real_fns.malloc_usable_size || (b->flags & SNAP_MAPPING))
        return false;
    struct block hb;
    if (!blocks_find(b->addr, &hb))
        return false;
    if (v != hb.real + real_fns.malloc_usable_size((void *)hb.real) - 8)
        return false;
    if (v != b->addr)
        return true;
    const struct mapping *m = mapping_at(s, v);
    if (!m || m->file || !m->readable || v + 16 > m->hi)
        return false;
    uintptr_t size = ((const uintptr_t *)v)[1] & ~(uintptr_t)7;
    uintptr_t next = v + size;
    if (size < 32 || next < v || next > m->hi)
        return false;
    if (next == m->hi || next == (uintptr_t)sbrk(0))
        return true;    /* the top chunk */
    return next + 16 <= m->hi && !(((const uintptr_t *)next)[1] & 1);
}

static long piece_of(const struct scanner *s, uint32_t index)
{
    size_t lo = 0, hi = s->npieces;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->pieces[mid].index < index)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->npieces && s->pieces[lo].index == index ? (long)lo : -1;
}

/* A piece of a region reached: the whole region is. */
static void reach_region(struct scanner *s, uint32_t i)
{
    long k = piece_of(s, i);
    for (long j = k >= 0 ? (long)s->pieces[k].next : -1; j >= 0 && j != k;
         j = s->pieces[j].next) {
        struct snap_block *o = &s->snap->b[s->pieces[j].index];
        if (o->mark == M_NONE) {
            o->mark = M_REACHABLE;
            push(s, s->pieces[j].index);
        }
    }
}

static inline void found(struct scanner *s, uint32_t i, uintptr_t v)
{
    struct snap_block *b = &s->snap->b[i];
    if (unlikely(s->in_allocator_data) && allocator_bookkeeping(s, b, v))
        return;
    if (s->phase == 0) {
        if (b->mark == M_NONE) {
            b->mark = M_REACHABLE;
            push(s, i);
            if (unlikely(b->flags & SNAP_MAPPING))
                reach_region(s, i);
        }
        return;
    }
    if (b->mark == M_REACHABLE)
        return;
    if (i != s->cur)
        note_edge(s, i);
    if (b->mark == M_NONE) {
        b->mark = M_INDIRECT;
        push(s, i);
    } else if (b->mark == M_LEADER && i != s->leader) {
        /* A definite leak found to be pointed to by another leak: it hangs from that one
         * (its own followers were marked when it was a leader). */
        b->mark = M_INDIRECT;
    }
}

/* Reading any word of a stack or a block is the point here: under AddressSanitizer (the
 * tests build the core with it) the reads of redzones must not count as errors. */
__attribute__((no_sanitize("address")))
static void scan_words(struct scanner *s, uintptr_t base, const unsigned char *p, size_t n)
{
    /* Only aligned words: `base` is where `p` really lives (they differ for copies). */
    size_t skip = (8 - (base & 7)) & 7;
    if (skip >= n)
        return;
    p += skip;
    base += skip;
    n -= skip;
    const uintptr_t *w = (const uintptr_t *)p;
    size_t nw = n / 8;
    for (size_t k = 0; k < nw; k++) {
        uintptr_t v = w[k];
        if (v < s->lo || v >= s->hi)
            continue;
        uintptr_t where = base + k * 8;
        if (where >= s->excl_lo && where < s->excl_hi)
            continue;
        long i = find_block(s, v);
        if (i >= 0)
            found(s, (uint32_t)i, v);
    }
}

/* Reads [lo, hi) where it is mapped readable; never faults. */
static void scan_range(struct scanner *s, uintptr_t lo, uintptr_t hi)
{
    while (lo < hi) {
        const struct mapping *m = mapping_at(s, lo);
        if (!m) {
            /* Unmapped here: go on at the next mapping, if any is inside the range. */
            uintptr_t next = hi;
            for (size_t i = 0; i < s->nmaps; i++)
                if (s->maps[i].lo > lo && s->maps[i].lo < next) {
                    next = s->maps[i].lo;
                    break;
                }
            lo = next;
            continue;
        }
        uintptr_t end = m->hi < hi ? m->hi : hi;
        if (!m->readable) {
            lo = end;
            continue;
        }
        if (!m->file) {
            scan_words(s, lo, (const unsigned char *)lo, end - lo);
        } else if (s->vm_readv && s->buf) {
            for (uintptr_t a = lo; a < end;) {
                size_t n = end - a < VMBUF ? end - a : VMBUF;
                struct iovec local = { s->buf, n }, remote = { (void *)a, n };
                ssize_t got = syscall(SYS_process_vm_readv, (long)getpid(), &local, 1L, &remote,
                                      1L, 0L);
                if (got <= 0)
                    break;    /* gone or shrunk under us: skip the rest */
                scan_words(s, a, (const unsigned char *)s->buf, (size_t)got);
                a += (size_t)got;
            }
        }
        /* else: a file mapping we cannot read safely is skipped. */
        lo = end;
    }
}

/* A big page mapping is read only where it has pages: reading the rest would only map
 * zero pages into the program. */
static void scan_mapping(struct scanner *s, uintptr_t lo, uintptr_t hi)
{
    static unsigned char vec[4096];
    for (uintptr_t a = lo; a < hi;) {
        uintptr_t chunk = hi - a < (uintptr_t)sizeof vec * 4096 ? hi - a : sizeof vec * 4096;
        if (syscall(SYS_mincore, (void *)a, chunk, vec) != 0) {
            scan_range(s, a, a + chunk);
            a += chunk;
            continue;
        }
        for (uintptr_t p = 0; p < chunk; p += 4096)
            if (vec[p / 4096] & 1)
                scan_range(s, a + p, a + p + 4096 < a + chunk ? a + p + 4096 : a + chunk);
        a += chunk;
    }
}

static void drain(struct scanner *s)
{
    while (s->nwork && !s->oom) {
        uint32_t i = s->work[--s->nwork];
        const struct snap_block *b = &s->snap->b[i];
        s->cur = i;
        if ((b->flags & SNAP_MAPPING) && b->size > 65536)
            scan_mapping(s, b->addr, b->addr + b->size);
        else if (b->size >= 8)
            scan_range(s, b->addr, b->addr + b->size);
    }
}

/* ---- roots ---------------------------------------------------------------------------- */

static void pool_root(const void *pool, void *arg)
{
    uintptr_t word = (uintptr_t)pool;   /* scanned as a one-word root */
    scan_words(arg, (uintptr_t)&word, (const unsigned char *)&word, sizeof word);
}

static int module_roots(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct scanner *s = arg;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
        if (grow((void **)&s->mods, &s->capmods, sizeof *s->mods, s->nmods + 1))
            s->mods[s->nmods++] = (struct span){ lo & ~(uintptr_t)4095, (hi + 4095) & ~(uintptr_t)4095 };
        if (!(ph->p_flags & PF_W))
            continue;
        if (lo >= s->self_lo && hi <= s->self_hi)
            continue;    /* mallocspy's own data is never a root */
        s->in_allocator_data = lo >= s->alloc_lo && hi <= s->alloc_hi;
        scan_range(s, lo, hi);
        s->in_allocator_data = false;
    }
    return 0;
}

/* Writable file mappings that are no module's data: a file mapped private and written to
 * (the JVM's class data archive keeps pointers to its heap there), shared memory.  They
 * are the program's memory, and read as roots. */
static void file_roots(struct scanner *s)
{
    for (size_t i = 0; i < s->nmaps; i++) {
        const struct mapping *m = &s->maps[i];
        if (!m->readable || !m->writable || !m->file)
            continue;
        bool module = false;
        for (size_t k = 0; k < s->nmods && !module; k++)
            module = m->lo >= s->mods[k].lo && m->hi <= s->mods[k].hi;
        if (!module)
            scan_range(s, m->lo, m->hi);
    }
}

static int find_self(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct scanner *s = arg;
    uintptr_t me = (uintptr_t)&options;
    uintptr_t ldso = (uintptr_t)getauxval(AT_BASE);
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t a = info->dlpi_addr + ph->p_vaddr, b = a + ph->p_memsz;
        if (a < lo) lo = a;
        if (b > hi) hi = b;
    }
    if (me >= lo && me < hi) {
        s->self_lo = lo;
        s->self_hi = hi;
    }
    if (ldso && info->dlpi_addr == ldso) {
        s->ldso_lo = lo;
        s->ldso_hi = hi;
    }
    uintptr_t real = (uintptr_t)real_fns.malloc;
    if (real >= lo && real < hi && real_is_glibc) {
        s->alloc_lo = lo;
        s->alloc_hi = hi;
    }
    return 0;
}

static size_t tls_size;       /* read-only after scan_init: the static TLS block, TCB in */
static size_t tcb_size;       /* sizeof(struct pthread), which lies above tp */
/* mallocspy's own TLS block, relative to the thread pointer (the same in every thread:
 * static TLS), and its size; never a root (it holds the call being walked, the block
 * being freed). */
static intptr_t self_tls_off;
static size_t self_tls_size;

static int find_self_tls(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    (void)arg;
    uintptr_t me = (uintptr_t)find_self_tls;
    bool mine = false;
    const ElfW(Phdr) *tls = NULL;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_TLS)
            tls = ph;
        if (ph->p_type == PT_LOAD && me >= info->dlpi_addr + ph->p_vaddr &&
            me < info->dlpi_addr + ph->p_vaddr + ph->p_memsz)
            mine = true;
    }
    if (!mine)
        return 0;
    if (tls && info->dlpi_tls_data) {
        self_tls_off = (intptr_t)((uintptr_t)info->dlpi_tls_data -
                                  (uintptr_t)__builtin_thread_pointer());
        self_tls_size = tls->p_memsz;
    }
    return 1;
}

/* At start-up, not during a scan: dlsym may take loader locks a stopped thread holds. */
void scan_init(void)
{
    void (*f)(size_t *, size_t *) =
        (void (*)(size_t *, size_t *))dlsym(RTLD_DEFAULT, "_dl_get_tls_static_info");
    size_t sz = 0, al = 0;
    if (f)
        f(&sz, &al);
    tls_size = sz ? sz : 64 * 1024;
    /* glibc tells its debugger the size of its thread descriptor. */
    const uint32_t *tcb = dlsym(RTLD_DEFAULT, "_thread_db_sizeof_pthread");
    tcb_size = tcb && *tcb && *tcb < 65536 ? *tcb : 0x1000;
    loader_call(dl_iterate_phdr(find_self_tls, NULL));
}

void snapshot_free(struct snapshot *s)
{
    if (s->b)
        pages_free(s->b, s->cap * sizeof *s->b);
    memset(s, 0, sizeof *s);
}

#define RED_ZONE 128

/* One thread's stack from sp up, its static TLS, and its registers.  A thread stopped by
 * the signal may have been in a leaf function that keeps live data in the red zone below
 * its stack pointer; one that called into mallocspy has none there.
 *
 * glibc puts a thread's static TLS and its descriptor at the top of its stack mapping:
 * [tp + tcb - tls_size, tp + tcb).  Nothing above that is the thread's, even when the
 * kernel merged the mapping with the next one (which may be mallocspy's own pages, full
 * of block addresses). */
static void thread_roots(struct scanner *s, uintptr_t sp, uintptr_t tp, const uintptr_t *regs,
                         unsigned nregs, bool red_zone)
{
    s->excl_lo = self_tls_size && tp ? tp + (uintptr_t)self_tls_off : 0;
    s->excl_hi = s->excl_lo + self_tls_size;
    const struct mapping *m = mapping_at(s, sp);
    uintptr_t top = m ? m->hi : sp;
    if (tp && tp > sp && tp + tcb_size < top)
        top = tp + tcb_size;
    uintptr_t lo = red_zone && sp > RED_ZONE ? sp - RED_ZONE : sp;
    if (m && lo < m->lo)
        lo = m->lo;
    scan_range(s, lo, top);
    if (!tp)
        goto regs;
    uintptr_t tls_hi = tp + tcb_size, tls_lo = tls_hi - (tls_size > tcb_size ? tls_size : tcb_size);
    const struct mapping *tm = mapping_at(s, tp);
    if (tm && tls_hi > tm->hi)
        tls_hi = tm->hi;
    if (tm && tls_lo < tm->lo)
        tls_lo = tm->lo;
    if (!(tls_lo >= lo && tls_hi <= top))
        scan_range(s, tls_lo, tls_hi);
regs:
    s->excl_lo = s->excl_hi = 0;
    if (nregs)
        scan_words(s, 0, (const unsigned char *)regs, nregs * sizeof *regs);
}

/* ---- sorting ------------------------------------------------------------------------------ */

/* LSD radix sort by address, 16 bits at a time: blocks are at least 8-byte aligned and
 * below 2^48. */
static bool addr_before(const void *a, const void *b)
{
    return ((const struct snap_block *)a)->addr < ((const struct snap_block *)b)->addr;
}

static void sort_blocks(struct snapshot *snap)
{
    size_t n = snap->n;
    /* The blocks come in address order (blocks_for_each), the mappings after them: only
     * that tail is sorted, in a buffer of its own size, and merged in from the end.  No
     * copy of the whole snapshot (24 MB for a million blocks) is made. */
    size_t p = 1;
    while (p < n && snap->b[p - 1].addr <= snap->b[p].addr)
        p++;
    if (p >= n)
        return;
    size_t k = n - p;
    struct snap_block *t = pages_alloc(k * sizeof *t);
    if (!t) {
        sort_small(snap->b, n, sizeof *snap->b, addr_before);   /* slower, in place */
        return;
    }
    memcpy(t, snap->b + p, k * sizeof *t);
    sort_small(t, k, sizeof *t, addr_before);
    size_t i = p, j = k, out = n;
    while (j > 0) {
        if (i > 0 && snap->b[i - 1].addr > t[j - 1].addr)
            snap->b[--out] = snap->b[--i];
        else
            snap->b[--out] = t[--j];
    }
    release(t, k * sizeof *t);
}

/* ---- the whole scan ------------------------------------------------------------------ */

static void add_block(const struct block *b, void *arg)
{
    struct snapshot *s = arg;
    if (b->site <= SITE_HELD)   /* mallocspy's own, or held by a spy: not the program's */
        return;
    if (!grow((void **)&s->b, &s->cap, sizeof *s->b, s->n + 1))
        return;
    struct snap_block *d = &s->b[s->n++];
    memset(d, 0, sizeof *d);
    d->addr = b->addr;
    d->size = b->size;
    d->site = b->site;
}

static void add_mapping(uintptr_t start, size_t len, uint32_t site, uint32_t region, void *arg)
{
    struct scanner *sc = arg;
    struct snapshot *s = sc->snap;
    if (!grow((void **)&s->b, &s->cap, sizeof *s->b, s->n + 1) ||
        !grow((void **)&sc->pieces, &sc->cappieces, sizeof *sc->pieces, sc->npieces + 1))
        return;
    sc->pieces[sc->npieces++] = (struct piece){ start, region, 0, 0 };
    struct snap_block *d = &s->b[s->n++];
    memset(d, 0, sizeof *d);
    d->addr = start;
    d->size = len;
    d->site = site;
    d->flags = SNAP_MAPPING;
}

/* The mappings' pieces, once the snapshot is sorted: each finds its index, and the pieces
 * of a region are linked in a ring; all but the first are marked as pieces. */
static void link_pieces(struct scanner *s)
{
    for (size_t k = 0; k < s->npieces; k++) {
        size_t lo = 0, hi = s->snap->n;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (s->snap->b[mid].addr < s->pieces[k].addr)
                lo = mid + 1;
            else
                hi = mid;
        }
        while (lo < s->snap->n && !(s->snap->b[lo].flags & SNAP_MAPPING) &&
               s->snap->b[lo].addr == s->pieces[k].addr)
            lo++;
        s->pieces[k].index = (uint32_t)lo;
    }
    /* By index (insertion sort: mappings are few), then each region's ring. */
    for (size_t k = 1; k < s->npieces; k++) {
        struct piece v = s->pieces[k];
        size_t j = k;
        for (; j > 0 && s->pieces[j - 1].index > v.index; j--)
            s->pieces[j] = s->pieces[j - 1];
        s->pieces[j] = v;
    }
    for (size_t k = 0; k < s->npieces; k++) {
        size_t next = k;
        for (size_t j = 1; j < s->npieces; j++) {
            size_t c = (k + j) % s->npieces;
            if (s->pieces[c].region == s->pieces[k].region) {
                next = c;
                break;
            }
        }
        s->pieces[k].next = (uint32_t)next;
        bool first = true;
        for (size_t j = 0; j < k && first; j++)
            first = s->pieces[j].region != s->pieces[k].region;
        if (!first && s->pieces[k].index < s->snap->n)
            s->snap->b[s->pieces[k].index].flags |= SNAP_PIECE;
    }
}

static bool from_loader(const struct scanner *s, uint32_t site)
{
    const struct site *st = site_by_id(site);
    const struct stack_rec *stk = st && st->key.stack ? stack_by_id(st->key.stack) : NULL;
    return stk && stk->pub.depth && stk->frames[0] > s->ldso_lo && stk->frames[0] <= s->ldso_hi;
}

struct scan_job {
    struct snapshot *snap;
    struct leak_graph *graph;
    const struct scan_entry *entry;
    struct scan_stats *stats;
    pid_t exclude;
    bool ok;
};

static void classify_stopped(struct scan_job *job)
{
    struct scanner s;
    memset(&s, 0, sizeof s);
    s.snap = job->snap;
    s.graph = job->graph;
    struct stopped_thread *threads = NULL;
    size_t nthreads = 0;
    world_stop(job->exclude, &threads, &nthreads);

    /* The tables cannot change now: no thread is inside their critical sections. */
    blocks_for_each(add_block, s.snap);
    mappings_for_each(add_mapping, &s, true);
    struct snapshot *snap = s.snap;
    if (!snap->n) {
        /* Nothing to classify (start=0 and never started, or all freed): no root is read,
         * so no page of the program's data is touched for nothing. */
        job->ok = true;
        goto out;
    }
    dl_iterate_phdr(find_self, &s);
    later.on = true;
    if (!read_maps(&s))
        goto out;
    sort_blocks(snap);
    s.buf = pages_alloc(VMBUF);
    s.vm_readv = true;
    link_pieces(&s);
    if (snap->n) {
        s.lo = snap->b[0].addr;
        for (size_t i = 0; i < snap->n; i++) {
            uintptr_t e = snap->b[i].addr + (snap->b[i].size ? snap->b[i].size : 1);
            if (e > s.hi)
                s.hi = e;
        }
    }
    /* Can we read our own memory without faulting?  (seccomp may forbid it) */
    {
        static const uint64_t probe = 0x6d616c6c6f637370;   /* read back, compared */
        struct iovec l = { s.buf, sizeof probe }, r = { (void *)&probe, sizeof probe };
        if (!s.buf || syscall(SYS_process_vm_readv, (long)getpid(), &l, 1L, &r, 1L, 0L) !=
                          (long)sizeof probe || memcmp(s.buf, &probe, sizeof probe) != 0)
            s.vm_readv = false;
    }

    /* Roots. */
    s.phase = 0;
    dl_iterate_phdr(module_roots, &s);
    drain(&s);
    file_roots(&s);
    drain(&s);
    for (size_t i = 0; i < nthreads; i++) {
        struct stopped_thread *t = &threads[i];
        if (atomic_load(&t->state) == THREAD_PARKED) {
            thread_roots(&s, t->sp, t->tp, t->regs, t->nregs, t->nregs != 0);
        } else if (atomic_load(&t->state) == THREAD_UNSTOPPED) {
            /* Scanned where it runs, conservatively: from the stack pointer it waits at,
             * else its whole stack (the mapping of its TLS, at the top of a thread's
             * stack); a block it might point to is reachable, not leaked. */
            job->stats->threads_unstopped++;
            uintptr_t tp = threads_tp_of(t->tid);
            const struct mapping *m = tp ? mapping_at(&s, tp) : NULL;
            if (t->sp)
                thread_roots(&s, t->sp, tp, t->regs, t->nregs, true);
            else if (m)
                scan_range(&s, m->lo, m->hi);
            else
                job->stats->threads_unscanned++;
        }
        drain(&s);
    }
    if (job->entry)
        thread_roots(&s, job->entry->sp, (uintptr_t)__builtin_thread_pointer(),
                     job->entry->regs, job->entry->nregs, false);
    drain(&s);
    pools_for_each_destroyed(pool_root, &s);
    drain(&s);
    for (size_t i = 0; i < snap->n; i++)
        if (snap->b[i].mark == M_NONE && from_loader(&s, snap->b[i].site)) {
            snap->b[i].mark = M_REACHABLE;
            push(&s, (uint32_t)i);
        }
    drain(&s);

    /* Leaks: each block no root reaches leads the blocks it reaches (which are thus
     * indirect), unless a later leader reaches it in turn. */
    s.phase = 1;
    for (size_t i = 0; i < snap->n && !s.oom; i++) {
        if (snap->b[i].mark != M_NONE)
            continue;
        snap->b[i].mark = M_LEADER;
        s.leader = (uint32_t)i;
        push(&s, (uint32_t)i);
        drain(&s);
    }
    job->ok = !s.oom;
    for (size_t i = 0; i < snap->n; i++) {
        struct snap_block *b = &snap->b[i];
        b->kind = b->mark == M_REACHABLE ? KIND_REACHABLE
                : b->mark == M_INDIRECT  ? KIND_INDIRECT
                : (b->flags & SNAP_MAPPING) ? KIND_MAPPING
                                          : KIND_DEFINITE;
    }
    /* A region is one mapping: leaked from where one of its pieces is (a piece nothing
     * reaches makes the whole region a leak of its own). */
    for (size_t k = 0; k < s.npieces; k++) {
        uint8_t kind = KIND_INDIRECT;
        size_t j = k;
        do {
            uint8_t pk = snap->b[s.pieces[j].index].kind;
            if (pk == KIND_REACHABLE || (pk == KIND_MAPPING && kind != KIND_REACHABLE))
                kind = pk;
            j = s.pieces[j].next;
        } while (j != k);
        snap->b[s.pieces[k].index].kind = kind;
    }
    for (size_t i = 0; i < snap->n; i++)
        snap->b[i].mark = 0;
out:
    release_later();
    world_resume();
    job->stats->threads_stopped = 0;
    for (size_t i = 0; i < nthreads; i++)
        if (atomic_load(&threads[i].state) != THREAD_GONE &&
            atomic_load(&threads[i].state) != THREAD_UNSTOPPED)
            job->stats->threads_stopped++;
    if (s.buf)
        pages_free(s.buf, VMBUF);
    if (s.maps)
        pages_free(s.maps, s.capmaps * sizeof *s.maps);
    if (s.work)
        pages_free(s.work, s.capwork * sizeof *s.work);
    if (s.pieces)
        pages_free(s.pieces, s.cappieces * sizeof *s.pieces);
    if (s.mods)
        pages_free(s.mods, s.capmods * sizeof *s.mods);
}

/* Run with the loader's lock held (from inside dl_iterate_phdr): no thread can be
 * stopped half-way through dlopen or dlclose, and the module list cannot change under the
 * scan.  The lock is recursive, so the scan may walk the modules again. */
static int locked_scan(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)info;
    (void)size;
    classify_stopped(arg);
    return 1;
}

bool scan_classify(struct snapshot *snap, struct leak_graph *graph, const struct scan_entry *entry,
                   pid_t exclude, struct scan_stats *stats)
{
    struct scan_job job = { snap, graph, entry, stats, exclude, false };
    memset(stats, 0, sizeof *stats);
    loader_call(dl_iterate_phdr(locked_scan, &job));
    return job.ok;
}

/* Suppressed: the definite leaks whose stack matches a suppression, and the indirect
 * leaks that hang only from suppressed ones.  Walks the leak graph recorded by the scan,
 * without reading the program's memory again (it runs on). */
void leaks_apply_suppressions(struct snapshot *snap, const struct leak_graph *g,
                              bool (*suppressed)(uint32_t site, void *), void *arg)
{
    size_t n = snap->n;
    for (size_t i = 0; i < n; i++)
        if ((snap->b[i].kind == KIND_DEFINITE || snap->b[i].kind == KIND_MAPPING) &&
            suppressed(snap->b[i].site, arg))
            snap->b[i].kind = KIND_SUPPRESSED;
    /* Edges grouped by source: the scan records them block by block. */
    uint32_t *first = pages_alloc((n + 1) * sizeof *first);
    uint32_t *stack = pages_alloc((n ? n : 1) * sizeof *stack);
    if (!first || !stack) {
        pages_free(first, (n + 1) * sizeof *first);
        pages_free(stack, (n ? n : 1) * sizeof *stack);
        return;
    }
    /* A counting sort of the edges by source into `order`. */
    uint32_t *order = g->nedge ? pages_alloc(g->nedge * sizeof *order) : NULL;
    memset(first, 0, (n + 1) * sizeof *first);
    for (size_t e = 0; e < g->nedge; e++)
        first[g->edge[e].from + 1]++;
    for (size_t i = 0; i < n; i++)
        first[i + 1] += first[i];
    if (order) {
        uint32_t *fill = pages_alloc((n + 1) * sizeof *fill);
        if (fill) {
            memcpy(fill, first, (n + 1) * sizeof *fill);
            for (size_t e = 0; e < g->nedge; e++)
                order[fill[g->edge[e].from]++] = g->edge[e].to;
            pages_free(fill, (n + 1) * sizeof *fill);
        }
    }
    /* Indirect blocks reached from a definite leak that stays are kept as leaks. */
    for (size_t i = 0; i < n; i++)
        snap->b[i].mark = 0;
    size_t sp = 0;
    for (size_t i = 0; i < n; i++)
        if (snap->b[i].kind == KIND_DEFINITE || snap->b[i].kind == KIND_MAPPING)
            stack[sp++] = (uint32_t)i;
    while (sp) {
        uint32_t i = stack[--sp];
        for (uint32_t e = first[i]; order && e < first[i + 1]; e++) {
            uint32_t j = order[e];
            if (snap->b[j].kind == KIND_INDIRECT && !snap->b[j].mark) {
                snap->b[j].mark = 1;
                stack[sp++] = j;
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (snap->b[i].kind == KIND_INDIRECT && !snap->b[i].mark)
            snap->b[i].kind = KIND_SUPPRESSED;
        snap->b[i].mark = 0;
    }
    pages_free(first, (n + 1) * sizeof *first);
    pages_free(stack, (n ? n : 1) * sizeof *stack);
    if (order)
        pages_free(order, g->nedge * sizeof *order);
}
