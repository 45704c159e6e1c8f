/* The symbol cache: for each build ID, <dir>/<build-id>.sym holds the answers already
 * found, so that the hundredth short process pays for no DWARF the first one read.
 *
 *   mallocspy-symbols 1 <build-id>\n
 *   <offset hex>\t<status>\t<n>[\t<function>\t<file>\t<line>]*n\n     (one per offset)
 *
 * A file is trusted only if it is exactly that (a regular file of ours, not a link, at most
 * 64 MiB, no NUL, every line well formed, its own build ID in the header); anything else is
 * named in one W line, ignored, and replaced at the next write.  Writes go to a fresh
 * temporary file renamed over the old one: processes writing at once may lose each other's
 * additions, never make a file that is half one and half the other. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "symbolizer.h"

#define CACHE_MAX_BYTES (64u << 20)
#define CACHE_MAGIC "mallocspy-symbols 1 "

struct centry {
    bool used;
    bool persist;              /* belongs in the file (KEEP_FILE, or read from it) */
    uint64_t offset;
    struct sym_answer a;
};

struct sym_cache {
    char *build_id;
    struct centry *tab;        /* open addressing on the offset */
    size_t cap, used;
    size_t fresh;              /* persisted answers added since the file was read or written */
    bool warned;               /* the file was bad: said once per session */
};

/* One thread: no locks. */
static struct {
    char *dir;                 /* NULL: answers are kept for the session only */
    bool write_warned;         /* a failed write is said once per session */
    struct sym_cache **all;
    size_t n, cap;
} cs;

/* ---- the table ------------------------------------------------------------------------- */

static size_t slot(const struct sym_cache *c, uint64_t offset)
{
    size_t i = (size_t)((offset * 0x9E3779B97F4A7C15ULL) >> 32) & (c->cap - 1);
    while (c->tab[i].used && c->tab[i].offset != offset)
        i = (i + 1) & (c->cap - 1);
    return i;
}

static void grow(struct sym_cache *c)
{
    if (c->cap && (c->used + 1) * 2 <= c->cap)
        return;
    struct centry *old = c->tab;
    size_t ocap = c->cap;
    c->cap = ocap ? ocap * 2 : 64;
    c->tab = xmalloc(c->cap * sizeof *c->tab);
    memset(c->tab, 0, c->cap * sizeof *c->tab);
    for (size_t i = 0; i < ocap; i++)
        if (old[i].used)
            c->tab[slot(c, old[i].offset)] = old[i];
    free(old);
}

const struct sym_answer *cache_find(const struct sym_cache *c, uint64_t offset)
{
    if (!c || !c->cap)
        return NULL;
    const struct centry *e = &c->tab[slot(c, offset)];
    return e->used ? &e->a : NULL;
}

/* Takes the answer over (no copy); false if the offset was there already. */
static bool put(struct sym_cache *c, uint64_t offset, struct sym_answer *a, bool persist)
{
    grow(c);
    struct centry *e = &c->tab[slot(c, offset)];
    if (e->used)
        return false;
    e->used = true;
    e->persist = persist;
    e->offset = offset;
    e->a = *a;
    c->used++;
    return true;
}

void cache_add(struct sym_cache *c, uint64_t offset, const struct sym_answer *a, bool persist)
{
    struct sym_answer copy;
    answer_copy(&copy, a);
    if (!put(c, offset, &copy, persist)) {
        answer_clear(&copy);
        return;
    }
    if (persist)
        c->fresh++;
}

/* ---- reading a file ----------------------------------------------------------------------- */

static void file_path(const struct sym_cache *c, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s.sym", cs.dir, c->build_id);
}

