/* Warnings, and the formatter behind them: into a caller's buffer, so that saying
 * something never allocates and never touches stdio. */
#ifndef MS_DIAG_H
#define MS_DIAG_H

#include <stdarg.h>
#include <stddef.h>

/* One line, "mallocspy: ...", written with write(2): to the sink (the log when there is
 * one, else the program's stderr: output/channels.c sets it), or when that fails to the
 * fallback.  Warnings before the sink is set are kept and written then.  Formats %s %d %u
 * %zu %lu %x %p only. */
void diag_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same line, only with verbosity=1 or more: what mallocspy is doing. */
void diag_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Text as it is (whole lines), where the warnings go. */
void diag_text(const char *buf, size_t n);
void diag_set_sink(int (*sink)(void), int (*fallback)(void));
size_t diag_vformat(char *buf, size_t cap, const char *fmt, va_list ap);
size_t diag_format(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
