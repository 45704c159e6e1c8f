/* Heap errors found while the program runs: written at once to the text log, kept for the
 * JSON report at exit. */
#ifndef MS_ERRORS_H
#define MS_ERRORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct stack_rec;
struct writer;
struct symbolizer;

enum err_kind {
    ERR_INVALID_FREE,          /* free/realloc/size query of something not a live block */
    ERR_DOUBLE_FREE,
    ERR_MISMATCH,              /* malloc with delete, new with free, new[] with delete... */
    ERR_OVERFLOW,              /* the redzone after the block was written */
    ERR_UNDERFLOW,             /* the redzone before it */
    ERR_USE_AFTER_FREE,        /* a block in quarantine was written */
    ERR_WRONG_HEAP,            /* freed or resized through another heap than its own */
    NERR
};

struct heap_error {
    enum err_kind kind;
    uintptr_t address;         /* the program's pointer */
    size_t bytes;              /* the block's size, 0 if unknown */
    const char *call;          /* "free", "realloc", "delete[]"... */
    const struct stack_rec *alloc, *free, *here;  /* where it was allocated, first freed,
                                                     and the call that erred */
    long offset;               /* overflow/underflow/use after free: where the damage starts,
                                  relative to the block's start */
    size_t length;             /* and how many bytes */
    uintptr_t block;           /* invalid free of an interior pointer: the block it is in */
    const char *detail;        /* one more line, or NULL */
};

/* Reports it: text at once (log_path or stderr), JSON at exit; aborts if halt_on_error. */
void error_report(const struct heap_error *e);
unsigned errors_count(void);
/* The headline the text report gives the error ("heap-buffer-overflow"), and its kind's
 * name in the JSON report ("overflow"). */
const char *error_title(const struct heap_error *e);
const char *error_kind_name(enum err_kind k);
/* A copy of the errors kept (n of them; NULL when none or out of memory), to read
 * without holding the errors' lock: pages_free(copy, bytes) when done. */
struct heap_error *errors_copy(size_t *n, size_t *bytes);
/* Writes the "errors" array's members. */
void errors_write_json(struct writer *w, struct symbolizer *sym);
void errors_fork_child(void);

#endif
