/* A small formatter that writes into a caller's buffer, so that a message or a report never
 * allocates and never touches stdio. */
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "base/diag.h"
#include "base/options.h"

static size_t put_u(char *buf, size_t cap, size_t n, unsigned long long v, unsigned base,
                    unsigned width, char padc)
{
    char tmp[32];
    unsigned k = 0;
    do {
        unsigned d = (unsigned)(v % base);
        tmp[k++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
        v /= base;
    } while (v);
    while (k < width && k < sizeof tmp)
        tmp[k++] = padc;
    while (k) {
        if (n + 1 < cap)
            buf[n] = tmp[k - 1];
        n++;
        k--;
    }
    return n;
}

size_t diag_vformat(char *buf, size_t cap, const char *fmt, va_list ap)
{
    size_t n = 0;
    for (const char *f = fmt; *f; f++) {
        if (*f != '%') {
            if (n + 1 < cap)
                buf[n] = *f;
            n++;
            continue;
        }
        f++;
        char padc = ' ';
        unsigned width = 0;
        if (*f == '0') {
            padc = '0';
            f++;
        }
        while (*f >= '0' && *f <= '9')
            width = width * 10 + (unsigned)(*f++ - '0');
        int lng = 0;
        bool sz = false;
        while (*f == 'l') {
            lng++;
            f++;
        }
        if (*f == 'z') {
            sz = true;
            f++;
        }
        switch (*f) {
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (!s)
                s = "(null)";
            size_t len = strlen(s);
            for (size_t i = len; i < width; i++) {
                if (n + 1 < cap)
                    buf[n] = ' ';
                n++;
            }
            for (size_t i = 0; i < len; i++) {
                if (n + 1 < cap)
                    buf[n] = s[i];
                n++;
            }
            break;
        }
        case 'c': {
            int c = va_arg(ap, int);
            if (n + 1 < cap)
                buf[n] = (char)c;
            n++;
            break;
        }
        case 'd': {
            long long v = sz ? (long long)va_arg(ap, ssize_t)
                         : lng ? va_arg(ap, long long) : va_arg(ap, int);
            unsigned long long u = (unsigned long long)v;
            if (v < 0) {
                if (n + 1 < cap)
                    buf[n] = '-';
                n++;
                u = 0ULL - u;
            }
            n = put_u(buf, cap, n, u, 10, width, padc);
            break;
        }
        case 'u':
        case 'x': {
            unsigned long long v = sz ? va_arg(ap, size_t)
                                  : lng ? va_arg(ap, unsigned long long)
                                        : va_arg(ap, unsigned);
            n = put_u(buf, cap, n, v, *f == 'x' ? 16 : 10, width, padc);
            break;
        }
        case 'p': {
            uintptr_t v = (uintptr_t)va_arg(ap, void *);
            if (n + 1 < cap)
                buf[n] = '0';
            n++;
            if (n + 1 < cap)
                buf[n] = 'x';
            n++;
            n = put_u(buf, cap, n, v, 16, 0, '0');
            break;
        }
        case '%':
            if (n + 1 < cap)
                buf[n] = '%';
            n++;
            break;
        default:
            if (!*f)
                f--;
            break;
        }
    }
    if (cap)
        buf[n < cap ? n : cap - 1] = 0;
    return n;
}

size_t diag_format(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t n = diag_vformat(buf, cap, fmt, ap);
    va_end(ap);
    return n;
}

/* Warnings wait here until the channels know where they go (log_path is read with the
 * other options, and a bad option is itself warned about). */
static struct {
    int (*sink)(void);         /* the descriptor to write to; NULL until channels_init */
    int (*fallback)(void);     /* where to write when that fails (the program's stderr) */
    char pending[4096];
    size_t npending;
} diag;

static bool write_all(int fd, const char *buf, size_t n)
{
    for (size_t off = 0; off < n;) {
        ssize_t w = fd >= 0 ? write(fd, buf + off, n - off) : -1;
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        off += (size_t)w;
    }
    return true;
}

/* A log that cannot be written (a full disk) is no place for the warning that says so. */
static void emit(const char *buf, size_t n)
{
    int fd = diag.sink();
    if (!write_all(fd, buf, n) && diag.fallback && diag.fallback() != fd)
        write_all(diag.fallback(), buf, n);
}

void diag_set_sink(int (*sink)(void), int (*fallback)(void))
{
    diag.sink = sink;
    diag.fallback = fallback;
    if (diag.npending) {
        emit(diag.pending, diag.npending);
        diag.npending = 0;
    }
}

/* Text as it is, where the warnings go (help=1). */
void diag_text(const char *buf, size_t n)
{
    int saved = errno;
    if (!diag.sink) {
        if (diag.npending + n <= sizeof diag.pending) {
            memcpy(diag.pending + diag.npending, buf, n);
            diag.npending += n;
        }
    } else {
        emit(buf, n);
    }
    errno = saved;
}

static void vline(const char *fmt, va_list ap)
{
    char buf[1024];
    size_t n = diag_format(buf, sizeof buf, "mallocspy: ");
    n += diag_vformat(buf + n, sizeof buf - n - 1, fmt, ap);
    if (n > sizeof buf - 2)
        n = sizeof buf - 2;
    buf[n++] = '\n';
    diag_text(buf, n);
}

void diag_note(const char *fmt, ...)
{
    if (!options.verbosity)
        return;
    int saved = errno;
    va_list ap;
    va_start(ap, fmt);
    vline(fmt, ap);
    va_end(ap);
    errno = saved;
}

void diag_warn(const char *fmt, ...)
{
    int saved = errno;
    va_list ap;
    va_start(ap, fmt);
    vline(fmt, ap);
    va_end(ap);
    errno = saved;
}
