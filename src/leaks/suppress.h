/* Suppression files: `leak:PATTERN` lines. */
#ifndef MS_SUPPRESS_H
#define MS_SUPPRESS_H

#include <stdint.h>

#include "output/symbolize.h"

struct suppression {
    char *pattern;
    uint64_t hits, bytes;      /* blocks and bytes it suppressed in the last report */
};

struct suppressions {
    struct suppression *s;
    unsigned n;
};

/* Reads the file; a file that cannot be read gets one line on stderr and no suppression. */
struct suppressions *supp_load(const char *path);
/* The first suppression matching any frame's function, module or file, or -1. */
int supp_match(const struct suppressions *sp, const struct symbol *const *frames, unsigned n);
void supp_free(struct suppressions *sp);
/* Glob with `*`, implicit substring unless anchored with ^ or $ (as the sanitizers do). */
bool supp_pattern_match(const char *pattern, const char *text);

#endif
