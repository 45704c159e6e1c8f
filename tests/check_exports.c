/* The library's dynamic symbol table: it is loaded into arbitrary programs, so it may
 * export only the ms_ API, the allocator entry points it interposes and COM's six
 * functions (mallocspy/com.h); anything else could capture a symbol of the program's.
 * And none of the API may be missing.  src/exports.map names the API one by one, in
 * version nodes: it must hold exactly the headers' functions, and the library exactly
 * them at their node's version, plus the entry points unversioned (versioned, they would
 * no longer interpose: see src/exports.map).  The soname is libmallocspy.so.0. */
#include <check.h>
#include <dlfcn.h>
#include <link.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ctype.h>

#include "mallocspy.h"

#include "testutil.h"

static const char *const c_entry[] = {
    "malloc", "free", "calloc", "realloc", "reallocarray", "posix_memalign",
    "aligned_alloc", "memalign", "valloc", "pvalloc", "malloc_usable_size",
};
static const char *const api[] = {
    "ms_get_malloc", "ms_alloc", "ms_realloc", "ms_free", "ms_get_size", "ms_did_alloc",
    "ms_heap_minimize", "ms_register_spy", "ms_register_spy_flags", "ms_revoke_spy",
    "ms_spy_call", "ms_report_leaks", "ms_version", "ms_get_host_malloc",
};
/* COM's names, exactly these: a preloaded library takes any name it exports from the
 * program (mallocspy-com(3)). */
static const char *const com[] = {
    "CoGetMalloc", "CoTaskMemAlloc", "CoTaskMemRealloc", "CoTaskMemFree",
    "CoRegisterMallocSpy", "CoRevokeMallocSpy",
};
/* Interposed later (C++ operators, the mmap family, dlclose for the module table, the
 * calls that start programs): allowed, not required. */
static const char *const later[] = {
    "mmap", "munmap", "mremap", "mmap64", "dlclose",
    "execve", "execv", "execvpe", "execvp", "fexecve", "execl", "execlp", "execle",
    "posix_spawn", "posix_spawnp",
};
static const char *const cxx_prefix[] = { "_Znw", "_Zna", "_ZdlPv", "_ZdaPv" };

#define N(a) (sizeof(a) / sizeof((a)[0]))

static bool in_list(const char *name, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(name, list[i]))
            return true;
    return false;
}

/* The C++ operators' mangled names, all twenty. */
static const char *const cxx[] = {
    "_Znwm", "_Znam", "_ZnwmRKSt9nothrow_t", "_ZnamRKSt9nothrow_t", "_ZnwmSt11align_val_t",
    "_ZnamSt11align_val_t", "_ZnwmSt11align_val_tRKSt9nothrow_t",
    "_ZnamSt11align_val_tRKSt9nothrow_t", "_ZdlPv", "_ZdaPv", "_ZdlPvm", "_ZdaPvm",
    "_ZdlPvSt11align_val_t", "_ZdaPvSt11align_val_t", "_ZdlPvmSt11align_val_t",
    "_ZdaPvmSt11align_val_t", "_ZdlPvRKSt9nothrow_t", "_ZdaPvRKSt9nothrow_t",
    "_ZdlPvSt11align_val_tRKSt9nothrow_t", "_ZdaPvSt11align_val_tRKSt9nothrow_t",
};

static bool allowed(const char *name)
{
    if (!strncmp(name, "ms_", 3) && name[3])
        return true;
    if (in_list(name, c_entry, N(c_entry)) || in_list(name, later, N(later)) ||
        in_list(name, com, N(com)))
        return true;
    for (size_t i = 0; i < N(cxx_prefix); i++)
        if (!strncmp(name, cxx_prefix[i], strlen(cxx_prefix[i])))
            return true;
    return false;
}

/* Names, each with a version: for a library's symbol what nm prints after the name
 * ("@@MALLOCSPY_0.1", "@GLIBC_2.2.5", "" when unversioned); for src/exports.map the
 * node that lists it. */
struct syms {
    size_t n;
    char **name;
    char **ver;
};

static void add_ver(struct syms *s, const char *name, size_t len, const char *ver)
{
    s->name = realloc(s->name, (s->n + 1) * sizeof *s->name);
    s->ver = realloc(s->ver, (s->n + 1) * sizeof *s->ver);
    s->name[s->n] = strndup(name, len);
    s->ver[s->n++] = strdup(ver);
}

