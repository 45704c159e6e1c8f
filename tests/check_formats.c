/* The machine-readable formats (issue 16): the JSON report's "format" and its schema
 * (share/report.schema.json), which must catch a report that breaks it; and the SARIF 2.1.0
 * log of sarif_path, compared with the JSON report of the same run: one result per leak
 * group and per heap error, each stack a code flow, source files relative to the directory
 * the program started in, frames named with no other report asked, a run per process that
 * merges with others.  Every log read here is also validated against tests/sarif.schema.json
 * by the program's last test (testutil.c). */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mallocspy.h"
#include "testutil.h"

/* ---- helpers ---------------------------------------------------------------------------- */

static const char *validator(void) { return repo_file("tests/validate_reports.py"); }

/* s with the first `from` replaced by `to` (malloc'd); the test fails if `from` is not in s. */
static char *replace_first(const char *s, const char *from, const char *to)
{
    const char *at = strstr(s, from);
    ck_assert_msg(at, "'%s' is not in the report", from);
    size_t a = (size_t)(at - s), fl = strlen(from), tl = strlen(to);
    char *out = malloc(strlen(s) - fl + tl + 1);
    memcpy(out, s, a);
    memcpy(out + a, to, tl);
    strcpy(out + a + tl, at + fl);
    return out;
}

/* A run of helper program `name` (argument `arg` unless NULL) under the preload with
 * report=quiet, a fresh json_path and sarif_path, and `opts`. */
struct both {
    struct spied s;
    char sarif_path[PATH_MAX + 64];
    struct jval *sarif;
};

static struct both run_both_args(const char *name, const char *const *args, const char *opts)
{
    struct both b;
    snprintf(b.sarif_path, sizeof b.sarif_path, "%s", tmp_path("log.sarif"));
    char o[8192];
    snprintf(o, sizeof o, "report=quiet:sarif_path=%s%s%s", b.sarif_path, opts ? ":" : "",
             opts ? opts : "");
    char *argv[8] = { (char *)prog_path(name) };
    for (int i = 0; args && args[i] && i < 6; i++)
        argv[i + 1] = (char *)args[i];
    b.s = spy_reports(argv, o, NULL, false);
    b.s.json = load_report(b.s.json_path);
    b.sarif = load_sarif(b.sarif_path);
    return b;
}

static struct both run_both(const char *name, const char *arg, const char *opts)
{
    const char *args[] = { arg, NULL };
    return run_both_args(name, args, opts);
}

static void both_free(struct both *b)
{
    spied_free(&b->s);
    json_free(b->sarif);
    unlink(b->sarif_path);
}

static const struct jval *only_run(const struct jval *log)
{
    const struct jval *runs = jget(log, "runs");
    ck_assert_msg(runs && runs->type == J_ARR && runs->n == 1, "a log of one process has %zu "
                  "runs", runs ? runs->n : 0);
    return runs->items[0];
}

static const struct jval *results_of(const struct jval *run)
{
    const struct jval *r = jget(run, "results");
    ck_assert_msg(r && r->type == J_ARR, "a run without results");
    return r;
}

static const char *str_at(const struct jval *v, const char *path)
{
    const char *s = jstr(v, path);
    ck_assert_msg(s, "no string at %s", path);
    return s;
}

static const char *fingerprint(const struct jval *res)
{
    const struct jval *fp = jget(jget(res, "partialFingerprints"), "mallocspyStack/v1");
    ck_assert_msg(fp && fp->type == J_STR && strlen(fp->str) == 16, "no mallocspyStack/v1 "
                  "fingerprint");
    return fp->str;
}

/* The leak groups of the JSON report that SARIF lists (not still reachable ones). */
static size_t leak_groups(const struct jval *rep)
{
    const struct jval *leaks = need_member(rep, "leaks", J_ARR);
    size_t n = 0;
    for (size_t i = 0; i < leaks->n; i++)
        n += strcmp(str_at(leaks->items[i], "kind"), "reachable") != 0;
    return n;
}

/* The result whose properties say kind and bytes: exactly one. */
static const struct jval *result_for(const struct jval *run, const char *kind, double bytes)
{
    const struct jval *res = results_of(run), *found = NULL;
    int n = 0;
    for (size_t i = 0; i < res->n; i++) {
        const struct jval *p = jget(res->items[i], "properties");
        if (!strcmp(str_at(p, "kind"), kind) && jnum(p, "bytes") == bytes) {
            found = res->items[i];
            n++;
        }
    }
    ck_assert_msg(n == 1, "%d results of kind %s and %.0f bytes, 1 expected", n, kind, bytes);
    return found;
}

/* The code flow's thread flow locations. */
static const struct jval *flow_steps(const struct jval *res, int k)
{
    char p[64];
    snprintf(p, sizeof p, "codeFlows.%d.threadFlows.0.locations", k);
    const struct jval *steps = jpath(res, p);
    ck_assert_msg(steps && steps->type == J_ARR && steps->n, "no %s", p);
    return steps;
}

