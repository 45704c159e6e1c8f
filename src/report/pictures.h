/* Folded stacks and flame graphs, from stacks and their weights. */
#ifndef MS_PICTURES_H
#define MS_PICTURES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct symbolizer;
struct stack_rec;

/* One stack and what it weighs. */
struct fg_item {
    const struct stack_rec *stack;
    uint64_t weight;           /* what the graph's widths measure */
    uint64_t blocks, bytes;    /* shown beside it */
};

struct fg_info {
    const char *title, *subtitle;
    const char *weight;        /* "leaked", "allocated"... */
    const char *unit;          /* "bytes" or "allocations" */
    const char *blocks_word;   /* what `blocks` counts: "blocks", "allocations" */
};

/* Each writes the file named by pattern (%p: the pid); false, with a warning, if it
 * cannot. */
bool folded_write(const char *pattern, struct symbolizer *sym, const struct fg_item *it,
                  size_t n);
bool flamegraph_write(const char *pattern, struct symbolizer *sym, const struct fg_item *it,
                      size_t n, const struct fg_info *info);

#endif
