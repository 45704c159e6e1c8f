/* Names for return addresses, for one report: module and offset at once, and the names
 * (function, file, line, inlined functions) from the symbolizer process for the frames the
 * report will print. */
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
    const char *build_id;      /* the module's, hex; NULL if it has none */
    uintptr_t offset;          /* addr minus the module's load bias */
    uint32_t module_id;
    bool has_module;
    bool named;                /* the symbolizer answered for it */
    bool late;                 /* debuginfod ran out of time before it could */
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

/* A report's symbolizer starts out giving module and offset only.  Between
 * symbolizer_collect and symbolizer_resolve it remembers every address asked for; resolve
 * then has the symbolizer process name them all at once, and later lookups of those give
 * the names.  So a report is written twice: once into nothing, to learn what it prints,
 * and once for real; only what is printed is named, and nothing when nothing is. */
struct symbolizer;
struct symbolizer *symbolizer_new(void);
void symbolizer_collect(struct symbolizer *s);
/* False when names could not be had (options say symbolize=0, or the process failed):
 * the reason is then in symbolizer_note, said once on the log. */
bool symbolizer_resolve(struct symbolizer *s);
/* Whether the names were asked for and found; why not, NULL if nothing to say. */
bool symbolizer_named(const struct symbolizer *s);
const char *symbolizer_note(const struct symbolizer *s);
/* Frames debuginfod could not name in time. */
unsigned symbolizer_late(const struct symbolizer *s);
/* Resolves a return address of a stack taken in module generation `gen`; cached. */
const struct symbol *symbolize(struct symbolizer *s, uintptr_t ret, uint32_t gen);
void symbolizer_free(struct symbolizer *s);

struct stack_rec;
/* Asks for every frame of the stack (when collecting). */
void symbolizer_want_stack(struct symbolizer *s, const struct stack_rec *st);

#endif
