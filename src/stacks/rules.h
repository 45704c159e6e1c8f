/* Unwind rules per PC (unwind.c), shared by the threads, for the stack cache. */
#ifndef MS_RULES_H
#define MS_RULES_H

#include <stdbool.h>
#include <stdint.h>

#include "stacks/unwind.h"

/* The plain rule at pc (a return address minus one). */
bool rule_get(uintptr_t pc, struct cfi_rule *out);
void rules_forget(void);
void rules_fork_child(void);

#endif
