/* Names for offsets in module files, with libdw: the library's in-process symbolizer
 * (src/symbolize.c: the function demangled, file and line from the line table, the chain of
 * inlined functions from the DWARF scopes) ported to files named by path, plus the check
 * that a file is still the one that was loaded (its build ID) and, when asked, debuginfod
 * within a time budget for the whole session.  One thread: no locks. */
#include <dlfcn.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "symbolizer.h"

/* libstdc++'s demangler, extern "C" there (<cxxabi.h> is C++ only). */
char *__cxa_demangle(const char *mangled, char *buf, size_t *len, int *status);

/* The parts of libdebuginfod we use, loaded with dlopen only when --debuginfod asks: the
 * client library brings libcurl and TLS, which a session without it never needs. */
typedef struct debuginfod_client debuginfod_client;
typedef int (*debuginfod_progressfn_t)(debuginfod_client *c, long a, long b);

#define DEBUG_ROOT "/usr/lib/debug"
#define MAX_INLINE 64          /* as symbolize.c: deeper chains keep their innermost 64 */

struct sym_module {
    char *path;                /* as declared */
    char *build_id;            /* lowercase hex as declared; NULL: none */
    bool opened;               /* module_open ran */
    bool verified;             /* the file resolved with has the declared build ID */
    bool late;                 /* debuginfod's budget ran out before its debug information */
    Dwfl *dwfl;                /* one per module, as symbolize.c */
    Dwfl_Module *mod;          /* NULL: nothing to resolve with (answers are none) */
    char *debug_file;          /* from debuginfod: find_debuginfo hands it to libdw once */
    bool debug_file_used;
};

/* Everything is set by resolve_init and then only by this file's single thread. */
static struct {
    bool debuginfod;           /* --debuginfod */
    double budget;             /* --timeout: seconds for all of debuginfod's queries */
    double spent;              /* seconds the queries took so far */
    double query_start;        /* when the running query began (monotonic) */
    bool cancelled;            /* the progress function stopped the running query */
    bool lib_tried;            /* libdebuginfod looked for, once */
    bool late_said;            /* the budget's end was said, once */
    debuginfod_client *client;
    int (*find_debuginfo)(debuginfod_client *, const unsigned char *, int, char **);
    char **env;                /* the DEBUGINFOD_* variables ("K=V"), set only around queries */
    size_t nenv;
    struct sym_module **mods;  /* every module declared in the session, never freed */
    size_t nmods, capmods;
} rs;

static char *debuginfo_path;
static int find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname,
                          Dwarf_Addr base, const char *file_name, const char *debuglink_file,
                          GElf_Word debuglink_crc, char **debuginfo_file_name);
static const Dwfl_Callbacks callbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = find_debuginfo,
    .section_address = dwfl_offline_section_address,
    .debuginfo_path = &debuginfo_path,
};

/* ---- the environment and debuginfod --------------------------------------------------- */

void resolve_init(const struct sym_options *o)
{
    rs.debuginfod = o->debuginfod;
    rs.budget = o->timeout;
    /* libdw asks debuginfod by itself whenever DEBUGINFOD_URLS is set, with no limit of
     * ours on the time it takes: none of these variables stays in the environment.  With
     * --debuginfod they come back only around our own queries. */
    size_t n = 0;
    for (char **e = environ; *e; e++)
        if (!strncmp(*e, "DEBUGINFOD_", 11) && strchr(*e, '='))
            n++;
    char **saved = xmalloc((n + 1) * sizeof *saved);
    n = 0;
    for (char **e = environ; *e; e++)
        if (!strncmp(*e, "DEBUGINFOD_", 11) && strchr(*e, '='))
            saved[n++] = xstrdup(*e);
    for (size_t i = 0; i < n; i++) {
        char *eq = strchr(saved[i], '=');
        *eq = 0;
        unsetenv(saved[i]);
        *eq = '=';
    }
    if (rs.debuginfod) {
        rs.env = saved;
        rs.nenv = n;
    } else {
        for (size_t i = 0; i < n; i++)
            free(saved[i]);
        free(saved);
    }
}

