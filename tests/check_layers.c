/* The layers of src/, as the compiler sees them: every source file and header is given to
 * `cc -MM`, and each header it pulls in from another folder must belong to a lower layer
 * (src/README).  An include that runs up a layer, or across between two folders of one
 * layer, fails, and so does a cycle between folders; preload/ includes the core's entry
 * header and nothing else of src/; the symbolizer, a program of its own, and the library a
 * skipped program gets (skipped/), none of it. */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* The layers, lowest first (src/README says what each holds). */
static const struct { const char *folder; int rank; } layers[] = {
    { "base", 0 }, { "stacks", 1 }, { "output", 2 }, { "core", 3 }, { "detect", 4 },
    { "family", 4 }, { "leaks", 5 }, { "report", 6 }, { "init", 7 }, { "com", 7 },
};
#define NLAYERS (sizeof layers / sizeof layers[0])

/* Folders of src/ that are no part of the library and share no header with it. */
static bool standalone(const char *folder)
{
    return !strcmp(folder, "symbolizer") || !strcmp(folder, "skipped");
}

static int rank_of(const char *folder)
{
    for (size_t i = 0; i < NLAYERS; i++)
        if (!strcmp(layers[i].folder, folder))
            return layers[i].rank;
    return -1;
}

/* "src/core/blocks.h" -> "core"; NULL for a path outside src/<folder>/. */
static const char *folder_of(const char *path, char *buf, size_t cap)
{
    const char *p = strstr(path, "src/");
    if (!p || (p != path && p[-1] != '/'))
        return NULL;
    p += 4;
    const char *slash = strchr(p, '/');
    if (!slash || (size_t)(slash - p) >= cap)
        return NULL;
    memcpy(buf, p, (size_t)(slash - p));
    buf[slash - p] = 0;
    return buf;
}

/* The folder graph: edge[a][b] when a file of folder a includes a header of folder b. */
#define MAXF 16
struct graph {
    char name[MAXF][32];
    size_t n;
    bool edge[MAXF][MAXF];
};

static size_t node(struct graph *g, const char *name)
{
    for (size_t i = 0; i < g->n; i++)
        if (!strcmp(g->name[i], name))
            return i;
    ck_assert_msg(g->n < MAXF, "more than %d folders under src/", MAXF);
    snprintf(g->name[g->n], sizeof g->name[0], "%s", name);
    return g->n++;
}

/* Judges one file's dependencies (the text of `cc -MM`): appends a line per violation to
 * `why` and records the folder edges.  `file` is the path under the tree (src/x/y.c). */
static void judge(const char *file, const char *deps, struct graph *g, char *why, size_t cap)
{
    char fb[32], db[32];
    const char *from = folder_of(file, fb, sizeof fb);
    bool preload = !strncmp(file, "preload/", 8);
    int from_rank = from ? rank_of(from) : -1;
    if (from && from_rank < 0 && !standalone(from))
        snprintf(why + strlen(why), cap - strlen(why),
                 "%s: folder src/%s/ is in no layer (add it to src/README and this test)\n",
                 file, from);
    const char *colon = strchr(deps, ':');
    char *copy = strdup(colon ? colon + 1 : deps);
    for (char *save = NULL, *dep = strtok_r(copy, " \t\n\\", &save); dep;
         dep = strtok_r(NULL, " \t\n\\", &save)) {
        const char *to = folder_of(dep, db, sizeof db);
        if (!to || (from && !strcmp(to, from)))
            continue;
        if (preload) {
            if (strcmp(to, "base") && strcmp(to, "core"))
                snprintf(why + strlen(why), cap - strlen(why),
                         "%s: includes %s (preload/ sees only the core's entry points)\n",
                         file, dep);
            continue;
        }
        if (!from)
            continue;
        if (standalone(from) || standalone(to)) {
            snprintf(why + strlen(why), cap - strlen(why),
                     "%s: includes %s (src/%s/ shares no header with the library)\n",
                     file, dep, standalone(from) ? from : to);
            continue;
        }
        g->edge[node(g, from)][node(g, to)] = true;
        int to_rank = rank_of(to);
        if (to_rank < 0 || from_rank < 0)
            continue;
        if (to_rank > from_rank)
            snprintf(why + strlen(why), cap - strlen(why),
                     "%s: includes %s, a layer up (%s is above %s)\n", file, dep, to, from);
        else if (to_rank == from_rank)
            snprintf(why + strlen(why), cap - strlen(why),
                     "%s: includes %s, across the layer (%s and %s are side by side)\n",
                     file, dep, from, to);
    }
    free(copy);
}