static void add(struct syms *s, const char *name, size_t len)
{
    add_ver(s, name, len, "");
}

static void syms_free(struct syms *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->name[i]);
        free(s->ver[i]);
    }
    free(s->name);
    free(s->ver);
}

/* The defined dynamic symbols of `path` whose nm type is one of T W D B V i, each with
 * its version suffix (@VER, @@VER) apart. */
static struct syms dynamic_symbols(const char *path)
{
    char *argv[] = { "nm", "-D", "--defined-only", (char *)path, NULL };
    const char *env[] = { "LD_PRELOAD=", "LANG=C", "LC_ALL=C", NULL };
    struct run r = run_cmd(argv, env, NULL);
    ck_assert_msg(r.status == 0, "nm -D --defined-only %s: status %d\n%s", path, r.status,
                  r.err);
    struct syms s = { 0, NULL, NULL };
    char *save = NULL;
    for (char *line = strtok_r(r.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        /* "<address> <type> <name>"; 'A' version nodes and the like have no address in
         * some nm versions, so take the last two fields. */
        char *name = strrchr(line, ' ');
        ck_assert_msg(name && name > line + 1, "unexpected nm line: '%s'", line);
        char type = name[-1];
        name++;
        if (!strchr("TWDBRVGSi", type) || !*name)
            continue;
        size_t len = strcspn(name, "@");
        add_ver(&s, name, len, name + len);
    }
    run_free(&r);
    return s;
}

/* The index of `name` in s, or -1. */
static int find(const struct syms *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->name[i], name))
            return (int)i;
    return -1;
}

static bool has(const struct syms *s, const char *name)
{
    return find(s, name) >= 0;
}

/* Every unexpected name, space-separated (malloc'd; "" when there is none). */
static char *unexpected(const struct syms *s, size_t *count)
{
    size_t len = 1;
    for (size_t i = 0; i < s->n; i++)
        len += strlen(s->name[i]) + 1;
    char *out = calloc(1, len);
    *count = 0;
    for (size_t i = 0; i < s->n; i++)
        if (!allowed(s->name[i])) {
            strcat(out, " ");
            strcat(out, s->name[i]);
            (*count)++;
        }
    return out;
}

START_TEST(test_only_api_and_allocator_exported)
{
    struct syms s = dynamic_symbols(lib_path());
    ck_assert_msg(s.n >= N(c_entry) + N(api) + N(com), "nm listed only %zu symbols of %s", s.n,
                  lib_path());
    size_t bad;
    char *list = unexpected(&s, &bad);
    ck_assert_msg(bad == 0, "%zu unexpected exported symbol(s):%s", bad, list);
    free(list);
    syms_free(&s);
}
END_TEST

START_TEST(test_entry_points_and_api_present)
{
    struct syms s = dynamic_symbols(lib_path());
    char missing[2048] = "";
    for (size_t i = 0; i < N(c_entry); i++)
        if (!has(&s, c_entry[i]))
            snprintf(missing + strlen(missing), sizeof missing - strlen(missing), " %s",
                     c_entry[i]);
    for (size_t i = 0; i < N(api); i++)
        if (!has(&s, api[i]))
            snprintf(missing + strlen(missing), sizeof missing - strlen(missing), " %s",
                     api[i]);
    for (size_t i = 0; i < N(com); i++)
        if (!has(&s, com[i]))
            snprintf(missing + strlen(missing), sizeof missing - strlen(missing), " %s",
                     com[i]);
    ck_assert_msg(!missing[0], "not exported by %s:%s", lib_path(), missing);
    syms_free(&s);
}
END_TEST

/* The functions a public header declares (not the static inline ones it defines), found
 * in the preprocessor's output: an identifier followed by '(' outside any brace or
 * parenthesis, whose declaration ends with ';'. */
