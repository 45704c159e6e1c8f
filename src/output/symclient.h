/* The symbolizer process: names for return addresses are found outside the program, by
 * mallocspy-symbolizer, over a socket. */
#ifndef MS_SYMCLIENT_H
#define MS_SYMCLIENT_H

#include <stdbool.h>
#include <stddef.h>

struct symbol;
/* Fills in the names of the n symbols (whose module, module_id, build_id and offset are
 * set).  Each either gets its names or stays as it was (module+offset only).  Returns
 * false when the symbolizer could not be used at all or stopped answering, with the reason
 * in why (the caller says it once); true when it answered, even if it knew nothing. */
bool symclient_resolve(struct symbol *const *s, size_t n, char *why, size_t cap);
void symclient_fork_child(void);

#endif
