/* Names for return addresses (libdw). */
#ifndef MS_SYMBOLIZE_H
#define MS_SYMBOLIZE_H

#include <stdbool.h>
#include <stdint.h>

/* A function inlined at the address, with the place in it the address is at. */
struct inline_frame {
    const char *function;
    const char *file;
    int line;
};

struct symbol {
    uintptr_t addr;            /* the call instruction: return address minus one */
    const char *function;      /* the real (outermost) function, demangled; NULL: unknown */
    const char *file;          /* where in it: the call to the first inlined function, or */
    int line;                  /* the address itself; NULL / 0 when unknown */
    unsigned ninline;          /* functions inlined at this address, innermost first: */
    const struct inline_frame *inl;   /* shown before the real function */
    const char *module;        /* path; NULL when no module contains the address */
    uintptr_t offset;          /* addr minus the module's load bias */
    uint32_t module_id;
    bool has_module;
};

/* Frame j of the address, 0 <= j <= ninline, innermost first: the functions inlined there,
 * then the real function. */
static inline void symbol_frame(const struct symbol *s, unsigned j, const char **function,
                                const char **file, int *line)
{
    bool inl = j < s->ninline;
    *function = inl ? s->inl[j].function : s->function;
    *file = inl ? s->inl[j].file : s->file;
    *line = inl ? s->inl[j].line : s->line;
}

struct symbolizer;
struct symbolizer *symbolizer_new(void);
/* Resolves a return address of a stack taken in module generation `gen`; cached. */
const struct symbol *symbolize(struct symbolizer *s, uintptr_t ret, uint32_t gen);
void symbolizer_free(struct symbolizer *s);

#endif
