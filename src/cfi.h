/* Unwind rules per PC (unwind.c), shared by the threads, for the stack cache. */
#ifndef MS_CFI_H
#define MS_CFI_H

#include <stdbool.h>
#include <stdint.h>

#include "unwind.h"

/* The plain rule at pc (a return address minus one). */
bool cfi_rule_get(uintptr_t pc, struct cfi_rule *out);
void cfi_forget(void);
void cfi_fork_child(void);

#endif
