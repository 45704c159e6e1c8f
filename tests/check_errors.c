/* Heap error detection (issue 7), end to end: helper programs (tests/progs/err_*) commit
 * one error each and go on; the tests run them under the preload and check the JSON
 * report's "errors" (kind, the address the program printed, the block's size, the call,
 * the offset and length of the damage, the stacks naming the program's functions), the
 * text written at once to log_path, and that the program survived.  Then the options
 * that change what happens after an error (halt_on_error, error_exitcode), runs showing
 * that each detector changes nothing of the leak report whether it is off or on, and real
 * programs (python3, perl, gcc, a shell pipeline) that must run clean with the guard and
 * the quarantine on. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mallocspy.h"
#include "testutil.h"

/* ---- running programs ------------------------------------------------------------------ */

/* A report of these programs: it has errors, leaks and the summary's count of errors. */
static struct jval *load_json(const char *path)
{
    struct jval *v = load_report(path);
    need_member(v, "errors", J_ARR);
    need_member(v, "leaks", J_ARR);
    ck_assert_msg(!isnan(jnum(v, "summary.errors")), "no summary.errors in %s", path);
    return v;
}

/* Runs tests/progs/<name> with the arguments `args` (NULL-terminated, may be NULL) under
 * the preload with report=quiet, a fresh json_path and log_path, and `opts`.  With `json`
 * false the JSON report is not read (a process killed by a signal writes none). */
static struct spied run_prog_env(const char *name, const char *const args[], const char *opts,
                                 bool json, const char *const env[])
{
    char o[8192];
    snprintf(o, sizeof o, "report=quiet%s%s", opts && *opts ? ":" : "", opts ? opts : "");
    char *argv[32] = { (char *)prog_path(name) };
    int k = 1;
    for (int i = 0; args && args[i] && k < 31; i++)
        argv[k++] = (char *)args[i];
    argv[k] = NULL;
    struct spied s = spy_reports(argv, o, env, true);
    s.log = read_file(s.log_path);
    if (!s.log)
        s.log = strdup("");
    if (json)
        s.json = load_json(s.json_path);
    return s;
}

static struct spied run_prog(const char *name, const char *const args[], const char *opts)
{
    return run_prog_env(name, args, opts, true, NULL);
}

/* The program ran to its end: status 0, its "survived" line, nothing on stderr. */
static void check_survived(const struct spied *s, const char *what)
{
    ck_assert_msg(s->r.status == 0, "%s: status %d\nstdout: %s\nstderr: %.2000s", what,
                  s->r.status, s->r.out, s->r.err);
    ck_assert_msg(strstr(s->r.out, "survived\n"), "%s did not get to its end:\n%s", what,
                  s->r.out);
    ck_assert_msg(!strcmp(s->r.err, ""), "%s wrote on stderr:\n%.2000s", what, s->r.err);
}

/* The value of "key=0x..." in a program's output (a pointer printed with %p). */
static unsigned long long out_ptr(const char *out, const char *key)
{
    char needle[64];
    snprintf(needle, sizeof needle, "%s=", key);
    const char *p = out;
    for (;;) {
        p = strstr(p, needle);
        ck_assert_msg(p, "no \"%s\" in the output:\n%s", needle, out);
        if (p == out || p[-1] == '\n')
            break;
        p++;
    }
    p += strlen(needle);
    unsigned long long v = 0;
    ck_assert_msg(sscanf(p, "0x%llx", &v) == 1 && v, "\"%s\" is not a pointer: %.40s",
                  needle, p);
    return v;
}

/* ---- the errors of a report ------------------------------------------------------------ */

static size_t nerrors(const struct jval *rep) { return jget(rep, "errors")->n; }
static const struct jval *error_at(const struct jval *rep, size_t i)
{
    return jget(rep, "errors")->items[i];
}

/* A one-line account of every error, for failure messages (static buffer). */
static const char *describe(const struct jval *rep)
{
    static char buf[4096];
    size_t n = 0;
    buf[0] = 0;
    for (size_t i = 0; i < nerrors(rep) && n < sizeof buf - 200; i++) {
        const struct jval *e = error_at(rep, i);
        const char *here = jstr(e, "stacks.here.0.function");
        n += (size_t)snprintf(buf + n, sizeof buf - n, "  %s at %s (%.0f bytes) in %s, "
                              "here %s\n", jstr(e, "kind"), jstr(e, "address"),
                              jnum(e, "bytes"), jstr(e, "call"), here ? here : "-");
    }
    return buf;
}

static void check_no_errors(const struct jval *rep, const char *what)
{
    ck_assert_msg(nerrors(rep) == 0 && jnum(rep, "summary.errors") == 0,
                  "%s: %zu error(s) reported (summary: %.0f), none expected:\n%s", what,
                  nerrors(rep), jnum(rep, "summary.errors"), describe(rep));
}

/* The report has exactly one error, of this kind. */
static const struct jval *only_error(const struct jval *rep, const char *kind)
{
    ck_assert_msg(nerrors(rep) == 1 && jnum(rep, "summary.errors") == 1,
                  "%zu error(s) (summary: %.0f), one %s expected:\n%s", nerrors(rep),
                  jnum(rep, "summary.errors"), kind, describe(rep));
    const struct jval *e = error_at(rep, 0);
    ck_assert_str_eq(jstr(e, "kind"), kind);
    return e;
}

static const struct jval *stack_of(const struct jval *e, const char *which)
{
    const struct jval *stacks = jget(e, "stacks");
    ck_assert_msg(stacks && stacks->type == J_OBJ, "an error without a \"stacks\" object");
    const struct jval *s = jget(stacks, which);
    ck_assert_msg(s, "an error without stacks.%s", which);
    return s;
}

/* Stack `which` of e starts in function fn, called from `caller`. */
static void check_stack_from(const struct jval *e, const char *which, const char *fn,
                             const char *caller)
{
    const struct jval *s = stack_of(e, which);
    ck_assert_msg(s->type == J_ARR && s->n >= 2, "%s error: stacks.%s is %s, expected a "
                  "stack from %s", jstr(e, "kind"), which,
                  s->type == J_NULL ? "null" : "too short", fn);
    const char *f0 = jstr(s->items[0], "function");
    ck_assert_msg(f0 && !strcmp(f0, fn), "%s error: stacks.%s starts in %s, expected %s",
                  jstr(e, "kind"), which, f0 ? f0 : "(unknown)", fn);
    const char *f1 = jstr(s->items[1], "function");
    ck_assert_msg(f1 && !strcmp(f1, caller), "%s error: stacks.%s: %s called from %s, "
                  "expected %s", jstr(e, "kind"), which, fn, f1 ? f1 : "(unknown)", caller);
}

/* Stack `which` of e starts in function fn, called from main. */
static void check_stack(const struct jval *e, const char *which, const char *fn)
{
    check_stack_from(e, which, fn, "main");
}

static void check_no_stack(const struct jval *e, const char *which)
{
    const struct jval *s = stack_of(e, which);
    ck_assert_msg(s->type == J_NULL, "%s error: stacks.%s is not null (starts in %s)",
                  jstr(e, "kind"), which,
                  s->type == J_ARR && s->n ? jstr(s->items[0], "function") : "?");
}