static struct syms header_functions(const char *text, const char *file)
{
    struct syms s = { 0, NULL, NULL };
    int braces = 0, parens = 0;
    const char *name = NULL;
    size_t nlen = 0;
    bool pending = false;     /* a declarator was seen at top level: `name` */
    bool mine = false;        /* the line markers say the text is `file`'s own */
    for (const char *p = text; *p; p++) {
        if (*p == '#') {      /* line marker: # N "path" flags */
            const char *q = strchr(p, '"'), *e = q ? strchr(q + 1, '"') : NULL;
            const char *nl = strchr(p, '\n');
            if (q && e && (!nl || q < nl)) {
                size_t fl = strlen(file), pl = (size_t)(e - q - 1);
                mine = pl >= fl && !strncmp(e - fl, file, fl);
            }
            if (!nl)
                break;
            p = nl;
            continue;
        }
        if (isalpha((unsigned char)*p) || *p == '_') {
            const char *q = p;
            while (isalnum((unsigned char)*q) || *q == '_')
                q++;
            const char *r = q;
            while (*r == ' ' || *r == '\t' || *r == '\n')
                r++;
            bool keyword = (size_t)(q - p) == 14 && !strncmp(p, "_Static_assert", 14);
            if (!braces && !parens && *r == '(' && strncmp(p, "__", 2) && !keyword &&
                !pending) {
                name = p;
                nlen = (size_t)(q - p);
                pending = true;
            }
            p = q - 1;
            continue;
        }
        switch (*p) {
        case '(': parens++; break;
        case ')': parens--; break;
        case '{':
            if (!braces && !parens)
                pending = false;   /* a definition (static inline), or a struct body */
            braces++;
            break;
        case '}': braces--; break;
        case ';':
            if (!braces && !parens) {
                if (pending && mine)
                    add(&s, name, nlen);
                pending = false;
            }
            break;
        }
    }
    return s;
}

static struct syms declared_in(const char *header)
{
    char *argv[] = { "cc", "-E", "-D_GNU_SOURCE", "-I", (char *)repo_file("include"),
                     (char *)repo_file(header), NULL };
    const char *env[] = { "LD_PRELOAD=", "LANG=C", "LC_ALL=C", NULL };
    struct run r = run_cmd(argv, env, NULL);
    ck_assert_msg(r.status == 0, "cc -E %s: status %d\n%s", header, r.status, r.err);
    struct syms s = header_functions(r.out, header);
    run_free(&r);
    return s;
}

/* A version script's nodes, "NAME { global: names; [local: names;] } [PARENT];": every
 * name under global: with its node's name, whether any is a pattern, whether any node has
 * a local: section, and the nodes (name, then parent or "") in order. */
struct version_map {
    struct syms names;
    struct syms nodes;
    bool pattern, local;
};

static struct version_map read_map(const char *path)
{
    char *text = read_file(path);
    ck_assert_msg(text, "cannot read %s", path);
    struct version_map m = { { 0, NULL, NULL }, { 0, NULL, NULL }, false, false };
    /* Comments out first. */
    for (char *c = strstr(text, "/*"); c; c = strstr(c, "/*")) {
        char *e = strstr(c + 2, "*/");
        ck_assert_msg(e, "unterminated comment in %s", path);
        memset(c, ' ', (size_t)(e + 2 - c));
    }
    /* Braces and semicolons as tokens of their own. */
    char *spaced = calloc(3, strlen(text) + 1), *o = spaced;
    for (const char *p = text; *p; p++) {
        if (*p == '{' || *p == '}' || *p == ';') {
            *o++ = ' ';
            *o++ = *p;
            *o++ = ' ';
        } else {
            *o++ = *p;
        }
    }
    enum { OUTSIDE, NAMED, IN_NODE, AFTER_NODE } state = OUTSIDE;
    bool in_local = false;
    char node[128] = "";
    for (char *save = NULL, *tok = strtok_r(spaced, " \t\n", &save); tok;
         tok = strtok_r(NULL, " \t\n", &save)) {
        switch (state) {
        case OUTSIDE:
            ck_assert_msg(strcmp(tok, "{"), "%s: a node without a name (an anonymous "
                          "version node leaves no room for versions)", path);
            ck_assert_msg(strlen(tok) < sizeof node, "%s: node name too long", path);
            snprintf(node, sizeof node, "%s", tok);
            state = NAMED;
            break;
        case NAMED:
            ck_assert_msg(!strcmp(tok, "{"), "%s: '{' expected after %s", path, node);
            state = IN_NODE;
            in_local = false;
            break;
        case IN_NODE:
            if (!strcmp(tok, "}")) {
                state = AFTER_NODE;
                add_ver(&m.nodes, node, strlen(node), "");
            } else if (!strcmp(tok, "global:")) {
                in_local = false;
            } else if (!strcmp(tok, "local:")) {
                in_local = m.local = true;
            } else if (strcmp(tok, ";") && !in_local) {
                if (strpbrk(tok, "*?["))
                    m.pattern = true;
                add_ver(&m.names, tok, strlen(tok), node);
            }
            break;
        case AFTER_NODE:
            if (!strcmp(tok, ";")) {
                state = OUTSIDE;
            } else {
                free(m.nodes.ver[m.nodes.n - 1]);
                m.nodes.ver[m.nodes.n - 1] = strdup(tok);
            }
            break;
        }
    }
    ck_assert_msg(state == OUTSIDE, "%s: unterminated node %s", path, node);
    free(spaced);
    free(text);
    return m;
}

