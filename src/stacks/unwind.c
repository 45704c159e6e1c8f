/* Call frame information, read where the loader mapped it.  _dl_find_object gives, for an
 * address, its module's .eh_frame_hdr: a sorted table of the functions' FDEs.  An FDE and
 * its CIE hold the DWARF call frame program, run here up to the address to learn where the
 * caller's registers are.  Nothing is opened, nothing allocated, no lock taken: the loader's
 * own lock included, which a thread inside dlopen or a dl_iterate_phdr callback may hold
 * while it waits for us.
 *
 * Only what x86-64 code uses is understood: CFA = register + offset or a simple
 * expression, registers saved at CFA + n, in other registers or by simple expressions, and
 * glibc's signal trampoline.  Anything else ends the walk there. */
#include <dlfcn.h>
#include <signal.h>
#include <string.h>
#include <ucontext.h>

#include "base/base.h"
#include "stacks/unwind.h"

/* Pointer encodings (DW_EH_PE_*). */
enum { PE_ABS = 0x00, PE_ULEB = 0x01, PE_U2 = 0x02, PE_U4 = 0x03, PE_U8 = 0x04,
       PE_SLEB = 0x09, PE_S2 = 0x0a, PE_S4 = 0x0b, PE_S8 = 0x0c, PE_PCREL = 0x10,
       PE_DATAREL = 0x30, PE_INDIRECT = 0x80, PE_OMIT = 0xff };

struct reader {
    const uint8_t *p, *end;
    bool bad;
};

