/* Shell patterns (fnmatch(3) without flags: '*', '?', '[...]', '\'), matched without
 * allocating and without the locale: children_skip names programs by them. */
#ifndef MS_PATTERN_H
#define MS_PATTERN_H

#include <stdbool.h>
#include <stddef.h>

/* Whether the `len` bytes at pat match all of `s`.  '*' and '?' match '/' too, as a
 * shell's case statement does. */
bool pattern_match(const char *pat, size_t len, const char *s);
/* Whether any pattern of the comma-separated `list` matches `path` or `name` (either may
 * be NULL).  Empty patterns match nothing. */
bool pattern_list_match(const char *list, const char *path, const char *name);

#endif