/* Puts the DEBUGINFOD_* variables back (for a query of ours) or away again. */
static void env_put(bool on)
{
    for (size_t i = 0; i < rs.nenv; i++) {
        char *eq = strchr(rs.env[i], '=');
        *eq = 0;
        if (on)
            setenv(rs.env[i], eq + 1, 1);
        else
            unsetenv(rs.env[i]);
        *eq = '=';
    }
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* libdebuginfod calls this while a query runs (about once a second while it waits for a
 * server): non-zero stops the query, so a server that accepts and never answers cannot
 * hold us past the budget. */
static int progress(debuginfod_client *c, long a, long b)
{
    (void)c;
    (void)a;
    (void)b;
    if (rs.spent + now() - rs.query_start < rs.budget)
        return 0;
    rs.cancelled = true;
    return 1;
}

static bool client_ready(void)
{
    if (rs.lib_tried)
        return rs.client != NULL;
    rs.lib_tried = true;
    void *so = dlopen("libdebuginfod.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!so) {
        warn("debuginfod: %s; only local debug information is used", dlerror());
        return false;
    }
    debuginfod_client *(*begin)(void) = (debuginfod_client * (*)(void)) dlsym(so, "debuginfod_begin");
    void (*set_progressfn)(debuginfod_client *, debuginfod_progressfn_t) =
        (void (*)(debuginfod_client *, debuginfod_progressfn_t))dlsym(so, "debuginfod_set_progressfn");
    rs.find_debuginfo = (int (*)(debuginfod_client *, const unsigned char *, int, char **))
        dlsym(so, "debuginfod_find_debuginfo");
    if (!begin || !set_progressfn || !rs.find_debuginfo) {
        warn("debuginfod: libdebuginfod.so.1 lacks debuginfod_begin, debuginfod_set_progressfn "
             "or debuginfod_find_debuginfo; only local debug information is used");
        return false;
    }
    env_put(true);
    rs.client = begin();
    env_put(false);
    if (!rs.client) {
        warn("debuginfod: debuginfod_begin failed; only local debug information is used");
        return false;
    }
    set_progressfn(rs.client, progress);
    return true;
}

/* The budget is spent: the frames still waiting for debug information are late. */
static void out_of_time(bool *late)
{
    *late = true;
    if (!rs.late_said) {
        rs.late_said = true;
        warn("debuginfod: the %g s allowed (--timeout) are spent; frames still without debug "
             "information keep their module and offset", rs.budget);
    }
}

/* Asks debuginfod for the debug file of a build ID: a descriptor and the path of the file
 * in its cache (malloc'd), or -1.  *late: the budget ran out before an answer. */
static int debuginfod_find(const char *build_id, char **path, bool *late)
{
    *path = NULL;
    if (!rs.debuginfod)
        return -1;
    if (rs.spent >= rs.budget) {
        out_of_time(late);
        return -1;
    }
    if (!client_ready())
        return -1;
    env_put(true);
    rs.cancelled = false;
    rs.query_start = now();
    char *p = NULL;
    /* build_id_len 0: the ID is given as a hex string. */
    int fd = rs.find_debuginfo(rs.client, (const unsigned char *)build_id, 0, &p);
    rs.spent += now() - rs.query_start;
    env_put(false);
    if (fd < 0) {
        if (rs.cancelled || rs.spent >= rs.budget)
            out_of_time(late);
        return -1;
    }
    *path = p;
    return fd;
}

/* libdw's search for separate debug information (the standard one: the debuglink, the
 * .build-id tree under /usr/lib/debug), except that a file debuginfod gave for the module
 * comes first; only the first call, the module's own debug file, takes it (a later one is
 * for a dwz file). */
static int find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname,
                          Dwarf_Addr base, const char *file_name, const char *debuglink_file,
                          GElf_Word debuglink_crc, char **debuginfo_file_name)
{
    struct sym_module *m = userdata ? *userdata : NULL;
    if (m && m->debug_file && !m->debug_file_used) {
        m->debug_file_used = true;
        int fd = open(m->debug_file, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            *debuginfo_file_name = strdup(m->debug_file);
            return fd;
        }
    }
    return dwfl_standard_find_debuginfo(mod, userdata, modname, base, file_name,
                                        debuglink_file, debuglink_crc, debuginfo_file_name);
}