static const char *step_function(const struct jval *step)
{
    return jstr(step, "location.logicalLocations.0.fullyQualifiedName");
}

/* The code flow is the JSON stack, outermost first: same functions, files and lines. */
static void check_flow_is_stack(const struct jval *steps, const struct jval *stack)
{
    ck_assert_msg(stack && stack->type == J_ARR, "the JSON group has no stack");
    ck_assert_msg(steps->n == stack->n, "a code flow of %zu steps for a stack of %zu frames",
                  steps->n, stack->n);
    for (size_t k = 0; k < steps->n; k++) {
        const struct jval *st = steps->items[k], *fr = stack->items[stack->n - 1 - k];
        const char *fn = jstr(fr, "function"), *got = step_function(st);
        ck_assert_msg((!fn && !got) || (fn && got && !strcmp(fn, got)), "step %zu is %s, the "
                      "stack's frame %zu is %s", k, got ? got : "unnamed", stack->n - 1 - k,
                      fn ? fn : "unnamed");
        ck_assert_msg(jnum(st, "nestingLevel") == (double)k, "step %zu at nesting level %g", k,
                      jnum(st, "nestingLevel"));
        const struct jval *line = jget(fr, "line");
        if (line && line->type == J_NUM && jstr(fr, "file") && jstr(fr, "file")[0] != '/' &&
            strncmp(jstr(fr, "module"), "/lib", 4) && strncmp(jstr(fr, "module"), "/usr/", 5))
            ck_assert_msg(jnum(st, "location.physicalLocation.region.startLine") == line->num,
                          "step %zu: line %g, the stack says %g", k,
                          jnum(st, "location.physicalLocation.region.startLine"), line->num);
    }
}

static const char *cwd(void)
{
    static char d[PATH_MAX];
    ck_assert(getcwd(d, sizeof d));
    return d;
}

/* ---- the JSON report's format and schema ------------------------------------------------- */

START_TEST(test_json_format)
{
    struct both b = run_both("scan_list", NULL, NULL);
    const struct jval *f = jget(b.s.json, "format");
    ck_assert_msg(f && f->type == J_NUM && f->num == 1, "\"format\" is not the number 1");
    /* The schema installed beside the flame graph template. */
    char *prefix = tmp_dir("prefix");
    char pv[PATH_MAX + 16];
    snprintf(pv, sizeof pv, "PREFIX=%s", prefix);
    char *argv[] = { "make", "-s", "-C", (char *)repo_dir(), "install-bin", pv, NULL };
    const char *env[] = { "MAKEFLAGS=", "MAKELEVEL=", "MFLAGS=", "DESTDIR=", "PREFIX=", NULL };
    struct run r = run_tool(argv, env);
    ck_assert_msg(r.status == 0, "make install-bin failed:\n%s%s", r.out, r.err);
    run_free(&r);
    char inst[PATH_MAX + 64];
    snprintf(inst, sizeof inst, "%s/share/mallocspy/report.schema.json", prefix);
    char *a = read_file(inst), *b2 = read_file(repo_file("share/report.schema.json"));
    ck_assert_msg(a && b2 && !strcmp(a, b2), "%s is not share/report.schema.json", inst);
    free(a);
    free(b2);
    remove_tree(prefix);
    free(prefix);
    both_free(&b);
}
END_TEST

/* Reports broken one way each: the validator names every one, and lets through the
 * report as written and one with a field added (the schema is open to additions). */
