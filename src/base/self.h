/* Where mallocspy's own file is: the symbolizer and the default suppressions are found
 * beside it. */
#ifndef MS_SELF_H
#define MS_SELF_H

#include <stdbool.h>
#include <stddef.h>

/* The directory of the file this code was loaded from, without a trailing slash; false if
 * it cannot be told.  Read from /proc/self/maps (dladdr would take the loader's lock). */
bool self_dir(char *out, size_t cap);

#endif
