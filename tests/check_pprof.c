/* pprof profiles (pprof_path, pprof_interval): the files are read the way users read them,
 * with go tool pprof (Debian's golang-go), and held to the JSON report of the same run:
 * per stack, allocations and bytes (the profile's sites) and live blocks and bytes (the
 * leak groups, with report_reachable=1); names, files and lines of every frame, inlined
 * functions as several lines of one location; the mappings with their build IDs; a
 * stripped program named from the symbol cache; numbered profiles every interval and on
 * report_signal; and what goes wrong (no symbolizer, a symbolic link, bad options) said
 * once, with no file left behind.  Stacks are matched by their addresses, which the JSON
 * report and the profile both give. */
#include <check.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#define MAXS 64                 /* samples, locations, mappings a profile holds here */
#define MAXL 8                  /* lines of one location */
#define MAXD 64                 /* frames of one stack */

/* ---- go tool pprof ------------------------------------------------------------------- */

/* Runs go tool pprof with args (NULL-terminated) on file; it must succeed. */
static char *pprof_tool(const char *const args[], const char *file)
{
    ck_assert_msg(have_cmd("go"), "go is not installed (golang-go)");
    char *argv[16] = { "go", "tool", "pprof" };
    int k = 3;
    for (int i = 0; args[i] && k < 14; i++)
        argv[k++] = (char *)args[i];
    argv[k++] = (char *)file;
    argv[k] = NULL;
    /* Its own home: nothing of the user's is read or written. */
    char home[PATH_MAX + 16];
    snprintf(home, sizeof home, "HOME=%s", tmp_path("gohome"));
    const char *env[] = { home, "PPROF_BINARY_PATH=", "TZ=UTC", NULL };
    struct run r = run_tool(argv, env);
    ck_assert_msg(r.status == 0, "go tool pprof %s: status %d\n%s%s", args[0], r.status, r.out,
                  r.err);
    char *out = r.out;
    r.out = NULL;
    run_free(&r);
    return out;
}

struct pline { char fn[256], file[256]; int line; };
struct ploc {
    int id, mapping, nlines;
    unsigned long long addr;
    struct pline l[MAXL];
};
struct psample { long long v[4]; int n; int loc[MAXD]; };
struct pmap {
    unsigned long long start, limit, offset;
    char file[PATH_MAX], build_id[160], flags[64];
};
struct profile {
    char types[128];           /* the Samples header line, trimmed */
    char comment[128];
    long long period;
    time_t time;               /* whole seconds */
    int ns, nl, nm;
    struct psample s[MAXS];
    struct ploc l[MAXS];
    struct pmap m[MAXS];
};

/* "fn file:line s=N" (fn may hold spaces: the file is the token before s=). */
static void parse_pline(const char *text, struct pline *out)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", text);
    char *s = strstr(buf, " s=");
    ck_assert_msg(s, "a location line without s=: %s", text);
    *s = 0;
    char *sp = strrchr(buf, ' ');
    ck_assert_msg(sp, "a location line without a place: %s", text);
    *sp = 0;
    char *colon = strrchr(sp + 1, ':');
    ck_assert_msg(colon, "a place without a line: %s", text);
    *colon = 0;
    out->line = atoi(colon + 1);
    snprintf(out->file, sizeof out->file, "%s", sp + 1);
    char *fn = buf;
    while (*fn == ' ')
        fn++;
    snprintf(out->fn, sizeof out->fn, "%s", fn);
}