/* ---- opening a module --------------------------------------------------------------- */

struct sym_module *module_get(const char *path, const char *build_id)
{
    for (size_t i = 0; i < rs.nmods; i++) {
        struct sym_module *m = rs.mods[i];
        if (!strcmp(m->path, path) &&
            (m->build_id ? build_id && !strcmp(m->build_id, build_id) : !build_id))
            return m;
    }
    if (rs.nmods == rs.capmods) {
        rs.capmods = rs.capmods ? rs.capmods * 2 : 32;
        rs.mods = xrealloc(rs.mods, rs.capmods * sizeof *rs.mods);
    }
    struct sym_module *m = xmalloc(sizeof *m);
    memset(m, 0, sizeof *m);
    m->path = xstrdup(path);
    m->build_id = xstrdup(build_id);
    rs.mods[rs.nmods++] = m;
    return m;
}

const char *module_build_id(const struct sym_module *m) { return m->build_id; }
const char *module_path(const struct sym_module *m) { return m->path; }

static void unreport(struct sym_module *m)
{
    if (m->dwfl)
        dwfl_end(m->dwfl);
    m->dwfl = NULL;
    m->mod = NULL;
}

/* Reports `file` as the module at base 0, so that addresses are the file's virtual
 * addresses (the offsets of the protocol, PIE or not).  On failure, why says why. */
static bool report(struct sym_module *m, const char *file, char *why, size_t cap)
{
    unreport(m);
    m->dwfl = dwfl_begin(&callbacks);
    if (!m->dwfl) {
        snprintf(why, cap, "%s", dwfl_errmsg(-1));
        return false;
    }
    dwfl_report_begin(m->dwfl);
    m->mod = dwfl_report_elf(m->dwfl, m->path, file, -1, 0, true);
    if (!m->mod)
        snprintf(why, cap, "%s", dwfl_errmsg(-1));
    dwfl_report_end(m->dwfl, NULL, NULL);
    if (!m->mod) {
        unreport(m);
        return false;
    }
    void **userdata = NULL;
    dwfl_module_info(m->mod, &userdata, NULL, NULL, NULL, NULL, NULL, NULL);
    if (userdata)
        *userdata = m;
    return true;
}

/* The build ID of the reported file, in hex (out has room for SYM_MAX_BUILD_ID + 1). */
static void reported_build_id(const struct sym_module *m, char *out)
{
    const unsigned char *bits = NULL;
    GElf_Addr vaddr;
    int len = dwfl_module_build_id(m->mod, &bits, &vaddr);
    out[0] = 0;
    for (int i = 0; i < len && 2 * i + 2 <= SYM_MAX_BUILD_ID; i++)
        snprintf(out + 2 * i, 3, "%02x", bits[i]);
    if (len > SYM_MAX_BUILD_ID / 2)
        snprintf(out, SYM_MAX_BUILD_ID + 1, "(too long)");
}

/* The debug file of the module's build ID: /usr/lib/debug/.build-id/xx/rest.debug, else
 * debuginfod's; reported as the module when it has that build ID.  Its path, or NULL. */
static const char *by_build_id(struct sym_module *m, char *buf, size_t cap)
{
    char why[256], id[SYM_MAX_BUILD_ID + 1];
    snprintf(buf, cap, DEBUG_ROOT "/.build-id/%.2s/%s.debug", m->build_id, m->build_id + 2);
    if (access(buf, R_OK) == 0 && report(m, buf, why, sizeof why)) {
        reported_build_id(m, id);
        if (!strcmp(id, m->build_id))
            return buf;
        unreport(m);
    }
    bool late = false;
    char *path = NULL;
    int fd = debuginfod_find(m->build_id, &path, &late);
    m->late = late;
    if (fd < 0)
        return NULL;
    close(fd);
    snprintf(buf, cap, "%s", path);
    free(path);
    if (report(m, buf, why, sizeof why)) {
        reported_build_id(m, id);
        if (!strcmp(id, m->build_id))
            return buf;
        unreport(m);
    }
    return NULL;
}