/* A cycle between folders, as "a -> b -> a", or "" when there is none. */
static bool dfs(const struct graph *g, size_t v, int *state, size_t *path, size_t depth,
                char *out, size_t cap)
{
    state[v] = 1;
    path[depth] = v;
    for (size_t w = 0; w < g->n; w++) {
        if (!g->edge[v][w] || v == w)
            continue;
        if (state[w] == 1) {
            size_t k = 0;
            while (path[k] != w)
                k++;
            for (; k <= depth; k++)
                snprintf(out + strlen(out), cap - strlen(out), "%s -> ", g->name[path[k]]);
            snprintf(out + strlen(out), cap - strlen(out), "%s", g->name[w]);
            return true;
        }
        if (!state[w] && dfs(g, w, state, path, depth + 1, out, cap))
            return true;
    }
    state[v] = 2;
    return false;
}

static void find_cycle(const struct graph *g, char *out, size_t cap)
{
    int state[MAXF] = { 0 };
    size_t path[MAXF + 1];
    out[0] = 0;
    for (size_t v = 0; v < g->n; v++)
        if (!state[v] && dfs(g, v, state, path, 0, out, cap))
            return;
}

/* `cc -MM` of one file of the tree. */
static char *deps_of(const char *rel)
{
    char inc[PATH_MAX + 8], src[PATH_MAX + 8];
    snprintf(inc, sizeof inc, "-I%s", repo_file("include"));
    snprintf(src, sizeof src, "-I%s", repo_file("src"));
    char *argv[] = { "cc", "-MM", "-D_GNU_SOURCE", "-x", "c", inc, src,
                     (char *)repo_file(rel), NULL };
    const char *env[] = { "LD_PRELOAD=", "LANG=C", "LC_ALL=C", NULL };
    struct run r = run_cmd(argv, env, NULL);
    ck_assert_msg(r.status == 0, "cc -MM %s: status %d\n%s", rel, r.status, r.err);
    char *out = r.out;
    r.out = NULL;
    run_free(&r);
    /* Paths relative to the tree, as the rules read them. */
    const char *top = repo_dir();
    size_t tl = strlen(top);
    for (char *p = strstr(out, top); p; p = strstr(p, top)) {
        if (p[tl] == '/') {
            memmove(p, p + tl + 1, strlen(p + tl + 1) + 1);
        } else {
            p += tl;
        }
    }
    return out;
}

/* Every .c and .h below dir (one level of folders), relative to the tree. */
static size_t list_sources(const char *dir, char names[][PATH_MAX], size_t max)
{
    size_t n = 0;
    DIR *d = opendir(repo_file(dir));
    ck_assert_msg(d, "cannot open %s", dir);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char rel[PATH_MAX];
        snprintf(rel, sizeof rel, "%s/%s", dir, e->d_name);
        size_t len = strlen(e->d_name);
        if (len > 2 && (!strcmp(e->d_name + len - 2, ".c") || !strcmp(e->d_name + len - 2, ".h"))) {
            ck_assert(n < max);
            snprintf(names[n++], PATH_MAX, "%s", rel);
            continue;
        }
        DIR *sub = opendir(repo_file(rel));
        if (!sub)
            continue;
        struct dirent *f;
        while ((f = readdir(sub))) {
            size_t fl = strlen(f->d_name);
            if (fl > 2 && (!strcmp(f->d_name + fl - 2, ".c") || !strcmp(f->d_name + fl - 2, ".h"))) {
                ck_assert(n < max);
                snprintf(names[n++], PATH_MAX, "%s/%s", rel, f->d_name);
            }
        }
        closedir(sub);
    }
    closedir(d);
    return n;
}