/* go tool pprof -raw: the profile's own contents, every field this suite checks. */
static struct profile *read_profile(const char *file)
{
    const char *args[] = { "-raw", "-symbolize=none", NULL };
    char *out = pprof_tool(args, file);
    struct profile *p = calloc(1, sizeof *p);
    const char *at = out;
    char line[2048];
    enum { HEAD, SAMPLES, LOCATIONS, MAPPINGS } part = HEAD;
    while (next_line(&at, line, sizeof line)) {
        if (!strcmp(line, "Samples:")) {
            part = SAMPLES;
            ck_assert(next_line(&at, line, sizeof line));
            char *t = line;
            while (*t == ' ')
                t++;
            snprintf(p->types, sizeof p->types, "%s", t);
            continue;
        }
        if (!strcmp(line, "Locations")) {
            part = LOCATIONS;
            continue;
        }
        if (!strcmp(line, "Mappings")) {
            part = MAPPINGS;
            continue;
        }
        if (part == HEAD) {
            if (!strncmp(line, "Comment: ", 9))
                snprintf(p->comment, sizeof p->comment, "%s", line + 9);
            else if (!strncmp(line, "Period: ", 8))
                p->period = atoll(line + 8);
            else if (!strncmp(line, "Time: ", 6)) {
                struct tm tm;
                memset(&tm, 0, sizeof tm);
                ck_assert_msg(strptime(line + 6, "%Y-%m-%d %H:%M:%S", &tm), "time: %s", line);
                p->time = timegm(&tm);
            }
        } else if (part == SAMPLES) {
            ck_assert(p->ns < MAXS);
            struct psample *s = &p->s[p->ns++];
            char *colon = strchr(line, ':');
            ck_assert_msg(colon && sscanf(line, "%lld %lld %lld %lld", &s->v[0], &s->v[1],
                                          &s->v[2], &s->v[3]) == 4, "sample: %s", line);
            for (char *q = colon + 1, *e; (s->loc[s->n] = (int)strtol(q, &e, 10)), e != q; q = e)
                ck_assert(++s->n < MAXD);
        } else if (part == LOCATIONS) {
            int id, m, used = 0;
            unsigned long long a;
            if (sscanf(line, " %d: 0x%llx M=%d %n", &id, &a, &m, &used) >= 3) {
                ck_assert(p->nl < MAXS);
                struct ploc *l = &p->l[p->nl++];
                l->id = id;
                l->addr = a;
                l->mapping = m;
                if (line[used])
                    parse_pline(line + used, &l->l[l->nlines++]);
            } else {
                ck_assert_msg(p->nl && p->l[p->nl - 1].nlines < MAXL, "location: %s", line);
                struct ploc *l = &p->l[p->nl - 1];
                parse_pline(line, &l->l[l->nlines++]);
            }
        } else if (part == MAPPINGS && line[0]) {
            ck_assert(p->nm < MAXS);
            struct pmap *m = &p->m[p->nm++];
            int id;
            char flags[64] = "";
            int got = sscanf(line, "%d: 0x%llx/0x%llx/0x%llx %4095s %159s %63[^\n]", &id,
                             &m->start, &m->limit, &m->offset, m->file, m->build_id, flags);
            ck_assert_msg(got >= 6 && id == p->nm, "mapping: %s", line);
            snprintf(m->flags, sizeof m->flags, "%s", flags);
        }
    }
    free(out);
    return p;
}

static const struct ploc *loc_by_id(const struct profile *p, int id)
{
    for (int i = 0; i < p->nl; i++)
        if (p->l[i].id == id)
            return &p->l[i];
    ck_abort_msg("no location %d", id);
    return NULL;
}

/* The sample whose stack is these addresses, innermost first; NULL if none. */
static const struct psample *sample_at(const struct profile *p, const unsigned long long *a,
                                       int n)
{
    for (int i = 0; i < p->ns; i++) {
        const struct psample *s = &p->s[i];
        bool same = s->n == n;
        for (int k = 0; same && k < n; k++)
            same = loc_by_id(p, s->loc[k])->addr == a[k];
        if (same)
            return s;
    }
    return NULL;
}

/* A JSON stack's addresses, one per address (functions inlined at an address are frames
 * of their own there, at the same address). */
static int stack_addrs(const struct jval *stack, unsigned long long *a)
{
    int n = 0;
    for (size_t i = 0; stack && stack->type == J_ARR && i < stack->n; i++) {
        unsigned long long x = hexval(jstr(stack->items[i], "address"));
        if (!n || a[n - 1] != x) {
            ck_assert(n < MAXD);
            a[n++] = x;
        }
    }
    return n;
}

/* The sample of a JSON entry's stack, which must be there. */
static const struct psample *sample_of(const struct profile *p, const struct jval *entry)
{
    unsigned long long a[MAXD];
    int n = stack_addrs(jget(entry, "stack"), a);
    const struct psample *s = sample_at(p, a, n);
    ck_assert_msg(s, "no sample for the stack of %s (%d frames)",
                  jstr(entry, "stack.0.function"), n);
    return s;
}

/* ---- runs ---------------------------------------------------------------------------------- */

/* Status 0 and nothing said but, on a loaded machine, that the report waits for the
 * symbolizer (said after a second of its work: debug information read the first time). */
static void check_ran_clean(const struct run *r, const char *what)
{
    ck_assert_msg(r->status == 0, "%s: status %d\nstderr: %s", what, r->status, r->err);
    const char *at = r->err;
    char line[4096];
    while (next_line(&at, line, sizeof line))
        ck_assert_msg(strstr(line, "the report waits for it"), "%s wrote on stderr:\n%s", what,
                      r->err);
}

struct pprof_run {
    struct spied sp;
    char pprof[PATH_MAX + 64];
    time_t before, after;
};

