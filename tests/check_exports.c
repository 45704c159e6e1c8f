/* The library's dynamic symbol table: it is loaded into arbitrary programs, so it may
 * export only the ms_ API, the allocator entry points it interposes and COM's six
 * functions (mallocspy/com.h); anything else could capture a symbol of the program's.
 * And none of the API may be missing.  src/exports.map names each one explicitly: it must
 * hold exactly the headers' functions and the entry points, and the library exactly it. */
#include <check.h>
#include <dlfcn.h>
#include <link.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ctype.h>

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

struct syms {
    size_t n;
    char **name;
};

static void add(struct syms *s, const char *name, size_t len)
{
    s->name = realloc(s->name, (s->n + 1) * sizeof *s->name);
    s->name[s->n++] = strndup(name, len);
}

static void syms_free(struct syms *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->name[i]);
    free(s->name);
}

/* The defined dynamic symbols of `path` whose nm type is one of T W D B V i; the version
 * suffix (@VER, @@VER) is dropped. */
static struct syms dynamic_symbols(const char *path)
{
    char *argv[] = { "nm", "-D", "--defined-only", (char *)path, NULL };
    const char *env[] = { "LD_PRELOAD=", "LANG=C", "LC_ALL=C", NULL };
    struct run r = run_cmd(argv, env, NULL);
    ck_assert_msg(r.status == 0, "nm -D --defined-only %s: status %d\n%s", path, r.status,
                  r.err);
    struct syms s = { 0, NULL };
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
        name[strcspn(name, "@")] = 0;
        s.name = realloc(s.name, (s.n + 1) * sizeof *s.name);
        s.name[s.n++] = strdup(name);
    }
    run_free(&r);
    return s;
}

static bool has(const struct syms *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->name[i], name))
            return true;
    return false;
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
    struct syms s = { 0, NULL };
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

/* The names under `global:` in a version script, and whether any is a pattern. */
static struct syms map_names(const char *path, bool *pattern)
{
    char *text = read_file(path);
    ck_assert_msg(text, "cannot read %s", path);
    struct syms s = { 0, NULL };
    *pattern = false;
    /* Comments out first. */
    for (char *c = strstr(text, "/*"); c; c = strstr(c, "/*")) {
        char *e = strstr(c + 2, "*/");
        ck_assert_msg(e, "unterminated comment in %s", path);
        memset(c, ' ', (size_t)(e + 2 - c));
    }
    char *g = strstr(text, "global:"), *l = strstr(text, "local:");
    ck_assert_msg(g && l && l > g, "%s has no global: and local: sections", path);
    *l = 0;
    for (char *save = NULL, *tok = strtok_r(g + 7, " \t\n;", &save); tok;
         tok = strtok_r(NULL, " \t\n;", &save)) {
        if (strpbrk(tok, "*?["))
            *pattern = true;
        add(&s, tok, strlen(tok));
    }
    free(text);
    return s;
}

START_TEST(test_map_is_explicit_and_matches_headers)
{
    bool pattern;
    struct syms map = map_names(repo_file("src/exports.map"), &pattern);
    ck_assert_msg(!pattern, "src/exports.map exports by pattern: list each name");
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
    for (size_t i = 0; i < N(c_entry); i++)
        if (!has(&map, c_entry[i]))
            snprintf(missing + strlen(missing), sizeof missing - strlen(missing), " %s",
                     c_entry[i]);
    /* ...and nothing but them and the interposed entry points. */
    for (size_t i = 0; i < map.n; i++) {
        const char *n = map.name[i];
        if (!has(&api, n) && !has(&com, n) && !in_list(n, c_entry, N(c_entry)) &&
            !in_list(n, later, N(later)) && !in_list(n, cxx, N(cxx)))
            snprintf(extra + strlen(extra), sizeof extra - strlen(extra), " %s", n);
    }
    ck_assert_msg(!missing[0], "declared in the headers, not in src/exports.map:%s", missing);
    ck_assert_msg(!extra[0], "in src/exports.map, neither API nor entry point:%s", extra);
    syms_free(&map);
    syms_free(&api);
    syms_free(&com);
}
END_TEST

START_TEST(test_library_exports_exactly_the_map)
{
    bool pattern;
    struct syms map = map_names(repo_file("src/exports.map"), &pattern);
    struct syms lib = dynamic_symbols(lib_path());
    char diff[4096] = "";
    for (size_t i = 0; i < map.n; i++)
        if (!has(&lib, map.name[i]))
            snprintf(diff + strlen(diff), sizeof diff - strlen(diff), " -%s", map.name[i]);
    for (size_t i = 0; i < lib.n; i++)
        if (!has(&map, lib.name[i]))
            snprintf(diff + strlen(diff), sizeof diff - strlen(diff), " +%s", lib.name[i]);
    ck_assert_msg(!diff[0], "the library's exports differ from src/exports.map:%s", diff);
    syms_free(&map);
    syms_free(&lib);
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
    tcase_add_test(t, test_header_reader);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return run_suite(suite());
}
