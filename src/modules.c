/* Loaded modules (the program and its shared libraries), remembered after they are
 * dlclose'd, so that a stack taken while a library was loaded still names it afterwards.
 * Each load or unload seen bumps a generation; a stack keeps the generation it was taken
 * in. */
#include <elf.h>
#include <link.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "modules.h"

static struct {
    ms_lock lock;                  /* everything below */
    struct module *mods;           /* every module ever seen; append-only */
    uint32_t n;
    size_t cap;
    uint32_t *loaded;              /* indexes of loaded modules, sorted by start */
    uint32_t nloaded, loaded_cap;
    uint32_t gen;
    unsigned long long adds, subs; /* the loader's counters at the last refresh */
    bool valid;
} mt = { .lock = MS_LOCK_INIT };

/* glibc's fork resets the loader's main lock in the child but not the one
 * dl_iterate_phdr takes: a child forked while another thread was inside dl_iterate_phdr
 * would block in its first one.  Every call mallocspy makes that may reach
 * dl_iterate_phdr (its own, and libunwind's) passes this gate, which the fork prepare
 * handler closes, so that none is in progress at the fork. */
static struct {
    atomic_int inside;         /* calls in progress */
    atomic_int closed;         /* a fork is being prepared */
} gate;

void loader_gate_enter(void)
{
    for (;;) {
        while (atomic_load(&gate.closed))
            sched_yield();
        atomic_fetch_add(&gate.inside, 1);
        if (!atomic_load(&gate.closed))
            return;
        atomic_fetch_sub(&gate.inside, 1);
    }
}

void loader_gate_leave(void) { atomic_fetch_sub(&gate.inside, 1); }

void loader_gate_fork_prepare(void)
{
    /* A fork from inside mallocspy's own gated call (a hook that forks) must not wait for
     * itself: such a thread is inside an operation, and its count is its own. */
    atomic_store(&gate.closed, 1);
    while (atomic_load(&gate.inside) > (int)ms_tls.gate_depth)
        sched_yield();
}

void loader_gate_fork_parent(void) { atomic_store(&gate.closed, 0); }
void loader_gate_fork_child(void)
{
    atomic_store(&gate.inside, (int)ms_tls.gate_depth);
    atomic_store(&gate.closed, 0);
}

static int counters_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    unsigned long long *c = arg;
    c[0] = info->dlpi_adds;
    c[1] = info->dlpi_subs;
    return 1;   /* the counters are the same in every entry: one is enough */
}

struct scan {
    struct module *found;
    uint32_t n;
    size_t cap;
    bool oom;
};

static char *dup_path(const char *name)
{
    char buf[4096];
    const char *src = name;
    if (!name || !*name) {
        ssize_t len = readlink("/proc/self/exe", buf, sizeof buf - 1);
        if (len <= 0)
            return NULL;
        buf[len] = 0;
        src = buf;
    }
    size_t len = strlen(src);
    char *p = arena_alloc(len + 1);
    if (p)
        memcpy(p, src, len + 1);
    return p;
}

static int scan_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct scan *sc = arg;
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t s = info->dlpi_addr + ph->p_vaddr, e = s + ph->p_memsz;
        if (s < lo)
            lo = s;
        if (e > hi)
            hi = e;
    }
    if (lo >= hi)
        return 0;
    if (!arena_reserve(&sc->found, sc->n, &sc->cap, sizeof *sc->found, 64)) {
        sc->oom = true;
        return 1;
    }
    struct module *m = &sc->found[sc->n++];
    memset(m, 0, sizeof *m);
    m->base = info->dlpi_addr;
    m->start = lo;
    m->end = hi;
    /* Copied now: the loader's string lives only as long as the module does. */
    m->path = dup_path(sc->n == 1 ? "" : info->dlpi_name);
    m->is_main = sc->n == 1;
    return 0;
}

static bool same(const struct module *a, const struct module *b)
{
    return a->base == b->base && a->start == b->start && a->end == b->end &&
           (a->path == b->path || (a->path && b->path && !strcmp(a->path, b->path)));
}

static void sort_loaded(void)
{
    /* Insertion sort: tens or hundreds of modules, and nearly sorted already. */
    for (uint32_t i = 1; i < mt.nloaded; i++) {
        uint32_t v = mt.loaded[i];
        uint32_t j = i;
        while (j > 0 && mt.mods[mt.loaded[j - 1]].start > mt.mods[v].start) {
            mt.loaded[j] = mt.loaded[j - 1];
            j--;
        }
        mt.loaded[j] = v;
    }
}

/* Brings the table up to date with the loader.  Called with no lock of ours held: it
 * takes the loader's lock, and a thread holding that may be waiting for one of ours. */