START_TEST(test_schema_catches)
{
    struct both b = run_both("scan_list", NULL, NULL);
    char *text = read_file(b.s.json_path);
    ck_assert(text);
    char pid[64], pid_str[64];
    snprintf(pid, sizeof pid, "\"pid\":%.0f,", jnum(b.s.json, "pid"));
    snprintf(pid_str, sizeof pid_str, "\"pid\":\"%.0f\",", jnum(b.s.json, "pid"));
    static const struct { const char *name, *from, *to; bool bad; } cases[] = {
        { "as-written", NULL, NULL, false },
        { "added-field", "{\"format\":1,", "{\"format\":1,\"snapshot\":{\"number\":2},", false },
        { "other-format", "\"format\":1,", "\"format\":2,", true },
        { "no-format", "\"format\":1,", "", true },
        { "pid-string", "PID", "PID_STR", true },
        { "unknown-kind", "\"kind\":\"definite\"", "\"kind\":\"direct\"", true },
        { "inlined-number", "\"inlined\":false", "\"inlined\":0", true },
        { "negative-bytes", "\"definite_bytes\":", "\"definite_bytes\":-1,\"x\":", true },
        { "no-live-blocks", "\"live_blocks\":", "\"live_blockz\":", true },
        { "frame-no-function", "\"function\":", "\"functio\":", true },
        { "address-not-hex", "\"address\":\"0x", "\"address\":\"1x", true },
        { "line-zero", "\"line\":", "\"line\":0,\"l\":", true },
        { "stack-object", "\"stack\":[", "\"stack\":{\"frames\":[", true },
        { "not-json", "}", "", true },
    };
    char *dir = tmp_dir("schema");
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *from = cases[i].from, *to = cases[i].to;
        if (from && !strcmp(from, "PID")) {
            from = pid;
            to = pid_str;
        }
        char *t = from ? replace_first(text, from, to) : strdup(text);
        char path[PATH_MAX + 128];
        snprintf(path, sizeof path, "%s/%s.json", dir, cases[i].name);
        ck_assert(write_file(path, t));
        free(t);
    }
    char *argv[] = { "/usr/bin/python3", (char *)validator(), dir, NULL };
    struct run r = run_tool(argv, NULL);
    ck_assert_msg(r.status == 1, "the validator: status %d\n%s%s", r.status, r.out, r.err);
    int bad = 0;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char line[PATH_MAX + 160];
        snprintf(line, sizeof line, "INVALID %s/%s.json\n", dir, cases[i].name);
        ck_assert_msg((strstr(r.out, line) != NULL) == cases[i].bad, "%s: %s\n%s",
                      cases[i].name, cases[i].bad ? "not caught" : "taken for invalid", r.out);
        bad += cases[i].bad;
    }
    char sum[64];
    snprintf(sum, sizeof sum, "2 report(s) valid, %d invalid\n", bad);
    ck_assert_msg(strstr(r.out, sum), "the validator's count: %s", r.out);
    run_free(&r);
    remove_tree(dir);
    free(dir);
    free(text);
    both_free(&b);
}
END_TEST

/* ---- SARIF ------------------------------------------------------------------------------ */

static const char *const rule_ids[] = {
    "leak/definite", "leak/indirect", "leak/mapping", "leak/pool", "error/invalid_free",
    "error/double_free", "error/mismatch", "error/overflow", "error/underflow",
    "error/use_after_free", "error/wrong_heap",
};

/* A leaked list: the head definite, nine nodes indirect; each result is its JSON group. */
START_TEST(test_sarif_leaks)
{
    struct both b = run_both("scan_list", NULL, NULL);
    const struct jval *run = only_run(b.sarif);
    ck_assert_str_eq(str_at(b.sarif, "$schema"), "https://json.schemastore.org/sarif-2.1.0.json");
    ck_assert_str_eq(str_at(run, "tool.driver.name"), "mallocspy");
    ck_assert_str_eq(str_at(run, "tool.driver.version"), MALLOCSPY_VERSION);
    ck_assert_str_eq(str_at(run, "tool.driver.semanticVersion"), MALLOCSPY_VERSION);
    const struct jval *rules = jpath(run, "tool.driver.rules");
    ck_assert_msg(rules && rules->n == sizeof rule_ids / sizeof *rule_ids, "rules");
    for (size_t i = 0; i < rules->n; i++)
        ck_assert_str_eq(str_at(rules->items[i], "id"), rule_ids[i]);

    /* The process, and where relative source names are from. */
    ck_assert_msg(jnum(run, "invocations.0.processId") == jnum(b.s.json, "pid") &&
                  jnum(run, "properties.pid") == jnum(b.s.json, "pid"), "another process");
    ck_assert_str_eq(str_at(run, "properties.exe"), str_at(b.s.json, "exe"));
    char root[PATH_MAX + 16];
    snprintf(root, sizeof root, "file://%s/", cwd());
    ck_assert_str_eq(str_at(run, "originalUriBaseIds.SRCROOT.uri"), root);
    ck_assert_str_eq(str_at(run, "invocations.0.workingDirectory.uri"), root);
    char id[PATH_MAX];
    snprintf(id, sizeof id, "mallocspy/scan_list/%.0f", jnum(b.s.json, "pid"));
    ck_assert_str_eq(str_at(run, "automationDetails.id"), id);

    /* One result per group, the same numbers, the stack as the code flow. */
    const struct jval *res = results_of(run);
    ck_assert_msg(res->n == leak_groups(b.s.json) && res->n == 2, "%zu results for %zu leak "
                  "groups", res->n, leak_groups(b.s.json));
    const struct jval *leaks = jget(b.s.json, "leaks");
    for (size_t i = 0; i < leaks->n; i++) {
        const struct jval *l = leaks->items[i];
        const char *kind = str_at(l, "kind");
        const struct jval *x = result_for(run, kind, jnum(l, "bytes"));
        char rule[64];
        snprintf(rule, sizeof rule, "leak/%s", kind);
        ck_assert_str_eq(str_at(x, "ruleId"), rule);
        ck_assert_str_eq(str_at(rules->items[(size_t)jnum(x, "ruleIndex")], "id"), rule);
        ck_assert_str_eq(str_at(x, "level"), !strcmp(kind, "definite") ? "error" : "warning");
        ck_assert_msg(jnum(x, "properties.blocks") == jnum(l, "blocks"), "blocks");
        const char *file = str_at(l, "stack.0.file");
        char msg[512];
        snprintf(msg, sizeof msg, "%s leak of %.0f byte(s) in %.0f object(s) allocated from "
                 "scan_list_node (%s:%.0f).", !strcmp(kind, "definite") ? "Direct" : "Indirect",
                 jnum(l, "bytes"), jnum(l, "blocks"), file, jnum(l, "stack.0.line"));
        ck_assert_str_eq(str_at(x, "message.text"), msg);
        /* Shown at the allocation, in the program's source, relative to the root. */
        ck_assert_msg(!strcmp(file, "tests/progs/scan_list.c"), "the report names %s", file);
        ck_assert_str_eq(str_at(x, "locations.0.physicalLocation.artifactLocation.uri"), file);
        ck_assert_str_eq(str_at(x, "locations.0.physicalLocation.artifactLocation.uriBaseId"),
                         "SRCROOT");
        ck_assert_msg(jnum(x, "locations.0.physicalLocation.region.startLine") ==
                      jnum(l, "stack.0.line"), "the primary location's line");
        ck_assert_msg(jget(x, "codeFlows")->n == 1, "one code flow for a leak");
        ck_assert_str_eq(str_at(x, "codeFlows.0.message.text"), "allocated by");
        const struct jval *steps = flow_steps(x, 0);
        check_flow_is_stack(steps, jget(l, "stack"));
        ck_assert_str_eq(step_function(steps->items[steps->n - 1]), "scan_list_node");
        ck_assert_str_eq(step_function(steps->items[0]), "_start");
        /* A frame without a source line is placed in its module, at its address. */
        ck_assert_msg(!jpath(steps->items[0], "location.physicalLocation.region") &&
                      jnum(steps->items[0], "location.physicalLocation.address.absoluteAddress")
                      == (double)hexval(jstr(jget(l, "stack")->items[jget(l, "stack")->n - 1],
                                             "address")), "_start is not at its address");
    }
    const char *fp_def = fingerprint(result_for(run, "definite", 48));
    const char *fp_ind = fingerprint(result_for(run, "indirect", 432));
    ck_assert_msg(strcmp(fp_def, fp_ind), "two results, one fingerprint");

    /* Another run: other addresses, the same fingerprints. */
    struct both c = run_both("scan_list", NULL, NULL);
    const struct jval *run2 = only_run(c.sarif);
    ck_assert_str_eq(fingerprint(result_for(run2, "definite", 48)), fp_def);
    ck_assert_str_eq(fingerprint(result_for(run2, "indirect", 432)), fp_ind);
    both_free(&c);
    both_free(&b);
}
END_TEST

