/* Buffer pools (IMemAllocator): what the report needs of them. */
#ifndef MS_POOL_H
#define MS_POOL_H

#include <stddef.h>

struct stack_rec;
/* Calls fn for each buffer a program holds, with its pool's name and buffer size. */
void pools_for_each_held(void (*fn)(const char *pool, size_t bytes,
                                    const struct stack_rec *taken, void *arg),
                         void *arg);
/* Calls fn for each pool destroyed while buffers were still out. */
void pools_for_each_destroyed(void (*fn)(const void *pool, void *arg), void *arg);
void pools_fork_child(void);

#endif