/* kind, address, bytes and call of e. */
static void check_error(const struct jval *e, const char *kind, unsigned long long addr,
                        double bytes, const char *call)
{
    ck_assert_str_eq(jstr(e, "kind"), kind);
    unsigned long long a = hexval(jstr(e, "address"));
    ck_assert_msg(a == addr, "%s error at 0x%llx, expected 0x%llx (the program's pointer)",
                  kind, a, addr);
    ck_assert_msg(jnum(e, "bytes") == bytes, "%s error: bytes %.0f, expected %.0f", kind,
                  jnum(e, "bytes"), bytes);
    if (call) {
        const char *c = jstr(e, "call");
        ck_assert_msg(c && !strcmp(c, call), "%s error: call \"%s\", expected \"%s\"", kind,
                      c ? c : "(null)", call);
    }
}

static void check_damage(const struct jval *e, double offset, double length)
{
    ck_assert_msg(jnum(e, "offset") == offset && jnum(e, "length") == length,
                  "%s error: damage at offset %.0f, length %.0f; expected offset %.0f, "
                  "length %.0f", jstr(e, "kind"), jnum(e, "offset"), jnum(e, "length"),
                  offset, length);
}

/* How many error headers of the text log name this address, and (if call is not NULL)
 * that call: "==PID==ERROR: mallocspy: <what> on 0xADDR in <call>". */
static int log_errors(const char *log, unsigned long long addr, const char *call)
{
    char tail[256];
    if (call)
        snprintf(tail, sizeof tail, " on 0x%llx in %s", addr, call);
    else
        snprintf(tail, sizeof tail, " on 0x%llx", addr);
    int n = 0;
    for (const char *p = log; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        const char *hdr = p[0] == '=' && p[1] == '=' ? strstr(p, "==ERROR: mallocspy: ")
                                                     : NULL;
        if (hdr && hdr < p + len) {
            /* The address is followed by " in <call>" or the end of the line. */
            const char *t = strstr(hdr, tail);
            size_t tl = strlen(tail);
            if (t && t + tl <= p + len && (call || t + tl == p + len || t[tl] == ' '))
                n++;
        }
        p += len + (nl ? 1 : 0);
    }
    return n;
}

/* The text log reported the error once, with these stack titles and functions. */
static void check_log(const char *log, unsigned long long addr, const char *call,
                      const char *here_fn, const char *free_fn, const char *alloc_fn,
                      double bytes)
{
    ck_assert_msg(log_errors(log, addr, call) == 1, "the text log does not report one error "
                  "on 0x%llx in %s:\n%.3000s", addr, call ? call : "?", log);
    char needle[256];
    if (here_fn) {
        ck_assert_msg(strstr(log, "  here:\n"), "no \"here:\" stack in the log:\n%.3000s", log);
        snprintf(needle, sizeof needle, " in %s ", here_fn);
        ck_assert_msg(strstr(strstr(log, "  here:\n"), needle), "the log's \"here:\" stack "
                      "does not name %s:\n%.3000s", here_fn, log);
    }
    if (free_fn) {
        ck_assert_msg(strstr(log, "  freed by:\n"), "no \"freed by:\" in the log:\n%.3000s",
                      log);
        snprintf(needle, sizeof needle, " in %s ", free_fn);
        ck_assert_msg(strstr(strstr(log, "  freed by:\n"), needle), "the log's \"freed by:\" "
                      "stack does not name %s:\n%.3000s", free_fn, log);
    }
    if (alloc_fn) {
        char title[128];
        snprintf(title, sizeof title, "  %.0f-byte block allocated by:\n", bytes);
        ck_assert_msg(strstr(log, title), "no \"%.0f-byte block allocated by:\" in the "
                      "log:\n%.3000s", bytes, log);
        snprintf(needle, sizeof needle, " in %s ", alloc_fn);
        ck_assert_msg(strstr(strstr(log, title), needle), "the log's allocation stack does "
                      "not name %s:\n%.3000s", alloc_fn, log);
    }
}

/* ---- invalid frees, reallocations and size queries ------------------------------------ */

/* Every detector on: the errors found without them are found the same with them (the
 * tests of invalid frees, double frees and mismatches run with both). */
#define ALL_ON "guard=1:quarantine=1048576:malloc_fill=0xAB:free_fill=0xCD"
static const char *const plain_or_all[] = { "", ALL_ON };

START_TEST(test_invalid_free_stack)
{
    const char *args[] = { "stack", NULL };
    struct spied s = run_prog("err_invalid", args, plain_or_all[_i]);
    check_survived(&s, "free of a stack address");
    unsigned long long ptr = out_ptr(s.r.out, "ptr");
    const struct jval *e = only_error(s.json, "invalid_free");
    check_error(e, "invalid_free", ptr, 0, "free");
    check_stack(e, "here", "do_free_stack");
    check_no_stack(e, "alloc");
    check_no_stack(e, "free");
    ck_assert_msg(!jget(e, "block"), "a stack address inside a heap block?");
    check_log(s.log, ptr, "free", "do_free_stack", NULL, NULL, 0);
    spied_free(&s);
}
END_TEST

START_TEST(test_invalid_free_global)
{
    const char *args[] = { "global", NULL };
    struct spied s = run_prog("err_invalid", args, plain_or_all[_i]);
    check_survived(&s, "free of a global");
    unsigned long long ptr = out_ptr(s.r.out, "ptr");
    const struct jval *e = only_error(s.json, "invalid_free");
    check_error(e, "invalid_free", ptr, 0, "free");
    check_stack(e, "here", "do_free_global");
    check_no_stack(e, "alloc");
    check_log(s.log, ptr, "free", "do_free_global", NULL, NULL, 0);
    spied_free(&s);
}
END_TEST

START_TEST(test_invalid_free_interior)
{
    const char *args[] = { "interior", NULL };
    struct spied s = run_prog("err_invalid", args, plain_or_all[_i]);
    check_survived(&s, "free of an interior pointer");   /* and the block was left whole */
    unsigned long long ptr = out_ptr(s.r.out, "ptr"), block = out_ptr(s.r.out, "block");
    ck_assert_uint_eq(ptr, block + 16);
    const struct jval *e = only_error(s.json, "invalid_free");
    check_error(e, "invalid_free", ptr, 100, "free");
    ck_assert_msg(jstr(e, "block") && hexval(jstr(e, "block")) == block,
                  "\"block\" is %s, expected 0x%llx", jstr(e, "block"), block);
    ck_assert_msg(jnum(e, "offset") == 16, "offset %.0f, expected 16", jnum(e, "offset"));
    check_stack(e, "here", "do_free_interior");
    check_stack(e, "alloc", "alloc_container");
    check_no_stack(e, "free");
    check_log(s.log, ptr, "free", "do_free_interior", NULL, "alloc_container", 100);
    /* The block itself, freed properly afterwards, is no leak (and no other error). */
    ck_assert_msg(entries_with(s.json, "leaks", "alloc_container", 1, NULL, NULL, 0) == 0,
                  "the block leaked");
    spied_free(&s);
}
END_TEST

START_TEST(test_invalid_realloc)
{
    const char *args[] = { "realloc", NULL };
    struct spied s = run_prog("err_invalid", args, plain_or_all[_i]);
    check_survived(&s, "realloc of a stack address");
    ck_assert_msg(strstr(s.r.out, "result=null errno=0\n"), "the bad realloc did not return "
                  "NULL with errno untouched:\n%s", s.r.out);
    unsigned long long ptr = out_ptr(s.r.out, "ptr");
    const struct jval *e = only_error(s.json, "invalid_free");
    check_error(e, "invalid_free", ptr, 0, "realloc");
    check_stack(e, "here", "do_realloc_bad");
    check_no_stack(e, "alloc");
    check_log(s.log, ptr, "realloc", "do_realloc_bad", NULL, NULL, 0);
    spied_free(&s);
}
END_TEST