static void map_free(struct version_map *m)
{
    syms_free(&m->names);
    syms_free(&m->nodes);
}

/* Every entry point preload/ defines: the C allocator, the C++ operators, the mmap family
 * and dlclose. */
static bool entry_point(const char *name)
{
    return in_list(name, c_entry, N(c_entry)) || in_list(name, later, N(later)) ||
           in_list(name, cxx, N(cxx));
}

START_TEST(test_map_is_explicit_and_matches_headers)
{
    struct version_map vm = read_map(repo_file("src/exports.map"));
    struct syms map = vm.names;
    ck_assert_msg(!vm.pattern, "src/exports.map exports by pattern: list each name");
    ck_assert_msg(map.n >= 25, "src/exports.map: only %zu names found", map.n);
    struct syms api = declared_in("include/mallocspy.h");
    struct syms com = declared_in("include/mallocspy/com.h");
    ck_assert_msg(api.n >= 25 && has(&api, "ms_alloc") && has(&api, "ms_spy_stack") &&
                  !has(&api, "ms_spy_ops"), "mallocspy.h: %zu functions found", api.n);
    ck_assert(has(&com, "CoTaskMemAlloc") && has(&com, "ms_get_host_malloc"));
    char missing[4096] = "", extra[4096] = "";
    /* Every function of the headers is exported... */
    for (size_t i = 0; i < api.n; i++)
        if (!has(&map, api.name[i]))
            snprintf(missing + strlen(missing), sizeof missing - strlen(missing), " %s",
                     api.name[i]);
    for (size_t i = 0; i < com.n; i++)
        if (!has(&map, com.name[i]))
            snprintf(missing + strlen(missing), sizeof missing - strlen(missing), " %s",
                     com.name[i]);
    /* ...and nothing else: an entry point listed there would be versioned. */
    char versioned[2048] = "";
    for (size_t i = 0; i < map.n; i++) {
        const char *n = map.name[i];
        if (entry_point(n))
            snprintf(versioned + strlen(versioned), sizeof versioned - strlen(versioned),
                     " %s", n);
        else if (!has(&api, n) && !has(&com, n))
            snprintf(extra + strlen(extra), sizeof extra - strlen(extra), " %s", n);
    }
    ck_assert_msg(!missing[0], "declared in the headers, not in src/exports.map:%s", missing);
    ck_assert_msg(!extra[0], "in src/exports.map, not in the headers:%s", extra);
    ck_assert_msg(!versioned[0], "interposed entry points in a version node of "
                  "src/exports.map (they would no longer interpose):%s", versioned);
    map_free(&vm);
    syms_free(&api);
    syms_free(&com);
}
END_TEST

/* Nodes named MALLOCSPY_<release>, the first with no parent and each later one inheriting
 * the one before; no local: section, whose "*" would hide the entry points. */
START_TEST(test_version_nodes)
{
    struct version_map vm = read_map(repo_file("src/exports.map"));
    ck_assert_msg(vm.nodes.n >= 1, "src/exports.map has no version node");
    ck_assert_msg(!vm.local, "src/exports.map has a local: section: the entry points, in "
                  "no node, must stay exported (-fvisibility=hidden hides the rest)");
    for (size_t i = 0; i < vm.nodes.n; i++) {
        const char *n = vm.nodes.name[i];
        size_t digits = strspn(n + 10, "0123456789.");
        ck_assert_msg(!strncmp(n, "MALLOCSPY_", 10) && digits > 0 && !n[10 + digits] &&
                      isdigit((unsigned char)n[10]) && n[9 + digits] != '.',
                      "version node '%s' is not MALLOCSPY_<release>", n);
        ck_assert_msg(!strcmp(vm.nodes.ver[i], i ? vm.nodes.name[i - 1] : ""),
                      "version node %s inherits '%s', not the node before it", n,
                      vm.nodes.ver[i]);
    }
    map_free(&vm);
}
END_TEST

