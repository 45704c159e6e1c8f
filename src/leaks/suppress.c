/* Suppression files, in the sanitizers' syntax: `leak:PATTERN` per line, `#` comments.
 * A pattern matches a frame when it matches its function, its module or its file. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "base/diag.h"
#include "base/mem.h"
#include "base/self.h"
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

/* Lines that are not suppressions get a warning each, up to this many per file: a file
 * that is no suppression file at all says so without flooding the log. */
enum { BAD_LINES_SHOWN = 10 };

/* Adds the patterns of one file.  Whatever is wrong with it gets a warning naming the file
 * (and the line), and the rest of it is still used. */
static void load_file(struct suppressions *sp, size_t *cap_s, const char *path, bool builtin)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        diag_warn("cannot read suppressions from '%s': %s; none used from it", path,
                  strerror(errno));
        return;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        bool dir = fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
        close(fd);
        diag_warn("cannot read suppressions from '%s': %s; none used from it", path,
                  dir ? "it is a directory" : "not a regular file");
        return;
    }
    size_t cap, len;
    char *text = pages_read_fd(fd, &len, &cap);
    close(fd);
    if (!text)
        return;
    size_t plen = strlen(path) + 1;
    char *file = arena_alloc(plen);
    if (file)
        memcpy(file, path, plen);
    unsigned lineno = 0, bad = 0, found = 0;
    bool nul_said = false;
    /* By length, not by NUL: a NUL byte spoils its own line only. */
    for (size_t at = 0; at < len;) {
        char *line = text + at;
        char *nl = memchr(line, '\n', len - at);
        size_t l = nl ? (size_t)(nl - line) : len - at;
        at += l + 1;
        line[l] = 0;
        lineno++;
        if (memchr(line, 0, l)) {
            if (!nul_said)
                diag_warn("%s:%u: a NUL byte (is this a suppression file?); lines holding one "
                          "are ignored", path, lineno);
            nul_said = true;
            continue;
        }
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        l = strlen(s);
        while (l && (s[l - 1] == ' ' || s[l - 1] == '\t' || s[l - 1] == '\r'))
            s[--l] = 0;
        if (!*s || *s == '#')
            continue;
        if (strncmp(s, "leak:", 5) || !s[5]) {
            if (++bad <= BAD_LINES_SHOWN)
                diag_warn("%s:%u: not a suppression ('leak:PATTERN' expected); ignored", path,
                          lineno);
            else if (bad == BAD_LINES_SHOWN + 1)
                diag_warn("%s: more lines that are not suppressions, from line %u on; ignored",
                          path, lineno);
            continue;
        }
        if (!arena_reserve(&sp->s, sp->n, cap_s, sizeof *sp->s, 16))
            break;
        size_t pl = strlen(s + 5) + 1;
        char *p = arena_alloc(pl);
        if (p) {
            memcpy(p, s + 5, pl);
            sp->s[sp->n] = (struct suppression){ .pattern = p, .file = file, .line = lineno,
                                                 .builtin = builtin };
            sp->n++;
            found++;
        }
    }
    pages_free(text, cap);
    diag_note("read %u suppression(s) from '%s'", found, path);
}

/* share/mallocspy/default.supp from the library's directory: <prefix>/lib or
 * <prefix>/lib/<multiarch> once installed, build/ in the source tree. */
static bool default_file(char *out, size_t cap)
{
    static const char *const up[] = { "/../share/mallocspy/default.supp",
                                      "/../../share/mallocspy/default.supp" };
    char dir[4096];
    if (!self_dir(dir, sizeof dir))
        return false;
    for (unsigned i = 0; i < ARRAY_SIZE(up); i++) {
        if (strlen(dir) + strlen(up[i]) >= cap)
            continue;
        diag_format(out, cap, "%s%s", dir, up[i]);
        if (access(out, F_OK) == 0)
            return true;
    }
    return false;
}