/* Runs argv with json_path, pprof_path and opts; the run must be clean. */
static struct pprof_run run_with_pprof(char *const argv[], const char *opts,
                                       const char *const env[])
{
    struct pprof_run pr;
    snprintf(pr.pprof, sizeof pr.pprof, "%s", tmp_path("profile.pb.gz"));
    char o[8192];
    snprintf(o, sizeof o, "pprof_path=%s:report=quiet%s%s", pr.pprof, opts ? ":" : "",
             opts ? opts : "");
    pr.before = time(NULL);
    pr.sp = spy_reports(argv, o, env, false);
    pr.after = time(NULL);
    check_ran_clean(&pr.sp.r, argv[0]);
    return pr;
}

static void pprof_run_free(struct pprof_run *pr)
{
    unlink(pr->pprof);
    spied_free(&pr->sp);
}

/* ---- the profile and the JSON report of one run ------------------------------------------- */

START_TEST(test_matches_json)
{
    char *argv[] = { (char *)prog_path("pprof_mix"), NULL };
    struct pprof_run pr = run_with_pprof(argv, "report_reachable=1:symbolize=all:sites_top=100",
                                         NULL);
    struct jval *rep = load_report(pr.sp.json_path);
    struct profile *p = read_profile(pr.pprof);

    /* A Go heap profile's sample types, inuse_space by default; every allocation counted. */
    ck_assert_str_eq(p->types, "alloc_objects/count alloc_space/bytes inuse_objects/count "
                               "inuse_space/bytes[dflt]");
    ck_assert_int_eq(p->period, 0);
    ck_assert_msg(p->time >= pr.before && p->time <= pr.after, "time %ld not within the run "
                  "(%ld to %ld)", (long)p->time, (long)pr.before, (long)pr.after);
    /* The duration: since mallocspy started, so within the run. */
    const char *top_args[] = { "-top", "-symbolize=none", NULL };
    char *top = pprof_tool(top_args, pr.pprof);
    const char *d = strstr(top, "Duration: ");
    ck_assert_msg(d, "no duration:\n%s", top);
    char *unit;
    double dur = strtod(d + 10, &unit);
    dur *= !strncmp(unit, "ms", 2) ? 1e-3 : !strncmp(unit, "us", 2) || !strncmp(unit, "\xc2\xb5s", 3)
           ? 1e-6 : !strncmp(unit, "ns", 2) ? 1e-9 : !strncmp(unit, "s,", 2) ? 1 : -1;
    ck_assert_msg(dur > 0 && dur <= (double)(pr.after - pr.before + 1), "duration %.40s", d);
    free(top);

    /* Allocations and bytes per stack, as the JSON's sites (all of them: sites_top=100). */
    const struct jval *sites = need_member(rep, "sites", J_ARR);
    ck_assert_msg(sites->n >= 4, "%zu sites", sites->n);
    long long allocs = 0, bytes = 0;
    for (size_t i = 0; i < sites->n; i++) {
        const struct psample *s = sample_of(p, sites->items[i]);
        ck_assert_msg(s->v[0] == (long long)jnum(sites->items[i], "allocations") &&
                      s->v[1] == (long long)jnum(sites->items[i], "bytes"),
                      "%s: %lld allocations, %lld bytes in the profile; %g and %g in the JSON",
                      jstr(sites->items[i], "stack.0.function"), s->v[0], s->v[1],
                      jnum(sites->items[i], "allocations"), jnum(sites->items[i], "bytes"));
    }
    for (int i = 0; i < p->ns; i++) {
        allocs += p->s[i].v[0];
        bytes += p->s[i].v[1];
    }
    ck_assert_int_eq(allocs, (long long)jnum(rep, "profile.allocations"));
    ck_assert_int_eq(bytes, (long long)jnum(rep, "profile.bytes"));

    /* Live blocks and bytes per stack, as the leak groups of every kind. */
    const struct jval *leaks = need_member(rep, "leaks", J_ARR);
    long long objects = 0, live = 0;
    for (size_t i = 0; i < leaks->n; i++) {
        unsigned long long a[MAXD];
        int n = stack_addrs(jget(leaks->items[i], "stack"), a);
        long long gb = 0, gn = 0;
        for (size_t j = 0; j < leaks->n; j++) {
            unsigned long long b[MAXD];
            if (stack_addrs(jget(leaks->items[j], "stack"), b) == n &&
                !memcmp(a, b, (size_t)n * sizeof *a)) {
                gb += (long long)jnum(leaks->items[j], "bytes");
                gn += (long long)jnum(leaks->items[j], "blocks");
            }
        }
        const struct psample *s = sample_of(p, leaks->items[i]);
        ck_assert_msg(s->v[2] == gn && s->v[3] == gb, "%s: %lld live blocks of %lld bytes in "
                      "the profile; %lld of %lld in the JSON", jstr(leaks->items[i],
                      "stack.0.function"), s->v[2], s->v[3], gn, gb);
    }
    for (int i = 0; i < p->ns; i++) {
        objects += p->s[i].v[2];
        live += p->s[i].v[3];
    }
    ck_assert_int_eq(objects, (long long)jnum(rep, "summary.live_blocks"));
    ck_assert_int_eq(live, (long long)jnum(rep, "summary.live_bytes"));
    ck_assert_int_eq(live, 1000 + 3000 + 256);   /* the program's own count */

    /* Every frame named as the JSON names it: the functions at one address are lines of
     * one location, innermost first. */
    for (size_t i = 0; i < sites->n; i++) {
        const struct jval *st = jget(sites->items[i], "stack");
        const struct psample *s = sample_of(p, sites->items[i]);
        size_t j = 0;
        for (int k = 0; k < s->n; k++) {
            const struct ploc *l = loc_by_id(p, s->loc[k]);
            for (int x = 0; x < l->nlines; x++, j++) {
                ck_assert_msg(j < st->n, "more lines than frames");
                const struct jval *f = st->items[j];
                ck_assert_msg(hexval(jstr(f, "address")) == l->addr, "frame %zu", j);
                const char *fn = jstr(f, "function"), *file = jstr(f, "file");
                ck_assert_msg(fn && !strcmp(fn, l->l[x].fn), "frame %zu: %s, not %s", j,
                              l->l[x].fn, fn ? fn : "null");
                ck_assert_msg(!file ? !l->l[x].file[0] : !strcmp(file, l->l[x].file),
                              "frame %zu (%s): file %s, not %s", j, fn, l->l[x].file,
                              file ? file : "null");
                ck_assert_int_eq(l->l[x].line, file ? (int)jnum(f, "line") : 0);
            }
        }
        ck_assert_msg(j == st->n, "%zu lines for %zu frames", j, st->n);
    }

    /* Mappings: the program first, with its file and build ID; every address inside its
     * location's mapping. */
    ck_assert_msg(p->nm >= 2, "%d mappings", p->nm);
    ck_assert_str_eq(p->m[0].file, prog_path("pprof_mix"));
    const char *bid = jstr(sites->items[0], "stack.0.build_id");
    ck_assert_msg(bid && !strcmp(p->m[0].build_id, bid), "build ID %s, not %s",
                  p->m[0].build_id, bid ? bid : "null");
    ck_assert_msg(strstr(p->m[0].flags, "[FN]") && strstr(p->m[0].flags, "[IN]"),
                  "the program's mapping: %s", p->m[0].flags);
    for (int i = 0; i < p->nl; i++) {
        const struct ploc *l = &p->l[i];
        ck_assert_msg(l->mapping >= 1 && l->mapping <= p->nm, "location %d: mapping %d",
                      l->id, l->mapping);
        const struct pmap *m = &p->m[l->mapping - 1];
        ck_assert_msg(l->addr >= m->start && l->addr < m->limit,
                      "location %d (0x%llx) outside %s", l->id, l->addr, m->file);
    }
    free(p);
    json_free(rep);
    pprof_run_free(&pr);
}
END_TEST

