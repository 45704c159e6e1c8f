/* How to step out of the frame at a given PC, read from the module's .eh_frame with
 * libdw: where the CFA is (rsp or rbp plus a constant), where rbp was saved, and whether
 * the frame is the outermost one.  The stack cache uses these rules to know which stack
 * slots decide a call chain, so that a chain recognised from its slots is exactly the
 * chain libunwind would walk.  Anything else (signal frames, CFA expressions, frames
 * without CFI) is reported as not usable and such chains are simply not cached. */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <fcntl.h>
#include <libelf.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfi.h"
#include "internal.h"
#include "modules.h"

struct pc_entry {
    uintptr_t pc;              /* 0: empty */
    struct cfi_rule rule;
};

struct cfi_module {
    int fd;
    Elf *elf;
    Dwarf_CFI *cfi;
    bool tried;
};

static struct {
    ms_lock lock;              /* everything below; never held across a lock of the table */
    struct pc_entry *pcs;
    uint32_t npcs, mask;
    struct cfi_module *mods;   /* indexed by module id */
    uint32_t nmods;
    bool elf_ok;
} cf = { .lock = MS_LOCK_INIT };

static struct cfi_module *module_cfi(const struct module *m)
{
    if (m->id >= cf.nmods) {
        uint32_t n = m->id + 64;
        struct cfi_module *nm = arena_realloc(cf.mods, cf.nmods * sizeof *nm, n * sizeof *nm);
        if (!nm)
            return NULL;
        cf.mods = nm;
        cf.nmods = n;
    }
    struct cfi_module *c = &cf.mods[m->id];
    if (!c->tried) {
        c->tried = true;
        c->fd = -1;
        if (!cf.elf_ok) {
            elf_version(EV_CURRENT);
            cf.elf_ok = true;
        }
        if (m->path && m->path[0] == '/') {
            c->fd = open(m->path, O_RDONLY | O_CLOEXEC);
            if (c->fd >= 0) {
                c->elf = elf_begin(c->fd, ELF_C_READ_MMAP, NULL);
                if (c->elf)
                    c->cfi = dwarf_getcfi_elf(c->elf);
                /* The image is mapped: the descriptor goes back to the program, which may
                 * count or close its descriptors. */
                if (c->elf)
                    elf_cntl(c->elf, ELF_C_FDDONE);
                close(c->fd);
                c->fd = -1;
            }
        }
    }
    return c->cfi ? c : NULL;
}

static bool is_cfa_plus(const Dwarf_Op *ops, size_t nops, int64_t *off)
{
    if (nops != 2 || ops[0].atom != DW_OP_call_frame_cfa)
        return false;
    if (ops[1].atom == DW_OP_plus_uconst || ops[1].atom == DW_OP_constu) {
        *off = (int64_t)ops[1].number;
        return true;
    }
    if (ops[1].atom == DW_OP_consts) {
        *off = (int64_t)ops[1].number;
        return true;
    }
    return false;
}