/* Pool buffers still held and page mappings leaked: their own rules and words. */
START_TEST(test_sarif_pools_and_mappings)
{
    struct both b = run_both("family_pool", NULL, NULL);
    const struct jval *run = only_run(b.sarif);
    ck_assert_msg(results_of(run)->n == leak_groups(b.s.json), "%zu results for %zu groups",
                  results_of(run)->n, leak_groups(b.s.json));
    const struct jval *x = result_for(run, "pool", 2000);
    ck_assert_str_eq(str_at(x, "ruleId"), "leak/pool");
    const char *m = str_at(x, "message.text");
    static const char pool_msg[] = "Pool leak of 2000 byte(s) in 2 buffer(s) of pool "
                                   "'frames' still held, taken by take_frames (";
    ck_assert_msg(!strncmp(m, pool_msg, strlen(pool_msg)), "message: %s", m);
    ck_assert_str_eq(str_at(x, "codeFlows.0.message.text"), "taken by");
    both_free(&b);

    b = run_both("family_map", "map_leak", NULL);
    run = only_run(b.sarif);
    x = result_for(run, "mapping", 12288);
    ck_assert_str_eq(str_at(x, "ruleId"), "leak/mapping");
    m = str_at(x, "message.text");
    static const char map_msg[] = "Mapping leak of 12288 byte(s) in 1 mapping(s) made by "
                                  "map_leak (";
    ck_assert_msg(!strncmp(m, map_msg, strlen(map_msg)), "message: %s", m);
    ck_assert_str_eq(str_at(x, "codeFlows.0.message.text"), "mapped by");
    both_free(&b);
}
END_TEST

/* A double free: the three stacks as three flows, in the order things happened, shown
 * at the second free; the same with the leak tracker off. */