/* A function inlined at an address is a line of the location before the function it was
 * inlined into, each at its own source line. */
START_TEST(test_inlined_lines)
{
    char *argv[] = { (char *)prog_path("pprof_mix"), NULL };
    struct pprof_run pr = run_with_pprof(argv, NULL, NULL);
    struct profile *p = read_profile(pr.pprof);
    const struct ploc *found = NULL;
    for (int i = 0; i < p->nl; i++)
        if (p->l[i].nlines && !strcmp(p->l[i].l[0].fn, "mix_inner"))
            found = &p->l[i];
    ck_assert_msg(found, "no location for mix_inner");
    ck_assert_int_eq(found->nlines, 2);
    ck_assert_str_eq(found->l[1].fn, "mix_outer");
    ck_assert_int_eq(found->l[0].line, marker_line("pprof_mix.c", "PPROF-INNER"));
    ck_assert_int_eq(found->l[1].line, marker_line("pprof_mix.c", "PPROF-OUTER"));
    ck_assert_msg(is_src_file(found->l[0].file, "pprof_mix.c"), "%s", found->l[0].file);
    /* Its sample: 4 blocks of 64 bytes, all live. */
    bool seen = false;
    for (int i = 0; i < p->ns; i++)
        if (p->s[i].n && loc_by_id(p, p->s[i].loc[0]) == found) {
            ck_assert_msg(p->s[i].v[0] == 4 && p->s[i].v[1] == 256 && p->s[i].v[2] == 4 &&
                          p->s[i].v[3] == 256, "mix_inner: %lld %lld %lld %lld",
                          p->s[i].v[0], p->s[i].v[1], p->s[i].v[2], p->s[i].v[3]);
            seen = true;
        }
    ck_assert(seen);
    free(p);
    pprof_run_free(&pr);
}
END_TEST