START_TEST(test_invalid_usable_size)
{
    const char *args[] = { "usable", NULL };
    struct spied s = run_prog("err_invalid", args, plain_or_all[_i]);
    check_survived(&s, "malloc_usable_size of a stack address");
    ck_assert_msg(strstr(s.r.out, "usable=0\n"), "malloc_usable_size of a bad pointer did "
                  "not return 0:\n%s", s.r.out);
    unsigned long long ptr = out_ptr(s.r.out, "ptr");
    const struct jval *e = only_error(s.json, "invalid_free");
    check_error(e, "invalid_free", ptr, 0, "malloc_usable_size");
    check_stack(e, "here", "do_usable_bad");
    check_log(s.log, ptr, "malloc_usable_size", "do_usable_bad", NULL, NULL, 0);
    spied_free(&s);
}
END_TEST

/* ---- double frees -------------------------------------------------------------------------- */

static const char *const quarantine_or_all[] = { "quarantine=1048576", ALL_ON };

static void check_double_free(const char *mode, const char *opts)
{
    const char *args[] = { mode, NULL };
    struct spied s = run_prog("err_double", args, opts);
    check_survived(&s, "double free");
    unsigned long long ptr = out_ptr(s.r.out, "ptr");
    const struct jval *e = only_error(s.json, "double_free");
    check_error(e, "double_free", ptr, 48, "free");
    check_stack(e, "alloc", "alloc_twice_freed");
    check_stack(e, "free", "first_free");
    check_stack(e, "here", "second_free");
    check_log(s.log, ptr, "free", "second_free", "first_free", "alloc_twice_freed", 48);
    spied_free(&s);
}

START_TEST(test_double_free)
{
    check_double_free("", quarantine_or_all[_i]);
}
END_TEST

/* 200 blocks of the same size allocated and freed between the two frees: the block was
 * not handed out again while in quarantine, so the second free is still a double free. */
START_TEST(test_double_free_after_churn)
{
    check_double_free("churn", quarantine_or_all[_i]);
}
END_TEST

/* Without the quarantine the freed block is simply not live any more: the second free is
 * an invalid free (with no allocation stack to show), and it is ignored all the same. */
START_TEST(test_double_free_without_quarantine)
{
    struct spied s = run_prog("err_double", NULL, NULL);
    check_survived(&s, "double free without quarantine");
    unsigned long long ptr = out_ptr(s.r.out, "ptr");
    const struct jval *e = only_error(s.json, "invalid_free");
    check_error(e, "invalid_free", ptr, 0, "free");
    check_stack(e, "here", "second_free");
    spied_free(&s);
}
END_TEST

/* delete twice: a double free whose call is the operator that erred. */
START_TEST(test_double_delete)
{
    const char *args[] = { "delete_twice", NULL };
    struct spied s = run_prog("err_mismatch", args, quarantine_or_all[_i]);
    check_survived(&s, "double delete");
    unsigned long long ptr = out_ptr(s.r.out, "ptr");
    const struct jval *e = only_error(s.json, "double_free");
    check_stack(e, "alloc", "alloc_with_new");
    check_stack(e, "free", "release_with_delete");
    check_stack(e, "here", "release_again");
    check_error(e, "double_free", ptr, 16, "operator delete");
    spied_free(&s);
}
END_TEST

/* ---- mismatched deallocations ------------------------------------------------------------- */

static const struct {
    const char *mode;
    double bytes;
    const char *call, *alloc_fn, *here_fn;
} mismatches[] = {
    { "malloc_delete", 16, "operator delete", "alloc_with_malloc", "release_with_delete" },
    { "new_free", 16, "free", "alloc_with_new", "release_with_free" },
    { "newarr_delete", 40, "operator delete", "alloc_with_new_array", "release_with_delete_int" },
    { "new_deletearr", 16, "operator delete[]", "alloc_with_new", "release_with_delete_array" },
    { "new_realloc", 16, "realloc", "alloc_with_new", "grow_with_realloc" },
};
#define NMISMATCH (int)(sizeof mismatches / sizeof mismatches[0])

START_TEST(test_mismatch)
{
    /* mismatch is on by default; each case runs without and with the other detectors */
    int m = _i / 2;
    const char *opts = plain_or_all[_i % 2];
    const char *args[] = { mismatches[m].mode, NULL };
    struct spied s = run_prog("err_mismatch", args, opts);
    check_survived(&s, mismatches[m].mode);
    unsigned long long ptr = out_ptr(s.r.out, "ptr");
    const struct jval *e = only_error(s.json, "mismatch");
    check_error(e, "mismatch", ptr, mismatches[m].bytes, mismatches[m].call);
    check_stack(e, "alloc", mismatches[m].alloc_fn);
    check_stack(e, "here", mismatches[m].here_fn);
    check_no_stack(e, "free");
    check_log(s.log, ptr, mismatches[m].call, mismatches[m].here_fn, NULL,
              mismatches[m].alloc_fn, mismatches[m].bytes);
    /* The block was released all the same: no leak from where it was allocated. */
    int leaked = entries_with(s.json, "leaks", mismatches[m].alloc_fn, 1, NULL, NULL, 0);
    ck_assert_msg(leaked == 0, "%s: the block leaked", mismatches[m].mode);
    spied_free(&s);
}
END_TEST

START_TEST(test_mismatch_off)
{
    const char *args[] = { mismatches[_i].mode, NULL };
    struct spied s = run_prog("err_mismatch", args, "mismatch=0");
    check_survived(&s, mismatches[_i].mode);
    check_no_errors(s.json, mismatches[_i].mode);
    spied_free(&s);
}
END_TEST

/* Every matching pair — plain, array, sized, aligned, nothrow, and the containers of the
 * standard library — is no error, whatever detector is on; aligned forms are aligned. */
static const char *const correct_opts[] = {
    "", "mismatch=1", "guard=1", "guard=64:quarantine=1048576", ALL_ON,
};

START_TEST(test_cxx_correct_pairs)
{
    const char *args[] = { "correct", NULL };
    struct spied s = run_prog("err_mismatch", args, correct_opts[_i]);
    check_survived(&s, correct_opts[_i]);
    ck_assert_msg(strstr(s.r.out, "aligned ok\n"), "with \"%s\": %s", correct_opts[_i],
                  s.r.out);
    check_no_errors(s.json, correct_opts[_i]);
    ck_assert_str_eq(s.log, "");
    spied_free(&s);
}
END_TEST

/* ---- overflows and underflows --------------------------------------------------------- */

