/* Loaded modules (the program and its shared libraries), remembered after they are
 * dlclose'd, so that a stack taken while a library was loaded still names it afterwards.
 * Each load or unload seen bumps a generation; a stack keeps the generation it was taken
 * in. */
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/lock.h"
#include "base/mem.h"
#include "base/self.h"
#include "stacks/modules.h"

static struct {
    spinlock lock;                  /* everything below */
    struct module *mods;           /* every module ever seen; append-only */
    uint32_t n;
    size_t cap;
    uint32_t *loaded;              /* indexes of loaded modules, sorted by start */
    uint32_t nloaded, loaded_cap;
    uint32_t gen;
} mt = { .lock = SPIN_INIT };

/* glibc's fork resets the loader's main lock in the child but not the one
 * dl_iterate_phdr takes: a child forked while another thread was inside dl_iterate_phdr
 * would block in its first one.  Every call mallocspy makes that may reach
 * dl_iterate_phdr (its own, and libunwind's) passes this gate, which the fork prepare
 * handler closes, so that none is in progress at the fork. */
TLS_IE unsigned gate_depth;

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
    while (atomic_load(&gate.inside) > (int)gate_depth)
        sched_yield();
}

void loader_gate_fork_parent(void) { atomic_store(&gate.closed, 0); }
void loader_gate_fork_child(void)
{
    atomic_store(&gate.inside, (int)gate_depth);
    atomic_store(&gate.closed, 0);
}

struct scan {
    struct module *found;
    uint32_t n;
    size_t cap;
    bool oom;
};

static char *keep(const char *src)
{
    size_t len = strlen(src);
    char *p = arena_alloc(len + 1);
    if (p)
        memcpy(p, src, len + 1);
    return p;
}

/* The file mapped at addr, from /proc/self/maps: the absolute name of a module the loader
 * knows by a relative one (dlopen("./libplug.so")), which the symbolizer, started later
 * and maybe elsewhere, could not open. */
static bool mapped_file(uintptr_t addr, char *out, size_t cap)
{
    return maps_file_at(addr, out, cap);
}

static char *module_path(const char *name, uintptr_t lo)
{
    char buf[4096];
    if (!name || !*name) {
        ssize_t len = readlink("/proc/self/exe", buf, sizeof buf - 1);
        if (len <= 0)
            return NULL;
        buf[len] = 0;
        return keep(buf);
    }
    if (name[0] != '/' && mapped_file(lo, buf, sizeof buf))
        return keep(buf);
    return keep(name);
}

/* The GNU build ID from the module's PT_NOTE segments, which are mapped: read in memory,
 * never from the file (which may have been replaced since it was loaded). */
static char *build_id_of(const struct dl_phdr_info *info)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE)
            continue;
        const unsigned char *p = (const unsigned char *)(info->dlpi_addr + ph->p_vaddr);
        const unsigned char *end = p + ph->p_memsz;
        while (p + 12 <= end) {
            ElfW(Nhdr) n;
            memcpy(&n, p, sizeof n);
            const unsigned char *name = p + 12;
            const unsigned char *desc = name + ((n.n_namesz + 3) & ~3u);
            const unsigned char *next = desc + ((n.n_descsz + 3) & ~3u);
            if (next > end || next < p)
                break;
            if (n.n_type == NT_GNU_BUILD_ID && n.n_namesz == 4 && !memcmp(name, "GNU", 4) &&
                n.n_descsz > 0 && n.n_descsz <= 64) {
                char *s = arena_alloc(2 * n.n_descsz + 1);
                if (!s)
                    return NULL;
                for (unsigned k = 0; k < n.n_descsz; k++) {
                    s[2 * k] = hex[desc[k] >> 4];
                    s[2 * k + 1] = hex[desc[k] & 15];
                }
                return s;
            }
            p = next;
        }
    }
    return NULL;
}

/* Adds the module `info` describes to sc->found. */
static void add_found(struct scan *sc, const struct dl_phdr_info *info, bool is_main)
{
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
        return;
    if (!arena_reserve(&sc->found, sc->n, &sc->cap, sizeof *sc->found, 64)) {
        sc->oom = true;
        return;
    }
    struct module *m = &sc->found[sc->n++];
    memset(m, 0, sizeof *m);
    m->base = info->dlpi_addr;
    m->start = lo;
    m->end = hi;
    /* Copied now: the loader's string lives only as long as the module does. */
    m->path = module_path(is_main ? "" : info->dlpi_name, lo);
    m->build_id = build_id_of(info);
    m->is_main = is_main;
}

static int scan_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct scan *sc = arg;
    add_found(sc, info, sc->n == 0 && !sc->oom);
    return sc->oom;
}