START_TEST(test_includes_run_down_the_layers)
{
    static char names[256][PATH_MAX];
    size_t n = list_sources("src", names, 200);
    n += list_sources("preload", names + n, 256 - n);
    ck_assert_msg(n > 60, "only %zu sources found", n);
    struct graph g = { .n = 0 };
    static char why[65536];
    why[0] = 0;
    for (size_t i = 0; i < n; i++) {
        char *deps = deps_of(names[i]);
        judge(names[i], deps, &g, why, sizeof why);
        free(deps);
    }
    ck_assert_msg(!why[0], "includes against the layers:\n%s", why);
    char cycle[512];
    find_cycle(&g, cycle, sizeof cycle);
    ck_assert_msg(!cycle[0], "folders include each other: %s", cycle);
    /* The graph did see the layers at work. */
    ck_assert(g.edge[node(&g, "core")][node(&g, "base")]);
    ck_assert(g.edge[node(&g, "report")][node(&g, "leaks")]);
}
END_TEST

/* preload/ names the core's entry header and nothing else of src/. */
START_TEST(test_preload_is_thin)
{
    static char names[16][PATH_MAX];
    size_t n = list_sources("preload", names, 16);
    ck_assert_uint_ge(n, 4);
    for (size_t i = 0; i < n; i++) {
        char *text = read_file(repo_file(names[i]));
        ck_assert_ptr_nonnull(text);
        for (char *p = strstr(text, "#include \""); p; p = strstr(p + 1, "#include \""))
            ck_assert_msg(!strncmp(p, "#include \"core/entry.h\"", 23),
                          "%s: %.40s (preload/ includes core/entry.h only)", names[i], p);
        free(text);
    }
}
END_TEST

/* The judge itself, on dependencies made up to break each rule. */
START_TEST(test_judge_catches_each_rule)
{
    struct graph g = { .n = 0 };
    char why[4096] = "";
    judge("src/core/blocks.c", "blocks.o: src/core/blocks.c src/base/lock.h src/core/blocks.h",
          &g, why, sizeof why);
    ck_assert_msg(!why[0], "%s", why);
    judge("src/core/blocks.c", "blocks.o: src/core/blocks.c src/leaks/stop.h", &g, why,
          sizeof why);
    ck_assert_ptr_nonnull(strstr(why, "a layer up"));
    why[0] = 0;
    judge("src/detect/x.c", "x.o: src/detect/x.c src/family/pool.h", &g, why, sizeof why);
    ck_assert_ptr_nonnull(strstr(why, "across the layer"));
    why[0] = 0;
    judge("preload/x.c", "x.o: preload/x.c src/core/entry.h src/output/writer.h", &g, why,
          sizeof why);
    ck_assert_ptr_nonnull(strstr(why, "preload/ sees only"));
    why[0] = 0;
    judge("src/symbolizer/x.c", "x.o: src/symbolizer/x.c src/base/base.h", &g, why, sizeof why);
    ck_assert_ptr_nonnull(strstr(why, "src/symbolizer/ shares no header"));
    why[0] = 0;
    judge("src/base/x.c", "x.o: src/base/x.c src/skipped/y.h", &g, why, sizeof why);
    ck_assert_ptr_nonnull(strstr(why, "src/skipped/ shares no header"));
    why[0] = 0;
    judge("src/attic/x.c", "x.o: src/attic/x.c", &g, why, sizeof why);
    ck_assert_ptr_nonnull(strstr(why, "in no layer"));

    struct graph c = { .n = 0 };
    char cycle[256];
    c.edge[node(&c, "a")][node(&c, "b")] = true;
    c.edge[node(&c, "b")][node(&c, "c")] = true;
    find_cycle(&c, cycle, sizeof cycle);
    ck_assert_str_eq(cycle, "");
    c.edge[node(&c, "c")][node(&c, "a")] = true;
    find_cycle(&c, cycle, sizeof cycle);
    ck_assert_str_eq(cycle, "a -> b -> c -> a");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("layers");
    TCase *t = tcase_create("layers");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, test_includes_run_down_the_layers);
    tcase_add_test(t, test_preload_is_thin);
    tcase_add_test(t, test_judge_catches_each_rule);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return run_suite(suite());
}