static const struct {
    const char *opts, *mode, *size, *off, *len;
    const char *kind;
    double offset, length;
    const char *call, *here_fn;
} redzones[] = {
    /* one byte after the end, one before the start */
    { "guard=1", "write", "24", "24", "1", "overflow", 24, 1, "free", "release_guarded" },
    { "guard=1", "write", "24", "-1", "1", "underflow", -1, 1, "free", "release_guarded" },
    { "guard=1", "write", "100", "100", "1", "overflow", 100, 1, "free", "release_guarded" },
    { "guard=1", "write", "1", "-1", "1", "underflow", -1, 1, "free", "release_guarded" },
    /* a few bytes, a little further */
    { "guard=1", "write", "24", "24", "4", "overflow", 24, 4, "free", "release_guarded" },
    { "guard=1", "write", "24", "32", "1", "overflow", 32, 1, "free", "release_guarded" },
    { "guard=1", "write", "24", "-8", "8", "underflow", -8, 8, "free", "release_guarded" },
    /* 40 bytes out: within redzones of 64 */
    { "guard=64", "write", "24", "64", "1", "overflow", 64, 1, "free", "release_guarded" },
    { "guard=64", "write", "24", "-40", "1", "underflow", -40, 1, "free", "release_guarded" },
    { "guard=64", "write", "24", "24", "1", "overflow", 24, 1, "free", "release_guarded" },
    /* found by realloc, as well as free */
    { "guard=1", "realloc", "24", "24", "1", "overflow", 24, 1, "realloc", "grow_guarded" },
    { "guard=1", "realloc", "24", "-1", "1", "underflow", -1, 1, "realloc", "grow_guarded" },
    /* with the quarantine too: found before the block is held back */
    { "guard=1:quarantine=1048576", "write", "24", "24", "1", "overflow", 24, 1, "free",
      "release_guarded" },
};
#define NREDZONE (int)(sizeof redzones / sizeof redzones[0])

START_TEST(test_redzone)
{
    const char *args[] = { redzones[_i].mode, redzones[_i].size, redzones[_i].off,
                           redzones[_i].len, NULL };
    char what[256];
    snprintf(what, sizeof what, "%s: %s %s bytes, %s at offset %s", redzones[_i].opts,
             redzones[_i].mode, redzones[_i].size, redzones[_i].len, redzones[_i].off);
    struct spied s = run_prog("err_guard", args, redzones[_i].opts);
    check_survived(&s, what);
    unsigned long long ptr = out_ptr(s.r.out, "ptr");
    ck_assert_msg(nerrors(s.json) >= 1, "%s: no error reported", what);
    const struct jval *e = only_error(s.json, redzones[_i].kind);
    check_error(e, redzones[_i].kind, ptr, strtod(redzones[_i].size, NULL), redzones[_i].call);
    check_damage(e, redzones[_i].offset, redzones[_i].length);
    check_stack(e, "alloc", "alloc_guarded");
    check_stack(e, "here", redzones[_i].here_fn);
    check_no_stack(e, "free");
    check_log(s.log, ptr, redzones[_i].call, redzones[_i].here_fn, NULL, "alloc_guarded",
              strtod(redzones[_i].size, NULL));
    spied_free(&s);
}
END_TEST

/* A damaged block never freed is found at exit, once. */
START_TEST(test_redzone_at_exit)
{
    const char *args[] = { "keep", "24", "24", NULL };
    struct spied s = run_prog("err_guard", args, "guard=1");
    check_survived(&s, "overflow of a block kept to the end");
    unsigned long long ptr = out_ptr(s.r.out, "ptr");
    const struct jval *e = only_error(s.json, "overflow");
    check_error(e, "overflow", ptr, 24, NULL);
    check_damage(e, 24, 1);
    check_stack(e, "alloc", "alloc_guarded");
    check_no_stack(e, "free");
    ck_assert_int_eq(log_errors(s.log, ptr, NULL), 1);
    spied_free(&s);
}
END_TEST

/* Without the guard nothing is looked for: one byte written into the slack of a 20-byte
 * block (harmless to glibc) is no error. */
START_TEST(test_redzone_off)
{
    const char *args[] = { "write", "20", "20", "1", NULL };
    static const char *const opts[] = { "", "guard=0" };
    for (int i = 0; i < 2; i++) {
        struct spied s = run_prog("err_guard", args, opts[i]);
        check_survived(&s, opts[i]);
        check_no_errors(s.json, opts[i]);
        ck_assert_str_eq(s.log, "");
        spied_free(&s);
    }
}
END_TEST

/* Alignment requests are honoured with redzones in place, and writing every byte asked
 * for is no error. */
static const char *const align_opts[] = {
    "guard=1", "guard=64", "guard=1:quarantine=1048576", "guard=4096",
};

START_TEST(test_guard_alignment)
{
    const char *args[] = { "align", NULL };
    struct spied s = run_prog("err_guard", args, align_opts[_i]);
    check_survived(&s, align_opts[_i]);
    ck_assert_msg(strstr(s.r.out, "aligned ok\n"), "with %s:\n%s", align_opts[_i], s.r.out);
    check_no_errors(s.json, align_opts[_i]);
    ck_assert_str_eq(s.log, "");
    spied_free(&s);
}
END_TEST

/* malloc_usable_size with redzones: at least the size asked for, and every byte it
 * promises may be written without an error. */
START_TEST(test_guard_usable_size)
{
    static const char *const sizes[] = { "1", "20", "24", "100", "4000" };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        const char *args[] = { "usable", sizes[i], NULL };
        struct spied s = run_prog("err_guard", args, "guard=1");
        check_survived(&s, sizes[i]);
        const char *u = strstr(s.r.out, "usable=");
        ck_assert_msg(u && strtoul(u + 7, NULL, 10) >= strtoul(sizes[i], NULL, 10),
                      "malloc_usable_size of a %s-byte block: %s", sizes[i], s.r.out);
        check_no_errors(s.json, sizes[i]);
        spied_free(&s);
    }
}
END_TEST

/* Sizes within a few bytes of SIZE_MAX are refused (NULL, ENOMEM), redzones or not: the
 * bytes the guard adds must not wrap the size around to a small block. */
static const char *const huge_opts[] = { "", "guard=1", "guard=64", "guard=4096" };

START_TEST(test_guard_huge_sizes)
{
    const char *args[] = { "huge", NULL };
    struct spied s = run_prog_env("err_guard", args, huge_opts[_i], false, NULL);
    ck_assert_msg(s.r.status == 0 && strstr(s.r.out, "huge refused\n"),
                  "with \"%s\": status %d\n%s%.1000s", huge_opts[_i], s.r.status, s.r.out,
                  s.r.err);
    check_survived(&s, huge_opts[_i]);
    s.json = load_json(s.json_path);
    check_no_errors(s.json, huge_opts[_i]);
    spied_free(&s);
}
END_TEST

/* Eight threads, each overflowing a block of its own at the same time, after churning
 * through correct allocations: eight overflows, each with its thread's stacks, and no
 * other error. */