static void check_double_free(const char *opts)
{
    struct both b = run_both("err_double", NULL, opts);
    const struct jval *run = only_run(b.sarif);
    const struct jval *res = results_of(run), *x = NULL;
    for (size_t i = 0; i < res->n; i++)
        if (!strcmp(str_at(res->items[i], "ruleId"), "error/double_free")) {
            ck_assert_msg(!x, "two double frees");
            x = res->items[i];
        }
    ck_assert_msg(x, "no error/double_free result (%s)", opts);
    ck_assert_msg(jnum(x, "ruleIndex") == 5 && !strcmp(str_at(x, "level"), "error"), "rule");
    ck_assert_str_eq(str_at(x, "properties.kind"), "double_free");
    ck_assert_str_eq(str_at(x, "properties.address"), str_at(b.s.json, "errors.0.address"));
    ck_assert_str_eq(str_at(x, "properties.call"), "free");
    char want[128];
    snprintf(want, sizeof want, "attempting double-free on %s in free, at second_free (",
             str_at(b.s.json, "errors.0.address"));
    ck_assert_msg(!strncmp(str_at(x, "message.text"), want, strlen(want)), "message: %s",
                  str_at(x, "message.text"));
    ck_assert_str_eq(str_at(x, "locations.0.logicalLocations.0.fullyQualifiedName"),
                     "second_free");
    static const char *const what[] = { "allocated by", "freed by", "here" };
    static const char *const fn[] = { "alloc_twice_freed", "first_free", "second_free" };
    static const char *const key[] = { "errors.0.stacks.alloc", "errors.0.stacks.free",
                                       "errors.0.stacks.here" };
    /* Each stack the JSON report has (without the tracker, no allocation stack). */
    int flows = 0;
    for (int k = 0; k < 3; k++) {
        const struct jval *st = jpath(b.s.json, key[k]);
        if (!st || st->type != J_ARR)
            continue;
        char p[64];
        snprintf(p, sizeof p, "codeFlows.%d.message.text", flows);
        ck_assert_str_eq(str_at(x, p), what[k]);
        const struct jval *steps = flow_steps(x, flows++);
        ck_assert_str_eq(step_function(steps->items[steps->n - 1]), fn[k]);
        check_flow_is_stack(steps, st);
    }
    ck_assert_msg(jget(x, "codeFlows")->n == (size_t)flows && flows >= 2, "%zu code flows for "
                  "%d stacks (%s)", jget(x, "codeFlows")->n, flows, opts);
    both_free(&b);
}

START_TEST(test_sarif_errors)
{
    check_double_free("quarantine=1m");
    check_double_free("quarantine=1m:leak_check=0");
}
END_TEST

/* An overflow found at the free: shown there, with the damage in the message. */
START_TEST(test_sarif_overflow)
{
    const char *args[] = { "write", "9", "9", NULL };
    struct both b = run_both_args("err_guard", args, "guard=1");
    const struct jval *res = results_of(only_run(b.sarif));
    ck_assert_msg(res->n == 1, "%zu results", res->n);
    const struct jval *x = res->items[0];
    ck_assert_str_eq(str_at(x, "ruleId"), "error/overflow");
    char want[160];
    snprintf(want, sizeof want, "heap-buffer-overflow on %s in free: 1 byte(s) damaged at "
             "offset 9 of the 9-byte block, at release_guarded (",
             str_at(b.s.json, "errors.0.address"));
    ck_assert_msg(!strncmp(str_at(x, "message.text"), want, strlen(want)), "message: %s",
                  str_at(x, "message.text"));
    ck_assert_msg(jget(x, "codeFlows")->n == 2, "an overflow has the allocation and the free");
    ck_assert_str_eq(str_at(x, "codeFlows.0.message.text"), "allocated by");
    ck_assert_str_eq(str_at(x, "codeFlows.1.message.text"), "here");
    both_free(&b);
}
END_TEST

/* With no text and no JSON report, the frames the SARIF log shows are named all the same:
 * the log takes part in the report's pass that learns what it prints. */
START_TEST(test_sarif_named_alone)
{
    char *sarif = tmp_name("alone.sarif");
    char o[PATH_MAX + 64];
    snprintf(o, sizeof o, "report=quiet:sarif_path=%s", sarif);
    char *argv[] = { (char *)prog_path("scan_list"), NULL };
    struct run r = spy(argv, o, NULL);
    check_clean_exit(&r, "scan_list with sarif_path only");
    run_free(&r);
    struct jval *log = load_sarif(sarif);
    const struct jval *res = results_of(only_run(log));
    ck_assert_msg(res->n == 2, "%zu results", res->n);
    for (size_t i = 0; i < res->n; i++) {
        const struct jval *steps = flow_steps(res->items[i], 0);
        ck_assert_str_eq(step_function(steps->items[steps->n - 1]), "scan_list_node");
        ck_assert_str_eq(str_at(res->items[i], "locations.0.physicalLocation.artifactLocation.uri"),
                         "tests/progs/scan_list.c");
    }
    json_free(log);
    unlink(sarif);
    free(sarif);
}
END_TEST

/* Source files: under the start directory, relative to it; elsewhere, absolute file URIs;
 * names percent-encoded.  The program is built here from a source file named by its
 * absolute path, in a directory whose name needs encoding. */
