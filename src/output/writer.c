/* Buffered report output that never allocates from the program's heap. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "base/diag.h"
#include "base/mem.h"
#include "output/writer.h"

#define WBUF (64 * 1024)

bool w_open(struct writer *w, int fd, FILE *stream)
{
    memset(w, 0, sizeof *w);
    w->fd = fd;
    w->stream = stream;
    w->cap = WBUF;
    w->buf = pages_alloc(WBUF);
    if (!w->buf) {
        w->err = ENOMEM;
        return false;
    }
    return true;
}

bool w_open_null(struct writer *w)
{
    bool ok = w_open(w, -1, NULL);
    w->discard = true;
    return ok;
}

static void flush(struct writer *w)
{
    size_t off = 0;
    if (w->discard)
        w->len = 0;
    while (off < w->len && !w->err) {
        if (w->stream) {
            size_t n = fwrite(w->buf + off, 1, w->len - off, w->stream);
            if (n == 0) {
                w->err = errno ? errno : EIO;
                break;
            }
            off += n;
        } else {
            ssize_t n = write(w->fd, w->buf + off, w->len - off);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                w->err = n < 0 ? errno : EIO;
                break;
            }
            off += (size_t)n;
        }
    }
    w->len = 0;
}

void w_put(struct writer *w, const char *s, size_t n)
{
    if (!w->buf || w->err)
        return;
    while (n) {
        if (w->len == w->cap)
            flush(w);
        size_t k = w->cap - w->len < n ? w->cap - w->len : n;
        memcpy(w->buf + w->len, s, k);
        w->len += k;
        s += k;
        n -= k;
    }
}

void w_str(struct writer *w, const char *s) { w_put(w, s, strlen(s)); }

void w_fmt(struct writer *w, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    size_t n = diag_vformat(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    w_put(w, tmp, n < sizeof tmp ? n : sizeof tmp - 1);
}

/* Length of the valid UTF-8 sequence at s, or 0. */
static size_t utf8_len(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    size_t n;
    uint32_t cp;
    if ((s[0] & 0xe0) == 0xc0) { n = 2; cp = s[0] & 0x1f; }
    else if ((s[0] & 0xf0) == 0xe0) { n = 3; cp = s[0] & 0x0f; }
    else if ((s[0] & 0xf8) == 0xf0) { n = 4; cp = s[0] & 0x07; }
    else return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    /* Overlong forms, surrogates and values past U+10FFFF are not valid UTF-8. */
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
        (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
        return 0;
    return n;
}

void w_json_str(struct writer *w, const char *s)
{
    if (!s) {
        w_str(w, "null");
        return;
    }
    w_put(w, "\"", 1);
    w_json_chars(w, s);
    w_put(w, "\"", 1);
}

void w_json_chars(struct writer *w, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            char e[2] = { '\\', (char)c };
            w_put(w, e, 2);
            p++;
        } else if (c < 0x20 || c == 0x7f) {
            char e[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
            w_put(w, e, 6);
            p++;
        } else {
            size_t n = utf8_len(p);
            if (n) {
                w_put(w, (const char *)p, n);
                p += n;
            } else {
                char e[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
                w_put(w, e, 6);
                p++;
            }
        }
    }
}

bool w_close(struct writer *w)
{
    if (w->buf) {
        flush(w);
        pages_free(w->buf, w->cap);
        w->buf = NULL;
    }
    if (w->stream && !w->err && fflush(w->stream) != 0)
        w->err = errno ? errno : EIO;
    return w->err == 0;
}