START_TEST(test_guard_threads)
{
    struct spied s = run_prog("err_threads", NULL, "guard=1:quarantine=1048576");
    check_survived(&s, "threads");
    ck_assert_msg(nerrors(s.json) == 8 && jnum(s.json, "summary.errors") == 8,
                  "%zu errors (summary %.0f), 8 expected:\n%s", nerrors(s.json),
                  jnum(s.json, "summary.errors"), describe(s.json));
    bool seen[8] = { false };
    for (size_t i = 0; i < 8; i++) {
        const struct jval *e = error_at(s.json, i);
        ck_assert_str_eq(jstr(e, "kind"), "overflow");
        double off = jnum(e, "offset");
        ck_assert_msg(off >= 16 && off < 24 && !seen[(int)off - 16], "overflow at offset %.0f",
                      off);
        seen[(int)off - 16] = true;
        ck_assert_msg(jnum(e, "bytes") == off && jnum(e, "length") == 1,
                      "overflow of a %.0f-byte block: offset %.0f, length %.0f",
                      jnum(e, "bytes"), off, jnum(e, "length"));
        ck_assert_str_eq(jstr(e, "call"), "free");
        check_stack_from(e, "alloc", "thread_alloc", "worker");
        check_stack_from(e, "here", "thread_release", "worker");
    }
    spied_free(&s);
    /* Only the churn, with every detector on: no error. */
    const char *args[] = { "clean", NULL };
    s = run_prog("err_threads", args,
                 "guard=64:quarantine=65536:malloc_fill=0xAB:free_fill=0xCD");
    check_survived(&s, "threads, clean");
    check_no_errors(s.json, "threads, clean");
    spied_free(&s);
}
END_TEST

/* ---- use after free -------------------------------------------------------------------- */

static void check_uaf(const struct spied *s, unsigned long long ptr)
{
    const struct jval *e = only_error(s->json, "use_after_free");
    check_error(e, "use_after_free", ptr, 64, NULL);
    check_damage(e, 32, 4);
    check_stack(e, "alloc", "alloc_victim");
    check_stack(e, "free", "free_victim");
    ck_assert_msg(jstr(e, "call"), "no call");
    ck_assert_int_eq(log_errors(s->log, ptr, NULL), 1);
    check_log(s->log, ptr, NULL, NULL, "free_victim", "alloc_victim", 64);
}

/* Found at exit, with the block still in quarantine. */
START_TEST(test_use_after_free_at_exit)
{
    static const char *const opts[] = { "quarantine=1048576", "guard=1:quarantine=1048576",
                                        "quarantine=1048576:free_fill=0x00" };
    const char *args[] = { "exit", NULL };
    for (int i = 0; i < 3; i++) {
        struct spied s = run_prog("err_uaf", args, opts[i]);
        check_survived(&s, opts[i]);
        check_uaf(&s, out_ptr(s.r.out, "ptr"));
        spied_free(&s);
    }
}
END_TEST

/* Found when the block leaves a small quarantine, and not again at exit. */
START_TEST(test_use_after_free_leaving_quarantine)
{
    const char *args[] = { "evict", NULL };
    struct spied s = run_prog("err_uaf", args, "quarantine=4096");
    check_survived(&s, "use after free, then churn");
    check_uaf(&s, out_ptr(s.r.out, "ptr"));
    spied_free(&s);
    /* When: with halt_on_error, the program dies in churn(), before "churned". */
    s = run_prog_env("err_uaf", args, "quarantine=4096:halt_on_error=1", false, NULL);
    ck_assert_msg(s.r.status == 128 + 6, "status %d, expected death by SIGABRT\n%s",
                  s.r.status, s.r.err);
    ck_assert_msg(!strstr(s.r.out, "churned"), "the damage was not found when the block left "
                  "the quarantine:\n%s", s.r.out);
    ck_assert_int_eq(log_errors(s.log, out_ptr(s.r.out, "ptr"), NULL), 1);
    spied_free(&s);
}
END_TEST

/* Reading freed memory is no error; without the quarantine a write is not looked for. */
START_TEST(test_use_after_free_not_reported)
{
    const char *rd[] = { "read", NULL }, *wr[] = { "exit", NULL };
    struct spied s = run_prog("err_uaf", rd, "quarantine=1048576");
    check_survived(&s, "read after free");
    check_no_errors(s.json, "read after free");
    spied_free(&s);
    static const char *const off[] = { "", "quarantine=0" };
    for (int i = 0; i < 2; i++) {
        s = run_prog("err_uaf", wr, off[i]);
        check_survived(&s, off[i]);
        check_no_errors(s.json, off[i]);
        ck_assert_str_eq(s.log, "");
        spied_free(&s);
    }
}
END_TEST

/* Damage found by a report made while the program runs (ms_report_leaks): found there,
 * and reported once — not again when the block is freed, nor at exit. */
START_TEST(test_damage_found_by_report)
{
    struct spied s = run_prog("err_snapshot", NULL, "guard=1:quarantine=1048576");
    check_survived(&s, "damage, then a report");
    unsigned long long damaged = out_ptr(s.r.out, "damaged");
    unsigned long long victim = out_ptr(s.r.out, "victim");
    /* Found by the report, before the free: the first two errors. */
    ck_assert_msg(nerrors(s.json) >= 2, "errors:\n%s", describe(s.json));
    const struct jval *o = error_at(s.json, 0), *u = error_at(s.json, 1);
    check_error(o, "overflow", damaged, 64, NULL);
    check_damage(o, 72, 1);
    check_stack(o, "alloc", "alloc_damaged");
    check_error(u, "use_after_free", victim, 64, NULL);
    check_damage(u, 32, 4);
    check_stack(u, "alloc", "alloc_victim");
    check_stack(u, "free", "free_victim");
    /* Once each. */
    ck_assert_msg(nerrors(s.json) == 2 && jnum(s.json, "summary.errors") == 2,
                  "%zu errors (summary: %.0f) for one overflow and one use after free:\n%s",
                  nerrors(s.json), jnum(s.json, "summary.errors"), describe(s.json));
    ck_assert_int_eq(log_errors(s.log, damaged, NULL), 1);
    ck_assert_int_eq(log_errors(s.log, victim, NULL), 1);
    spied_free(&s);
}
END_TEST

/* ---- fill patterns --------------------------------------------------------------------- */

START_TEST(test_malloc_fill)
{
    static const char *const opts[] = { "malloc_fill=0xAB", "malloc_fill=171:guard=1" };
    const char *args[] = { "malloc", NULL };
    for (int i = 0; i < 2; i++) {
        struct spied s = run_prog("err_fill", args, opts[i]);
        check_survived(&s, opts[i]);
        ck_assert_msg(strstr(s.r.out, "malloc64=64 first=0xab\n") &&
                      strstr(s.r.out, "big=1048576/1048576\n") &&
                      strstr(s.r.out, "calloc=64\n") &&
                      strstr(s.r.out, "kept=64 grown=136\n"),
                      "with %s:\n%s", opts[i], s.r.out);
        check_no_errors(s.json, opts[i]);
        spied_free(&s);
    }
    /* Off: fresh memory is not filled. */
    struct spied s = run_prog("err_fill", args, NULL);
    check_survived(&s, "no fill");
    ck_assert_msg(!strstr(s.r.out, "malloc64=64 ") && !strstr(s.r.out, "big=1048576/"),
                  "filled without malloc_fill:\n%s", s.r.out);
    ck_assert_msg(strstr(s.r.out, "kept=64 "), "%s", s.r.out);
    spied_free(&s);
}
END_TEST

START_TEST(test_free_fill)
{
    static const char *const opts[] = { "free_fill=0xCD:quarantine=1048576",
                                        "free_fill=0xcd:quarantine=1048576:guard=1" };
    const char *args[] = { "free", NULL };
    for (int i = 0; i < 2; i++) {
        struct spied s = run_prog("err_fill", args, opts[i]);
        check_survived(&s, opts[i]);
        ck_assert_msg(strstr(s.r.out, "freed=64 first=0xcd\n"), "with %s:\n%s", opts[i],
                      s.r.out);
        check_no_errors(s.json, opts[i]);     /* only read: no use after free */
        spied_free(&s);
    }
}
END_TEST