/* The whole file, if it may be read at all: why says why not (NULL: there is none). */
static char *slurp(const char *path, size_t *len, const char **why)
{
    *why = NULL;
    /* O_NOFOLLOW: a link is never followed; O_NONBLOCK: a FIFO planted there cannot
     * block the open. */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ELOOP)
            *why = "a symbolic link";
        else if (errno != ENOENT)
            *why = strerror(errno);
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0)
        *why = strerror(errno);
    else if (!S_ISREG(st.st_mode))
        *why = "not a regular file";
    else if (st.st_uid != geteuid())
        *why = "owned by another user";
    else if (st.st_size > (off_t)CACHE_MAX_BYTES)
        *why = "larger than 64 MiB";
    if (*why) {
        close(fd);
        return NULL;
    }
    size_t cap = (size_t)st.st_size + 1, n = 0;
    char *text = xmalloc(cap + 1);
    for (;;) {
        if (n == cap) {
            if (cap > CACHE_MAX_BYTES)
                break;
            cap *= 2;
            text = xrealloc(text, cap + 1);
        }
        ssize_t r = read(fd, text + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            *why = strerror(errno);
            break;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (!*why && n > CACHE_MAX_BYTES)
        *why = "larger than 64 MiB";
    if (*why) {
        free(text);
        return NULL;
    }
    text[n] = 0;
    *len = n;
    return text;
}

/* A field of a line: [s, s+len). */
struct field {
    const char *s;
    size_t len;
};

static bool printable(const struct field *f)
{
    for (size_t i = 0; i < f->len; i++) {
        unsigned char c = (unsigned char)f->s[i];
        if (c < 0x20 || c == 0x7f)
            return false;
    }
    return true;
}

static char *field_dup(const struct field *f)
{
    if (!f->len)
        return NULL;
    char *s = xmalloc(f->len + 1);
    memcpy(s, f->s, f->len);
    s[f->len] = 0;
    return s;
}

/* One record (without its newline) into *a and *offset; false if it is not exactly one. */
static bool parse_record(const char *s, size_t len, uint64_t *offset, struct sym_answer *a)
{
    enum { MAXF = 3 + 3 * SYM_MAX_FRAMES };
    static struct field fl[MAXF];
    size_t nf = 0, start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != '\t')
            continue;
        if (nf == MAXF)
            return false;
        fl[nf].s = s + start;
        fl[nf].len = i - start;
        nf++;
        start = i + 1;
    }
    unsigned long n;
    if (nf < 3 || !parse_hex64(fl[0].s, fl[0].len, true, offset) ||
        !parse_uint(fl[2].s, fl[2].len, SYM_MAX_FRAMES, &n) || nf != 3 + 3 * n)
        return false;
    if (fl[1].len == 2 && !memcmp(fl[1].s, "ok", 2) && n >= 1)
        a->status = SYM_OK;
    else if (fl[1].len == 4 && !memcmp(fl[1].s, "none", 4) && n == 0)
        a->status = SYM_NONE;
    else
        return false;
    for (unsigned long k = 0; k < n; k++) {
        unsigned long line;
        const struct field *f = &fl[3 + 3 * k];
        if (!printable(&f[0]) || !printable(&f[1]) ||
            !parse_uint(f[2].s, f[2].len, INT_MAX, &line))
            return false;
    }
    a->n = (unsigned)n;
    a->f = n ? xmalloc(n * sizeof *a->f) : NULL;
    for (unsigned long k = 0; k < n; k++) {
        const struct field *f = &fl[3 + 3 * k];
        unsigned long line = 0;
        parse_uint(f[2].s, f[2].len, INT_MAX, &line);
        a->f[k].function = field_dup(&f[0]);
        a->f[k].file = field_dup(&f[1]);
        a->f[k].line = (int)line;
    }
    return true;
}

/* The answers of a file's text, into a fresh table; false (with why, static) if the text
 * is not exactly a cache file of this build ID. */
static bool parse_file(const char *text, size_t len, const char *build_id,
                       struct sym_cache *into, char *why, size_t cap)
{
    if (memchr(text, 0, len)) {
        snprintf(why, cap, "a NUL byte");
        return false;
    }
    const char *nl = memchr(text, '\n', len);
    size_t ml = strlen(CACHE_MAGIC), bl = strlen(build_id);
    if (!nl || (size_t)(nl - text) != ml + bl || memcmp(text, CACHE_MAGIC, ml) ||
        memcmp(text + ml, build_id, bl)) {
        snprintf(why, cap, "not a symbol cache file of build ID %s (first line)", build_id);
        return false;
    }
    const char *p = nl + 1, *end = text + len;
    unsigned lineno = 1;
    while (p < end) {
        lineno++;
        nl = memchr(p, '\n', (size_t)(end - p));
        uint64_t offset;
        struct sym_answer a = { 0 };
        if (!nl || !parse_record(p, (size_t)(nl - p), &offset, &a)) {
            snprintf(why, cap, "line %u is not a symbol record", lineno);
            return false;
        }
        if (!put(into, offset, &a, true)) {
            answer_clear(&a);
            snprintf(why, cap, "line %u repeats an offset", lineno);
            return false;
        }
        p = nl + 1;
    }
    return true;
}

static void table_free(struct sym_cache *t)
{
    for (size_t i = 0; i < t->cap; i++)
        if (t->tab[i].used)
            answer_clear(&t->tab[i].a);
    free(t->tab);
    t->tab = NULL;
    t->cap = t->used = 0;
}

/* Adds the answers of c's file that c does not have.  Says once what is wrong with a file
 * that is not ours (`quiet` when merging before a write: it is replaced then anyway). */
