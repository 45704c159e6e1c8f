/* Names for return addresses (libdw). */
#ifndef MS_SYMBOLIZE_H
#define MS_SYMBOLIZE_H

#include <stdbool.h>
#include <stdint.h>

struct symbol {
    uintptr_t addr;            /* the call instruction: return address minus one */
    const char *function;      /* demangled; NULL when unknown */
    const char *file;          /* NULL when unknown */
    int line;                  /* 0 when unknown */
    const char *module;        /* path; NULL when no module contains the address */
    uintptr_t offset;          /* addr minus the module's load bias */
    uint32_t module_id;
    bool has_module;
};

struct symbolizer;
struct symbolizer *symbolizer_new(void);
/* Resolves a return address of a stack taken in module generation `gen`; cached. */
const struct symbol *symbolize(struct symbolizer *s, uintptr_t ret, uint32_t gen);
void symbolizer_free(struct symbolizer *s);

#endif
