/* Call stacks: captured by walking the modules' unwind tables, interned (identical stacks
 * are one record, for the process's life), and cached per thread. */
#ifndef MS_STACKS_H
#define MS_STACKS_H

#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"

struct stack_rec {
    ms_stack pub;              /* what spies see */
    uint64_t hash;
    uint32_t modgen;           /* module generation when it was first seen */
    uintptr_t frames[];
};

/* Registers the stacks' part of the thread states (at start-up). */
void stacks_init(void);
/* The stack of the current call, `fp` being the frame pointer of the entry point. */
const struct stack_rec *stack_capture(void *fp);
const struct stack_rec *stack_by_id(uint32_t id);
uint32_t stacks_count(void);
/* Captures answered from the threads' caches, and walked. */
void stack_stats(uint64_t *hits, uint64_t *misses);

/* A few bytes the layer above may keep with the call chain this thread last captured,
 * to find again when the same chain comes back (the dispatcher keeps the block's site
 * there); NULL when the last capture was not cached. */
#define STACK_MEMO_BYTES 48
void *stack_chain_memo(void);

/* After a dlclose: forgets what was known of a module that went away. */
void stacks_after_dlclose(void);
void stacks_fork_prepare(void);
void stacks_fork_parent(void);
void stacks_fork_child(void);

#endif
