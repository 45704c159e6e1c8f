/* Buffered output for reports: into mallocspy's own buffer, out with write(2) (or fwrite
 * for a caller's stream), so that writing a report never allocates from the program's
 * heap.  The first error is remembered and reported once. */
#ifndef MS_WRITER_H
#define MS_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct writer {
    int fd;                    /* -1 when writing to `stream` */
    FILE *stream;
    char *buf;
    size_t len, cap;
    int err;                   /* errno of the first failure, 0 if none */
    bool discard;              /* w_open_null: written into nothing */
};

bool w_open(struct writer *w, int fd, FILE *stream);
/* A writer whose output goes nowhere: a report is written into it to learn what it
 * prints (see symbolize.h). */
bool w_open_null(struct writer *w);
void w_put(struct writer *w, const char *s, size_t n);
void w_str(struct writer *w, const char *s);
void w_fmt(struct writer *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A JSON string literal (quotes included); NULL gives null.  Control characters,
 * quotes and backslashes are escaped, and bytes that are not UTF-8 become \u00XX, so the
 * document stays valid whatever the names contain. */
void w_json_str(struct writer *w, const char *s);
/* The same, without the quotes: a string written in parts. */
void w_json_chars(struct writer *w, const char *s);
bool w_close(struct writer *w);   /* flushes; false if anything failed (see err) */

#endif