/* What a user sees: go tool pprof -top (no flag: its own defaults) and -traces. */
START_TEST(test_top_and_traces)
{
    char *argv[] = { (char *)prog_path("pprof_mix"), NULL };
    struct pprof_run pr = run_with_pprof(argv, NULL, NULL);
    const char *top_args[] = { "-top", NULL };
    char *top = pprof_tool(top_args, pr.pprof);
    ck_assert_msg(strstr(top, "Type: inuse_space"), "%s", top);
    /* flat bytes live, per function: 3000 leaked, 1000 kept, 256 from the inlined one. */
    const struct { const char *fn, *flat; } want[] = {
        { "mix_leak", "3000B" }, { "mix_kept", "1000B" }, { "mix_inner (inline)", "256B" },
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        const char *at = top;
        char line[1024];
        bool found = false;
        while (!found && next_line(&at, line, sizeof line)) {
            char flat[32], fn[256] = "";
            if (sscanf(line, " %31s %*s %*s %*s %*s %255[^\n]", flat, fn) == 2 &&
                !strcmp(fn, want[i].fn)) {
                ck_assert_msg(!strcmp(flat, want[i].flat), "%s: %s, not %s\n%s", fn, flat,
                              want[i].flat, top);
                found = true;
            }
        }
        ck_assert_msg(found, "-top does not list %s:\n%s", want[i].fn, top);
    }
    ck_assert_msg(!strstr(top, "mix_churn"), "freed blocks in inuse_space:\n%s", top);
    free(top);

    /* The allocations, trace by trace: mix_churn's 50 blocks, called from main. */
    const char *tr_args[] = { "-traces", "-sample_index=alloc_objects", NULL };
    char *traces = pprof_tool(tr_args, pr.pprof);
    const char *c = strstr(traces, " mix_churn\n");
    ck_assert_msg(c, "no trace for mix_churn:\n%s", traces);
    const char *start = c;
    while (start > traces && start[-1] != '\n')
        start--;
    ck_assert_msg(atoi(start) == 50, "mix_churn: %.40s", start);
    const char *next = strchr(c + 1, '\n');
    ck_assert_msg(next && !strncmp(next + 1 + strspn(next + 1, " "), "main\n", 5),
                  "mix_churn not called from main:\n%s", traces);
    free(traces);
    pprof_run_free(&pr);
}
END_TEST

/* A stripped program: names from the symbol cache, which an earlier run of the same build
 * filled; without the cache, none (the control: the names come from the cache). */
START_TEST(test_stripped_from_cache)
{
    char *dir = tmp_dir("cache");
    char xdg[PATH_MAX + 32], stripped[PATH_MAX + 64];
    snprintf(xdg, sizeof xdg, "XDG_CACHE_HOME=%s", dir);
    const char *env[] = { xdg, NULL };
    char *argv[] = { (char *)prog_path("pprof_mix"), NULL };
    struct pprof_run full = run_with_pprof(argv, NULL, env);
    pprof_run_free(&full);

    stripped_copy("pprof_mix", stripped, sizeof stripped);
    char *sargv[] = { stripped, NULL };
    const char *top_args[] = { "-top", "-symbolize=none", "-sample_index=alloc_space", NULL };
    for (int cached = 1; cached >= 0; cached--) {
        struct pprof_run pr = run_with_pprof(sargv, cached ? NULL : "symbol_cache=0", env);
        char *top = pprof_tool(top_args, pr.pprof);
        for (const char *const *fn = (const char *const[]){ "mix_churn", "mix_leak",
                                                             "mix_kept", NULL }; *fn; fn++)
            ck_assert_msg(!strstr(top, *fn) == !cached, "%s %s with%s the cache:\n%s", *fn,
                          cached ? "missing" : "named", cached ? "" : "out", top);
        free(top);
        struct profile *p = read_profile(pr.pprof);
        ck_assert_str_eq(p->m[0].file, stripped);
        free(p);
        pprof_run_free(&pr);
    }
    unlink(stripped);
    remove_tree(dir);
    free(dir);
}
END_TEST

/* symbolize=0: no names in the file; the mappings say so (a pprof that can read the
 * binaries' debug information names the frames itself), and the addresses and values are
 * all there. */