START_TEST(test_sarif_paths)
{
    char *dir = tmp_dir("paths");
    char src_dir[PATH_MAX + 64], src[PATH_MAX + 96], exe[PATH_MAX + 64];
    snprintf(src_dir, sizeof src_dir, "%s/src dir%%#", dir);
    ck_assert(mkdir(src_dir, 0755) == 0);
    snprintf(src, sizeof src, "%s/leaker.c", src_dir);
    ck_assert(write_file(src, "#include <stdlib.h>\n"
                              "void *volatile sink;\n"
                              "__attribute__((noinline)) void leaky_fn(void)\n"
                              "{\n"
                              "    sink = malloc(77);\n"
                              "    sink = 0;\n"
                              "}\n"
                              "int main(void) { leaky_fn(); return 0; }\n"));
    snprintf(exe, sizeof exe, "%s/leaker", dir);
    char *cc[] = { "cc", "-g", "-O0", "-o", exe, src, NULL };
    run_tool_ok(cc);

    /* Started in dir: "src dir%#/leaker.c" relative to it. */
    char *sarif = tmp_name("paths.sarif");
    char o[PATH_MAX + 64];
    snprintf(o, sizeof o, "report=quiet:sarif_path=%s", sarif);
    char *argv[] = { "sh", "-c", "cd \"$0\" && exec \"$1\"", dir, exe, NULL };
    struct run r = spy(argv, o, NULL);
    check_clean_exit(&r, "leaker");
    run_free(&r);
    struct jval *log = load_sarif(sarif);
    const struct jval *run = only_run(log);
    const struct jval *x = result_for(run, "definite", 77);
    ck_assert_str_eq(str_at(x, "locations.0.physicalLocation.artifactLocation.uri"),
                     "src%20dir%25%23/leaker.c");
    ck_assert_str_eq(str_at(x, "locations.0.physicalLocation.artifactLocation.uriBaseId"),
                     "SRCROOT");
    ck_assert_msg(jnum(x, "locations.0.physicalLocation.region.startLine") == 5, "line");
    char want[PATH_MAX + 256];
    /* The message names the file as the debug information does. */
    snprintf(want, sizeof want, "Direct leak of 77 byte(s) in 1 object(s) allocated from "
             "leaky_fn (%s:5).", src);
    ck_assert_str_eq(str_at(x, "message.text"), want);
    char root[PATH_MAX + 16];
    snprintf(root, sizeof root, "file://%s/", dir);
    ck_assert_str_eq(str_at(run, "originalUriBaseIds.SRCROOT.uri"), root);
    json_free(log);

    /* Started elsewhere: an absolute file URI, without a base. */
    char *elsewhere = tmp_dir("elsewhere");
    argv[3] = elsewhere;
    r = spy(argv, o, NULL);
    check_clean_exit(&r, "leaker from /");
    run_free(&r);
    log = load_sarif(sarif);
    run = only_run(log);
    x = result_for(run, "definite", 77);
    snprintf(want, sizeof want, "file://%s/src%%20dir%%25%%23/leaker.c", dir);
    ck_assert_str_eq(str_at(x, "locations.0.physicalLocation.artifactLocation.uri"), want);
    ck_assert_msg(!jpath(x, "locations.0.physicalLocation.artifactLocation.uriBaseId"),
                  "an absolute URI with a base");
    snprintf(root, sizeof root, "file://%s/", elsewhere);
    ck_assert_str_eq(str_at(run, "originalUriBaseIds.SRCROOT.uri"), root);
    json_free(log);
    remove_tree(elsewhere);
    free(elsewhere);
    unlink(sarif);
    free(sarif);
    remove_tree(dir);
    free(dir);
}
END_TEST

/* A leak whose innermost frame is a library header's function instantiated in the program
 * (the standard allocator): shown at the program's own function, in the source tree, not
 * in /usr/include. */
