/* The library's dynamic symbol table: it is loaded into arbitrary programs, so it may
 * export only the ms_ API, the allocator entry points it interposes and COM's six
 * functions (mallocspy/com.h); anything else could capture a symbol of the program's.
 * And none of the API may be missing. */
#include <check.h>
#include <dlfcn.h>
#include <link.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
/* Interposed later (C++ operators, the mmap family, dlclose for the module table):
 * allowed, not required. */
static const char *const later[] = { "mmap", "munmap", "mremap", "mmap64", "dlclose" };
static const char *const cxx_prefix[] = { "_Znw", "_Zna", "_ZdlPv", "_ZdaPv" };

#define N(a) (sizeof(a) / sizeof((a)[0]))

static bool in_list(const char *name, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(name, list[i]))
            return true;
    return false;
}

static bool allowed(const char *name)
{
    if (!strncmp(name, "ms_", 3))
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
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return run_suite(suite());
}
