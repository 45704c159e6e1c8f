/* Shell patterns, as fnmatch(3) without flags reads them, but without its locale and its
 * allocations: they are matched on the way to execve, where neither is welcome. */
#include <string.h>

#include "base/pattern.h"

/* A bracket expression at p (just after '['), against c: *end is set past its ']'.  An
 * unterminated '[' is an ordinary character, as fnmatch takes it. */
static bool bracket(const char *p, const char *e, unsigned char c, const char **end, bool *ok)
{
    bool negate = p < e && (*p == '!' || *p == '^');
    if (negate)
        p++;
    bool match = false;
    const char *q = p;
    /* A ']' first in the list is one of its characters. */
    do {
        if (q >= e)
            return *ok = false;
        unsigned char lo = (unsigned char)*q;
        if (lo == '\\' && q + 1 < e)
            lo = (unsigned char)*++q;
        q++;
        unsigned char hi = lo;
        if (q + 1 < e && *q == '-' && q[1] != ']') {
            hi = (unsigned char)q[1];
            if (hi == '\\' && q + 2 < e) {
                hi = (unsigned char)q[2];
                q++;
            }
            q += 2;
        }
        if (c >= lo && c <= hi)
            match = true;
    } while (q < e && *q != ']');
    if (q >= e)
        return *ok = false;
    *end = q + 1;
    *ok = true;
    return match != negate;
}

bool pattern_match(const char *pat, size_t len, const char *s)
{
    const char *p = pat, *e = pat + len;
    /* Backtracking on the last '*' is enough for shell patterns (no '**' semantics). */
    const char *star_p = NULL, *star_s = NULL;
    for (;;) {
        if (p < e && *p == '*') {
            while (p < e && *p == '*')
                p++;
            star_p = p;
            star_s = s;
            continue;
        }
        if (p == e) {
            if (!*s)
                return true;
        } else if (*s) {
            const char *next = p + 1;
            bool step;
            if (*p == '?') {
                step = true;
            } else if (*p == '[') {
                bool ok;
                step = bracket(p + 1, e, (unsigned char)*s, &next, &ok);
                if (!ok) {
                    step = *s == '[';
                    next = p + 1;
                }
            } else if (*p == '\\' && p + 1 < e) {
                step = p[1] == *s;
                next = p + 2;
            } else {
                step = *p == *s;
            }
            if (step) {
                p = next;
                s++;
                continue;
            }
        }
        if (star_p && *star_s) {
            p = star_p;
            s = ++star_s;
            continue;
        }
        return false;
    }
}

bool pattern_list_match(const char *list, const char *path, const char *name)
{
    for (const char *p = list; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len && ((path && pattern_match(p, len, path)) || (name && pattern_match(p, len, name))))
            return true;
        p = comma ? comma + 1 : NULL;
    }
    return false;
}