/* Finds what to resolve the module's offsets with, once per session: the file at its path
 * when it is still the one loaded, else the debug file of its build ID.  Each problem is
 * said in one W line. */
static void module_open(struct sym_module *m)
{
    m->opened = true;
    if (m->path[0] != '/')
        return;   /* [vdso] and the like: module and offset only, as symbolize.c */
    char problem[PATH_MAX + 512] = "", why[256] = "", id[SYM_MAX_BUILD_ID + 1];
    if (report(m, m->path, why, sizeof why)) {
        if (!m->build_id)
            return;   /* nothing to check it against; not kept in the cache either */
        reported_build_id(m, id);
        if (!strcmp(id, m->build_id)) {
            m->verified = true;
        } else {
            snprintf(problem, sizeof problem, "replaced on disk since it was loaded (build ID %s, "
                     "%s when loaded)", id[0] ? id : "none", m->build_id);
            unreport(m);
        }
    } else {
        snprintf(problem, sizeof problem, "%s", why);
    }
    if (!m->mod) {
        char buf[PATH_MAX];
        const char *alt = m->build_id ? by_build_id(m, buf, sizeof buf) : NULL;
        if (alt)
            m->verified = true;
        warn("%s: %s; %s%s", m->path, problem, alt ? "named from " : "its frames are not named",
             alt ? alt : (m->late ? " (debuginfod ran out of time)" : ""));
        return;
    }
    /* The file is the one loaded.  Without debug information of its own or next to it,
     * debuginfod may have some (the query is made once, within the budget). */
    Dwarf_Addr bias;
    if (rs.debuginfod && !dwfl_module_getdwarf(m->mod, &bias)) {
        bool late = false;
        char *path = NULL;
        int fd = debuginfod_find(m->build_id, &path, &late);
        m->late = late;
        if (fd >= 0) {
            close(fd);
            m->debug_file = path;
            if (!report(m, m->path, why, sizeof why)) {
                warn("%s: %s; its frames are not named", m->path, why);
                return;
            }
            reported_build_id(m, id);
            m->verified = !strcmp(id, m->build_id);
            if (!m->verified)
                unreport(m);
        }
    }
}

/* ---- resolving, as symbolize.c does ----------------------------------------------------- */

/* An address's real function and its place, and the functions inlined there. */
struct resolved {
    char *function;            /* the real (outermost) function, demangled */
    char *file;                /* the call to the first inlined function, or the address */
    int line;
    unsigned ninline;          /* innermost first */
    struct sym_frame inl[MAX_INLINE];
};

static char *demangled(const char *name)
{
    if (!name)
        return NULL;
    if (name[0] == '_' && name[1] == 'Z') {
        int status = -1;
        char *dem = __cxa_demangle(name, NULL, NULL, &status);
        if (dem && status == 0)
            return dem;
        free(dem);
    }
    return xstrdup(name);
}

/* The name a DWARF scope (a function or an inlined instance of one) goes by: the linkage
 * name demangled when there is one (C++ qualifies it), else the plain name. */
static char *scope_name(Dwarf_Die *die)
{
    Dwarf_Attribute attr;
    const char *n = NULL;
    if (dwarf_attr_integrate(die, DW_AT_linkage_name, &attr) ||
        dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr))
        n = dwarf_formstring(&attr);
    if (n)
        return demangled(n);
    if (dwarf_attr_integrate(die, DW_AT_name, &attr))
        n = dwarf_formstring(&attr);
    return xstrdup(n);
}

/* Expands the functions inlined at `addr`: the innermost gets the address's own line,
 * each outer one the line of the call it inlined, and the real function the line of the
 * outermost inlined call.
 * Where this departs from symbolize.c: dwarf_getscopes, past the innermost inlined
 * instance, goes on with the scopes of that function's abstract definition, so a function
 * inlined into an inlined function lost the middle one (and the real function got the
 * middle one's line).  The chain is taken from the DIE tree instead, as eu-addr2line -i
 * does: dwarf_getscopes_die of the innermost scope.  With one level of inlining the two
 * agree. */