START_TEST(test_sarif_own_frame)
{
    ck_assert_msg(have_cmd("g++"), "g++ is not installed (make check installs it)");
    char *dir = tmp_dir("own");
    char src_dir[PATH_MAX + 64], src[PATH_MAX + 96], exe[PATH_MAX + 64];
    snprintf(src_dir, sizeof src_dir, "%s/src", dir);
    ck_assert(mkdir(src_dir, 0755) == 0);
    snprintf(src, sizeof src, "%s/numbers.cc", src_dir);
    ck_assert(write_file(src, "#include <memory>\n"
                              "int *volatile sink;\n"
                              "__attribute__((noinline)) void keep_numbers()\n"
                              "{\n"
                              "    std::allocator<int> a;\n"
                              "    sink = a.allocate(4);\n"
                              "    sink = nullptr;\n"
                              "}\n"
                              "int main() { keep_numbers(); }\n"));
    snprintf(exe, sizeof exe, "%s/numbers", dir);
    char *cxx[] = { "g++", "-g", "-O0", "-o", exe, src, NULL };
    run_tool_ok(cxx);
    char *sarif = tmp_name("own.sarif"), *json = tmp_name("own.json");
    char o[2 * PATH_MAX + 64];
    snprintf(o, sizeof o, "report=quiet:sarif_path=%s:json_path=%s", sarif, json);
    char *argv[] = { "sh", "-c", "cd \"$0\" && exec \"$1\"", dir, exe, NULL };
    struct run r = spy(argv, o, NULL);
    check_clean_exit(&r, "numbers");
    run_free(&r);
    struct jval *rep = load_report(json), *log = load_sarif(sarif);
    const struct jval *g = one_leak_from(rep, "std::__new_allocator<int>::allocate(unsigned "
                                         "long, void const*)");
    const char *f0 = jstr(g, "stack.0.file");
    ck_assert_msg(f0 && !strncmp(f0, "/usr/include/", 13), "the innermost frame is in %s, not "
                  "in a header of /usr/include: the test shows nothing", f0 ? f0 : "?");
    const struct jval *x = result_for(only_run(log), "definite", 16);
    ck_assert_str_eq(str_at(x, "locations.0.logicalLocations.0.fullyQualifiedName"),
                     "keep_numbers()");
    ck_assert_str_eq(str_at(x, "locations.0.physicalLocation.artifactLocation.uri"),
                     "src/numbers.cc");
    ck_assert_msg(jnum(x, "locations.0.physicalLocation.region.startLine") == 6, "line");
    /* The header's frame is in the flow, as an absolute file URI ("c++" encoded). */
    const struct jval *steps = flow_steps(x, 0);
    char want[PATH_MAX];
    size_t k = (size_t)snprintf(want, sizeof want, "file://");
    for (const char *c = f0; *c && k + 4 < sizeof want; c++)
        k += (size_t)(*c == '+' ? snprintf(want + k, 4, "%%2B") : snprintf(want + k, 2, "%c", *c));
    ck_assert_str_eq(str_at(steps->items[steps->n - 1],
                            "location.physicalLocation.artifactLocation.uri"), want);
    json_free(log);
    json_free(rep);
    unlink(sarif);
    unlink(json);
    free(sarif);
    free(json);
    remove_tree(dir);
    free(dir);
}
END_TEST

/* The wrapper's --sarif: a relative name from where the wrapper started, %p the pid. */
START_TEST(test_sarif_wrapper)
{
    char *dir = tmp_dir("wrapper");
    char *argv[] = { "sh", "-c", "cd \"$0\" && exec \"$1\" --quiet --sarif out.%p.sarif -- \"$2\"",
                     dir, (char *)repo_file("scripts/mallocspy"), (char *)prog_path("leak_basic"),
                     NULL };
    struct run r = run_tool(argv, NULL);
    ck_assert_msg(r.status == 0 && !strcmp(r.err, ""), "mallocspy --sarif: status %d\n%s",
                  r.status, r.err);
    int pid = 0;
    ck_assert_msg(sscanf(r.out, "pid=%d", &pid) == 1, "stdout: %s", r.out);
    run_free(&r);
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/out.%d.sarif", dir, pid);
    struct jval *log = load_sarif(path);
    const struct jval *res = results_of(only_run(log));
    ck_assert_msg(res->n == 6, "%zu results for the 6 leaks of leak_basic", res->n);
    for (size_t i = 0; i < res->n; i++)
        ck_assert_str_eq(str_at(res->items[i], "ruleId"), "leak/definite");
    json_free(log);

    /* Bad uses: one line, status 2, the program not run. */
    static const char *const bad[][2] = {
        { "--sarif", "option --sarif needs a value" },
        { "--sarif=/no/such/dir/x.sarif", "--sarif: no such directory: /no/such/dir" },
    };
    for (size_t i = 0; i < 2; i++) {
        char *a[] = { (char *)repo_file("scripts/mallocspy"), (char *)bad[i][0], NULL, NULL };
        if (i == 1)
            a[2] = (char *)prog_path("leak_basic");
        r = run_tool(a, NULL);
        ck_assert_msg(r.status == 2 && count_lines(r.err) == 1 && strstr(r.err, bad[i][1]) &&
                      !strstr(r.out, "pid="), "mallocspy %s: status %d, stderr %s", bad[i][0],
                      r.status, r.err);
        run_free(&r);
    }
    remove_tree(dir);
    free(dir);
}
END_TEST

/* The wrapper's --sarif without %p over a run of several processes: one log, with one run
 * per process that reported. */
