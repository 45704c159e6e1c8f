/* The plain unwind rules of the return addresses seen so far, shared by all threads: a rule
 * is read from the module's .eh_frame once (unwind.c), then found here.  Each thread keeps
 * its own memo in front of this table (stack.c). */
#include <string.h>

#include "base/lock.h"
#include "base/mem.h"
#include "stacks/rules.h"

struct pc_entry {
    uintptr_t pc;              /* 0: empty */
    struct cfi_rule rule;
};

static struct {
    spinlock lock;              /* everything below; nothing else is taken under it */
    struct pc_entry *pcs;
    uint32_t npcs, mask;
} cf = { .lock = SPIN_INIT };

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

bool rule_get(uintptr_t pc, struct cfi_rule *out)
{
    spin_lock(&cf.lock);
    if ((!cf.pcs || (cf.npcs + 1) * 2 > cf.mask + 1) && !grow()) {
        spin_unlock(&cf.lock);
        unw_plain_rule(pc, out);
        return out->ok;
    }
    uint32_t i = (uint32_t)((pc * 0x9E3779B97F4A7C15ULL) >> 32) & cf.mask;
    while (cf.pcs[i].pc && cf.pcs[i].pc != pc)
        i = (i + 1) & cf.mask;
    if (!cf.pcs[i].pc) {
        unw_plain_rule(pc, &cf.pcs[i].rule);
        cf.pcs[i].pc = pc;
        cf.npcs++;
    }
    *out = cf.pcs[i].rule;
    spin_unlock(&cf.lock);
    return out->ok;
}

/* A module went away: the code at its addresses may now be another's. */
void rules_forget(void)
{
    spin_lock(&cf.lock);
    if (cf.pcs)
        memset(cf.pcs, 0, (size_t)(cf.mask + 1) * sizeof *cf.pcs);
    cf.npcs = 0;
    spin_unlock(&cf.lock);
}

void rules_fork_child(void) { spin_reset(&cf.lock); }