/* What differs between a library's exports and what it must export: the names of
 * src/exports.map, each at its node's version as the default one (@@), and the entry
 * points, unversioned; nothing else.  "" when nothing does. */
static void exports_diff(const struct syms *lib, const struct syms *map, char *diff,
                         size_t cap)
{
    diff[0] = 0;
    for (size_t i = 0; i < map->n; i++) {
        int k = find(lib, map->name[i]);
        char want[160];
        snprintf(want, sizeof want, "@@%s", map->ver[i]);
        if (k < 0 || strcmp(lib->ver[k], want))
            snprintf(diff + strlen(diff), cap - strlen(diff), " -%s%s", map->name[i], want);
    }
    for (size_t i = 0; i < N(c_entry) + N(later) + N(cxx); i++) {
        const char *n = i < N(c_entry) ? c_entry[i]
                      : i < N(c_entry) + N(later) ? later[i - N(c_entry)]
                      : cxx[i - N(c_entry) - N(later)];
        int k = find(lib, n);
        if (k < 0 || lib->ver[k][0])
            snprintf(diff + strlen(diff), cap - strlen(diff), " -%s", n);
    }
    for (size_t i = 0; i < lib->n; i++) {
        int k = find(map, lib->name[i]);
        char want[160];
        snprintf(want, sizeof want, "@@%s", k >= 0 ? map->ver[k] : "");
        if (k >= 0 ? strcmp(lib->ver[i], want) : !entry_point(lib->name[i]) || lib->ver[i][0])
            snprintf(diff + strlen(diff), cap - strlen(diff), " +%s%s", lib->name[i],
                     lib->ver[i]);
    }
}

START_TEST(test_library_exports_exactly_the_map)
{
    struct version_map vm = read_map(repo_file("src/exports.map"));
    struct syms lib = dynamic_symbols(lib_path());
    char diff[4096];
    exports_diff(&lib, &vm.names, diff, sizeof diff);
    ck_assert_msg(!diff[0], "the library's exports differ from src/exports.map and the "
                  "entry points (- expected, + found):%s", diff);
    map_free(&vm);
    syms_free(&lib);
}
END_TEST

/* The comparison itself, on made-up tables: a versioned entry point, an API name without
 * its version or at another, and a stray name are each caught. */
START_TEST(test_version_check_fails)
{
    struct syms map = { 0, NULL, NULL };
    add_ver(&map, "ms_alloc", 8, "MALLOCSPY_0.1");
    static const char *const bad[][2] = {
        { "malloc", "@@MALLOCSPY_0.1" },   /* would not interpose */
        { "ms_alloc", "" },
        { "ms_alloc", "@@MALLOCSPY_0.2" },
        { "ms_alloc", "@MALLOCSPY_0.1" },  /* not the default version */
        { "tracker_init", "" },
    };
    for (size_t b = 0; b < N(bad); b++) {
        struct syms lib = { 0, NULL, NULL };
        for (size_t i = 0; i < N(c_entry) + N(later) + N(cxx); i++) {
            const char *n = i < N(c_entry) ? c_entry[i]
                          : i < N(c_entry) + N(later) ? later[i - N(c_entry)]
                          : cxx[i - N(c_entry) - N(later)];
            if (strcmp(n, bad[b][0]))
                add(&lib, n, strlen(n));
        }
        if (strcmp(bad[b][0], "ms_alloc"))
            add_ver(&lib, "ms_alloc", 8, "@@MALLOCSPY_0.1");
        add_ver(&lib, bad[b][0], strlen(bad[b][0]), bad[b][1]);
        char diff[1024];
        exports_diff(&lib, &map, diff, sizeof diff);
        ck_assert_msg(diff[0], "%s%s passed the check", bad[b][0], bad[b][1]);
        syms_free(&lib);
    }
    /* And the right table passes. */
    struct syms lib = { 0, NULL, NULL };
    for (size_t i = 0; i < N(c_entry) + N(later) + N(cxx); i++) {
        const char *n = i < N(c_entry) ? c_entry[i]
                      : i < N(c_entry) + N(later) ? later[i - N(c_entry)]
                      : cxx[i - N(c_entry) - N(later)];
        add(&lib, n, strlen(n));
    }
    add_ver(&lib, "ms_alloc", 8, "@@MALLOCSPY_0.1");
    char diff[1024];
    exports_diff(&lib, &map, diff, sizeof diff);
    ck_assert_msg(!diff[0], "the right table fails the check:%s", diff);
    syms_free(&lib);
    syms_free(&map);
}
END_TEST