START_TEST(test_unnamed)
{
    char *argv[] = { (char *)prog_path("pprof_mix"), NULL };
    struct pprof_run pr = run_with_pprof(argv, "symbolize=0", NULL);
    struct profile *p = read_profile(pr.pprof);
    for (int i = 0; i < p->nl; i++)
        ck_assert_msg(!p->l[i].nlines, "location %d named %s", p->l[i].id, p->l[i].l[0].fn);
    for (int i = 0; i < p->nm; i++)
        ck_assert_msg(!strstr(p->m[i].flags, "[FN]"), "%s: %s", p->m[i].file, p->m[i].flags);
    long long live = 0;
    for (int i = 0; i < p->ns; i++)
        live += p->s[i].v[3];
    ck_assert_int_eq(live, 1000 + 3000 + 256);
    free(p);
    /* go tool pprof reads no C debug information: it shows each module. */
    const char *top_args[] = { "-top", NULL };
    char *top = pprof_tool(top_args, pr.pprof);
    ck_assert_msg(strstr(top, "[pprof_mix]") && !strstr(top, "mix_leak"), "%s", top);
    free(top);
    pprof_run_free(&pr);
}
END_TEST

/* ---- profiles of a running process ------------------------------------------------------- */

/* The numbers n of dir/prefix<n>.pb.gz, sorted; how many. */
static int numbered(const char *dir, const char *prefix, int *out, int cap)
{
    DIR *d = opendir(dir);
    ck_assert(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t pl = strlen(prefix);
        char *end;
        if (strncmp(e->d_name, prefix, pl))
            continue;
        long v = strtol(e->d_name + pl, &end, 10);
        ck_assert_msg(!strcmp(end, ".pb.gz") && n < cap, "unexpected file %s", e->d_name);
        out[n++] = (int)v;
    }
    closedir(d);
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && out[j - 1] > out[j]; j--) {
            int t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
    return n;
}

static long long grow_live(const struct profile *p)
{
    long long v = 0;
    for (int i = 0; i < p->ns; i++)
        if (p->s[i].n && loc_by_id(p, p->s[i].loc[0])->nlines &&
            !strcmp(loc_by_id(p, p->s[i].loc[0])->l[0].fn, "grow_step"))
            v += p->s[i].v[2];
    return v;
}

/* pprof_interval=1 over five steps of 600 ms, and a report_signal report after the third:
 * %n numbers every profile from 1 without a gap, each later one holds at least as many
 * blocks as the one before, and the last (at exit) all 50. */
START_TEST(test_interval_numbered)
{
    char *dir = tmp_dir("interval");
    char pattern[PATH_MAX + 64], json[PATH_MAX + 64], o[3 * PATH_MAX];
    snprintf(pattern, sizeof pattern, "%s/heap.%%n.pb.gz", dir);
    snprintf(json, sizeof json, "%s/report.json", dir);
    snprintf(o, sizeof o, "pprof_path=%s:pprof_interval=1:report_signal=SIGUSR2:json_path=%s:"
             "report=quiet", pattern, json);
    char *argv[] = { (char *)prog_path("pprof_grow"), "600", "signal", json, NULL };
    struct run r = spy(argv, o, NULL);
    check_ran_clean(&r, "pprof_grow");
    run_free(&r);
    int num[64];
    int n = numbered(dir, "heap.", num, 64);
    /* 3 s of run: two intervals at least, the signal's and the exit's. */
    ck_assert_msg(n >= 4, "%d profiles", n);
    long long before = 0;
    for (int i = 0; i < n; i++) {
        ck_assert_msg(num[i] == i + 1, "profile %d is number %d", i + 1, num[i]);
        char path[PATH_MAX + 64];
        snprintf(path, sizeof path, "%s/heap.%d.pb.gz", dir, num[i]);
        struct profile *p = read_profile(path);
        long long now = grow_live(p);
        ck_assert_msg(now >= before && now >= 10, "profile %d: %lld blocks, after %lld", num[i],
                      now, before);
        before = now;
        free(p);
    }
    ck_assert_int_eq(before, 50);
    remove_tree(dir);
    free(dir);
}
END_TEST

/* The interval reads the live blocks without a scan: a thread asleep through two
 * intervals is not woken.  The control: a report on report_signal, whose scan stops every
 * thread, wakes it. */
START_TEST(test_interval_stops_nothing)
{
    char *dir = tmp_dir("quiet");
    for (int control = 0; control <= 1; control++) {
        char o[2 * PATH_MAX];
        snprintf(o, sizeof o, "pprof_path=%s/q%d.%%n.pb.gz:pprof_interval=1:report=quiet%s",
                 dir, control, control ? ":report_signal=SIGUSR2" : "");
        char *argv[] = { (char *)prog_path("pprof_quiet"), control ? "signal" : "none", NULL };
        struct run r = spy(argv, o, NULL);
        check_ran_clean(&r, "pprof_quiet");
        ck_assert_msg(strstr(r.out, control ? "interrupted=1" : "interrupted=0"), "%s: %s",
                      control ? "with a report" : "with the interval", r.out);
        run_free(&r);
        char prefix[16];
        snprintf(prefix, sizeof prefix, "q%d.", control);
        int num[64];
        /* Two intervals and the exit; the control ends early: its report's and the exit's. */
        ck_assert_msg(numbered(dir, prefix, num, 64) >= (control ? 2 : 3), "too few profiles");
    }
    remove_tree(dir);
    free(dir);
}
END_TEST