struct suppressions *supp_load(const char *list, bool use_default)
{
    struct suppressions *sp = arena_alloc(sizeof *sp);
    if (!sp)
        return NULL;
    size_t cap_s = 0;
    /* The user's files first: when several patterns match, the first takes the credit. */
    for (const char *p = list ? list : ""; *p;) {
        const char *comma = strchr(p, ',');
        size_t l = comma ? (size_t)(comma - p) : strlen(p);
        char path[4096];
        if (l && l < sizeof path) {
            memcpy(path, p, l);
            path[l] = 0;
            load_file(sp, &cap_s, path, false);
        }
        p += l + (comma != NULL);
    }
    char path[4096];
    if (use_default) {
        if (default_file(path, sizeof path))
            load_file(sp, &cap_s, path, true);
        else
            diag_note("no default suppression file beside the library");
    }
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

/* ---- suggested suppressions ------------------------------------------------------------ */

/* Frames that allocate on another's behalf, as whole-name globs: the C library's allocation
 * functions, operator new, and the allocation wrappers of well-known programs and
 * libraries.  A suggested suppression names the first frame past them, so that it silences
 * the leak and not everything the wrapper ever allocated.  mallocspy(1) lists them, and
 * scripts/mallocspy-report holds the same list (a test compares the three). */
static const char *const alloc_frames[] = {
    /* C library */
    "malloc", "calloc", "realloc", "reallocarray", "free", "posix_memalign",
    "aligned_alloc", "memalign", "valloc", "pvalloc", "__libc_*alloc*", "__libc_memalign",
    "strdup", "__strdup", "strndup", "__strndup", "wcsdup", "__wcsdup", "asprintf",
    "__asprintf", "vasprintf", "__vasprintf", "__vasprintf_internal", "getline", "getdelim",
    "__getdelim", "open_memstream",
    /* C++ */
    "operator new*", "*::operator new*", "std::allocator<*>::allocate*",
    "std::__new_allocator<*>::allocate*", "__gnu_cxx::new_allocator<*>::allocate*",
    "std::allocator_traits<*>::allocate*",
    /* gnulib and GNU programs */
    "xmalloc", "xcalloc", "xrealloc", "xzalloc", "xnmalloc", "xcharalloc", "xstrdup",
    "xstrndup", "xmemdup", "ximalloc", "xicalloc", "xirealloc",
    /* GLib */
    "g_malloc", "g_malloc0", "g_malloc_n", "g_malloc0_n", "g_realloc", "g_realloc_n",
    "g_try_malloc", "g_try_malloc0", "g_try_realloc", "g_strdup", "g_strndup", "g_memdup",
    "g_memdup2", "g_slice_alloc", "g_slice_alloc0",
    /* Perl */
    "Perl_safesysmalloc", "Perl_safesyscalloc", "Perl_safesysrealloc", "Perl_savepv",
    "Perl_savepvn", "Perl_savesharedpv", "Perl_savesharedpvn",
    /* Python */
    "PyMem_Malloc", "PyMem_Calloc", "PyMem_Realloc", "PyMem_RawMalloc", "PyMem_RawCalloc",
    "PyMem_RawRealloc", "_PyMem_RawMalloc", "_PyMem_RawCalloc", "_PyMem_RawRealloc",
    "PyObject_Malloc", "PyObject_Calloc", "PyObject_Realloc", "_PyObject_Malloc",
    "_PyObject_Calloc", "_PyObject_Realloc", "pymalloc_alloc", "_PyMem_Debug*",
    /* OpenSSL */
    "CRYPTO_malloc", "CRYPTO_zalloc", "CRYPTO_realloc", "CRYPTO_clear_realloc",
    "CRYPTO_strdup", "CRYPTO_strndup", "CRYPTO_memdup",
    /* OpenJDK */
    "os::malloc(*", "os::realloc(*", "AllocateHeap(*", "ReallocateHeap(*", "JLI_MemAlloc",
    "JLI_MemRealloc", "JLI_StringDup",
};

static bool glob_whole(const char *pattern, const char *text)
{
    return glob_at(pattern, text, true);
}

bool supp_alloc_frame(const char *function, const char *module, const char *extra)
{
    if (module) {
        const char *base = strrchr(module, '/');
        if (!strncmp(base ? base + 1 : module, "libmallocspy.so", 15))
            return true;
    }
    if (!function)
        return false;
    for (unsigned i = 0; i < ARRAY_SIZE(alloc_frames); i++)
        if (glob_whole(alloc_frames[i], function))
            return true;
    for (const char *p = extra ? extra : ""; *p;) {
        const char *comma = strchr(p, ',');
        size_t l = comma ? (size_t)(comma - p) : strlen(p);
        char pat[1024];
        if (l && l < sizeof pat) {
            memcpy(pat, p, l);
            pat[l] = 0;
            if (glob_whole(pat, function))
                return true;
        }
        p += l + (comma != NULL);
    }
    return false;
}

bool supp_suggest(const struct symbol *const *frames, unsigned n, const char *extra, char *out,
                  size_t cap)
{
    for (unsigned i = 0; i < n; i++)
        for (unsigned j = 0; j <= frames[i]->ninline; j++) {
            const char *fn, *file;
            int line;
            symbol_frame(frames[i], j, &fn, &file, &line);
            if (supp_alloc_frame(fn, frames[i]->module, extra))
                continue;
            if (!fn)
                return false;
            /* Anchored at both ends: that function, not every name holding it.  A name
             * too long for a pattern keeps its start, and a '*' for the rest. */
            size_t l = strlen(fn);
            if (l > 900) {
                char head[901];
                memcpy(head, fn, 900);
                head[900] = 0;
                diag_format(out, cap, "leak:^%s*", head);
            } else {
                diag_format(out, cap, "leak:^%s$", fn);
            }
            return true;
        }
    return false;
}

void supp_free(struct suppressions *sp)
{
    if (!sp)
        return;
    /* Patterns are small and few; they stay with the arena. */
    arena_free(sp, sizeof *sp);
}