static void classify(const struct module *m, uintptr_t pc, struct cfi_rule *r)
{
    memset(r, 0, sizeof *r);
    struct cfi_module *c = module_cfi(m);
    if (!c)
        return;
    Dwarf_Frame *fr = NULL;
    if (dwarf_cfi_addrframe(c->cfi, pc - m->base, &fr) != 0 || !fr)
        return;
    bool signal = false;
    Dwarf_Addr start, end;
    Dwarf_Op *ops, mem[3];
    size_t nops;
    int64_t off;
    if (dwarf_frame_info(fr, &start, &end, &signal) < 0 || signal)
        goto out;
    if (dwarf_frame_cfa(fr, &ops, &nops) != 0 || nops != 1)
        goto out;
    if (ops[0].atom == DW_OP_bregx && (ops[0].number == 6 || ops[0].number == 7)) {
        r->cfa_reg = (uint8_t)ops[0].number;
        off = (int64_t)ops[0].number2;
    } else if (ops[0].atom == DW_OP_breg6 || ops[0].atom == DW_OP_breg7) {
        r->cfa_reg = ops[0].atom == DW_OP_breg6 ? 6 : 7;
        off = (int64_t)ops[0].number;
    } else {
        goto out;
    }
    if (off < INT32_MIN || off > INT32_MAX)
        goto out;
    r->cfa_off = (int32_t)off;
    /* Return address: at CFA-8 for every ordinary x86-64 frame, undefined in the
     * outermost one. */
    if (dwarf_frame_register(fr, 16, mem, &ops, &nops) != 0)
        goto out;
    if (nops == 0 && ops == mem) {
        r->end = 1;
    } else if (!is_cfa_plus(ops, nops, &off) || off != -8) {
        goto out;
    }
    if (dwarf_frame_register(fr, 6, mem, &ops, &nops) != 0)
        goto out;
    if (nops == 0 && !ops) {
        r->rbp = RBP_SAME;
    } else if (is_cfa_plus(ops, nops, &off) && off >= INT32_MIN && off <= INT32_MAX) {
        r->rbp = RBP_SAVED;
        r->rbp_off = (int32_t)off;
    } else {
        r->rbp = RBP_LOST;
    }
    r->ok = 1;
out:
    free(fr);   /* libdw allocated it with malloc: inside mallocspy, the real one */
}

static bool grow(void)
{
    uint32_t ncap = cf.mask ? (cf.mask + 1) * 2 : 4096;
    struct pc_entry *n = pages_alloc((size_t)ncap * sizeof *n);
    if (!n)
        return false;
    for (uint32_t i = 0; cf.pcs && i <= cf.mask; i++) {
        if (!cf.pcs[i].pc)
            continue;
        uint32_t j = (uint32_t)((cf.pcs[i].pc * 0x9E3779B97F4A7C15ULL) >> 32) & (ncap - 1);
        while (n[j].pc)
            j = (j + 1) & (ncap - 1);
        n[j] = cf.pcs[i];
    }
    if (cf.pcs)
        pages_free(cf.pcs, (size_t)(cf.mask + 1) * sizeof *n);
    cf.pcs = n;
    cf.mask = ncap - 1;
    return true;
}

bool cfi_rule_get(uintptr_t pc, struct cfi_rule *out)
{
    ms_lock_acquire(&cf.lock);
    if ((!cf.pcs || (cf.npcs + 1) * 2 > cf.mask + 1) && !grow()) {
        ms_lock_release(&cf.lock);
        return false;
    }
    uint32_t i = (uint32_t)((pc * 0x9E3779B97F4A7C15ULL) >> 32) & cf.mask;
    while (cf.pcs[i].pc && cf.pcs[i].pc != pc)
        i = (i + 1) & cf.mask;
    if (!cf.pcs[i].pc) {
        struct module m;
        struct cfi_rule r;
        if (module_loaded_at(pc, &m))
            classify(&m, pc, &r);
        else
            memset(&r, 0, sizeof r);
        cf.pcs[i].pc = pc;
        cf.pcs[i].rule = r;
        cf.npcs++;
    }
    *out = cf.pcs[i].rule;
    ms_lock_release(&cf.lock);
    return out->ok;
}

/* A module went away: the code at its addresses may now be another's. */
void cfi_forget(void)
{
    ms_lock_acquire(&cf.lock);
    if (cf.pcs)
        memset(cf.pcs, 0, (size_t)(cf.mask + 1) * sizeof *cf.pcs);
    cf.npcs = 0;
    ms_lock_release(&cf.lock);
}

/* In a child after fork another thread may have been inside libdw: drop what we had
 * (leaking it) rather than use state that may be half-updated. */
void cfi_fork_child(void)
{
    ms_lock_reset(&cf.lock);
    cf.mods = NULL;
    cf.nmods = 0;
    cf.pcs = NULL;
    cf.npcs = 0;
    cf.mask = 0;
}