static void inline_chain(Dwfl_Module *mod, Dwarf_Addr addr, struct resolved *out)
{
    Dwarf_Addr bias = 0;
    Dwarf_Die *cu = dwfl_module_addrdie(mod, addr, &bias);
    if (!cu)
        return;
    Dwarf_Die *scopes = NULL;
    int n = dwarf_getscopes(cu, addr - bias, &scopes);
    if (n <= 0)
        return;
    Dwarf_Die innermost = scopes[0];
    free(scopes);
    scopes = NULL;
    n = dwarf_getscopes_die(&innermost, &scopes);
    if (n <= 0)
        return;
    /* The inlined instances, innermost first, up to the real function; lexical blocks
     * between them are only scopes of their own. */
    int idx[MAX_INLINE], ninl = 0, outer = -1;
    for (int i = 0; i < n; i++) {
        int tag = dwarf_tag(&scopes[i]);
        if (tag == DW_TAG_inlined_subroutine && ninl < MAX_INLINE) {
            idx[ninl++] = i;
        } else if (tag == DW_TAG_subprogram) {
            outer = i;
            break;
        }
    }
    if (ninl) {
        Dwarf_Files *files = NULL;
        size_t nfiles = 0;
        dwarf_getsrcfiles(cu, &files, &nfiles);
        char *file = out->file;    /* moves to the innermost inlined frame */
        int line = out->line;
        for (int k = 0; k < ninl; k++) {
            Dwarf_Die *sc = &scopes[idx[k]];
            out->inl[k].function = scope_name(sc);
            out->inl[k].file = file;
            out->inl[k].line = line;
            /* Where it was inlined: a place in the next function out. */
            Dwarf_Attribute attr;
            Dwarf_Word w;
            file = NULL;
            line = 0;
            if (dwarf_attr(sc, DW_AT_call_file, &attr) && dwarf_formudata(&attr, &w) == 0 &&
                files && w < nfiles)
                file = xstrdup(dwarf_filesrc(files, w, NULL, NULL));
            if (dwarf_attr(sc, DW_AT_call_line, &attr) && dwarf_formudata(&attr, &w) == 0)
                line = (int)w;
        }
        out->ninline = (unsigned)ninl;
        out->file = file;
        out->line = line;
        if (outer >= 0 && !out->function)
            out->function = scope_name(&scopes[outer]);
    }
    free(scopes);
}

static void resolve_at(Dwfl_Module *mod, Dwarf_Addr addr, struct resolved *out)
{
    GElf_Off off;
    GElf_Sym sym;
    const char *name = dwfl_module_addrinfo(mod, addr, &off, &sym, NULL, NULL, NULL);
    if (name)
        out->function = demangled(name);
    Dwfl_Line *line = dwfl_module_getsrc(mod, addr);
    if (line) {
        int lineno = 0;
        const char *file = dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL);
        if (file && lineno > 0) {
            out->file = xstrdup(file);
            out->line = lineno;
        }
    }
    inline_chain(mod, addr, out);
}

void module_resolve(struct sym_module *m, uint64_t offset, struct sym_answer *out,
                    enum sym_keep *keep)
{
    if (!m->opened)
        module_open(m);
    memset(out, 0, sizeof *out);
    *keep = KEEP_NOT;
    struct resolved r;
    memset(&r, 0, sizeof r);
    if (m->mod)
        resolve_at(m->mod, (Dwarf_Addr)offset, &r);
    if (r.ninline || r.function || r.file) {
        out->n = r.ninline + 1;
        out->f = xmalloc(out->n * sizeof *out->f);
        memcpy(out->f, r.inl, r.ninline * sizeof *out->f);
        out->f[r.ninline] = (struct sym_frame){ r.function, r.file, r.line };
    }
    out->status = m->late ? SYM_LATE : out->n ? SYM_OK : SYM_NONE;
    if (m->late || !m->verified || !m->mod)
        return;
    /* Answers made without debug information are kept for the session only: once the
     * debug file is installed (or debuginfod is asked), a later session does better. */
    Dwarf_Addr bias;
    *keep = dwfl_module_getdwarf(m->mod, &bias) ? KEEP_FILE : KEEP_SESSION;
}