/* ---- halt_on_error and error_exitcode ------------------------------------------------ */

START_TEST(test_halt_on_error)
{
    const char *args[] = { "stack", NULL };
    struct spied s = run_prog_env("err_invalid", args, "halt_on_error=1", false, NULL);
    ck_assert_msg(s.r.status == 128 + 6, "status %d, expected death by SIGABRT\nstdout: %s\n"
                  "stderr: %s", s.r.status, s.r.out, s.r.err);
    ck_assert_msg(!strstr(s.r.out, "survived"), "went on after the error:\n%s", s.r.out);
    unsigned long long ptr = out_ptr(s.r.out, "ptr");
    /* The error was written before the abort. */
    check_log(s.log, ptr, "free", "do_free_stack", NULL, NULL, 0);
    spied_free(&s);

    /* A double free, too. */
    s = run_prog_env("err_double", NULL, "halt_on_error=1:quarantine=1048576", false, NULL);
    ck_assert_msg(s.r.status == 128 + 6, "status %d, expected death by SIGABRT\n%s",
                  s.r.status, s.r.err);
    ck_assert_msg(!strstr(s.r.out, "survived"), "went on after the error:\n%s", s.r.out);
    check_log(s.log, out_ptr(s.r.out, "ptr"), "free", "second_free", "first_free",
              "alloc_twice_freed", 48);
    spied_free(&s);

    /* No error, no abort. */
    s = run_prog("err_clean", NULL, "halt_on_error=1:guard=1:quarantine=1048576");
    ck_assert_msg(s.r.status == 0 && strstr(s.r.out, "done\n"), "status %d\n%s", s.r.status,
                  s.r.err);
    check_no_errors(s.json, "clean program with halt_on_error");
    spied_free(&s);
}
END_TEST

START_TEST(test_error_exitcode)
{
    const char *stack[] = { "stack", NULL }, *keep[] = { "keep", "24", "24", NULL };
    const char *correct[] = { "correct", NULL };
    /* An error while running: status 23, after the program ran to its end. */
    struct spied s = run_prog("err_invalid", stack, "error_exitcode=23");
    ck_assert_msg(s.r.status == 23, "status %d, expected 23\n%s", s.r.status, s.r.err);
    ck_assert_msg(strstr(s.r.out, "survived\n"), "%s", s.r.out);
    ck_assert_int_eq((int)nerrors(s.json), 1);
    spied_free(&s);
    /* An error found only at exit counts too. */
    s = run_prog("err_guard", keep, "guard=1:error_exitcode=23");
    ck_assert_msg(s.r.status == 23, "status %d, expected 23\n%s", s.r.status, s.r.err);
    spied_free(&s);
    /* It wins over exitcode. */
    s = run_prog("err_invalid", stack, "error_exitcode=23:exitcode=5");
    ck_assert_msg(s.r.status == 23, "status %d, expected 23\n%s", s.r.status, s.r.err);
    spied_free(&s);
    /* No error: the program's own status (0), or exitcode for its leaks. */
    s = run_prog("err_clean", NULL, "error_exitcode=23:guard=1:quarantine=1048576");
    ck_assert_msg(s.r.status == 0, "status %d, expected 0\n%s", s.r.status, s.r.err);
    check_no_errors(s.json, "clean program");
    spied_free(&s);
    s = run_prog("err_mismatch", correct, "error_exitcode=23:guard=1");
    ck_assert_msg(s.r.status == 0, "status %d, expected 0\n%s", s.r.status, s.r.err);
    spied_free(&s);
    s = run_prog("err_clean", NULL, "error_exitcode=23:exitcode=5");
    ck_assert_msg(s.r.status == 5, "status %d, expected 5 (leaks, no error)\n%s", s.r.status,
                  s.r.err);
    spied_free(&s);
}
END_TEST

/* ---- each option costs nothing when off, and changes no leak when on ------------------ */

static const char *const summary_keys[] = {
    "allocations", "frees", "peak_bytes", "live_bytes", "live_blocks", "definite_bytes",
    "definite_blocks", "indirect_bytes", "indirect_blocks", "reachable_bytes",
    "reachable_blocks", "errors",
};

static const char *const nil_opts[] = {
    "guard=0", "quarantine=0", "mismatch=0", "mismatch=1", "guard=0:quarantine=0:mismatch=0",
    "halt_on_error=0:error_exitcode=0",
    /* on: still no error, the same leaks and counts */
    "guard=1", "guard=64", "guard=4096", "quarantine=1048576", "quarantine=1000",
    "malloc_fill=0xAB", "free_fill=0xCD", "malloc_fill=0:free_fill=0xFF:quarantine=65536",
    "guard=1:quarantine=1048576:malloc_fill=0xAB:free_fill=0xCD:mismatch=1",
};
#define NNIL (int)(sizeof nil_opts / sizeof nil_opts[0])

START_TEST(test_options_change_no_leak)
{
    struct spied base = run_prog("err_clean", NULL, NULL);
    ck_assert_msg(base.r.status == 0 && strstr(base.r.out, "done\n"), "status %d\n%s",
                  base.r.status, base.r.err);
    check_no_errors(base.json, "no options");
    const struct jval *l1 = one_leak_from(base.json, "leak_first");
    const struct jval *l2 = one_leak_from(base.json, "leak_second");
    ck_assert_msg(jnum(l1, "bytes") == 1000 && jnum(l1, "blocks") == 1, "leak_first: %.0f "
                  "bytes in %.0f blocks", jnum(l1, "bytes"), jnum(l1, "blocks"));
    ck_assert_msg(jnum(l2, "bytes") == 231 && jnum(l2, "blocks") == 3, "leak_second: %.0f "
                  "bytes in %.0f blocks", jnum(l2, "bytes"), jnum(l2, "blocks"));

    struct spied s = run_prog("err_clean", NULL, nil_opts[_i]);
    ck_assert_msg(s.r.status == 0, "with %s: status %d\n%s", nil_opts[_i], s.r.status,
                  s.r.err);
    ck_assert_msg(!strcmp(s.r.out, base.r.out), "with %s the program printed:\n%s\n"
                  "without:\n%s", nil_opts[_i], s.r.out, base.r.out);
    ck_assert_msg(!strcmp(s.r.err, ""), "with %s: stderr:\n%s", nil_opts[_i], s.r.err);
    check_no_errors(s.json, nil_opts[_i]);
    ck_assert_str_eq(s.log, "");
    for (size_t k = 0; k < sizeof summary_keys / sizeof summary_keys[0]; k++) {
        char path[64];
        snprintf(path, sizeof path, "summary.%s", summary_keys[k]);
        ck_assert_msg(jnum(s.json, path) == jnum(base.json, path),
                      "with %s: %s is %.0f, %.0f without options", nil_opts[_i], path,
                      jnum(s.json, path), jnum(base.json, path));
    }
    ck_assert_msg(jget(s.json, "leaks")->n == jget(base.json, "leaks")->n,
                  "with %s: %zu leak groups, %zu without options", nil_opts[_i],
                  jget(s.json, "leaks")->n, jget(base.json, "leaks")->n);
    static const char *const fns[] = { "leak_first", "leak_second" };
    for (int k = 0; k < 2; k++) {
        const struct jval *a = one_leak_from(base.json, fns[k]);
        const struct jval *b = one_leak_from(s.json, fns[k]);
        ck_assert_msg(jnum(a, "bytes") == jnum(b, "bytes") &&
                      jnum(a, "blocks") == jnum(b, "blocks") &&
                      !strcmp(jstr(a, "kind"), jstr(b, "kind")),
                      "with %s: %s leaked %.0f bytes in %.0f blocks (%s), without options "
                      "%.0f in %.0f (%s)", nil_opts[_i], fns[k], jnum(b, "bytes"),
                      jnum(b, "blocks"), jstr(b, "kind"), jnum(a, "bytes"), jnum(a, "blocks"),
                      jstr(a, "kind"));
        ck_assert_str_eq(jstr(b, "kind"), "definite");
    }
    spied_free(&s);
    spied_free(&base);
}
END_TEST