/* The soname is libmallocspy.so.0, and this program (linked with -lmallocspy) loaded the
 * library by it and recorded the version of the names it uses. */
START_TEST(test_soname_and_needed_version)
{
    char *argv[] = { "readelf", "-d", "-W", (char *)lib_path(), NULL };
    const char *env[] = { "LD_PRELOAD=", "LANG=C", "LC_ALL=C", NULL };
    struct run r = run_cmd(argv, env, NULL);
    ck_assert_msg(r.status == 0, "readelf -d: status %d\n%s", r.status, r.err);
    ck_assert_msg(strstr(r.out, "Library soname: [libmallocspy.so.0]"), "soname:\n%s", r.out);
    run_free(&r);

    Dl_info info;
    ck_assert(dladdr((void *)ms_alloc, &info) && info.dli_fname);
    ck_assert_msg(ends_with(info.dli_fname, "/libmallocspy.so.0"),
                  "this program loaded %s, not the soname", info.dli_fname);

    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    ck_assert(n > 0);
    self[n] = 0;
    struct version_map vm = read_map(repo_file("src/exports.map"));
    char *vargv[] = { "readelf", "-V", "-W", self, NULL };
    r = run_cmd(vargv, env, NULL);
    ck_assert_msg(r.status == 0, "readelf -V: status %d\n%s", r.status, r.err);
    const char *file = strstr(r.out, "File: libmallocspy.so.0");
    ck_assert_msg(file, "%s needs no version of libmallocspy.so.0:\n%s", self, r.out);
    const char *next = strstr(file + 1, "File: ");
    char want[160];
    snprintf(want, sizeof want, "Name: %s", vm.nodes.name[0]);
    const char *name = strstr(file, want);
    ck_assert_msg(name && (!next || name < next), "%s needs no %s of libmallocspy.so.0:\n%s",
                  self, vm.nodes.name[0], r.out);
    run_free(&r);
    map_free(&vm);
}
END_TEST

/* How the loader binds: the API by its version, and this program's reference to malloc,
 * which carries the C library's version as every program's does, to mallocspy's
 * unversioned malloc. */
