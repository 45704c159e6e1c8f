/* Unwind rules per PC, from the modules' .eh_frame (libdw), for the stack cache. */
#ifndef MS_CFI_H
#define MS_CFI_H

#include <stdbool.h>
#include <stdint.h>

enum { RBP_SAME = 0, RBP_SAVED = 1, RBP_LOST = 2 };

struct cfi_rule {
    uint8_t ok;                /* a plain frame: the rest is meaningful */
    uint8_t cfa_reg;           /* 7: CFA = rsp + cfa_off; 6: CFA = rbp + cfa_off */
    uint8_t rbp;               /* how the caller's rbp is found: RBP_* */
    uint8_t end;               /* outermost frame: no caller */
    int32_t cfa_off;
    int32_t rbp_off;           /* RBP_SAVED: the caller's rbp is at CFA + rbp_off */
};

/* The rule at pc (a return address minus one).  Modules must have been synced. */
bool cfi_rule_get(uintptr_t pc, struct cfi_rule *out);
void cfi_forget(void);
void cfi_fork_child(void);

#endif