/* ---- real programs run clean with the guard and the quarantine ------------------------- */

#define REAL_OPTS "guard=1:quarantine=1048576"

/* Runs argv without the preload, then under it with REAL_OPTS and one JSON report per
 * process in dir (json_path with %p); the same status (0) and output both times, nothing
 * on stderr, no error in any report, and a report from each of the programs named in
 * `exes` (base names of the reports' "exe", which may start with the name: python3.11). */
static void real_program(const char *what, char *const argv[], const char *dir,
                         const char *const env[], const char *const exes[])
{
    struct run a = run_tool(argv, env);
    ck_assert_msg(a.status == 0 && a.out[0], "%s without the preload: status %d\n%s%s", what,
                  a.status, a.out, a.err);
    char opts[PATH_MAX + 128];
    snprintf(opts, sizeof opts, "report=quiet:" REAL_OPTS ":json_path=%s/report.%%p.json", dir);
    struct run b = spy(argv, opts, env);
    ck_assert_msg(b.status == 0, "%s under the preload: status %d\nstderr: %.3000s", what,
                  b.status, b.err);
    ck_assert_msg(!strcmp(a.out, b.out), "%s: the output differs under the preload\n"
                  "without: %.1000s\nwith: %.1000s", what, a.out, b.out);
    ck_assert_msg(!strcmp(b.err, ""), "%s wrote on stderr under the preload:\n%.3000s", what,
                  b.err);
    DIR *d = opendir(dir);
    ck_assert_msg(d, "opendir %s", dir);
    int reports = 0;
    bool seen[16] = { false };
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, "report.", 7))
            continue;
        char path[PATH_MAX + 300];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        struct jval *rep = load_json(path);
        const char *exe = jstr(rep, "exe");
        char label[PATH_MAX + 64];
        snprintf(label, sizeof label, "%s: %s (%s)", what, exe ? exe : "?", de->d_name);
        check_no_errors(rep, label);
        for (int i = 0; exes[i] && i < 16; i++)
            if (exe && !strncmp(base_name(exe), exes[i], strlen(exes[i])))
                seen[i] = true;
        json_free(rep);
        reports++;
    }
    closedir(d);
    ck_assert_msg(reports > 0, "%s: no JSON report in %s", what, dir);
    for (int i = 0; exes[i] && i < 16; i++)
        ck_assert_msg(seen[i], "%s: no report from %s among the %d written", what, exes[i],
                      reports);
    run_free(&a);
    run_free(&b);
}

START_TEST(test_real_python)
{
    ck_assert_msg(access("/usr/bin/python3", X_OK) == 0, "/usr/bin/python3 is not installed");
    char dir[PATH_MAX], script[PATH_MAX + 16];
    make_dir("python", dir, sizeof dir);
    snprintf(script, sizeof script, "%s/churn.py", dir);
    ck_assert(write_file(script,
        "import json\n"
        "\n"
        "class Point:\n"
        "    def __init__(self, x, y):\n"
        "        self.x, self.y = x, y\n"
        "    def __repr__(self):\n"
        "        return 'Point(%d, %d)' % (self.x, self.y)\n"
        "\n"
        "d = {}\n"
        "for i in range(20000):\n"
        "    d['key%d' % i] = [i, str(i) * 3, Point(i, -i)]\n"
        "    if i % 3 == 0:\n"
        "        del d['key%d' % (i // 2)]\n"
        "words = ' '.join(repr(v[2]) for v in list(d.values())[:2000]).split()\n"
        "text = json.dumps({'n': len(d), 'words': words[:50],\n"
        "                   'nested': [{'a': i, 'b': [i] * (i % 7)} for i in range(500)]})\n"
        "back = json.loads(text)\n"
        "s = sorted(set(w.strip('(),') for w in words))\n"
        "print(back['n'], len(back['nested']), sum(len(w) for w in words), len(s), s[:3])\n"));
    /* PYTHONMALLOC=malloc: every object through malloc, not only pymalloc's arenas. */
    const char *const env[] = { "PYTHONMALLOC=malloc", NULL };
    char *argv[] = { "/usr/bin/python3", script, NULL };
    const char *const exes[] = { "python3", NULL };
    real_program("python3", argv, dir, env, exes);
    remove_tree(dir);
}
END_TEST

START_TEST(test_real_perl)
{
    ck_assert_msg(have_cmd("perl"), "perl is not installed");
    char dir[PATH_MAX], script[PATH_MAX + 16];
    make_dir("perl", dir, sizeof dir);
    snprintf(script, sizeof script, "%s/churn.pl", dir);
    ck_assert(write_file(script,
        "use strict;\n"
        "use warnings;\n"
        "my %h;\n"
        "my $text = '';\n"
        "for my $i (1 .. 20000) {\n"
        "    my $k = 'key' . ($i % 997);\n"
        "    $h{$k} .= sprintf('%05d,', $i);\n"
        "    delete $h{'key' . (($i * 7) % 997)} if $i % 5 == 0;\n"
        "    $text .= \"word$i \" if $i % 3 == 0;\n"
        "}\n"
        "my @w = ($text =~ /word(\\d*7)\\b/g);\n"
        "(my $t = $text) =~ s/word(\\d+)/W$1/g;\n"
        "my @parts = split /\\s+/, $t;\n"
        "my %count;\n"
        "$count{length $_}++ for @parts;\n"
        "my $n = 0;\n"
        "$n += length($h{$_}) for sort keys %h;\n"
        "print scalar(@w), ' ', length($t), ' ', scalar(keys %h), ' ', $n, ' ',\n"
        "      join(',', map { \"$_=$count{$_}\" } sort { $a <=> $b } keys %count), \"\\n\";\n"));
    char *argv[] = { "perl", script, NULL };
    const char *const exes[] = { "perl", NULL };
    real_program("perl", argv, dir, NULL, exes);
    remove_tree(dir);
}
END_TEST