static void load(struct sym_cache *c, bool quiet)
{
    if (!cs.dir)
        return;
    char path[PATH_MAX + 256], why[256];
    file_path(c, path, sizeof path);
    size_t len = 0;
    const char *cant;
    char *text = slurp(path, &len, &cant);
    struct sym_cache got = { 0 };
    bool ok = false;
    if (text)
        ok = parse_file(text, len, c->build_id, &got, why, sizeof why);
    else if (cant)
        snprintf(why, sizeof why, "%s", cant);
    free(text);
    if (ok) {
        for (size_t i = 0; i < got.cap; i++) {
            struct centry *e = &got.tab[i];
            if (e->used && put(c, e->offset, &e->a, true))
                e->used = false;   /* taken over */
        }
    } else if ((text || cant) && !quiet && !c->warned) {
        c->warned = true;
        warn("symbol cache %s: %s; ignored, and replaced at the next write", path, why);
    }
    table_free(&got);
}

/* ---- the directory, the caches, the writes ------------------------------------------------ */

bool cache_open(const char *dir)
{
    char path[PATH_MAX];
    size_t len = strlen(dir);
    if (!len || len >= sizeof path) {
        warn("symbol cache directory %s: bad name; no cache", dir);
        return false;
    }
    memcpy(path, dir, len + 1);
    /* mkdir -p, every missing level private to us. */
    for (char *p = path + 1; ; p++) {
        if (*p != '/' && *p)
            continue;
        char c = *p;
        *p = 0;
        if (mkdir(path, 0700) != 0 && errno != EEXIST) {
            warn("symbol cache directory %s: cannot create %s: %s; no cache", dir, path,
                 strerror(errno));
            return false;
        }
        *p = c;
        if (!c)
            break;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        warn("symbol cache directory %s: not a directory; no cache", dir);
        return false;
    }
    cs.dir = xstrdup(dir);
    return true;
}

struct sym_cache *cache_for(const char *build_id)
{
    if (!build_id)
        return NULL;
    for (size_t i = 0; i < cs.n; i++)
        if (!strcmp(cs.all[i]->build_id, build_id))
            return cs.all[i];
    if (cs.n == cs.cap) {
        cs.cap = cs.cap ? cs.cap * 2 : 32;
        cs.all = xrealloc(cs.all, cs.cap * sizeof *cs.all);
    }
    struct sym_cache *c = xmalloc(sizeof *c);
    memset(c, 0, sizeof *c);
    c->build_id = xstrdup(build_id);
    cs.all[cs.n++] = c;
    load(c, false);
    return c;
}

static int by_offset(const void *a, const void *b)
{
    const struct centry *x = *(const struct centry *const *)a, *y = *(const struct centry *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static bool write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static void write_file(struct sym_cache *c)
{
    /* What others wrote since we read it: merged rather than lost, when it is sound. */
    load(c, true);
    struct centry **list = xmalloc((c->used + 1) * sizeof *list);
    size_t n = 0;
    for (size_t i = 0; i < c->cap; i++)
        if (c->tab[i].used && c->tab[i].persist)
            list[n++] = &c->tab[i];
    qsort(list, n, sizeof *list, by_offset);
    struct sbuf b = { 0 }, line = { 0 };
    sbuf_printf(&b, CACHE_MAGIC "%s\n", c->build_id);
    for (size_t i = 0; i < n; i++) {
        line.len = 0;
        sbuf_printf(&line, "%llx\t%s\t", (unsigned long long)list[i]->offset,
                    status_name(list[i]->a.status));
        sbuf_frames(&line, &list[i]->a);
        sbuf_add(&line, "\n", 1);
        if (b.len + line.len > CACHE_MAX_BYTES)
            break;   /* a file a reader would refuse is worth less than a shorter one */
        sbuf_add(&b, line.p, line.len);
    }
    free(list);
    free(line.p);

    char path[PATH_MAX + 256], tmp[PATH_MAX + 256];
    file_path(c, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s/.%s.sym.XXXXXX", cs.dir, c->build_id);
    int fd = mkstemp(tmp);   /* O_EXCL, 0600: never a file someone else prepared */
    const char *err = NULL;
    if (fd < 0) {
        err = strerror(errno);
    } else {
        if (fchmod(fd, 0600) != 0 || !write_all(fd, b.p, b.len))
            err = strerror(errno ? errno : EIO);
        if (close(fd) != 0 && !err)
            err = strerror(errno);
        /* rename replaces whatever is at the path, a link included, without following it. */
        if (!err && rename(tmp, path) != 0)
            err = strerror(errno);
        if (err)
            unlink(tmp);
    }
    free(b.p);
    if (err && !cs.write_warned) {
        cs.write_warned = true;
        warn("symbol cache %s: cannot write it: %s", path, err);
    }
    c->fresh = 0;
}

void cache_flush(void)
{
    if (!cs.dir)
        return;
    for (size_t i = 0; i < cs.n; i++)
        if (cs.all[i]->fresh)
            write_file(cs.all[i]);
}