static void drop_strings(struct module *m)
{
    if (m->path)
        arena_free(m->path, strlen(m->path) + 1);
    if (m->build_id)
        arena_free(m->build_id, strlen(m->build_id) + 1);
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

/* The list of loaded modules, sorted by start, after the table changed.  Under mt.lock. */
static void rebuild_loaded(void)
{
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

/* Adds the found modules the table does not have yet; under mt.lock.  True if any was. */
static bool merge_new(struct scan *sc)
{
    bool changed = false;
    for (uint32_t j = 0; j < sc->n; j++) {
        bool known = false;
        for (uint32_t i = 0; i < mt.nloaded && !known; i++)
            known = mt.mods[mt.loaded[i]].unload_gen == UINT32_MAX &&
                    same(&mt.mods[mt.loaded[i]], &sc->found[j]);
        if (known || !arena_reserve(&mt.mods, mt.n, &mt.cap, sizeof *mt.mods, 64)) {
            drop_strings(&sc->found[j]);
            continue;
        }
        struct module *m = &mt.mods[mt.n];
        *m = sc->found[j];
        m->load_gen = mt.gen + 1;
        m->unload_gen = UINT32_MAX;
        m->id = mt.n;
        mt.n++;
        changed = true;
    }
    return changed;
}

/* Brings the table up to date with the loader, unloaded modules included.  It takes the
 * loader's lock: never on an allocation's path (a thread holding that lock may be waiting
 * for the allocation), only after dlclose and for the reports.  Returns true if a module
 * went away. */
bool modules_refresh(void)
{
    struct scan sc = { 0 };
    loader_call(dl_iterate_phdr(scan_cb, &sc));
    if (sc.oom) {
        for (uint32_t j = 0; j < sc.n; j++)
            drop_strings(&sc.found[j]);
        arena_free(sc.found, sc.cap * sizeof *sc.found);
        return false;
    }
    spin_lock(&mt.lock);
    bool gone = false;
    for (uint32_t i = 0; i < mt.nloaded; i++) {
        struct module *m = &mt.mods[mt.loaded[i]];
        bool present = false;
        for (uint32_t j = 0; j < sc.n && !present; j++)
            present = same(m, &sc.found[j]);
        if (!present) {
            m->unload_gen = mt.gen + 1;
            gone = true;
        }
    }
    if (merge_new(&sc) || gone)
        rebuild_loaded();
    spin_unlock(&mt.lock);
    arena_free(sc.found, sc.cap * sizeof *sc.found);
    return gone;
}

/* The module of pc, asked of the loader with _dl_find_object, which takes no lock: so a
 * stack can name its modules while another thread is inside dlopen or a dl_iterate_phdr
 * callback.  Its program headers are read from its first page, where the ELF header is
 * mapped. */
static void add_for_pc(uintptr_t pc, struct scan *sc)
{
    struct dl_find_object o;
    if (_dl_find_object((void *)pc, &o) != 0 || !o.dlfo_link_map || !o.dlfo_map_start)
        return;
    const ElfW(Ehdr) *eh = o.dlfo_map_start;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_phentsize != sizeof(ElfW(Phdr)))
        return;
    const struct link_map *lm = o.dlfo_link_map;
    struct dl_phdr_info info = { .dlpi_addr = lm->l_addr, .dlpi_name = lm->l_name,
                                 .dlpi_phdr = (const ElfW(Phdr) *)((const char *)eh + eh->e_phoff),
                                 .dlpi_phnum = eh->e_phnum };
    add_found(sc, &info, !lm->l_name || !lm->l_name[0]);
}

uint32_t modules_cover(const uintptr_t *pc, unsigned n)
{
    struct scan sc = { 0 };
    struct module m;
    for (unsigned i = 0; i < n; i++) {
        bool seen = false;
        for (uint32_t j = 0; j < sc.n && !seen; j++)
            seen = pc[i] >= sc.found[j].start && pc[i] < sc.found[j].end;
        if (!seen && !module_loaded_at(pc[i], &m))
            add_for_pc(pc[i], &sc);
    }
    spin_lock(&mt.lock);
    if (sc.n && merge_new(&sc))
        rebuild_loaded();
    uint32_t g = mt.gen;
    spin_unlock(&mt.lock);
    if (sc.found)
        arena_free(sc.found, sc.cap * sizeof *sc.found);
    return g;
}

uint32_t modules_generation(void)
{
    spin_lock(&mt.lock);
    uint32_t g = mt.gen;
    spin_unlock(&mt.lock);
    return g;
}

bool module_loaded_at(uintptr_t addr, struct module *out)
{
    bool found = false;
    spin_lock(&mt.lock);
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
    spin_unlock(&mt.lock);
    return found;
}

bool module_at(uintptr_t addr, uint32_t gen, struct module *out)
{
    bool found = false;
    spin_lock(&mt.lock);
    for (uint32_t i = mt.n; i-- > 0;) {
        const struct module *m = &mt.mods[i];
        if (addr >= m->start && addr < m->end && m->load_gen <= gen && gen < m->unload_gen) {
            *out = *m;
            found = true;
            break;
        }
    }
    spin_unlock(&mt.lock);
    return found;
}

bool module_by_id(uint32_t id, struct module *out)
{
    bool found = false;
    spin_lock(&mt.lock);
    if (id < mt.n) {
        *out = mt.mods[id];
        found = true;
    }
    spin_unlock(&mt.lock);
    return found;
}

uint32_t modules_count(void)
{
    spin_lock(&mt.lock);
    uint32_t n = mt.n;
    spin_unlock(&mt.lock);
    return n;
}

void modules_fork_prepare(void) { spin_lock(&mt.lock); }
void modules_fork_parent(void) { spin_unlock(&mt.lock); }
void modules_fork_child(void) { spin_reset(&mt.lock); }