START_TEST(test_real_gcc)
{
    ck_assert_msg(have_cmd("gcc"), "gcc is not installed");
    char dir[PATH_MAX], src[PATH_MAX + 16], obj_a[PATH_MAX + 16], obj_b[PATH_MAX + 16];
    make_dir("gcc", dir, sizeof dir);
    snprintf(src, sizeof src, "%s/list.c", dir);
    snprintf(obj_a, sizeof obj_a, "%s/plain.o", dir);
    snprintf(obj_b, sizeof obj_b, "%s/spied.o", dir);
    ck_assert(write_file(src,
        "#include <stdio.h>\n"
        "#include <stdlib.h>\n"
        "#include <string.h>\n"
        "struct node { struct node *next; char name[32]; int value; };\n"
        "static struct node *push(struct node *head, const char *name, int value)\n"
        "{\n"
        "    struct node *n = malloc(sizeof *n);\n"
        "    if (!n)\n"
        "        abort();\n"
        "    snprintf(n->name, sizeof n->name, \"%s\", name);\n"
        "    n->value = value;\n"
        "    n->next = head;\n"
        "    return n;\n"
        "}\n"
        "int sum(const struct node *n)\n"
        "{\n"
        "    int s = 0;\n"
        "    for (; n; n = n->next)\n"
        "        s += n->value * (int)strlen(n->name);\n"
        "    return s;\n"
        "}\n"
        "int build(int k)\n"
        "{\n"
        "    struct node *h = NULL;\n"
        "    for (int i = 0; i < k; i++)\n"
        "        h = push(h, \"item\", i);\n"
        "    int s = sum(h);\n"
        "    while (h) {\n"
        "        struct node *next = h->next;\n"
        "        free(h);\n"
        "        h = next;\n"
        "    }\n"
        "    return s;\n"
        "}\n"));
    /* The object must come out the same; gcc prints nothing, so print its size. */
    char *plain[] = { "gcc", "-O2", "-c", src, "-o", obj_a, NULL };
    struct run a = run_tool(plain, NULL);
    ck_assert_msg(a.status == 0, "gcc without the preload: %d\n%s", a.status, a.err);
    run_free(&a);
    char opts[PATH_MAX + 128];
    snprintf(opts, sizeof opts, "report=quiet:" REAL_OPTS ":json_path=%s/report.%%p.json", dir);
    char *spied[] = { "gcc", "-O2", "-c", src, "-o", obj_b, NULL };
    struct run b = spy(spied, opts, NULL);
    ck_assert_msg(b.status == 0, "gcc under the preload: status %d\n%.3000s", b.status, b.err);
    ck_assert_msg(!strcmp(b.err, ""), "gcc wrote on stderr under the preload:\n%.3000s", b.err);
    run_free(&b);
    char *ta = read_file(obj_a), *tb = read_file(obj_b);
    ck_assert_msg(ta && tb, "no object file");
    struct stat sa, sb;
    ck_assert(stat(obj_a, &sa) == 0 && stat(obj_b, &sb) == 0);
    ck_assert_msg(sa.st_size == sb.st_size && sa.st_size > 0 &&
                  !memcmp(ta, tb, (size_t)sa.st_size), "the object files differ");
    free(ta);
    free(tb);
    unlink(obj_a);
    unlink(obj_b);
    /* Every process gcc ran wrote a report: the driver, cc1 and the assembler. */
    char *ls[] = { "sh", "-c", "cd \"$0\" && ls report.*.json | wc -l", dir, NULL };
    struct run n = run_tool(ls, NULL);
    ck_assert_msg(atoi(n.out) >= 3, "%s report(s) for gcc, cc1 and as", n.out);
    run_free(&n);
    DIR *d = opendir(dir);
    ck_assert(d);
    bool cc1 = false, driver = false;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, "report.", 7))
            continue;
        char path[PATH_MAX + 300];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        struct jval *rep = load_json(path);
        const char *exe = jstr(rep, "exe");
        check_no_errors(rep, exe ? exe : de->d_name);
        cc1 |= exe && !strcmp(base_name(exe), "cc1");
        driver |= exe && strstr(base_name(exe), "gcc") != NULL;
        json_free(rep);
    }
    closedir(d);
    ck_assert_msg(cc1 && driver, "no report from %s", cc1 ? "the gcc driver" : "cc1");
    remove_tree(dir);
}
END_TEST

START_TEST(test_real_shell_pipeline)
{
    char dir[PATH_MAX];
    make_dir("sh", dir, sizeof dir);
    char *argv[] = { "sh", "-c", "ls / | sort | wc -l", NULL };
    const char *const exes[] = { "ls", "sort", "wc", NULL };
    real_program("sh -c 'ls / | sort | wc -l'", argv, dir, NULL, exes);
    /* And the count is right: the entries of / that ls shows. */
    DIR *d = opendir("/");
    ck_assert(d);
    long entries = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        entries += de->d_name[0] != '.';
    closedir(d);
    char opts[PATH_MAX + 64];
    snprintf(opts, sizeof opts, "report=quiet:" REAL_OPTS);
    struct run r = spy(argv, opts, NULL);
    ck_assert_msg(r.status == 0 && strtol(r.out, NULL, 10) == entries,
                  "status %d, output \"%s\", %ld entries in /", r.status, r.out, entries);
    run_free(&r);
    remove_tree(dir);
}
END_TEST

Suite *suite(void)
{
    Suite *s = suite_create("errors");
    TCase *t = tcase_create("detectors");
    tcase_set_timeout(t, 120);
    tcase_add_loop_test(t, test_invalid_free_stack, 0, 2);
    tcase_add_loop_test(t, test_invalid_free_global, 0, 2);
    tcase_add_loop_test(t, test_invalid_free_interior, 0, 2);
    tcase_add_loop_test(t, test_invalid_realloc, 0, 2);
    tcase_add_loop_test(t, test_invalid_usable_size, 0, 2);
    tcase_add_loop_test(t, test_double_free, 0, 2);
    tcase_add_loop_test(t, test_double_free_after_churn, 0, 2);
    tcase_add_test(t, test_double_free_without_quarantine);
    tcase_add_loop_test(t, test_double_delete, 0, 2);
    tcase_add_loop_test(t, test_mismatch, 0, 2 * NMISMATCH);
    tcase_add_loop_test(t, test_mismatch_off, 0, NMISMATCH);
    tcase_add_loop_test(t, test_cxx_correct_pairs, 0,
                        (int)(sizeof correct_opts / sizeof correct_opts[0]));
    tcase_add_loop_test(t, test_redzone, 0, NREDZONE);
    tcase_add_test(t, test_redzone_at_exit);
    tcase_add_test(t, test_redzone_off);
    tcase_add_loop_test(t, test_guard_alignment, 0,
                        (int)(sizeof align_opts / sizeof align_opts[0]));
    tcase_add_test(t, test_guard_usable_size);
    tcase_add_loop_test(t, test_guard_huge_sizes, 0,
                        (int)(sizeof huge_opts / sizeof huge_opts[0]));
    tcase_add_test(t, test_guard_threads);
    tcase_add_test(t, test_use_after_free_at_exit);
    tcase_add_test(t, test_use_after_free_leaving_quarantine);
    tcase_add_test(t, test_use_after_free_not_reported);
    tcase_add_test(t, test_damage_found_by_report);
    tcase_add_test(t, test_malloc_fill);
    tcase_add_test(t, test_free_fill);
    tcase_add_test(t, test_halt_on_error);
    tcase_add_test(t, test_error_exitcode);
    tcase_add_loop_test(t, test_options_change_no_leak, 0, NNIL);
    suite_add_tcase(s, t);

    TCase *r = tcase_create("real programs");
    tcase_set_timeout(r, 120);
    tcase_add_test(r, test_real_python);
    tcase_add_test(r, test_real_perl);
    tcase_add_test(r, test_real_gcc);
    tcase_add_test(r, test_real_shell_pipeline);
    suite_add_tcase(s, r);
    return s;
}

int main(void)
{
    return run_suite(suite());
}