static uint64_t uleb(struct reader *r)
{
    uint64_t v = 0;
    for (unsigned shift = 0; r->p < r->end; shift += 7) {
        uint8_t b = *r->p++;
        if (shift < 64)
            v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    r->bad = true;
    return 0;
}

static int64_t sleb(struct reader *r)
{
    int64_t v = 0;
    unsigned shift = 0;
    uint8_t b = 0;
    while (r->p < r->end) {
        b = *r->p++;
        if (shift < 64)
            v |= (int64_t)((uint64_t)(b & 0x7f) << shift);
        shift += 7;
        if (!(b & 0x80)) {
            if (shift < 64 && (b & 0x40))
                v |= -((int64_t)1 << shift);
            return v;
        }
    }
    r->bad = true;
    return 0;
}

static uint64_t fixed(struct reader *r, unsigned n)
{
    if ((size_t)(r->end - r->p) < n) {
        r->bad = true;
        return 0;
    }
    uint64_t v = 0;
    memcpy(&v, r->p, n);
    r->p += n;
    return v;
}

static uintptr_t encoded(struct reader *r, uint8_t enc, uintptr_t datarel)
{
    if (enc == PE_OMIT)
        return 0;
    uintptr_t at = (uintptr_t)r->p;
    uintptr_t v;
    switch (enc & 0x0f) {
    case PE_ABS: case PE_U8: case PE_S8: v = (uintptr_t)fixed(r, 8); break;
    case PE_ULEB: v = (uintptr_t)uleb(r); break;
    case PE_U2: v = (uintptr_t)(uint16_t)fixed(r, 2); break;
    case PE_U4: v = (uintptr_t)(uint32_t)fixed(r, 4); break;
    case PE_SLEB: v = (uintptr_t)sleb(r); break;
    case PE_S2: v = (uintptr_t)(intptr_t)(int16_t)fixed(r, 2); break;
    case PE_S4: v = (uintptr_t)(intptr_t)(int32_t)fixed(r, 4); break;
    default: r->bad = true; return 0;
    }
    switch (enc & 0x70) {
    case 0: break;
    case PE_PCREL: v += at; break;
    case PE_DATAREL: v += datarel; break;
    default: r->bad = true; return 0;
    }
    if ((enc & PE_INDIRECT) && !r->bad && v)
        v = *(const uintptr_t *)v;
    return v;
}

/* ---- finding the FDE ----------------------------------------------------------------- */

struct fde {
    uintptr_t start, end;              /* the function */
    const uint8_t *cie_insns, *cie_end, *insns, *fde_end;
    uint64_t code_align;
    int64_t data_align;
    unsigned ra;
    bool signal;                       /* 'S': a signal frame's FDE */
};

/* The length-prefixed entry at p: its contents in *r (after the length). */
static bool entry(const uint8_t *p, struct reader *r)
{
    uint32_t len32;
    memcpy(&len32, p, 4);
    if (len32 == 0 || len32 == 0xffffffffu)
        return false;                  /* the terminator, or 64-bit DWARF (unused here) */
    r->p = p + 4;
    r->end = p + 4 + len32;
    r->bad = false;
    return true;
}

static bool parse_cie(const uint8_t *cie, struct fde *f, uint8_t *fde_enc, bool *zaug,
                      uintptr_t datarel)
{
    struct reader r;
    if (!entry(cie, &r) || fixed(&r, 4) != 0)
        return false;
    uint8_t version = (uint8_t)fixed(&r, 1);
    if (version != 1 && version != 3)
        return false;
    const char *aug = (const char *)r.p;
    size_t alen = strnlen(aug, (size_t)(r.end - r.p));
    r.p += alen + 1;
    if (aug[0] && aug[0] != 'z')
        return false;                  /* an augmentation we cannot skip */
    f->code_align = uleb(&r);
    f->data_align = sleb(&r);
    f->ra = version == 1 ? (unsigned)fixed(&r, 1) : (unsigned)uleb(&r);
    *fde_enc = PE_ABS;
    *zaug = aug[0] == 'z';
    f->signal = false;
    if (*zaug) {
        uint64_t len = uleb(&r);
        const uint8_t *aug_end = r.p + len;
        for (const char *a = aug + 1; *a && !r.bad; a++) {
            if (*a == 'R') {
                *fde_enc = (uint8_t)fixed(&r, 1);
            } else if (*a == 'P') {
                uint8_t enc = (uint8_t)fixed(&r, 1);
                encoded(&r, enc & 0x7f, datarel);   /* the personality: not needed */
            } else if (*a == 'L') {
                fixed(&r, 1);
            } else if (*a == 'S') {
                f->signal = true;
            } else if (*a != 'B') {
                break;                 /* unknown: the length lets us skip the rest */
            }
        }
        r.p = aug_end;
    }
    if (r.bad || r.p > r.end || f->ra >= UNW_NREGS)
        return false;
    f->cie_insns = r.p;
    f->cie_end = r.end;
    return true;
}

static bool parse_fde(const uint8_t *p, uintptr_t pc, struct fde *f, uintptr_t datarel)
{
    struct reader r;
    if (!entry(p, &r))
        return false;
    const uint8_t *idp = r.p;
    uint32_t cie_off = (uint32_t)fixed(&r, 4);
    if (!cie_off)
        return false;                  /* a CIE, not an FDE */
    uint8_t enc;
    bool zaug;
    if (!parse_cie(idp - cie_off, f, &enc, &zaug, datarel))
        return false;
    f->start = encoded(&r, enc, datarel);
    f->end = f->start + encoded(&r, enc & 0x0f, datarel);
    if (zaug) {
        uint64_t len = uleb(&r);
        r.p += len;
    }
    if (r.bad || r.p > r.end || pc < f->start || pc >= f->end)
        return false;
    f->insns = r.p;
    f->fde_end = r.end;
    return true;
}

static bool find_fde(uintptr_t pc, struct fde *f)
{
    struct dl_find_object o;
    if (_dl_find_object((void *)pc, &o) != 0 || !o.dlfo_eh_frame)
        return false;
    const uint8_t *hdr = o.dlfo_eh_frame;
    uintptr_t datarel = (uintptr_t)hdr;
    if (hdr[0] != 1)
        return false;
    uint8_t ptr_enc = hdr[1], count_enc = hdr[2], table_enc = hdr[3];
    struct reader r = { hdr + 4, hdr + 4 + 64, false };
    encoded(&r, ptr_enc, datarel);
    uintptr_t count = encoded(&r, count_enc, datarel);
    /* Every linker writes the table as pairs of 32-bit offsets from the header. */
    if (r.bad || table_enc != (PE_DATAREL | PE_S4) || !count)
        return false;
    const int32_t *t = (const int32_t *)r.p;
    size_t lo = 0, hi = count;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (datarel + (intptr_t)t[2 * mid] <= pc)
            lo = mid;
        else
            hi = mid;
    }
    if (datarel + (intptr_t)t[2 * lo] > pc)
        return false;
    return parse_fde((const uint8_t *)(datarel + (intptr_t)t[2 * lo + 1]), pc, f, datarel);
}