START_TEST(test_versions_bind)
{
    struct version_map vm = read_map(repo_file("src/exports.map"));
    void *api = dlsym(RTLD_DEFAULT, "ms_alloc");
    ck_assert_ptr_nonnull(api);
    ck_assert_ptr_eq(dlvsym(RTLD_DEFAULT, "ms_alloc", vm.nodes.name[0]), api);
    ck_assert_ptr_null(dlvsym(RTLD_DEFAULT, "ms_alloc", "MALLOCSPY_999"));

    /* A program built without libmallocspy holds malloc@GLIBC_..., free@GLIBC_... */
    char *argv[] = { "nm", "-D", "--undefined-only", (char *)prog_path("bound_malloc"), NULL };
    const char *env[] = { "LD_PRELOAD=", "LANG=C", "LC_ALL=C", NULL };
    struct run r = run_cmd(argv, env, NULL);
    ck_assert_msg(r.status == 0, "nm -D --undefined-only: status %d\n%s", r.status, r.err);
    ck_assert_msg(strstr(r.out, " malloc@GLIBC_") && strstr(r.out, " free@GLIBC_"),
                  "bound_malloc's references carry no version of the C library:\n%s", r.out);
    run_free(&r);
    /* ...bound to the C library alone, and to mallocspy under the preload. */
    char *pargv[] = { (char *)prog_path("bound_malloc"), NULL };
    r = run_cmd(pargv, env, NULL);
    ck_assert_msg(r.status == 0, "bound_malloc: status %d\n%s", r.status, r.err);
    ck_assert_msg(strstr(r.out, "/libc.so.6\n") && !strstr(r.out, "libmallocspy"),
                  "bound_malloc without the preload: %s", r.out);
    run_free(&r);
    r = run_spied(pargv, "report=quiet", NULL);
    ck_assert_msg(r.status == 0, "bound_malloc: status %d\n%s", r.status, r.err);
    char *real = realpath(lib_path(), NULL), *save = NULL;
    ck_assert(real);
    int lines = 0;
    for (char *l = strtok_r(r.out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char *bound = realpath(l, NULL);
        ck_assert_msg(bound && !strcmp(bound, real), "under the preload, bound to %s", l);
        free(bound);
        lines++;
    }
    ck_assert_int_eq(lines, 2);
    run_free(&r);
    free(real);
    map_free(&vm);
}
END_TEST

/* The header reader: declarations in, definitions and types out. */
START_TEST(test_header_reader)
{
    struct syms s = header_functions(
        "# 1 \"x.h\"\n"
        "typedef struct ms_spy_ops { size_t (*pre_alloc)(void *self, size_t n); } ms_spy_ops;\n"
        "void *ms_alloc(void *m, size_t size) __attribute__((malloc));\n"
        "static inline int ms_inline(int a) { return a; }\n"
        "int ms_last(void);\n"
        "# 1 \"/usr/include/stdio.h\" 1\n"
        "int printf(const char *fmt, ...);\n"
        "# 9 \"x.h\" 2\n"
        "int ms_after(void);\n", "x.h");
    ck_assert_uint_eq(s.n, 3);
    ck_assert_str_eq(s.name[0], "ms_alloc");
    ck_assert_str_eq(s.name[1], "ms_last");
    ck_assert_str_eq(s.name[2], "ms_after");
    syms_free(&s);
}
END_TEST

/* The checker itself: the rules, and a library that does export other names (libc). */
START_TEST(test_checker_rejects_foreign_symbols)
{
    ck_assert(allowed("ms_anything"));
    ck_assert(allowed("malloc_usable_size"));
    ck_assert(allowed("_Znwm"));
    ck_assert(allowed("_ZnamRKSt9nothrow_t"));
    ck_assert(allowed("_ZdlPvm"));
    ck_assert(allowed("_ZdaPvSt11align_val_t"));
    ck_assert(allowed("mmap64"));
    ck_assert(!allowed("malloc_trim"));
    ck_assert(!allowed("ms"));
    ck_assert(!allowed("MS_alloc"));
    ck_assert(!allowed("_ZN5mallocspy4heapEv"));
    ck_assert(!allowed("mallinfo"));
    ck_assert(!allowed("tracker_init"));
    ck_assert(allowed("CoTaskMemAlloc"));
    ck_assert(allowed("CoRevokeMallocSpy"));
    ck_assert(!allowed("CoInitialize"));
    ck_assert(!allowed("CoTaskMemAllocEx"));
    ck_assert(!allowed("IID_IMallocSpy"));
    ck_assert(!allowed("com_core_alloc"));

    void *h = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
    ck_assert_ptr_nonnull(h);
    struct link_map *lm = NULL;
    ck_assert_int_eq(dlinfo(h, RTLD_DI_LINKMAP, &lm), 0);
    ck_assert_msg(lm && lm->l_name && lm->l_name[0], "no path for libc.so.6");
    struct syms s = dynamic_symbols(lm->l_name);
    ck_assert(has(&s, "malloc"));
    ck_assert(has(&s, "printf"));
    /* nm shows versions: an entry point found unversioned is really so. */
    ck_assert_msg(s.ver[find(&s, "printf")][0] == '@', "nm -D shows no versions: '%s'",
                  s.ver[find(&s, "printf")]);
    size_t bad;
    char *list = unexpected(&s, &bad);
    ck_assert_msg(bad > 100, "only %zu foreign symbols found in %s", bad, lm->l_name);
    ck_assert_ptr_nonnull(strstr(list, " printf"));
    free(list);
    syms_free(&s);
    dlclose(h);
}
END_TEST

Suite *suite(void)
{
    Suite *s = suite_create("exports");
    TCase *t = tcase_create("exports");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, test_only_api_and_allocator_exported);
    tcase_add_test(t, test_entry_points_and_api_present);
    tcase_add_test(t, test_checker_rejects_foreign_symbols);
    tcase_add_test(t, test_map_is_explicit_and_matches_headers);
    tcase_add_test(t, test_library_exports_exactly_the_map);
    tcase_add_test(t, test_version_nodes);
    tcase_add_test(t, test_version_check_fails);
    tcase_add_test(t, test_soname_and_needed_version);
    tcase_add_test(t, test_versions_bind);
    tcase_add_test(t, test_header_reader);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return run_suite(suite());
}
