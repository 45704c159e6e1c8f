/* Names for return addresses: function (demangled), source file and line from the debug
 * information where there is some (libdw, which also finds separate debug files), and
 * always the module and the offset in it.  A module is opened from its path, so a library
 * dlclose'd before the report still gets its names. */
#include <dlfcn.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "modules.h"
#include "symbolize.h"

struct sym_module {
    uint32_t id;               /* module id */
    Dwfl *dwfl;                /* one per module: dlclose'd and live ones may overlap */
    Dwfl_Module *mod;
};

struct sym_entry {
    uintptr_t addr;            /* 0: empty */
    uint32_t gen;
    struct symbol sym;
};

struct symbolizer {
    struct sym_module *mods;
    uint32_t nmods;
    size_t capmods;
    struct sym_entry *cache;
    uint32_t mask, used;
    char *(*demangle)(const char *, char *, size_t *, int *);
};

static char *debuginfo_path;
static const Dwfl_Callbacks callbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
    .debuginfo_path = &debuginfo_path,
};

struct symbolizer *symbolizer_new(void)
{
    struct symbolizer *s = arena_alloc(sizeof *s);
    if (!s)
        return NULL;
    s->mask = 4095;
    s->cache = pages_alloc((s->mask + 1) * sizeof *s->cache);
    if (!s->cache) {
        arena_free(s, sizeof *s);
        return NULL;
    }
    s->demangle = ms_cxx.demangle;
    return s;
}

static char *keep(const char *str)
{
    if (!str)
        return NULL;
    size_t n = strlen(str) + 1;
    char *p = arena_alloc(n);
    if (p)
        memcpy(p, str, n);
    return p;
}

static char *demangled(struct symbolizer *s, const char *name)
{
    if (!name)
        return NULL;
    char *dem = NULL;
    int status = -1;
    if (s->demangle && name[0] == '_' && name[1] == 'Z')
        dem = s->demangle(name, NULL, NULL, &status);
    char *r = keep(dem && status == 0 ? dem : name);
    free(dem);   /* __cxa_demangle used malloc: inside mallocspy, the real one */
    return r;
}

/* The name a DWARF scope (a function or an inlined instance of one) goes by: the linkage
 * name demangled when there is one (C++ qualifies it), else the plain name. */
static char *scope_name(struct symbolizer *s, Dwarf_Die *die)
{
    Dwarf_Attribute attr;
    const char *n = NULL;
    if (dwarf_attr_integrate(die, DW_AT_linkage_name, &attr) ||
        dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr))
        n = dwarf_formstring(&attr);
    if (n)
        return demangled(s, n);
    if (dwarf_attr_integrate(die, DW_AT_name, &attr))
        n = dwarf_formstring(&attr);
    return keep(n);
}

/* Expands the functions inlined at `addr`: the innermost gets the address's own line,
 * each outer one the line of the call it inlined, and the real function the line of the
 * outermost inlined call. */
static void inline_chain(struct symbolizer *s, Dwfl_Module *mod, uintptr_t addr,
                         struct symbol *out)
{
    Dwarf_Addr bias = 0;
    Dwarf_Die *cu = dwfl_module_addrdie(mod, addr, &bias);
    if (!cu)
        return;
    Dwarf_Die *scopes = NULL;
    int n = dwarf_getscopes(cu, addr - bias, &scopes);
    if (n <= 0)
        return;
    /* The inlined instances, innermost first, up to the real function; lexical blocks
     * between them are only scopes of their own. */
    int idx[64], ninl = 0, outer = -1;
    for (int i = 0; i < n; i++) {
        int tag = dwarf_tag(&scopes[i]);
        if (tag == DW_TAG_inlined_subroutine && ninl < 64) {
            idx[ninl++] = i;
        } else if (tag == DW_TAG_subprogram) {
            outer = i;
            break;
        }
    }
    if (ninl) {
        struct inline_frame *f = arena_alloc((size_t)ninl * sizeof *f);
        Dwarf_Files *files = NULL;
        size_t nfiles = 0;
        dwarf_getsrcfiles(cu, &files, &nfiles);
        const char *file = out->file;
        int line = out->line;
        for (int k = 0; f && k < ninl; k++) {
            Dwarf_Die *sc = &scopes[idx[k]];
            f[k].function = scope_name(s, sc);
            f[k].file = file;
            f[k].line = line;
            /* Where it was inlined: a place in the next function out. */
            Dwarf_Attribute attr;
            Dwarf_Word w;
            file = NULL;
            line = 0;
            if (dwarf_attr(sc, DW_AT_call_file, &attr) && dwarf_formudata(&attr, &w) == 0 &&
                files && w < nfiles)
                file = keep(dwarf_filesrc(files, w, NULL, NULL));
            if (dwarf_attr(sc, DW_AT_call_line, &attr) && dwarf_formudata(&attr, &w) == 0)
                line = (int)w;
        }
        if (f) {
            out->inl = f;
            out->ninline = (unsigned)ninl;
            out->file = file;
            out->line = line;
            if (outer >= 0 && !out->function)
                out->function = scope_name(s, &scopes[outer]);
        }
    }
    free(scopes);   /* libdw's malloc: inside mallocspy, the real one */
}

