/* Unwinding x86-64 frames by the call frame information of the loaded modules, read from
 * their .eh_frame in memory.  Modules are found with the loader's lock-free
 * _dl_find_object: a stack is walked without taking any lock, the loader's included, and
 * without allocating. */
#ifndef MS_UNWIND_H
#define MS_UNWIND_H

#include <stdbool.h>
#include <stdint.h>

/* DWARF's numbering of the x86-64 registers; UNW_RA is the return address column. */
enum { UNW_RAX, UNW_RDX, UNW_RCX, UNW_RBX, UNW_RSI, UNW_RDI, UNW_RBP, UNW_RSP,
       UNW_R8, UNW_R9, UNW_R10, UNW_R11, UNW_R12, UNW_R13, UNW_R14, UNW_R15, UNW_RA,
       UNW_NREGS };

/* How to leave a frame whose CFA is rsp or rbp plus a constant, the return address just
 * below the CFA: what the stack cache can remember and check slot by slot. */
enum { RBP_SAME = 0, RBP_SAVED = 1, RBP_LOST = 2 };
struct cfi_rule {
    uint8_t ok;                /* a plain frame: the rest is meaningful */
    uint8_t cfa_reg;           /* 7: CFA = rsp + cfa_off; 6: CFA = rbp + cfa_off */
    uint8_t rbp;               /* how the caller's rbp is found: RBP_* */
    uint8_t end;               /* outermost frame: no caller */
    int32_t cfa_off;
    int32_t rbp_off;           /* RBP_SAVED: the caller's rbp is at CFA + rbp_off */
};

/* The plain rule at pc (a return address minus one), or ok 0 for a frame that is not
 * plain: no CFI, a CFA by expression or by another register, a signal frame. */
void unw_plain_rule(uintptr_t pc, struct cfi_rule *out);

/* A frame's registers: r[UNW_RA] is the address executing (or to return to). */
struct unw_regs {
    uintptr_t r[UNW_NREGS];
    uint32_t known;            /* bit i: r[i] is known */
    bool interrupted;          /* r[UNW_RA] is the exact instruction (the frame was stopped
                                  by a signal), not a return address */
};

/* The registers of the caller of the frame described by *rg; 1 on success, 0 at the
 * outermost frame, -1 when the frame cannot be unwound.  Signal frames are stepped
 * through. */
int unw_step(struct unw_regs *rg);

/* Fills rg with the registers of the function this is written in, at this point. */
#define UNW_CONTEXT(rg)                                                                    \
    do {                                                                                   \
        __asm__ volatile("lea 0(%%rip), %%rax\n\tmov %%rax, 128(%0)\n\t"                    \
                         "mov %%rbx, 24(%0)\n\tmov %%rbp, 48(%0)\n\tmov %%rsp, 56(%0)\n\t"  \
                         "mov %%r12, 96(%0)\n\tmov %%r13, 104(%0)\n\t"                      \
                         "mov %%r14, 112(%0)\n\tmov %%r15, 120(%0)"                         \
                         : : "r"((rg)->r) : "rax", "memory");                              \
        (rg)->known = 1u << UNW_RBX | 1u << UNW_RBP | 1u << UNW_RSP | 1u << UNW_R12 |      \
                      1u << UNW_R13 | 1u << UNW_R14 | 1u << UNW_R15 | 1u << UNW_RA;        \
        (rg)->interrupted = true;                                                          \
    } while (0)

/* The bounds of the function containing pc, from its FDE; false if it has none. */
bool unw_function_bounds(uintptr_t pc, uintptr_t *start, uintptr_t *end);

#endif