/* ---- what goes wrong ----------------------------------------------------------------------- */

/* No symbolizer: one warning, no file (an agent must not pick up an empty one), and the
 * program runs on as ever. */
START_TEST(test_no_symbolizer)
{
    char *argv[] = { (char *)prog_path("pprof_mix"), NULL };
    char path[PATH_MAX + 64], o[2 * PATH_MAX];
    snprintf(path, sizeof path, "%s", tmp_path("nosym.pb.gz"));
    snprintf(o, sizeof o, "pprof_path=%s:symbolizer=/nonexistent/helper:report=quiet", path);
    struct run r = spy(argv, o, NULL);
    ck_assert_int_eq(r.status, 0);
    ck_assert_msg(count_lines(r.err) == 1 && strstr(r.err, "cannot write the pprof profile") &&
                  strstr(r.err, path), "stderr: %s", r.err);
    ck_assert_msg(access(path, F_OK) != 0, "a file was left behind");
    run_free(&r);
}
END_TEST

/* A symbolizer that knows no profile batch (an older one, named with symbolizer=) ends the
 * batch without its P answer: one warning that says so, no file, and the program runs on. */
START_TEST(test_symbolizer_without_profiles)
{
    char *argv[] = { (char *)prog_path("pprof_mix"), NULL };
    char path[PATH_MAX + 64], fake[PATH_MAX + 64], o[3 * PATH_MAX];
    snprintf(path, sizeof path, "%s", tmp_path("old.pb.gz"));
    snprintf(fake, sizeof fake, "%s", tmp_path("old-symbolizer"));
    ck_assert(write_file(fake, "#!/bin/sh\nwhile read -r l; do [ \"$l\" = E ] && echo E; done\n"));
    ck_assert(chmod(fake, 0755) == 0);
    /* No default suppressions: matching them would ask the fake for names first. */
    snprintf(o, sizeof o, "pprof_path=%s:symbolizer=%s:report=quiet:use_default_suppressions=0",
             path, fake);
    struct run r = spy(argv, o, NULL);
    ck_assert_int_eq(r.status, 0);
    ck_assert_msg(count_lines(r.err) == 1 && strstr(r.err, "does not write pprof profiles"),
                  "stderr: %s", r.err);
    ck_assert_msg(access(path, F_OK) != 0, "a file was left behind");
    run_free(&r);
    unlink(fake);
}
END_TEST

/* The helper, fed bad profile batches on a pipe (no descriptor can come with a P line
 * there): each is answered "P failed" with W lines that say why, never a crash, and the
 * next batch is answered as ever. */
START_TEST(test_helper_bad_batches)
{
    char *exe = (char *)prog_path("pprof_mix");
    char in[8192];
    snprintf(in, sizeof in,
             "P 1 2 0 1\nS 1 2 3 4\nE\n"                       /* no descriptor */
             "P 1 2\nA 1 zz 0 0\nS 1 x\nS 1 2 3 4 9:10\nE\n"  /* malformed lines */
             "A 1 0 1 0\nS 1 2 3 4\nE\n"                       /* outside a profile batch */
             "M 1 - %s\nF 1 0\nE\n", exe);                      /* and on as ever */
    char *argv[] = { "timeout", (char *)child_timeout, BUILD_DIR "/mallocspy-symbolizer", NULL };
    const char *env[] = { "LD_PRELOAD=", "MALLOCSPY_OPTIONS=", NULL };
    struct run r = run_cmd(argv, env, in);
    ck_assert_msg(r.status == 0, "status %d\n%s", r.status, r.err);
    ck_assert_int_eq(count_str(r.out, "\nE\n") + !strncmp(r.out, "E\n", 2), 4);
    ck_assert_msg(strstr(r.out, "P failed no file descriptor came with the P line\n"), "%s",
                  r.out);
    ck_assert_msg(strstr(r.out, "P failed 4 malformed line(s) in the profile request\n"), "%s",
                  r.out);
    ck_assert_int_eq(count_str(r.out, "P ok"), 0);
    ck_assert_msg(strstr(r.out, "W malformed profile request (header)") &&
                  strstr(r.out, "W malformed profile request (mapping)") &&
                  strstr(r.out, "W malformed profile request (values)") &&
                  strstr(r.out, "W malformed profile request (frame)"), "%s", r.out);
    ck_assert_msg(count_str(r.out, "unknown line") == 2, "A and S outside a batch:\n%s", r.out);
    ck_assert_msg(strstr(r.out, "\nR "), "the F line was not answered:\n%s", r.out);
    run_free(&r);
}
END_TEST