static Dwfl_Module *module_dwfl(struct symbolizer *s, const struct module *m)
{
    for (uint32_t i = 0; i < s->nmods; i++)
        if (s->mods[i].id == m->id)
            return s->mods[i].mod;
    if (!arena_reserve(&s->mods, s->nmods, &s->capmods, sizeof *s->mods, 16))
        return NULL;
    struct sym_module *sm = &s->mods[s->nmods++];
    sm->id = m->id;
    sm->dwfl = NULL;
    sm->mod = NULL;
    if (!m->path || m->path[0] != '/')
        return NULL;   /* the vdso and the like: module and offset only */
    sm->dwfl = dwfl_begin(&callbacks);
    if (!sm->dwfl)
        return NULL;
    dwfl_report_begin(sm->dwfl);
    sm->mod = dwfl_report_elf(sm->dwfl, m->path, m->path, -1, m->base, false);
    dwfl_report_end(sm->dwfl, NULL, NULL);
    return sm->mod;
}

static void resolve(struct symbolizer *s, uintptr_t addr, uint32_t gen, struct symbol *out)
{
    memset(out, 0, sizeof *out);
    out->addr = addr;
    struct module m;
    if (!module_at(addr, gen, &m) && !module_loaded_at(addr, &m))
        return;
    out->module = m.path;
    out->offset = addr - m.base;
    out->module_id = m.id;
    out->has_module = true;
    Dwfl_Module *mod = module_dwfl(s, &m);
    if (!mod)
        return;
    GElf_Off off;
    GElf_Sym sym;
    const char *name = dwfl_module_addrinfo(mod, addr, &off, &sym, NULL, NULL, NULL);
    if (name)
        out->function = demangled(s, name);
    Dwfl_Line *line = dwfl_module_getsrc(mod, addr);
    if (line) {
        int lineno = 0;
        const char *file = dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL);
        if (file && lineno > 0) {
            out->file = keep(file);
            out->line = lineno;
        }
    }
    inline_chain(s, mod, addr, out);
}

/* `addr` is a return address; the call that made the frame is just before it. */
const struct symbol *symbolize(struct symbolizer *s, uintptr_t ret, uint32_t gen)
{
    uintptr_t addr = ret ? ret - 1 : 0;
    if (s->used * 2 >= s->mask) {
        /* Grow: the reports need at most one entry per distinct frame. */
        uint32_t ncap = (s->mask + 1) * 2;
        struct sym_entry *n = pages_alloc(ncap * sizeof *n);
        if (n) {
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
    }
    uint32_t i = (uint32_t)((addr * 0x9E3779B97F4A7C15ULL) >> 40) & s->mask;
    while (s->cache[i].addr && (s->cache[i].addr != addr || s->cache[i].gen != gen))
        i = (i + 1) & s->mask;
    if (!s->cache[i].addr) {
        s->cache[i].addr = addr;
        s->cache[i].gen = gen;
        resolve(s, addr, gen, &s->cache[i].sym);
        s->used++;
    }
    return &s->cache[i].sym;
}

void symbolizer_free(struct symbolizer *s)
{
    if (!s)
        return;
    for (uint32_t i = 0; i < s->nmods; i++)
        if (s->mods[i].dwfl)
            dwfl_end(s->mods[i].dwfl);
    /* The strings stay: they are small, and a caller may still hold them. */
    arena_free(s->mods, s->capmods * sizeof *s->mods);
    pages_free(s->cache, (s->mask + 1) * sizeof *s->cache);
    arena_free(s, sizeof *s);
}
