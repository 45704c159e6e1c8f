/* Suppression files, in the sanitizers' syntax: `leak:PATTERN` per line, `#` comments.
 * A pattern matches a frame when it matches its function, its module or its file. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "base/diag.h"
#include "base/mem.h"
#include "leaks/suppress.h"

static bool glob_at(const char *p, const char *t, bool anchored_end)
{
    /* Iterative glob with backtracking on the last '*'. */
    const char *star = NULL, *star_t = NULL;
    for (;;) {
        if (*p == '*') {
            star = ++p;
            star_t = t;
            continue;
        }
        if (!*p) {
            if (!anchored_end || !*t)
                return true;
        } else if (*t && *p == *t) {
            p++;
            t++;
            continue;
        }
        if (star && *star_t) {
            p = star;
            t = ++star_t;
            continue;
        }
        return false;
    }
}

bool supp_pattern_match(const char *pattern, const char *text)
{
    if (!text || !*pattern)
        return false;
    char pat[1024];
    size_t n = strlen(pattern);
    if (n >= sizeof pat)
        return false;
    memcpy(pat, pattern, n + 1);
    bool end = n > 0 && pat[n - 1] == '$';
    if (end)
        pat[--n] = 0;
    if (pat[0] == '^')
        return glob_at(pat + 1, text, end);
    for (const char *t = text; *t; t++)
        if (glob_at(pat, t, end))
            return true;
    return false;
}

struct suppressions *supp_load(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        diag_warn("cannot read suppressions from '%s': %s; none used", path, strerror(errno));
        return NULL;
    }
    size_t cap, len;
    char *text = pages_read_fd(fd, &len, &cap);
    close(fd);
    struct suppressions *sp = arena_alloc(sizeof *sp);
    if (!text || !sp) {
        pages_free(text, cap);
        return sp;
    }
    text[len] = 0;
    size_t cap_s = 0;
    unsigned lineno = 0;
    for (char *line = text; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        lineno++;
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        size_t l = strlen(s);
        while (l && (s[l - 1] == ' ' || s[l - 1] == '\t' || s[l - 1] == '\r'))
            s[--l] = 0;
        if (*s && *s != '#') {
            if (!strncmp(s, "leak:", 5) && s[5]) {
                if (!arena_reserve(&sp->s, sp->n, &cap_s, sizeof *sp->s, 16))
                    break;
                size_t pl = strlen(s + 5) + 1;
                char *p = arena_alloc(pl);
                if (p) {
                    memcpy(p, s + 5, pl);
                    sp->s[sp->n].pattern = p;
                    sp->s[sp->n].hits = sp->s[sp->n].bytes = 0;
                    sp->n++;
                }
            } else {
                diag_warn("%s:%u: not a suppression ('leak:PATTERN' expected); ignored", path,
                        lineno);
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    pages_free(text, cap);
    return sp;
}

int supp_match(const struct suppressions *sp, const struct symbol *const *frames, unsigned n)
{
    if (!sp)
        return -1;
    for (unsigned k = 0; k < sp->n; k++)
        for (unsigned i = 0; i < n; i++) {
            const struct symbol *f = frames[i];
            if (supp_pattern_match(sp->s[k].pattern, f->function) ||
                supp_pattern_match(sp->s[k].pattern, f->module) ||
                supp_pattern_match(sp->s[k].pattern, f->file))
                return (int)k;
            /* Inlined functions are frames of the report: their names and files count. */
            for (unsigned j = 0; j < f->ninline; j++)
                if (supp_pattern_match(sp->s[k].pattern, f->inl[j].function) ||
                    supp_pattern_match(sp->s[k].pattern, f->inl[j].file))
                    return (int)k;
        }
    return -1;
}

void supp_free(struct suppressions *sp)
{
    if (!sp)
        return;
    /* Patterns are small and few; they stay with the arena. */
    arena_free(sp, sizeof *sp);
}