bool unw_function_bounds(uintptr_t pc, uintptr_t *start, uintptr_t *end)
{
    struct fde f;
    if (!find_fde(pc, &f))
        return false;
    *start = f.start;
    *end = f.end;
    return true;
}

/* ---- running the frame program --------------------------------------------------------- */

enum { RULE_SAME, RULE_UNDEF, RULE_OFFSET, RULE_VAL_OFFSET, RULE_REG, RULE_EXPR,
       RULE_VAL_EXPR };

struct rule {
    uint8_t how;
    uint8_t reg;                       /* RULE_REG */
    int64_t off;
    const uint8_t *expr;               /* RULE_*EXPR: length-prefixed... decoded */
    uint64_t exprlen;
};

struct row {
    bool cfa_expr;
    uint8_t cfa_reg;
    int64_t cfa_off;
    const uint8_t *cfa_e;
    uint64_t cfa_elen;
    struct rule reg[UNW_NREGS];
};

#define STATE_STACK 8

/* Runs instructions from `p` to `end` while the location stays at or before pc. */
static bool run(struct row *row, const struct row *initial, const struct fde *f,
                const uint8_t *p, const uint8_t *end, uintptr_t pc, uintptr_t *loc,
                struct row *saved, unsigned *nsaved)
{
    struct reader r = { p, end, false };
    while (r.p < r.end && !r.bad) {
        uint8_t op = *r.p++;
        uint8_t hi = op & 0xc0, low = op & 0x3f;
        uint64_t reg, delta = 0;
        if (hi == 0x40) {                              /* advance_loc */
            delta = low * f->code_align;
        } else if (hi == 0x80) {                       /* offset */
            reg = low;
            int64_t off = (int64_t)uleb(&r) * f->data_align;
            if (reg < UNW_NREGS)
                row->reg[reg] = (struct rule){ .how = RULE_OFFSET, .off = off };
            continue;
        } else if (hi == 0xc0) {                       /* restore */
            if (low < UNW_NREGS && initial)
                row->reg[low] = initial->reg[low];
            continue;
        } else {
            switch (op) {
            case 0x00: continue;                                      /* nop */
            case 0x01: {                                              /* set_loc */
                uintptr_t to = (uintptr_t)fixed(&r, 8);
                if (to > pc)
                    return true;
                *loc = to;
                continue;
            }
            case 0x02: delta = fixed(&r, 1) * f->code_align; break;   /* advance_loc1 */
            case 0x03: delta = fixed(&r, 2) * f->code_align; break;   /* advance_loc2 */
            case 0x04: delta = fixed(&r, 4) * f->code_align; break;   /* advance_loc4 */
            case 0x05: case 0x11: case 0x14: case 0x15: {  /* offset_extended(_sf), val_offset(_sf) */
                reg = uleb(&r);
                int64_t off = (op == 0x05 || op == 0x14) ? (int64_t)uleb(&r) * f->data_align
                                                         : sleb(&r) * f->data_align;
                if (reg < UNW_NREGS)
                    row->reg[reg] = (struct rule){ .how = op >= 0x14 ? RULE_VAL_OFFSET
                                                                     : RULE_OFFSET,
                                                   .off = off };
                continue;
            }
            case 0x2f: {                                              /* GNU_negative_offset_extended */
                reg = uleb(&r);
                int64_t off = -(int64_t)uleb(&r) * f->data_align;
                if (reg < UNW_NREGS)
                    row->reg[reg] = (struct rule){ .how = RULE_OFFSET, .off = off };
                continue;
            }
            case 0x06:                                                /* restore_extended */
                reg = uleb(&r);
                if (reg < UNW_NREGS && initial)
                    row->reg[reg] = initial->reg[reg];
                continue;
            case 0x07: case 0x08:                                     /* undefined, same_value */
                reg = uleb(&r);
                if (reg < UNW_NREGS)
                    row->reg[reg] = (struct rule){ .how = op == 0x07 ? RULE_UNDEF : RULE_SAME };
                continue;
            case 0x09: {                                              /* register */
                reg = uleb(&r);
                uint64_t from = uleb(&r);
                if (reg < UNW_NREGS)
                    row->reg[reg] = (struct rule){ .how = RULE_REG, .reg = (uint8_t)from };
                if (from >= UNW_NREGS)
                    return false;
                continue;
            }
            case 0x0a:                                                /* remember_state */
                if (*nsaved == STATE_STACK)
                    return false;
                saved[(*nsaved)++] = *row;
                continue;
            case 0x0b:                                                /* restore_state */
                if (!*nsaved)
                    return false;
                *row = saved[--*nsaved];
                continue;
            case 0x0c: case 0x12:                                     /* def_cfa(_sf) */
                row->cfa_expr = false;
                row->cfa_reg = (uint8_t)uleb(&r);
                row->cfa_off = op == 0x0c ? (int64_t)uleb(&r) : sleb(&r) * f->data_align;
                continue;
            case 0x0d:                                                /* def_cfa_register */
                row->cfa_expr = false;
                row->cfa_reg = (uint8_t)uleb(&r);
                continue;
            case 0x0e:                                                /* def_cfa_offset */
                row->cfa_off = (int64_t)uleb(&r);
                continue;
            case 0x13:                                                /* def_cfa_offset_sf */
                row->cfa_off = sleb(&r) * f->data_align;
                continue;
            case 0x0f: {                                              /* def_cfa_expression */
                uint64_t len = uleb(&r);
                row->cfa_expr = true;
                row->cfa_e = r.p;
                row->cfa_elen = len;
                r.p += len;
                continue;
            }
            case 0x10: case 0x16: {                                   /* (val_)expression */
                reg = uleb(&r);
                uint64_t len = uleb(&r);
                if (reg < UNW_NREGS)
                    row->reg[reg] = (struct rule){ .how = op == 0x10 ? RULE_EXPR : RULE_VAL_EXPR,
                                                   .expr = r.p, .exprlen = len };
                r.p += len;
                continue;
            }
            case 0x2e:                                                /* GNU_args_size */
                uleb(&r);
                continue;
            default:
                return false;
            }
        }
        if (*loc + delta > pc)
            return true;
        *loc += delta;
    }
    return !r.bad;
}