START_TEST(test_sarif_wrapper_run)
{
    char *dir = tmp_dir("wrapper_run");
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/run.sarif", dir);
    char script[PATH_MAX * 2 + 32];
    snprintf(script, sizeof script, "%s; %s", prog_path("leak_basic"), prog_path("leak_basic"));
    char *argv[] = { (char *)repo_file("scripts/mallocspy"), "--quiet", "--sarif", path, "--",
                     "sh", "-c", script, NULL };
    struct run r = run_tool(argv, NULL);
    ck_assert_msg(r.status == 0, "mallocspy --sarif: status %d\n%s", r.status, r.err);
    run_free(&r);
    struct jval *log = load_sarif(path);
    const struct jval *runs = jget(log, "runs");
    ck_assert_msg(runs && runs->type == J_ARR && runs->n == 2, "%zu runs, 2 expected",
                  runs ? runs->n : 0);
    for (size_t i = 0; i < runs->n; i++)
        ck_assert_int_eq((int)results_of(runs->items[i])->n, 6);
    ck_assert_str_ne(str_at(runs->items[0], "automationDetails.id"),
                     str_at(runs->items[1], "automationDetails.id"));
    json_free(log);
    remove_tree(dir);
    free(dir);
}
END_TEST

/* A log that cannot be written: one warning, the program's status, the JSON report all
 * the same. */
START_TEST(test_sarif_unwritable)
{
    struct spied s;
    char *argv[] = { (char *)prog_path("scan_list"), NULL };
    s = spy_reports(argv, "report=quiet:sarif_path=/nonexistent/dir/x.sarif", NULL, false);
    ck_assert_msg(s.r.status == 0, "status %d", s.r.status);
    ck_assert_str_eq(s.r.err, "mallocspy: cannot write the SARIF log to "
                              "'/nonexistent/dir/x.sarif': No such file or directory\n");
    s.json = load_report(s.json_path);
    ck_assert_msg(jnum(s.json, "summary.definite_blocks") == 1, "the JSON report");
    spied_free(&s);
}
END_TEST

/* The run of a log is whole in itself: the runs of two processes' logs, side by side, make
 * one valid log with one run per process (as a tool gathering a run's processes would). */
static char *run_text(const char *path)
{
    char *text = read_file(path);
    ck_assert(text);
    const char *at = strstr(text, "\"runs\":[");
    const char *end = strrchr(text, ']');
    ck_assert_msg(at && end && end > at, "no runs array in %s", path);
    at += strlen("\"runs\":[");
    char *run = strndup(at, (size_t)(end - at));
    free(text);
    return run;
}

START_TEST(test_sarif_merge)
{
    struct both a = run_both("scan_list", NULL, NULL);
    struct both b = run_both("err_double", NULL, "quarantine=1m");
    char *ra = run_text(a.sarif_path), *rb = run_text(b.sarif_path);
    char *merged = malloc(strlen(ra) + strlen(rb) + 256);
    sprintf(merged, "{\"$schema\":\"https://json.schemastore.org/sarif-2.1.0.json\","
            "\"version\":\"2.1.0\",\"runs\":[%s,%s]}\n", ra, rb);
    char *path = tmp_name("merged.sarif");
    ck_assert(write_file(path, merged));
    struct jval *log = load_sarif(path);
    const struct jval *runs = jget(log, "runs");
    ck_assert_msg(runs && runs->n == 2, "two runs");
    const struct both *by[2] = { &a, &b };
    for (int k = 0; k < 2; k++) {
        const struct jval *run = runs->items[k];
        ck_assert_msg(jnum(run, "invocations.0.processId") == jnum(by[k]->s.json, "pid"),
                      "run %d is not its process", k);
        ck_assert_msg(jpath(run, "tool.driver.rules")->n == sizeof rule_ids / sizeof *rule_ids,
                      "run %d has no rules of its own", k);
        ck_assert_msg(jpath(run, "originalUriBaseIds.SRCROOT.uri") != NULL, "run %d: no root", k);
        ck_assert_msg(results_of(run)->n == results_of(only_run(by[k]->sarif))->n, "results");
    }
    ck_assert_msg(strcmp(str_at(runs->items[0], "automationDetails.id"),
                         str_at(runs->items[1], "automationDetails.id")), "one id for two runs");
    json_free(log);
    unlink(path);
    free(path);
    free(merged);
    free(ra);
    free(rb);
    both_free(&b);
    both_free(&a);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("formats");
    TCase *t = tcase_create("json");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, test_json_format);
    tcase_add_test(t, test_schema_catches);
    suite_add_tcase(s, t);
    t = tcase_create("sarif");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, test_sarif_leaks);
    tcase_add_test(t, test_sarif_pools_and_mappings);
    tcase_add_test(t, test_sarif_errors);
    tcase_add_test(t, test_sarif_overflow);
    tcase_add_test(t, test_sarif_named_alone);
    tcase_add_test(t, test_sarif_paths);
    tcase_add_test(t, test_sarif_own_frame);
    tcase_add_test(t, test_sarif_wrapper);
    tcase_add_test(t, test_sarif_wrapper_run);
    tcase_add_test(t, test_sarif_unwritable);
    tcase_add_test(t, test_sarif_merge);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return run_suite(suite());
}