/* A symbolic link where the profile goes is not followed: chan_open's rules. */
START_TEST(test_symlink_refused)
{
    char *argv[] = { (char *)prog_path("pprof_mix"), NULL };
    char link[PATH_MAX + 64], target[PATH_MAX + 64], o[2 * PATH_MAX];
    snprintf(link, sizeof link, "%s", tmp_path("link.pb.gz"));
    snprintf(target, sizeof target, "%s", tmp_path("target"));
    ck_assert(write_file(target, "keep"));
    ck_assert(symlink(target, link) == 0);
    snprintf(o, sizeof o, "pprof_path=%s:report=quiet", link);
    struct run r = spy(argv, o, NULL);
    ck_assert_int_eq(r.status, 0);
    ck_assert_msg(count_lines(r.err) == 1 && strstr(r.err, "symbolic link"), "stderr: %s",
                  r.err);
    char *kept = read_file(target);
    ck_assert_str_eq(kept, "keep");
    free(kept);
    run_free(&r);
    unlink(link);
    unlink(target);
}
END_TEST

/* Bad values and options that cannot apply: one line each, and the program runs. */
START_TEST(test_option_warnings)
{
    char *argv[] = { (char *)prog_path("pprof_mix"), NULL };
    const struct { const char *opts, *says; } cases[] = {
        { "pprof_interval=soon", "bad value 'soon' for option 'pprof_interval'" },
        { "pprof_interval=86401", "bad value '86401' for option 'pprof_interval'" },
        { "pprof_interval=5", "pprof_interval=5 without pprof_path" },
        { "leak_check=0:pprof_path=/tmp/x.pb.gz", "leak_check=0: pprof_path and pprof_interval" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char o[256];
        snprintf(o, sizeof o, "%s:report=quiet", cases[i].opts);
        struct run r = spy(argv, o, NULL);
        ck_assert_int_eq(r.status, 0);
        ck_assert_msg(count_lines(r.err) == 1 && strstr(r.err, cases[i].says), "%s: %s",
                      cases[i].opts, r.err);
        run_free(&r);
    }
    ck_assert_msg(access("/tmp/x.pb.gz", F_OK) != 0, "leak_check=0 wrote a profile");
}
END_TEST

/* The wrapper: --pprof FILE and --pprof-interval S, checked as the other file options. */
START_TEST(test_wrapper)
{
    char *dir = tmp_dir("wrapper");
    char file[PATH_MAX + 64];
    snprintf(file, sizeof file, "%s/w.%%n.pb.gz", dir);
    char *argv[] = { (char *)repo_file("scripts/mallocspy"), "--lib", (char *)lib_path(),
                     "--pprof", file, "--pprof-interval", "3600", "--quiet",
                     (char *)prog_path("pprof_mix"), NULL };
    struct run r = run_tool(argv, NULL);
    check_ran_clean(&r, "mallocspy --pprof");
    run_free(&r);
    char one[PATH_MAX + 64];
    snprintf(one, sizeof one, "%s/w.1.pb.gz", dir);
    struct profile *p = read_profile(one);
    ck_assert_msg(p->ns >= 4, "%d samples", p->ns);
    free(p);
    const char *bad[][2] = { { "--pprof-interval", "0" }, { "--pprof", "/nonexistent/x" } };
    for (size_t i = 0; i < 2; i++) {
        char *b[] = { (char *)repo_file("scripts/mallocspy"), (char *)bad[i][0],
                      (char *)bad[i][1], (char *)prog_path("pprof_mix"), NULL };
        r = run_tool(b, NULL);
        ck_assert_msg(r.status == 2 && strstr(r.err, bad[i][0]), "%s %s: %d %s", bad[i][0],
                      bad[i][1], r.status, r.err);
        run_free(&r);
    }
    remove_tree(dir);
    free(dir);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("pprof");
    TCase *t = tcase_create("pprof");
    tcase_set_timeout(t, 300);
    tcase_add_test(t, test_matches_json);
    tcase_add_test(t, test_inlined_lines);
    tcase_add_test(t, test_top_and_traces);
    tcase_add_test(t, test_stripped_from_cache);
    tcase_add_test(t, test_unnamed);
    tcase_add_test(t, test_interval_numbered);
    tcase_add_test(t, test_interval_stops_nothing);
    tcase_add_test(t, test_no_symbolizer);
    tcase_add_test(t, test_symbolizer_without_profiles);
    tcase_add_test(t, test_helper_bad_batches);
    tcase_add_test(t, test_symlink_refused);
    tcase_add_test(t, test_option_warnings);
    tcase_add_test(t, test_wrapper);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    child_timeout = "120";   /* go tool pprof starts slowly on a loaded machine */
    return run_suite(suite());
}