/* The row that applies at pc. */
static bool row_at(uintptr_t pc, struct row *row, struct fde *f)
{
    if (!find_fde(pc, f))
        return false;
    memset(row, 0, sizeof *row);
    for (unsigned i = 0; i < UNW_NREGS; i++)
        row->reg[i].how = RULE_SAME;
    struct row saved[STATE_STACK];
    unsigned nsaved = 0;
    uintptr_t loc = f->start;
    if (!run(row, NULL, f, f->cie_insns, f->cie_end, UINTPTR_MAX, &loc, saved, &nsaved))
        return false;
    struct row initial = *row;
    loc = f->start;
    return run(row, &initial, f, f->insns, f->fde_end, pc, &loc, saved, &nsaved);
}

/* glibc's __restore_rt: "mov $15, %rax; syscall" (rt_sigreturn).  A signal handler returns
 * there, and the interrupted context lies on the stack. */
static bool is_sigreturn(uintptr_t pc)
{
    static const uint8_t code[] = { 0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05 };
    struct dl_find_object o;
    return _dl_find_object((void *)pc, &o) == 0 &&
           (uintptr_t)o.dlfo_map_end - pc >= sizeof code && !memcmp((void *)pc, code, sizeof code);
}

void unw_plain_rule(uintptr_t pc, struct cfi_rule *out)
{
    memset(out, 0, sizeof *out);
    struct row row;
    struct fde f;
    if (is_sigreturn(pc + 1) || !row_at(pc, &row, &f) || f.signal || row.cfa_expr ||
        (row.cfa_reg != UNW_RSP && row.cfa_reg != UNW_RBP) || row.cfa_off < INT32_MIN ||
        row.cfa_off > INT32_MAX)
        return;
    out->cfa_reg = row.cfa_reg;
    out->cfa_off = (int32_t)row.cfa_off;
    const struct rule *ra = &row.reg[f.ra];
    if (ra->how == RULE_UNDEF)
        out->end = 1;
    else if (ra->how != RULE_OFFSET || ra->off != -8 || f.ra != UNW_RA)
        return;
    const struct rule *bp = &row.reg[UNW_RBP];
    if (bp->how == RULE_SAME) {
        out->rbp = RBP_SAME;
    } else if (bp->how == RULE_OFFSET && bp->off >= INT32_MIN && bp->off <= INT32_MAX) {
        out->rbp = RBP_SAVED;
        out->rbp_off = (int32_t)bp->off;
    } else {
        out->rbp = RBP_LOST;
    }
    out->ok = 1;
}

