/* The symbolizer's small tools: memory that cannot fail, text buffers, the escaping and the
 * number parsers that the protocol and the cache files share, answers. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "symbolizer.h"

static void out_of_memory(void)
{
    static const char msg[] = "mallocspy-symbolizer: out of memory\n";
    if (write(2, msg, sizeof msg - 1) < 0) {
        /* nothing more to do */
    }
    _exit(1);
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        out_of_memory();
    return p;
}

void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p)
        out_of_memory();
    return p;
}

char *xstrdup(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

/* ---- text buffers ------------------------------------------------------------------------ */

static void sbuf_room(struct sbuf *b, size_t n)
{
    if (b->len + n + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n + 1)
        cap *= 2;
    b->p = xrealloc(b->p, cap);
    b->cap = cap;
}

void sbuf_add(struct sbuf *b, const char *s, size_t n)
{
    sbuf_room(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

void sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    sbuf_room(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void sbuf_escaped(struct sbuf *b, const char *s)
{
    if (!s)
        return;
    size_t n = strlen(s);
    sbuf_room(b, n);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        b->p[b->len++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    b->p[b->len] = 0;
}

void sbuf_frames(struct sbuf *b, const struct sym_answer *a)
{
    sbuf_printf(b, "%u", a->n);
    for (unsigned i = 0; i < a->n; i++) {
        sbuf_add(b, "\t", 1);
        sbuf_escaped(b, a->f[i].function);
        sbuf_add(b, "\t", 1);
        sbuf_escaped(b, a->f[i].file);
        sbuf_printf(b, "\t%d", a->f[i].line > 0 ? a->f[i].line : 0);
    }
}

/* ---- answers ------------------------------------------------------------------------------ */

void answer_clear(struct sym_answer *a)
{
    for (unsigned i = 0; i < a->n; i++) {
        free(a->f[i].function);
        free(a->f[i].file);
    }
    free(a->f);
    a->f = NULL;
    a->n = 0;
    a->status = SYM_NONE;
}

void answer_copy(struct sym_answer *dst, const struct sym_answer *src)
{
    dst->status = src->status;
    dst->n = src->n;
    dst->f = src->n ? xmalloc(src->n * sizeof *dst->f) : NULL;
    for (unsigned i = 0; i < src->n; i++) {
        dst->f[i].function = xstrdup(src->f[i].function);
        dst->f[i].file = xstrdup(src->f[i].file);
        dst->f[i].line = src->f[i].line;
    }
}

const char *status_name(enum sym_status s)
{
    return s == SYM_OK ? "ok" : s == SYM_LATE ? "late" : "none";
}

/* ---- numbers ------------------------------------------------------------------------------ */

bool parse_hex64(const char *s, size_t len, bool lower, uint64_t *v)
{
    if (len == 0 || len > 16)
        return false;
    uint64_t x = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (!lower && c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return false;
        x = x << 4 | d;
    }
    *v = x;
    return true;
}

bool parse_uint(const char *s, size_t len, unsigned long max, unsigned long *v)
{
    if (len == 0 || len > 19 || (len > 1 && s[0] == '0'))
        return false;
    unsigned long x = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        x = x * 10 + (unsigned long)(s[i] - '0');
    }
    if (x > max)
        return false;
    *v = x;
    return true;
}
