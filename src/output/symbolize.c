/* Names for return addresses, for one report.  The module and the offset in it are known
 * here (modules.c); everything else comes from the symbolizer process (symclient.c), asked
 * once for all the frames a report prints.  A module dlclose'd before the report still
 * gets its names: the symbolizer opens it by path (and checks its build ID). */
#include <string.h>

#include "base/diag.h"
#include "base/mem.h"
#include "base/options.h"
#include "output/symbolize.h"
#include "output/symclient.h"
#include "stacks/modules.h"
#include "stacks/stacks.h"

enum { MODE_PLAIN, MODE_COLLECT, MODE_RESOLVED };

struct sym_entry {
    uintptr_t addr;            /* 0: empty */
    uint32_t gen;
    bool wanted;
    struct symbol sym;
};

struct symbolizer {
    struct sym_entry *cache;
    uint32_t mask, used;
    int mode;
    bool named;
    unsigned late;
    char note[400];
};

struct symbolizer *symbolizer_new(void)
{
    struct symbolizer *s = arena_alloc(sizeof *s);
    if (!s)
        return NULL;
    /* Small to start, grown at half full: the table is hashed, so every entry's page is
     * touched at random, and a small process's report must not weigh more than it. */
    s->mask = 255;
    s->cache = pages_alloc((s->mask + 1) * sizeof *s->cache);
    if (!s->cache) {
        arena_free(s, sizeof *s);
        return NULL;
    }
    return s;
}

void symbolizer_collect(struct symbolizer *s)
{
    if (s)
        s->mode = MODE_COLLECT;
}

static void module_of(uintptr_t addr, uint32_t gen, struct symbol *out)
{
    memset(out, 0, sizeof *out);
    out->addr = addr;
    struct module m;
    if (!module_at(addr, gen, &m) && !module_loaded_at(addr, &m))
        return;
    out->module = m.path;
    out->build_id = m.build_id;
    out->offset = addr - m.base;
    out->module_id = m.id;
    out->has_module = true;
}

static void grow(struct symbolizer *s)
{
    uint32_t ncap = (s->mask + 1) * 2;
    struct sym_entry *n = pages_alloc(ncap * sizeof *n);
    if (!n)
        return;
    for (uint32_t i = 0; i <= s->mask; i++) {
        if (!s->cache[i].addr)
            continue;
        uint32_t j = (uint32_t)((s->cache[i].addr * 0x9E3779B97F4A7C15ULL) >> 40) & (ncap - 1);
        while (n[j].addr)
            j = (j + 1) & (ncap - 1);
        n[j] = s->cache[i];
    }
    pages_free(s->cache, (s->mask + 1) * sizeof *n);
    s->cache = n;
    s->mask = ncap - 1;
}

/* `ret` is a return address; the call that made the frame is just before it. */
const struct symbol *symbolize(struct symbolizer *s, uintptr_t ret, uint32_t gen)
{
    uintptr_t addr = ret ? ret - 1 : 0;
    if (s->used * 2 >= s->mask)
        grow(s);
    uint32_t i = (uint32_t)((addr * 0x9E3779B97F4A7C15ULL) >> 40) & s->mask;
    while (s->cache[i].addr && (s->cache[i].addr != addr || s->cache[i].gen != gen))
        i = (i + 1) & s->mask;
    struct sym_entry *e = &s->cache[i];
    if (!e->addr) {
        e->addr = addr;
        e->gen = gen;
        module_of(addr, gen, &e->sym);
        s->used++;
    }
    if (s->mode == MODE_COLLECT)
        e->wanted = true;
    return &e->sym;
}

void symbolizer_want_stack(struct symbolizer *s, const struct stack_rec *st)
{
    for (uint32_t i = 0; s && st && i < st->pub.depth; i++)
        symbolize(s, st->frames[i], st->modgen);
}

bool symbolizer_resolve(struct symbolizer *s)
{
    if (!s)
        return false;
    s->mode = MODE_RESOLVED;
    if (!options.symbolize)
        return false;          /* asked for: module+offset, named later by mallocspy-report */
    size_t n = 0;
    for (uint32_t i = 0; i <= s->mask; i++)
        if (s->cache[i].addr && s->cache[i].wanted && !s->cache[i].sym.named)
            n++;
    struct symbol **todo = n ? pages_alloc(n * sizeof *todo) : NULL;
    if (n && !todo)
        return false;
    size_t k = 0;
    for (uint32_t i = 0; i <= s->mask; i++)
        if (s->cache[i].addr && s->cache[i].wanted && !s->cache[i].sym.named)
            todo[k++] = &s->cache[i].sym;
    char why[320];
    bool ok = symclient_resolve(todo, n, why, sizeof why);
    if (todo)
        pages_free(todo, n * sizeof *todo);
    if (!ok) {
        diag_format(s->note, sizeof s->note, "frames are shown as module+offset: %s", why);
        return false;
    }
    s->named = true;
    for (uint32_t i = 0; i <= s->mask; i++)
        if (s->cache[i].addr && s->cache[i].wanted && s->cache[i].sym.late)
            s->late++;
    if (s->late)
        diag_format(s->note, sizeof s->note, "debuginfod could not name %u frame(s) within "
                  "debuginfod_timeout=%u s; they are shown as module+offset", s->late,
                  options.debuginfod_timeout);
    return true;
}

bool symbolizer_named(const struct symbolizer *s) { return s && s->named; }
const char *symbolizer_note(const struct symbolizer *s)
{
    return s && s->note[0] ? s->note : NULL;
}
unsigned symbolizer_late(const struct symbolizer *s) { return s ? s->late : 0; }

void symbolizer_free(struct symbolizer *s)
{
    if (!s)
        return;
    /* The strings stay: they are small, and a caller may still hold them. */
    pages_free(s->cache, (s->mask + 1) * sizeof *s->cache);
    arena_free(s, sizeof *s);
}