/* ---- the general step -------------------------------------------------------------------- */

/* A DWARF expression of the kinds CFI uses (registers plus constants, dereferences); the
 * value it leaves, pushed with `push` first when it is a register rule's. */
static bool eval(const uint8_t *e, uint64_t len, const struct unw_regs *rg, bool push,
                 uintptr_t initial, uintptr_t *out)
{
    uintptr_t st[16];
    unsigned n = 0;
    if (push)
        st[n++] = initial;
    struct reader r = { e, e + len, false };
    while (r.p < r.end && !r.bad) {
        uint8_t op = *r.p++;
        uintptr_t v;
        if (op >= 0x70 && op <= 0x8f) {                               /* breg0..31 */
            unsigned reg = op - 0x70;
            int64_t off = sleb(&r);
            if (reg >= UNW_NREGS || !(rg->known & (1u << reg)))
                return false;
            v = rg->r[reg] + (uintptr_t)off;
        } else if (op >= 0x30 && op <= 0x4f) {                        /* lit0..31 */
            v = op - 0x30;
        } else {
            switch (op) {
            case 0x92: {                                              /* bregx */
                uint64_t reg = uleb(&r);
                int64_t off = sleb(&r);
                if (reg >= UNW_NREGS || !(rg->known & (1u << reg)))
                    return false;
                v = rg->r[reg] + (uintptr_t)off;
                break;
            }
            case 0x08: v = (uintptr_t)fixed(&r, 1); break;            /* const1u */
            case 0x09: v = (uintptr_t)(int8_t)fixed(&r, 1); break;    /* const1s */
            case 0x0a: v = (uintptr_t)fixed(&r, 2); break;            /* const2u */
            case 0x0b: v = (uintptr_t)(int16_t)fixed(&r, 2); break;   /* const2s */
            case 0x0c: v = (uintptr_t)fixed(&r, 4); break;            /* const4u */
            case 0x0d: v = (uintptr_t)(int32_t)fixed(&r, 4); break;   /* const4s */
            case 0x0e: case 0x0f: v = (uintptr_t)fixed(&r, 8); break; /* const8u/s */
            case 0x10: v = (uintptr_t)uleb(&r); break;                /* constu */
            case 0x11: v = (uintptr_t)sleb(&r); break;                /* consts */
            case 0x06:                                                /* deref */
                if (!n || !st[n - 1])
                    return false;
                st[n - 1] = *(const uintptr_t *)st[n - 1];
                continue;
            case 0x12:                                                /* dup */
                if (!n)
                    return false;
                v = st[n - 1];
                break;
            case 0x23:                                                /* plus_uconst */
                if (!n)
                    return false;
                st[n - 1] += (uintptr_t)uleb(&r);
                continue;
            case 0x1a: case 0x1c: case 0x22: case 0x21: case 0x1e: {  /* and minus plus or mul */
                if (n < 2)
                    return false;
                uintptr_t b = st[--n], a = st[n - 1];
                st[n - 1] = op == 0x1a ? (a & b) : op == 0x1c ? a - b : op == 0x22 ? a + b
                          : op == 0x21 ? (a | b) : a * b;
                continue;
            }
            default:
                return false;
            }
        }
        if (n == 16)
            return false;
        st[n++] = v;
    }
    if (r.bad || !n)
        return false;
    *out = st[n - 1];
    return true;
}

