/* Suppression files: `leak:PATTERN` lines. */
#ifndef MS_SUPPRESS_H
#define MS_SUPPRESS_H

#include <stdint.h>

#include "output/symbolize.h"

struct suppression {
    char *pattern;
    const char *file;          /* where it was read, and its line */
    unsigned line;
    bool builtin;              /* from the default file installed with mallocspy */
    uint64_t hits, bytes;      /* blocks and bytes it suppressed in the last report */
};

struct suppressions {
    struct suppression *s;
    unsigned n;
};

/* Reads the files of `list` (separated by commas) and, with use_default, the default file
 * installed beside the library.  A file that cannot be read, a line that is no
 * suppression, a NUL byte: one warning each, naming the file (and line); the rest is used. */
struct suppressions *supp_load(const char *list, bool use_default);
/* The first suppression matching any frame's function, module or file, or -1. */
int supp_match(const struct suppressions *sp, const struct symbol *const *frames, unsigned n);
void supp_free(struct suppressions *sp);
/* Whether a frame allocates on another's behalf (malloc, operator new, a well-known
 * wrapper such as xmalloc or g_malloc, mallocspy itself, or one of `extra`'s
 * comma-separated whole-name globs: option alloc_functions). */
bool supp_alloc_frame(const char *function, const char *module, const char *extra);
/* The suppression that silences a stack's leak: "leak:^F$" for its innermost frame (the
 * functions inlined at an address included) that is no allocation frame.  False when that
 * frame has no name, or every frame allocates. */
bool supp_suggest(const struct symbol *const *frames, unsigned n, const char *extra, char *out,
                  size_t cap);
/* Glob with `*`, implicit substring unless anchored with ^ or $ (as the sanitizers do). */
bool supp_pattern_match(const char *pattern, const char *text);

#endif