static void refresh(void)
{
    struct scan sc = { 0 };
    ms_loader_call(dl_iterate_phdr(scan_cb, &sc));
    if (sc.oom) {
        for (uint32_t j = 0; j < sc.n; j++)
            if (sc.found[j].path)
                arena_free(sc.found[j].path, strlen(sc.found[j].path) + 1);
        arena_free(sc.found, sc.cap * sizeof *sc.found);
        return;
    }
    ms_lock_acquire(&mt.lock);
    bool changed = false;
    /* Modules that are gone. */
    for (uint32_t i = 0; i < mt.nloaded; i++) {
        struct module *m = &mt.mods[mt.loaded[i]];
        bool present = false;
        for (uint32_t j = 0; j < sc.n; j++)
            if (same(m, &sc.found[j]))
                present = true;
        if (!present) {
            m->unload_gen = mt.gen + 1;
            changed = true;
        }
    }
    /* Modules that are new. */
    for (uint32_t j = 0; j < sc.n; j++) {
        bool known = false;
        for (uint32_t i = 0; i < mt.nloaded; i++)
            if (mt.mods[mt.loaded[i]].unload_gen == UINT32_MAX &&
                same(&mt.mods[mt.loaded[i]], &sc.found[j]))
                known = true;
        if (known) {
            if (sc.found[j].path)
                arena_free(sc.found[j].path, strlen(sc.found[j].path) + 1);
            continue;
        }
        if (!arena_reserve(&mt.mods, mt.n, &mt.cap, sizeof *mt.mods, 64))
            break;
        struct module *m = &mt.mods[mt.n];
        *m = sc.found[j];
        m->load_gen = mt.gen + 1;
        m->unload_gen = UINT32_MAX;
        m->id = mt.n;
        mt.n++;
        changed = true;
    }
    if (changed) {
        mt.gen++;
        uint32_t nl = 0;
        for (uint32_t i = 0; i < mt.n; i++)
            if (mt.mods[i].unload_gen == UINT32_MAX)
                nl++;
        if (nl > mt.loaded_cap) {
            uint32_t *l = arena_realloc(mt.loaded, mt.loaded_cap * sizeof *l, nl * 2 * sizeof *l);
            if (l) {
                mt.loaded = l;
                mt.loaded_cap = nl * 2;
            }
        }
        mt.nloaded = 0;
        for (uint32_t i = 0; i < mt.n && mt.nloaded < mt.loaded_cap; i++)
            if (mt.mods[i].unload_gen == UINT32_MAX)
                mt.loaded[mt.nloaded++] = i;
        sort_loaded();
    }
    mt.valid = true;
    ms_lock_release(&mt.lock);
    arena_free(sc.found, sc.cap * sizeof *sc.found);
}

uint32_t modules_sync(void)
{
    unsigned long long c[2] = { 0, 0 };
    ms_loader_call(dl_iterate_phdr(counters_cb, c));
    ms_lock_acquire(&mt.lock);
    bool stale = !mt.valid || c[0] != mt.adds || c[1] != mt.subs;
    ms_lock_release(&mt.lock);
    if (stale) {
        refresh();
        ms_lock_acquire(&mt.lock);
        mt.adds = c[0];
        mt.subs = c[1];
        ms_lock_release(&mt.lock);
    }
    ms_lock_acquire(&mt.lock);
    uint32_t g = mt.gen;
    ms_lock_release(&mt.lock);
    return g;
}

bool module_loaded_at(uintptr_t addr, struct module *out)
{
    bool found = false;
    ms_lock_acquire(&mt.lock);
    uint32_t lo = 0, hi = mt.nloaded;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        const struct module *m = &mt.mods[mt.loaded[mid]];
        if (addr < m->start)
            hi = mid;
        else if (addr >= m->end)
            lo = mid + 1;
        else {
            *out = *m;
            found = true;
            break;
        }
    }
    ms_lock_release(&mt.lock);
    return found;
}

bool module_at(uintptr_t addr, uint32_t gen, struct module *out)
{
    bool found = false;
    ms_lock_acquire(&mt.lock);
    for (uint32_t i = mt.n; i-- > 0;) {
        const struct module *m = &mt.mods[i];
        if (addr >= m->start && addr < m->end && m->load_gen <= gen && gen < m->unload_gen) {
            *out = *m;
            found = true;
            break;
        }
    }
    ms_lock_release(&mt.lock);
    return found;
}

bool module_by_id(uint32_t id, struct module *out)
{
    bool found = false;
    ms_lock_acquire(&mt.lock);
    if (id < mt.n) {
        *out = mt.mods[id];
        found = true;
    }
    ms_lock_release(&mt.lock);
    return found;
}

uint32_t modules_count(void)
{
    ms_lock_acquire(&mt.lock);
    uint32_t n = mt.n;
    ms_lock_release(&mt.lock);
    return n;
}

void modules_fork_prepare(void) { ms_lock_acquire(&mt.lock); }
void modules_fork_parent(void) { ms_lock_release(&mt.lock); }
void modules_fork_child(void) { ms_lock_reset(&mt.lock); }