int unw_step(struct unw_regs *rg)
{
    if (!(rg->known & (1u << UNW_RA)) || !(rg->known & (1u << UNW_RSP)))
        return -1;
    uintptr_t pc = rg->r[UNW_RA];
    struct unw_regs out = { .known = 0 };
    if (!rg->interrupted && is_sigreturn(pc)) {
        /* The handler returned here: the interrupted context is at the stack pointer. */
        const ucontext_t *uc = (const ucontext_t *)rg->r[UNW_RSP];
        const greg_t *g = uc->uc_mcontext.gregs;
        static const int map[UNW_NREGS] = {
            REG_RAX, REG_RDX, REG_RCX, REG_RBX, REG_RSI, REG_RDI, REG_RBP, REG_RSP,
            REG_R8, REG_R9, REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15, REG_RIP,
        };
        for (unsigned i = 0; i < UNW_NREGS; i++)
            out.r[i] = (uintptr_t)g[map[i]];
        out.known = (1u << UNW_NREGS) - 1;
        out.interrupted = true;
        *rg = out;
        return out.r[UNW_RA] ? 1 : 0;
    }
    struct row row;
    struct fde f;
    if (!row_at(rg->interrupted ? pc : pc - 1, &row, &f))
        return -1;
    uintptr_t cfa;
    if (row.cfa_expr) {
        if (!eval(row.cfa_e, row.cfa_elen, rg, false, 0, &cfa))
            return -1;
    } else {
        if (row.cfa_reg >= UNW_NREGS || !(rg->known & (1u << row.cfa_reg)))
            return -1;
        cfa = rg->r[row.cfa_reg] + (uintptr_t)row.cfa_off;
    }
    if (cfa <= rg->r[UNW_RSP] && !rg->interrupted)
        return -1;
    for (unsigned i = 0; i < UNW_NREGS; i++) {
        const struct rule *ru = &row.reg[i];
        uintptr_t v = 0, a;
        switch (ru->how) {
        case RULE_SAME:
            if (!(rg->known & (1u << i)) || i == UNW_RA)
                continue;
            v = rg->r[i];
            break;
        case RULE_UNDEF:
            continue;
        case RULE_OFFSET:
            v = *(const uintptr_t *)(cfa + (uintptr_t)ru->off);
            break;
        case RULE_VAL_OFFSET:
            v = cfa + (uintptr_t)ru->off;
            break;
        case RULE_REG:
            if (!(rg->known & (1u << ru->reg)))
                continue;
            v = rg->r[ru->reg];
            break;
        case RULE_EXPR:
            if (!eval(ru->expr, ru->exprlen, rg, true, cfa, &a))
                continue;
            v = *(const uintptr_t *)a;
            break;
        case RULE_VAL_EXPR:
            if (!eval(ru->expr, ru->exprlen, rg, true, cfa, &v))
                continue;
            break;
        }
        out.r[i] = v;
        out.known |= 1u << i;
    }
    if (f.ra != UNW_RA) {
        if (!(out.known & (1u << f.ra)))
            return 0;
        out.r[UNW_RA] = out.r[f.ra];
        out.known |= 1u << UNW_RA;
    }
    if (!(out.known & (1u << UNW_RA)) || !out.r[UNW_RA])
        return 0;                      /* undefined return address: the outermost frame */
    out.r[UNW_RSP] = cfa;
    out.known |= 1u << UNW_RSP;
    out.interrupted = f.signal;
    *rg = out;
    return 1;
}
