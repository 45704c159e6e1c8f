/* The rest of the family (issue 6): tagged debug allocations, private heaps, buffer pools
 * and page mappings.  What a report must say is checked by running the helper programs
 * tests/progs/family_* under the preload and reading their JSON and text reports, to the
 * byte and the block; the calls' own contracts (results, error codes, threads) are checked
 * here, in the test process, which links libmallocspy.  Source lines are found from the
 * marker comments in the programs' sources, never hard-coded.
 *
 * Meant to run with the leak tracker on (MALLOCSPY_OPTIONS=report=quiet): walking the
 * task allocator and the stacks of the blocks a walk visits need it (with leak_check=0
 * those checks are left out). */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mallocspy.h"
#include "testutil.h"

#define NOINLINE __attribute__((noinline, noclone))

/* ---- running programs ------------------------------------------------------------------ */

/* A report of these programs: leaks, heap_leaks, errors and the summary. */
static struct jval *load_json(const char *path)
{
    struct jval *v = load_report(path);
    need_member(v, "leaks", J_ARR);
    need_member(v, "heap_leaks", J_ARR);
    need_member(v, "errors", J_ARR);
    need_member(v, "summary", J_OBJ);
    return v;
}

/* Runs tests/progs/<name> with up to 4 arguments under the preload, with report=quiet
 * (report=text and a log_path when `log`), a fresh json_path and `opts`; reads the
 * reports.  Expects status 0 and, unless `log`, nothing on stderr. */
static struct spied run_prog(const char *name, const char *const args[], const char *opts,
                             bool log)
{
    char o[8192];
    snprintf(o, sizeof o, "report=%s%s%s", log ? "text" : "quiet", opts && *opts ? ":" : "",
             opts ? opts : "");
    char *argv[8] = { (char *)prog_path(name) };
    for (int i = 0; args && args[i] && i < 4; i++)
        argv[i + 1] = (char *)args[i];
    struct spied s = spy_reports(argv, o, NULL, log);
    check_clean_exit(&s.r, name);
    ck_assert_msg(!strstr(s.r.out, "FAIL"), "%s: %s", name, s.r.out);
    s.json = load_json(s.json_path);
    if (log) {
        s.log = read_file(s.log_path);
        ck_assert_msg(s.log, "no text log at %s", s.log_path);
    }
    return s;
}

/* ---- reading reports -------------------------------------------------------------------- */

static int depth_of(const struct jval *g, const char *key)
{
    const struct jval *st = jget(g, key);
    if (!st || st->type != J_ARR)
        return 0;
    return (int)st->n;
}

static const char *frame_str(const struct jval *g, const char *key, int i, const char *field)
{
    if (i >= depth_of(g, key))
        return NULL;
    return jstr(jget(g, key)->items[i], field);
}

static double frame_num(const struct jval *g, const char *key, int i, const char *field)
{
    if (i >= depth_of(g, key))
        return -1;
    return jnum(jget(g, key)->items[i], field);
}

static int groups_with(const struct jval *rep, const char *fn)
{
    return entries_with(rep, "leaks", fn, 256, NULL, NULL, 0);
}

/* The one leak group of `kind` with fn as frame 0, of `bytes` in `blocks`, whose frame 0
 * is at the marker's line of `src`. */
static const struct jval *check_group(const struct jval *rep, const char *kind, const char *fn,
                                      unsigned long bytes, unsigned long blocks,
                                      const char *src, const char *marker)
{
    const struct jval *g[4];
    int n = entries_with(rep, "leaks", fn, 1, NULL, g, 4);
    ck_assert_msg(n == 1, "%d leak groups with %s as frame 0 (1 expected)", n, fn);
    ck_assert_msg(jstr(g[0], "kind") && !strcmp(jstr(g[0], "kind"), kind),
                  "%s: kind %s, expected %s", fn, jstr(g[0], "kind"), kind);
    ck_assert_msg(jnum(g[0], "bytes") == (double)bytes && jnum(g[0], "blocks") == (double)blocks,
                  "%s: %.0f byte(s) in %.0f block(s), expected %lu in %lu", fn,
                  jnum(g[0], "bytes"), jnum(g[0], "blocks"), bytes, blocks);
    if (src) {
        ck_assert_msg(is_src_file(frame_str(g[0], "stack", 0, "file"), src), "%s: file %s",
                      fn, frame_str(g[0], "stack", 0, "file"));
        int want = marker_line(src, marker);
        ck_assert_msg(frame_num(g[0], "stack", 0, "line") == want,
                      "%s: line %.0f, the %s line is %d", fn,
                      frame_num(g[0], "stack", 0, "line"), marker, want);
    }
    return g[0];
}

static bool is_null(const struct jval *v, const char *key)
{
    const struct jval *x = jget(v, key);
    return x && x->type == J_NULL;
}

/* g's "tag" is {"file": a file named `file` (exactly, or as is_src_file when `suffix`),
 * "line": line}. */
static void check_tag(const struct jval *g, const char *file, bool suffix, int line)
{
    const struct jval *t = jget(g, "tag");
    ck_assert_msg(t && t->type == J_OBJ, "no tag object");
    const char *f = jstr(t, "file");
    ck_assert_msg(f && (suffix ? is_src_file(f, file) : !strcmp(f, file)),
                  "tag file %s, expected %s", f ? f : "null", file);
    ck_assert_msg(jnum(t, "line") == line, "tag line %.0f, expected %d", jnum(t, "line"), line);
}

/* The leak groups whose tag is file:line (exactly). */
static int groups_tagged(const struct jval *rep, const char *file, int line,
                         const struct jval **out, int max)
{
    const struct jval *a = need_member(rep, "leaks", J_ARR);
    int n = 0;
    for (size_t i = 0; i < a->n; i++) {
        const struct jval *t = jget(a->items[i], "tag");
        if (!t || t->type != J_OBJ || !jstr(t, "file") || strcmp(jstr(t, "file"), file) ||
            jnum(t, "line") != line)
            continue;
        if (n < max)
            out[n] = a->items[i];
        n++;
    }
    return n;
}

/* The line of `text` after the one that is exactly `line`; asserts there is one. */
static const char *line_after(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; p && *p;) {
        if (!strncmp(p, line, n) && p[n] == '\n')
            return p + n + 1;
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    ck_abort_msg("no line \"%s\" in the text report:\n%.4000s", line, text);
    return NULL;
}

static bool line_starts(const char *p, const char *prefix)
{
    return !strncmp(p, prefix, strlen(prefix));
}

/* The first frame line after the header `header` is "#0 ... in fn ...". */
static void check_text_group(const char *text, const char *header, const char *fn)
{
    const char *f = line_after(text, header);
    const char *nl = strchr(f, '\n');
    ck_assert_msg(line_starts(f, "    #0 0x") && nl && names_fn(f, (size_t)(nl - f), fn),
                  "after \"%s\": %.*s", header, nl ? (int)(nl - f) : 200, f);
}

/* =========================================================================================
 * Debug allocations
 * ======================================================================================= */

static const char *const tag_src = "family_tag.c";

static void check_tag_groups(const struct jval *rep)
{
    const struct jval *g;
    g = check_group(rep, "definite", "tag_plain", 123, 1, tag_src, "/* TAG-PLAIN */");
    check_tag(g, "tagged_file.c", false, 4242);
    ck_assert(is_null(g, "heap"));
    /* MS_MALLOC: __FILE__ and __LINE__ of the call. */
    g = check_group(rep, "definite", "tag_macro", 77, 1, tag_src, "/* TAG-MACRO */");
    check_tag(g, tag_src, true, marker_line(tag_src, "/* TAG-MACRO */"));
    /* Through ms_realloc and realloc the tag stays; the stack is the realloc's. */
    g = check_group(rep, "definite", "tag_ms_realloc", 5000, 1, tag_src, "/* TAG-MS-REALLOC */");
    check_tag(g, "realloc_tag.c", false, 7);
    g = check_group(rep, "definite", "tag_libc_realloc", 6000, 1, tag_src,
                    "/* TAG-LIBC-REALLOC */");
    check_tag(g, "libc_realloc_tag.c", false, 8);
    /* One call site, two tags: two groups. */
    const struct jval *pair[4];
    ck_assert_int_eq(entries_with(rep, "leaks", "tag_pair", 1, "definite", pair, 4), 2);
    for (int line = 100; line <= 101; line++) {
        const struct jval *t[2];
        ck_assert_int_eq(groups_tagged(rep, "pair.c", line, t, 2), 1);
        ck_assert_msg(frame_index(jget(t[0], "stack"), "tag_pair", 1) == 0, "pair.c:%d",
                      line);
        ck_assert_int_eq((int)jnum(t[0], "bytes"), 40);
        ck_assert_int_eq((int)jnum(t[0], "blocks"), 1);
    }
    /* MS_HEAP_ALLOC: the heap's name and the tag. */
    g = check_group(rep, "definite", "tag_heap", 33, 1, tag_src, "/* TAG-HEAP */");
    check_tag(g, tag_src, true, marker_line(tag_src, "/* TAG-HEAP */"));
    ck_assert_str_eq(jstr(g, "heap"), "tagheap");
    /* No tag: null. */
    g = check_group(rep, "definite", "tag_none", 55, 1, tag_src, "/* TAG-NONE */");
    ck_assert(is_null(g, "tag"));
    ck_assert(is_null(g, "heap"));
}

START_TEST(test_tags_json)
{
    struct spied s = run_prog("family_tag", NULL, NULL, false);
    check_tag_groups(s.json);
    ck_assert_int_eq((int)jnum(s.json, "summary.definite_blocks"), 8);
    ck_assert_int_eq((int)jnum(s.json, "summary.definite_bytes"),
                     123 + 77 + 5000 + 6000 + 80 + 33 + 55);
    spied_free(&s);
}
END_TEST

START_TEST(test_tags_text)
{
    struct spied s = run_prog("family_tag", NULL, NULL, true);
    const char *t = s.log;
    check_text_group(t, "Direct leak of 123 byte(s) in 1 object(s) allocated at tagged_file.c:4242"
                        " from:", "tag_plain");
    const struct jval *g[2];
    ck_assert_int_eq(entries_with(s.json, "leaks", "tag_macro", 1, NULL, g, 2), 1);
    char h[PATH_MAX + 128];
    snprintf(h, sizeof h, "Direct leak of 77 byte(s) in 1 object(s) allocated at %s:%d from:",
             jstr(g[0], "tag.file"), marker_line(tag_src, "/* TAG-MACRO */"));
    check_text_group(t, h, "tag_macro");
    check_text_group(t, "Direct leak of 5000 byte(s) in 1 object(s) allocated at realloc_tag.c:7 "
                        "from:", "tag_ms_realloc");
    check_text_group(t, "Direct leak of 6000 byte(s) in 1 object(s) allocated at "
                        "libc_realloc_tag.c:8 from:", "tag_libc_realloc");
    check_text_group(t, "Direct leak of 40 byte(s) in 1 object(s) allocated at pair.c:100 from:",
                     "tag_pair");
    check_text_group(t, "Direct leak of 40 byte(s) in 1 object(s) allocated at pair.c:101 from:",
                     "tag_pair");
    snprintf(h, sizeof h, "Direct leak of 33 byte(s) in 1 object(s) allocated in heap 'tagheap' "
             "at %s:%d from:", jstr(g[0], "tag.file"), marker_line(tag_src, "/* TAG-HEAP */"));
    check_text_group(t, h, "tag_heap");
    check_text_group(t, "Direct leak of 55 byte(s) in 1 object(s) allocated from:", "tag_none");
    spied_free(&s);
}
END_TEST

/* A stripped copy: the stack says nothing useful, the tags still place the leaks. */
START_TEST(test_tags_stripped)
{
    char exe[PATH_MAX + 64];
    stripped_copy("family_tag", exe, sizeof exe);

    char *argv[] = { exe, NULL };
    /* Without the symbol cache: strip keeps the build ID, which would find the names. */
    struct spied s = spy_reports(argv, "symbol_cache=0", NULL, true);
    ck_assert_msg(s.r.status == 0, "status %d: %s", s.r.status, s.r.err);
    const struct jval *rep = s.json = load_json(s.json_path);
    const char *text = s.log = read_file(s.log_path);
    ck_assert(text);
    static const struct { const char *file; int line; unsigned long bytes; } tags[] = {
        { "tagged_file.c", 4242, 123 }, { "realloc_tag.c", 7, 5000 },
        { "libc_realloc_tag.c", 8, 6000 }, { "pair.c", 100, 40 }, { "pair.c", 101, 40 },
    };
    for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++) {
        const struct jval *g[2];
        ck_assert_msg(groups_tagged(rep, tags[i].file, tags[i].line, g, 2) == 1, "%s:%d",
                      tags[i].file, tags[i].line);
        ck_assert_str_eq(jstr(g[0], "kind"), "definite");
        ck_assert_int_eq((unsigned long)jnum(g[0], "bytes"), tags[i].bytes);
        ck_assert_int_eq((int)jnum(g[0], "blocks"), 1);
        /* Frame 0 is in the stripped program, and nameless. */
        ck_assert_str_eq(frame_str(g[0], "stack", 0, "module"), exe);
        ck_assert_msg(!frame_str(g[0], "stack", 0, "function"), "%s:%d: function %s",
                      tags[i].file, tags[i].line, frame_str(g[0], "stack", 0, "function"));
        ck_assert(!frame_str(g[0], "stack", 0, "file"));
        char h[256];
        snprintf(h, sizeof h, "Direct leak of %lu byte(s) in 1 object(s) allocated at %s:%d "
                 "from:", tags[i].bytes, tags[i].file, tags[i].line);
        line_after(text, h);
    }
    /* MS_MALLOC and MS_HEAP_ALLOC: the compiled-in __FILE__ survives stripping too. */
    int macro = marker_line(tag_src, "/* TAG-MACRO */");
    int heap = marker_line(tag_src, "/* TAG-HEAP */");
    int found = 0;
    const struct jval *a = need_member(rep, "leaks", J_ARR);
    for (size_t i = 0; i < a->n; i++) {
        const struct jval *g = a->items[i];
        if (!jget(g, "tag") || jget(g, "tag")->type != J_OBJ ||
            !is_src_file(jstr(g, "tag.file"), tag_src))
            continue;
        if (jnum(g, "tag.line") == macro) {
            ck_assert_int_eq((int)jnum(g, "bytes"), 77);
            found |= 1;
        } else if (jnum(g, "tag.line") == heap) {
            ck_assert_int_eq((int)jnum(g, "bytes"), 33);
            ck_assert_str_eq(jstr(g, "heap"), "tagheap");
            found |= 2;
        }
        ck_assert(!frame_str(g, "stack", 0, "function"));
    }
    ck_assert_int_eq(found, 3);
    spied_free(&s);
    unlink(exe);
}
END_TEST

/* =========================================================================================
 * Private heaps: the calls (in this process)
 * ======================================================================================= */

START_TEST(test_heap_calls)
{
    ms_malloc *h = ms_heap_create("calls", 0), *h2 = ms_heap_create("other", 0);
    ms_malloc *task = ms_get_malloc();
    ck_assert_ptr_nonnull(h);
    ck_assert_ptr_nonnull(h2);
    ck_assert_ptr_ne(h, h2);
    ck_assert_ptr_ne(h, task);
    char *p = ms_alloc(h, 100);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq((uintptr_t)p % 16, 0);
    memset(p, 0x11, 100);
    ck_assert_uint_eq(ms_get_size(h, p), 100);
    ck_assert_int_eq(ms_did_alloc(h, p), 1);
    /* NULL, interior pointers, another heap's and the task allocator's blocks. */
    ck_assert_uint_eq(ms_get_size(h, NULL), (size_t)-1);
    ck_assert_int_eq(ms_did_alloc(h, NULL), -1);
    ck_assert_int_eq(ms_did_alloc(h, p + 4), 0);
    ck_assert_int_eq(ms_did_alloc(h, p + 16), 0);
    ck_assert_uint_eq(ms_get_size(h, p + 16), (size_t)-1);
    ck_assert_uint_eq(ms_get_size(h2, p), (size_t)-1);
    ck_assert_int_eq(ms_did_alloc(h2, p), 0);
    ck_assert_uint_eq(ms_get_size(task, p), (size_t)-1);
    ck_assert_int_eq(ms_did_alloc(task, p), 0);
    char *m = malloc(40);
    ck_assert_int_eq(ms_did_alloc(h, m), 0);
    ck_assert_uint_eq(ms_get_size(h, m), (size_t)-1);
    ck_assert_int_eq(ms_did_alloc(task, m), 1);
    free(m);
    char *o = ms_alloc(h2, 24);
    ck_assert_int_eq(ms_did_alloc(h, o), 0);
    ck_assert_int_eq(ms_did_alloc(h2, o), 1);
    ck_assert_uint_eq(ms_get_size(h, o), (size_t)-1);
    ck_assert_uint_eq(ms_get_size(h2, o), 24);
    ms_free(h2, o);
    /* Realloc through the heap: contents kept, the new block the heap's. */
    char *q = ms_realloc(h, p, 5000);
    ck_assert_ptr_nonnull(q);
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(q[i], 0x11);
    memset(q, 0x22, 5000);
    ck_assert_uint_eq(ms_get_size(h, q), 5000);
    ck_assert_int_eq(ms_did_alloc(h, q), 1);
    ck_assert_int_eq(ms_did_alloc(h2, q), 0);
    q = ms_realloc(h, q, 10);
    ck_assert_uint_eq(ms_get_size(h, q), 10);
    ck_assert_int_eq(q[9], 0x22);
    /* NULL allocates in the heap; size 0 frees. */
    char *r = ms_realloc(h, NULL, 30);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(ms_did_alloc(h, r), 1);
    ck_assert_uint_eq(ms_get_size(h, r), 30);
    ck_assert_ptr_null(ms_realloc(h, r, 0));
    ck_assert(!ms_heap_validate(h, r));
    /* A zero-byte block is a valid block. */
    void *z1 = ms_alloc(h, 0), *z2 = ms_alloc(h, 0);
    ck_assert_ptr_nonnull(z1);
    ck_assert_ptr_ne(z1, z2);
    ck_assert_uint_eq(ms_get_size(h, z1), 0);
    ck_assert_int_eq(ms_did_alloc(h, z1), 1);
    ms_free(h, z1);
    ms_free(h, z2);
    ms_free(h, NULL);
    /* Freed through its heap: gone. */
    ms_free(h, q);
    ck_assert_int_eq(ms_did_alloc(h, q), 0);
    ck_assert_uint_eq(ms_get_size(h, q), (size_t)-1);
    ck_assert(!ms_heap_validate(h, q));
    ck_assert(ms_heap_validate(h, NULL));
    ms_heap_destroy(h);
    ms_heap_destroy(h2);
}
END_TEST

START_TEST(test_heap_validate)
{
    ms_malloc *h = ms_heap_create("valid", 0), *h2 = ms_heap_create("valid2", 0);
    ms_malloc *task = ms_get_malloc();
    ck_assert(ms_heap_validate(h, NULL));           /* an empty heap */
    char *p = ms_alloc(h, 64), *o = ms_alloc(h2, 64), *m = malloc(64), *f = ms_alloc(h, 80);
    ck_assert(ms_heap_validate(h, p));
    ck_assert(!ms_heap_validate(h, o));             /* another heap's */
    ck_assert(!ms_heap_validate(h, m));             /* malloc's */
    ck_assert(!ms_heap_validate(h, p + 8));         /* interior */
    ck_assert(!ms_heap_validate(h, p + 1));
    ck_assert(!ms_heap_validate(h, &p));            /* not a block at all */
    ck_assert(ms_heap_validate(h2, o));
    ck_assert(ms_heap_validate(task, m));
    ck_assert(!ms_heap_validate(task, p));
    ms_free(h, f);
    ck_assert(!ms_heap_validate(h, f));             /* freed */
    ck_assert(ms_heap_validate(h, NULL));
    ck_assert(ms_heap_validate(h2, NULL));
    free(m);
    ms_free(h, p);
    ms_free(h2, o);
    ck_assert(ms_heap_validate(h, NULL));
    ms_heap_destroy(h);
    ms_heap_destroy(h2);
}
END_TEST

/* ---- walking ------------------------------------------------------------------------------ */

#define MAXW 64
struct walk {
    int n;
    ms_block_info info[MAXW];
    int stop_at;              /* visit returns stop_value at this visit (1-based); 0 never */
    int stop_value;
    ms_malloc *heap;          /* for visits that free or allocate */
    bool free_given, free_others, alloc_more;
    void *others[MAXW];
    int nothers;
    void *allocated[MAXW];
    int nallocated;
    const void *want[MAXW];   /* walk_task: only these addresses are kept */
    int nwant;
};

static int visit(const ms_block_info *b, void *arg)
{
    struct walk *w = arg;
    if (w->nwant) {
        bool mine = false;
        for (int i = 0; i < w->nwant; i++)
            mine |= w->want[i] == b->address;
        if (!mine)
            return 0;
    }
    if (w->n < MAXW)
        w->info[w->n] = *b;
    w->n++;
    if (w->free_given)
        ms_free(w->heap, (void *)b->address);
    if (w->free_others && w->n == 1)
        for (int i = 0; i < w->nothers; i++)
            if (w->others[i] != b->address)
                ms_free(w->heap, w->others[i]);
    if (w->alloc_more && w->nallocated < MAXW)
        w->allocated[w->nallocated++] = ms_alloc(w->heap, 8);
    if (w->stop_at && w->n == w->stop_at)
        return w->stop_value;
    return 0;
}

static int count_blocks(ms_malloc *h)
{
    struct walk w;
    memset(&w, 0, sizeof w);
    ck_assert_int_eq(ms_heap_walk(h, visit, &w), MS_OK);
    return w.n;
}

NOINLINE void *walk_alloc(ms_malloc *h, size_t n)
{
    void *p = ms_alloc(h, n);
    __asm__ volatile("" : : "r"(p) : "memory");
    return p;
}

static const ms_block_info *info_for(struct walk *w, const void *p)
{
    const ms_block_info *found = NULL;
    for (int i = 0; i < w->n && i < MAXW; i++)
        if (w->info[i].address == p) {
            ck_assert_msg(!found, "block %p visited twice", p);
            found = &w->info[i];
        }
    ck_assert_msg(found, "block %p not visited", p);
    return found;
}

START_TEST(test_heap_walk)
{
    char name[16] = "walker";
    ms_malloc *h = ms_heap_create(name, 0);
    strcpy(name, "changed");                        /* the name was copied */
    ms_malloc *other = ms_heap_create("other", 0);
    void *p[4];
    for (int i = 0; i < 3; i++)
        p[i] = walk_alloc(h, 10 + (size_t)i);       /* one call site */
    p[1] = ms_realloc(h, p[1], 300);
    int line = __LINE__; void *tagged = MS_HEAP_ALLOC(h, 77);
    tagged = ms_realloc(h, tagged, 777);            /* the tag stays through a realloc */
    p[3] = tagged;
    void *elsewhere = walk_alloc(other, 5);
    void *m = malloc(5);
    struct walk w;
    memset(&w, 0, sizeof w);
    ck_assert_int_eq(ms_heap_walk(h, visit, &w), MS_OK);
    ck_assert_int_eq(w.n, 4);
    static const size_t sizes[4] = { 10, 300, 12, 777 };
    for (int i = 0; i < 4; i++) {
        const ms_block_info *b = info_for(&w, p[i]);
        ck_assert_uint_eq(b->size, sizes[i]);
        ck_assert_str_eq(b->heap, "walker");
        if (tracker_on()) {
            ck_assert_ptr_nonnull(b->stack);
            ck_assert_uint_gt(b->stack->depth, 1);
        }
    }
    /* The two blocks from walk_alloc share its stack, whose first frame is in it. */
    const ms_block_info *b0 = info_for(&w, p[0]), *b2 = info_for(&w, p[2]);
    if (tracker_on()) {
        ck_assert_ptr_eq(b0->stack, b2->stack);
        uintptr_t f0 = b0->stack->frames[0];
        ck_assert_msg(f0 > (uintptr_t)walk_alloc && f0 < (uintptr_t)walk_alloc + 1024,
                      "frame 0 at %#lx, walk_alloc at %p", (unsigned long)f0,
                      (void *)walk_alloc);
        ck_assert_ptr_ne(info_for(&w, p[1])->stack, b0->stack);   /* the realloc's */
    }
    ck_assert_ptr_null(b0->file);
    ck_assert_int_eq(b0->line, 0);
    const ms_block_info *bt = info_for(&w, tagged);
    ck_assert_str_eq(bt->file, __FILE__);
    ck_assert_int_eq(bt->line, line);
    /* An unnamed heap is "heap". */
    ms_malloc *anon = ms_heap_create(NULL, 0);
    void *a = ms_alloc(anon, 1);
    memset(&w, 0, sizeof w);
    ck_assert_int_eq(ms_heap_walk(anon, visit, &w), MS_OK);
    ck_assert_int_eq(w.n, 1);
    ck_assert_ptr_eq(w.info[0].address, a);
    ck_assert_str_eq(w.info[0].heap, "heap");
    /* An empty heap; no visit function. */
    ms_free(anon, a);
    ck_assert_int_eq(count_blocks(anon), 0);
    ck_assert_int_eq(ms_heap_walk(h, NULL, NULL), MS_E_INVALIDARG);
    ms_heap_destroy(anon);
    ck_assert_int_eq(count_blocks(other), 1);
    ms_free(other, elsewhere);
    free(m);
    ms_heap_destroy(h);
    ms_heap_destroy(other);
}
END_TEST

static ms_malloc *heap_of(int n, size_t size, void **out)
{
    ms_malloc *h = ms_heap_create("walked", 0);
    ck_assert_ptr_nonnull(h);
    for (int i = 0; i < n; i++) {
        out[i] = ms_alloc(h, size + (size_t)i);
        ck_assert_ptr_nonnull(out[i]);
    }
    return h;
}

START_TEST(test_heap_walk_stop)
{
    void *p[6];
    ms_malloc *h = heap_of(6, 16, p);
    struct walk w;
    memset(&w, 0, sizeof w);
    w.stop_at = 3;
    w.stop_value = 7;
    ck_assert_int_eq(ms_heap_walk(h, visit, &w), 7);
    ck_assert_int_eq(w.n, 3);
    memset(&w, 0, sizeof w);
    w.stop_at = 1;
    w.stop_value = -5;
    ck_assert_int_eq(ms_heap_walk(h, visit, &w), -5);
    ck_assert_int_eq(w.n, 1);
    memset(&w, 0, sizeof w);
    w.stop_at = 6;                                 /* non-zero at the last: still returned */
    w.stop_value = 1;
    ck_assert_int_eq(ms_heap_walk(h, visit, &w), 1);
    ck_assert_int_eq(w.n, 6);
    ck_assert_int_eq(count_blocks(h), 6);
    ms_heap_destroy(h);
}
END_TEST

START_TEST(test_heap_walk_free_given)
{
    void *p[8];
    ms_malloc *h = heap_of(8, 32, p);
    struct walk w;
    memset(&w, 0, sizeof w);
    w.heap = h;
    w.free_given = true;
    ck_assert_int_eq(ms_heap_walk(h, visit, &w), MS_OK);
    ck_assert_int_eq(w.n, 8);
    for (int i = 0; i < 8; i++) {
        info_for(&w, p[i]);
        ck_assert(!ms_heap_validate(h, p[i]));
    }
    ck_assert_int_eq(count_blocks(h), 0);
    ck_assert(ms_heap_validate(h, NULL));
    ms_heap_destroy(h);
}
END_TEST

START_TEST(test_heap_walk_free_others)
{
    void *p[8];
    ms_malloc *h = heap_of(8, 32, p);
    struct walk w;
    memset(&w, 0, sizeof w);
    w.heap = h;
    w.free_others = true;
    memcpy(w.others, p, sizeof p);
    w.nothers = 8;
    ck_assert_int_eq(ms_heap_walk(h, visit, &w), MS_OK);
    ck_assert_int_eq(w.n, 1);                      /* the freed ones are not visited */
    ck_assert_int_eq(count_blocks(h), 1);
    ck_assert(ms_heap_validate(h, w.info[0].address));
    ck_assert(ms_heap_validate(h, NULL));
    ms_heap_destroy(h);
}
END_TEST

START_TEST(test_heap_walk_alloc)
{
    void *p[5];
    ms_malloc *h = heap_of(5, 8, p);
    struct walk w;
    memset(&w, 0, sizeof w);
    w.heap = h;
    w.alloc_more = true;
    ck_assert_int_eq(ms_heap_walk(h, visit, &w), MS_OK);
    ck_assert_int_eq(w.n, 5);                      /* the blocks live when it started */
    ck_assert_int_eq(w.nallocated, 5);
    for (int i = 0; i < 5; i++) {
        info_for(&w, p[i]);
        ck_assert(ms_heap_validate(h, w.allocated[i]));
    }
    ck_assert_int_eq(count_blocks(h), 10);
    ms_heap_destroy(h);
}
END_TEST

/* The task allocator walks the malloc family's blocks: not a heap's.  (With the tracker
 * off, mallocspy keeps no record of untagged malloc blocks: there is nothing to walk.) */
START_TEST(test_walk_task)
{
    if (!tracker_on())
        return;
    ms_malloc *task = ms_get_malloc();
    ms_malloc *h = ms_heap_create("not-task", 0);
    char *m = malloc(12345);
    char *t = ms_alloc(task, 2345);
    int line = __LINE__; char *d = ms_debug_alloc(task, 4321, "walktask.c", line);
    char *x = ms_alloc(h, 12345);
    struct walk w;
    memset(&w, 0, sizeof w);
    w.want[0] = m;
    w.want[1] = t;
    w.want[2] = d;
    w.want[3] = x;
    w.nwant = 4;
    ck_assert_int_eq(ms_heap_walk(task, visit, &w), MS_OK);
    ck_assert_int_eq(w.n, 3);
    const ms_block_info *bm = info_for(&w, m), *bt = info_for(&w, t), *bd = info_for(&w, d);
    ck_assert_uint_eq(bm->size, 12345);
    ck_assert_uint_eq(bt->size, 2345);
    ck_assert_uint_eq(bd->size, 4321);
    ck_assert_ptr_null(bm->heap);
    ck_assert_ptr_null(bd->heap);
    ck_assert_ptr_nonnull(bm->stack);
    ck_assert_ptr_null(bm->file);
    ck_assert_str_eq(bd->file, "walktask.c");
    ck_assert_int_eq(bd->line, line);
    /* And it stops early too. */
    memset(&w, 0, sizeof w);
    w.stop_at = 1;
    w.stop_value = 3;
    ck_assert_int_eq(ms_heap_walk(task, visit, &w), 3);
    ck_assert_int_eq(w.n, 1);
    free(m);
    ms_free(task, t);
    ms_free(task, d);
    ms_heap_destroy(h);
}
END_TEST

/* ---- destroying: the frees, as the spies see them ------------------------------------- */

#define MAXREC 65536
static struct recorder {
    ms_spy base;
    atomic_bool armed;
    ms_malloc *heap;              /* frees: only those on this allocator (NULL: any) */
    atomic_int nfree;
    struct { const void *block; ms_malloc *allocator; ms_call_kind kind; } frees[MAXREC];
    size_t alloc_request;         /* allocations of exactly this size are recorded */
    atomic_int nalloc;
    void *allocs[MAXREC];
} rec;

static void *rec_pre_free(ms_spy *self, void *request, bool spied)
{
    (void)self;
    (void)spied;
    const ms_call *c = ms_spy_call();
    if (!atomic_load(&rec.armed) || !c || (rec.heap && c->allocator != rec.heap))
        return request;
    int i = atomic_fetch_add(&rec.nfree, 1);
    if (i < MAXREC) {
        rec.frees[i].block = request;
        rec.frees[i].allocator = c->allocator;
        rec.frees[i].kind = c->kind;
    }
    return request;
}

static void *rec_post_alloc(ms_spy *self, void *actual)
{
    (void)self;
    const ms_call *c = ms_spy_call();
    if (atomic_load(&rec.armed) && c && actual && rec.alloc_request &&
        c->request == rec.alloc_request) {
        int i = atomic_fetch_add(&rec.nalloc, 1);
        if (i < MAXREC)
            rec.allocs[i] = actual;
    }
    return actual;
}

static const ms_spy_ops rec_ops = { .pre_free = rec_pre_free, .post_alloc = rec_post_alloc };

static void rec_start(ms_malloc *heap, size_t alloc_request)
{
    memset(&rec, 0, sizeof rec);
    rec.base.ops = &rec_ops;
    rec.heap = heap;
    rec.alloc_request = alloc_request;
    ck_assert_int_eq(ms_register_spy(&rec.base), MS_OK);
}

static void rec_stop(void)
{
    atomic_store(&rec.armed, false);
    int r = ms_revoke_spy(&rec.base);
    ck_assert_msg(r == MS_OK || r == MS_E_PENDING, "revoke: %d", r);
}

static bool rec_freed(const void *p)
{
    int n = atomic_load(&rec.nfree);
    for (int i = 0; i < n && i < MAXREC; i++)
        if (rec.frees[i].block == p)
            return true;
    return false;
}

START_TEST(test_heap_destroy_frees)
{
    ms_malloc *h = ms_heap_create("destroyed", 0);
    rec_start(h, 0);
    void *p[5];
    p[0] = ms_alloc(h, 10);
    p[1] = ms_alloc(h, 2000);
    p[2] = MS_HEAP_ALLOC(h, 30);
    p[3] = ms_realloc(h, ms_alloc(h, 5), 500);
    p[4] = ms_alloc(h, 0);
    void *gone = ms_alloc(h, 7);
    ms_free(h, gone);
    ck_assert_int_eq(count_blocks(h), 5);
    atomic_store(&rec.armed, true);
    ms_heap_destroy(h);
    atomic_store(&rec.armed, false);
    ck_assert_int_eq(atomic_load(&rec.nfree), 5);
    for (int i = 0; i < 5; i++) {
        ck_assert_msg(rec_freed(p[i]), "block %d not freed", i);
        ck_assert_ptr_eq(rec.frees[i].allocator, h);
        ck_assert_int_eq(rec.frees[i].kind, MS_CALL_TASK_FREE);
    }
    ck_assert(!rec_freed(gone));
    /* The handle is stale now. */
    ck_assert(!ms_heap_validate(h, NULL));
    ck_assert(!ms_heap_validate(h, p[0]));
    ck_assert_int_eq(ms_heap_walk(h, visit, NULL), MS_E_INVALIDARG);
    /* An empty heap: nothing to free. */
    ms_malloc *e = ms_heap_create("empty", MS_HEAP_NO_SERIALIZE);
    rec.heap = e;
    atomic_store(&rec.nfree, 0);
    atomic_store(&rec.armed, true);
    ms_heap_destroy(e);
    atomic_store(&rec.armed, false);
    ck_assert_int_eq(atomic_load(&rec.nfree), 0);
    rec_stop();
}
END_TEST

/* ---- threads ----------------------------------------------------------------------------- */

#define HAMMER_THREADS 4
#define HAMMER_OPS 20000
#define SLOTS 64

struct hammer {
    pthread_t t;
    ms_malloc *heap;
    pthread_mutex_t *mu;      /* taken around each call (a MS_HEAP_NO_SERIALIZE heap shared) */
    int id;
    unsigned seed;
    char *slot[SLOTS];
    size_t size[SLOTS];
    long errors;
};

static unsigned next_rand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

static bool contents_ok(const char *p, size_t n, char c)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != c)
            return false;
    return true;
}

static void *hammer_main(void *arg)
{
    struct hammer *t = arg;
    for (int i = 0; i < HAMMER_OPS; i++) {
        unsigned k = next_rand(&t->seed) % SLOTS;
        char c = (char)(t->id * SLOTS + (int)k);
        if (t->mu)
            pthread_mutex_lock(t->mu);
        if (!t->slot[k]) {
            size_t n = 1 + next_rand(&t->seed) % 300;
            t->slot[k] = ms_alloc(t->heap, n);
            if (!t->slot[k]) {
                t->errors++;
            } else {
                t->size[k] = n;
                memset(t->slot[k], c, n);
            }
        } else {
            char *p = t->slot[k];
            if (ms_get_size(t->heap, p) != t->size[k] || ms_did_alloc(t->heap, p) != 1 ||
                !contents_ok(p, t->size[k], c))
                t->errors++;
            if (next_rand(&t->seed) & 1) {
                size_t n = 1 + next_rand(&t->seed) % 600;
                char *q = ms_realloc(t->heap, p, n);
                if (!q || !contents_ok(q, n < t->size[k] ? n : t->size[k], c)) {
                    t->errors++;
                } else {
                    memset(q, c, n);
                    t->slot[k] = q;
                    t->size[k] = n;
                }
            } else {
                ms_free(t->heap, p);
                t->slot[k] = NULL;
            }
        }
        if (t->mu)
            pthread_mutex_unlock(t->mu);
    }
    return NULL;
}

static atomic_bool validating;
static atomic_long validate_failures, validations;

static void *validator_main(void *arg)
{
    ms_malloc *h = arg;
    while (atomic_load(&validating)) {
        if (!ms_heap_validate(h, NULL))
            atomic_fetch_add(&validate_failures, 1);
        atomic_fetch_add(&validations, 1);
        usleep(1000);
    }
    return NULL;
}

struct tally { long blocks; size_t bytes; };

static int tally_visit(const ms_block_info *b, void *arg)
{
    struct tally *t = arg;
    t->blocks++;
    t->bytes += b->size;
    return 0;
}

/* The heap holds exactly what the threads kept, and each of those is a valid block. */
static void check_kept(ms_malloc *h, struct hammer *t, int n)
{
    long blocks = 0;
    size_t bytes = 0;
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(t[i].errors, 0);
        for (int k = 0; k < SLOTS; k++)
            if (t[i].slot[k] && ms_did_alloc(h, t[i].slot[k]) == 1) {
                ck_assert(ms_heap_validate(h, t[i].slot[k]));
                ck_assert_uint_eq(ms_get_size(h, t[i].slot[k]), t[i].size[k]);
                blocks++;
                bytes += t[i].size[k];
            } else if (t[i].slot[k]) {
                ck_abort_msg("thread %d slot %d: %p is not a block of the heap", i, k,
                             (void *)t[i].slot[k]);
            }
    }
    struct tally w = { 0, 0 };
    ck_assert_int_eq(ms_heap_walk(h, tally_visit, &w), MS_OK);
    ck_assert_int_eq(w.blocks, blocks);
    ck_assert_uint_eq(w.bytes, bytes);
    ck_assert(ms_heap_validate(h, NULL));
}

static void run_hammers(struct hammer *t, int n)
{
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(pthread_create(&t[i].t, NULL, hammer_main, &t[i]), 0);
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(pthread_join(t[i].t, NULL), 0);
}

START_TEST(test_heap_threads_serialized)
{
    ms_malloc *h = ms_heap_create("shared", 0);
    static struct hammer t[HAMMER_THREADS];
    memset(t, 0, sizeof t);
    for (int i = 0; i < HAMMER_THREADS; i++) {
        t[i].heap = h;
        t[i].id = i;
        t[i].seed = 1234u + (unsigned)i;
    }
    pthread_t v;
    atomic_store(&validating, true);
    ck_assert_int_eq(pthread_create(&v, NULL, validator_main, h), 0);
    run_hammers(t, HAMMER_THREADS);
    atomic_store(&validating, false);
    pthread_join(v, NULL);
    ck_assert_int_eq(atomic_load(&validate_failures), 0);
    ck_assert_int_gt(atomic_load(&validations), 0);
    check_kept(h, t, HAMMER_THREADS);
    ms_heap_destroy(h);
}
END_TEST

START_TEST(test_heap_threads_no_serialize)
{
    /* One MS_HEAP_NO_SERIALIZE heap shared, the callers serializing themselves... */
    ms_malloc *h = ms_heap_create("unlocked", MS_HEAP_NO_SERIALIZE);
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static struct hammer t[HAMMER_THREADS];
    memset(t, 0, sizeof t);
    for (int i = 0; i < HAMMER_THREADS; i++) {
        t[i].heap = h;
        t[i].mu = &mu;
        t[i].id = i;
        t[i].seed = 99u + (unsigned)i;
    }
    run_hammers(t, HAMMER_THREADS);
    check_kept(h, t, HAMMER_THREADS);
    ms_heap_destroy(h);
    /* ...and one each, all at once. */
    static struct hammer u[HAMMER_THREADS];
    memset(u, 0, sizeof u);
    for (int i = 0; i < HAMMER_THREADS; i++) {
        u[i].heap = ms_heap_create("own", MS_HEAP_NO_SERIALIZE);
        u[i].id = i;
        u[i].seed = 7u + (unsigned)i;
    }
    run_hammers(u, HAMMER_THREADS);
    for (int i = 0; i < HAMMER_THREADS; i++) {
        check_kept(u[i].heap, &u[i], 1);
        ms_heap_destroy(u[i].heap);
    }
}
END_TEST

/* =========================================================================================
 * Private heaps: the reports (helper programs)
 * ======================================================================================= */

static const char *const heap_src = "family_heap.c";

START_TEST(test_heap_leaks_by_name)
{
    const char *args[] = { "live", NULL };
    struct spied s = run_prog("family_heap", args, NULL, true);
    const struct jval *g[4];
    /* One stack, three groups: one per heap, the task allocator's with heap null. */
    ck_assert_int_eq(entries_with(s.json, "leaks", "heap_leak", 1, "definite", g, 4), 3);
    int line = marker_line(heap_src, "/* HEAP-LEAK */");
    int seen = 0;
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq((int)frame_num(g[i], "stack", 0, "line"), line);
        ck_assert(is_null(g[i], "tag"));
        const char *heap = jstr(g[i], "heap");
        int bytes = (int)jnum(g[i], "bytes"), blocks = (int)jnum(g[i], "blocks");
        if (heap && !strcmp(heap, "alpha")) {
            ck_assert_int_eq(bytes, 192);
            ck_assert_int_eq(blocks, 3);
            seen |= 1;
        } else if (heap && !strcmp(heap, "beta")) {
            ck_assert_int_eq(bytes, 128);
            ck_assert_int_eq(blocks, 2);
            seen |= 2;
        } else {
            ck_assert(is_null(g[i], "heap"));
            ck_assert_int_eq(bytes, 64);
            ck_assert_int_eq(blocks, 1);
            seen |= 4;
        }
    }
    ck_assert_int_eq(seen, 7);
    ck_assert_int_eq((int)jnum(s.json, "summary.definite_bytes"), 384);
    ck_assert_int_eq((int)jnum(s.json, "summary.definite_blocks"), 6);
    check_text_group(s.log, "Direct leak of 192 byte(s) in 3 object(s) allocated in heap 'alpha' "
                            "from:", "heap_leak");
    check_text_group(s.log, "Direct leak of 128 byte(s) in 2 object(s) allocated in heap 'beta' "
                            "from:", "heap_leak");
    check_text_group(s.log, "Direct leak of 64 byte(s) in 1 object(s) allocated from:",
                     "heap_leak");
    spied_free(&s);
}
END_TEST

START_TEST(test_heap_destroy_report)
{
    const char *args[] = { "destroy", NULL };
    struct spied s = run_prog("family_heap", args, NULL, true);
    /* The spies saw every block freed by the destroys. */
    ck_assert_msg(strstr(s.r.out, "doomed_frees=5 quiet_frees=2\n"), "stdout: %s", s.r.out);
    /* heap_leaks: the blocks left in "doomed", by stack and tag; none of "quiet". */
    const struct jval *hl = need_member(s.json, "heap_leaks", J_ARR);
    ck_assert_int_eq((int)hl->n, 3);
    for (size_t i = 0; i < hl->n; i++)
        ck_assert_str_eq(jstr(hl->items[i], "heap"), "doomed");
    const struct jval *g[2];
    ck_assert_int_eq(entries_with(s.json, "heap_leaks", "doomed_alloc", 1, NULL, g, 2), 1);
    ck_assert_int_eq((int)jnum(g[0], "bytes"), 300);
    ck_assert_int_eq((int)jnum(g[0], "blocks"), 3);
    ck_assert(is_null(g[0], "tag"));
    ck_assert_int_eq((int)frame_num(g[0], "stack", 0, "line"),
                     marker_line(heap_src, "/* DOOMED-ALLOC */"));
    ck_assert_int_eq(entries_with(s.json, "heap_leaks", "doomed_tagged", 1, NULL, g, 2), 1);
    ck_assert_int_eq((int)jnum(g[0], "bytes"), 50);
    ck_assert_int_eq((int)jnum(g[0], "blocks"), 1);
    int tag_line = marker_line(heap_src, "/* DOOMED-TAG */");
    check_tag(g[0], heap_src, true, tag_line);
    char tag_file[PATH_MAX];
    snprintf(tag_file, sizeof tag_file, "%s", jstr(g[0], "tag.file"));
    ck_assert_int_eq(entries_with(s.json, "heap_leaks", "doomed_realloc", 1, NULL, g, 2), 1);
    ck_assert_int_eq((int)jnum(g[0], "bytes"), 70);
    ck_assert_int_eq((int)jnum(g[0], "blocks"), 1);
    ck_assert_int_eq((int)frame_num(g[0], "stack", 0, "line"),
                     marker_line(heap_src, "/* DOOMED-REALLOC */"));
    /* Destroyed blocks are no leaks at exit. */
    static const char *const fns[] = { "doomed_alloc", "doomed_tagged", "doomed_realloc",
                                       "doomed_freed", "quiet_alloc" };
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
        ck_assert_msg(!groups_with(s.json, fns[i]), "a leak group from %s", fns[i]);
    ck_assert_int_eq((int)jnum(s.json, "summary.definite_blocks"), 0);
    /* The text, written at the destroy. */
    const char *hdr = strstr(s.log, "\n==");
    int pid = 0, used = 0;
    ck_assert_msg(hdr && sscanf(hdr, "\n==%d==mallocspy: heap 'doomed' destroyed with 420 "
                                "byte(s) in 5 block(s) still allocated\n%n", &pid, &used) == 1 &&
                  used > 0 && pid > 0, "%s", s.log);
    check_text_group(s.log, "Heap leak of 300 byte(s) in 3 object(s) allocated from:",
                     "doomed_alloc");
    char h[PATH_MAX + 128];
    snprintf(h, sizeof h, "Heap leak of 50 byte(s) in 1 object(s) allocated at %s:%d from:",
             tag_file, tag_line);
    check_text_group(s.log, h, "doomed_tagged");
    check_text_group(s.log, "Heap leak of 70 byte(s) in 1 object(s) allocated from:",
                     "doomed_realloc");
    ck_assert_int_eq(count_str(s.log, "Heap leak of"), 3);
    ck_assert_msg(!strstr(s.log, "'quiet'"), "%s", s.log);
    spied_free(&s);
}
END_TEST

/* The seven wrong-heap calls family_heap makes, in order: the call, the function making it
 * and its marker, the function that allocated the block and its size. */
static const struct {
    const char *call, *here, *here_marker, *alloc, *alloc_marker;
    int bytes;
} wrong_calls[] = {
    { "free", "wrong_free", "/* WRONG-FREE */", "wrong_alloc", "/* WRONG-ALLOC */", 48 },
    { "ms_free", "wrong_msfree", "/* WRONG-MSFREE */", "wrong_alloc", "/* WRONG-ALLOC */", 48 },
    { "ms_realloc", "wrong_msrealloc", "/* WRONG-MSREALLOC */", "wrong_alloc",
      "/* WRONG-ALLOC */", 48 },
    { "ms_free", "wrong_taskfree", "/* WRONG-TASKFREE */", "wrong_alloc", "/* WRONG-ALLOC */",
      48 },
    { "realloc", "wrong_libcrealloc", "/* WRONG-LIBCREALLOC */", "wrong_alloc",
      "/* WRONG-ALLOC */", 48 },
    { "ms_realloc", "wrong_taskrealloc", "/* WRONG-TASKREALLOC */", "wrong_alloc",
      "/* WRONG-ALLOC */", 48 },
    { "ms_free", "wrong_heapfree", "/* WRONG-HEAPFREE */", "wrong_malloced",
      "/* WRONG-MALLOCED */", 24 },
};
#define NWRONG (sizeof wrong_calls / sizeof wrong_calls[0])

static struct spied run_wrong(unsigned long long *block, unsigned long long *malloced)
{
    const char *args[] = { "wrong", NULL };
    struct spied s = run_prog("family_heap", args, NULL, true);
    const char *b = strstr(s.r.out, "block="), *m = strstr(s.r.out, "malloced=");
    ck_assert_msg(b && m && strstr(s.r.out, "\nok\n"), "stdout: %s", s.r.out);
    ck_assert(sscanf(b, "block=%llx", block) == 1);
    ck_assert(sscanf(m, "malloced=%llx", malloced) == 1);
    return s;
}

START_TEST(test_wrong_heap)
{
    unsigned long long block, malloced;
    struct spied s = run_wrong(&block, &malloced);
    const struct jval *e = need_member(s.json, "errors", J_ARR);
    ck_assert_int_eq((int)e->n, (int)NWRONG);
    ck_assert_int_eq((int)jnum(s.json, "summary.errors"), (int)NWRONG);
    for (size_t i = 0; i < NWRONG; i++) {
        const struct jval *x = e->items[i];
        ck_assert_str_eq(jstr(x, "kind"), "wrong_heap");
        ck_assert_str_eq(jstr(x, "call"), wrong_calls[i].call);
        ck_assert_int_eq((int)jnum(x, "bytes"), wrong_calls[i].bytes);
        ck_assert_uint_eq(hexval(jstr(x, "address")), wrong_calls[i].bytes == 48 ? block
                                                                                : malloced);
        const struct jval *st = jget(x, "stacks");
        ck_assert_msg(st && st->type == J_OBJ, "error %zu: no stacks", i);
        ck_assert_msg(is_null(st, "free"), "error %zu: a free stack", i);
        ck_assert_msg(frame_index(jget(st, "here"), wrong_calls[i].here, 1) == 0,
                      "error %zu: here frame 0 is %s, expected %s", i,
                      frame_str(st, "here", 0, "function"), wrong_calls[i].here);
        ck_assert_int_eq((int)frame_num(st, "here", 0, "line"),
                         marker_line(heap_src, wrong_calls[i].here_marker));
        ck_assert_msg(frame_index(jget(st, "alloc"), wrong_calls[i].alloc, 1) == 0,
                      "error %zu: alloc frame 0 is %s, expected %s", i,
                      frame_str(st, "alloc", 0, "function"), wrong_calls[i].alloc);
        ck_assert_int_eq((int)frame_num(st, "alloc", 0, "line"),
                         marker_line(heap_src, wrong_calls[i].alloc_marker));
    }
    /* Nothing leaked, nothing lost: the block stayed valid and was freed properly. */
    ck_assert_int_eq((int)jnum(s.json, "summary.definite_blocks"), 0);
    ck_assert_int_eq((int)jnum(s.json, "summary.live_blocks"), 0);
    /* The text: each error at once, with the call. */
    ck_assert_int_eq(count_str(s.log, "ERROR: mallocspy: call through the wrong heap on "),
                     (int)NWRONG);
    for (size_t i = 0; i < NWRONG; i++) {
        char want[128];
        snprintf(want, sizeof want, "call through the wrong heap on 0x%llx in %s\n",
                 wrong_calls[i].bytes == 48 ? block : malloced, wrong_calls[i].call);
        ck_assert_msg(strstr(s.log, want), "no \"%s\" in:\n%.3000s", want, s.log);
    }
    spied_free(&s);
}
END_TEST

/* The text names the heap the block belongs to and the one the call was made on. */
START_TEST(test_wrong_heap_text)
{
    unsigned long long block, malloced;
    struct spied s = run_wrong(&block, &malloced);
    static const char *const details[] = {
        "the block belongs to heap 'left', the call was made on the task allocator (malloc)",
        "the block belongs to heap 'left', the call was made on heap 'right'",
        "the block belongs to heap 'left', the call was made on heap 'right'",
        "the block belongs to heap 'left', the call was made on the task allocator (malloc)",
        "the block belongs to heap 'left', the call was made on the task allocator (malloc)",
        "the block belongs to heap 'left', the call was made on the task allocator (malloc)",
        "the block belongs to the task allocator (malloc), the call was made on heap 'left'",
    };
    const char *p = s.log;
    for (size_t i = 0; i < NWRONG; i++) {
        char hdr[128];
        snprintf(hdr, sizeof hdr, "call through the wrong heap on 0x%llx in %s\n",
                 wrong_calls[i].bytes == 48 ? block : malloced, wrong_calls[i].call);
        p = strstr(p, hdr);
        ck_assert_msg(p, "error %zu: no \"%s\"", i, hdr);
        p += strlen(hdr);
        ck_assert_msg(line_starts(p, details[i]), "error %zu (%s in %s): \"%.*s\", expected "
                      "\"%s\"", i, wrong_calls[i].call, wrong_calls[i].here,
                      (int)(strchr(p, '\n') ? strchr(p, '\n') - p : 100), p, details[i]);
    }
    spied_free(&s);
}
END_TEST

START_TEST(test_bad_handles)
{
    const char *args[] = { "handles", NULL };
    struct spied s = run_prog("family_heap", args, NULL, true);
    unsigned long long h[3];
    const char *l = strstr(s.r.out, "stale=");
    ck_assert_msg(l && sscanf(l, "stale=%llx garbage=%llx misaligned=%llx", &h[0], &h[1],
                              &h[2]) == 3 && strstr(s.r.out, "\nok\n"), "stdout: %s", s.r.out);
    /* Refused and reported, each handle; nothing else. */
    const struct jval *e = need_member(s.json, "errors", J_ARR);
    int per[3] = { 0, 0, 0 };
    for (size_t i = 0; i < e->n; i++) {
        ck_assert_str_eq(jstr(e->items[i], "kind"), "wrong_heap");
        unsigned long long a = hexval(jstr(e->items[i], "address"));
        int k = a == h[0] ? 0 : a == h[1] ? 1 : a == h[2] ? 2 : -1;
        ck_assert_msg(k >= 0, "an error at 0x%llx", a);
        per[k]++;
        ck_assert_msg(frame_index(jpath(e->items[i], "stacks.here"), "refused", 1) == 0,
                      "error %zu not made in refused()", i);
    }
    for (int k = 0; k < 3; k++)
        ck_assert_msg(per[k] >= 1, "no error for handle %d", k);
    ck_assert_int_eq((int)jnum(s.json, "summary.live_blocks"), 0);
    ck_assert_int_eq((int)jnum(s.json, "summary.definite_blocks"), 0);
    ck_assert_int_eq((int)jnum(s.json, "summary.errors"), (int)e->n);
    spied_free(&s);
}
END_TEST

/* =========================================================================================
 * Buffer pools: the calls (in this process)
 * ======================================================================================= */

static void props_eq(const ms_pool_properties *p, long count, long size, long align, long prefix)
{
    ck_assert_msg(p->count == count && p->size == size && p->align == align &&
                  p->prefix == prefix, "properties {%ld, %ld, %ld, %ld}, expected "
                  "{%ld, %ld, %ld, %ld}", p->count, p->size, p->align, p->prefix, count, size,
                  align, prefix);
}

/* set_properties(request) gives `rc`; on success *actual is {count, size, align, prefix}
 * and get_properties agrees; the request is never touched. */
static void set_props(ms_pool *pool, long count, long size, long align, long prefix, int rc,
                      long want_size)
{
    ms_pool_properties req = { count, size, align, prefix }, copy = req;
    ms_pool_properties actual = { -7, -7, -7, -7 }, got;
    ck_assert_int_eq(ms_pool_set_properties(pool, &req, &actual), rc);
    ck_assert_msg(!memcmp(&req, &copy, sizeof req), "the request was changed");
    if (rc == MS_OK) {
        props_eq(&actual, count, want_size, align, prefix);
        ck_assert_int_eq(ms_pool_get_properties(pool, &got), MS_OK);
        props_eq(&got, count, want_size, align, prefix);
        ck_assert_int_eq((actual.size + actual.prefix) % actual.align, 0);
    }
}

START_TEST(test_pool_properties)
{
    ms_pool *pool = ms_pool_create("props");
    ck_assert_ptr_nonnull(pool);
    ms_pool_properties p = { 9, 9, 9, 9 }, q;
    /* Rounding: size grows until size + prefix is a multiple of align. */
    set_props(pool, 3, 100, 64, 10, MS_OK, 118);
    set_props(pool, 2, 128, 32, 0, MS_OK, 128);
    set_props(pool, 2, 5, 8, 3, MS_OK, 5);
    set_props(pool, 4, 1, 1, 0, MS_OK, 1);
    set_props(pool, 1, 1, 4096, 1, MS_OK, 4095);
    set_props(pool, 2, 5000, 4096, 100, MS_OK, 8092);
    set_props(pool, 5, 100, 16, 20, MS_OK, 108);
    /* Bad alignment; the properties stay as they were. */
    set_props(pool, 2, 100, 0, 0, MS_E_BADALIGN, 0);
    set_props(pool, 2, 100, 3, 0, MS_E_BADALIGN, 0);
    set_props(pool, 2, 100, 48, 0, MS_E_BADALIGN, 0);
    /* Negative values, NULLs. */
    set_props(pool, -1, 100, 16, 0, MS_E_INVALIDARG, 0);
    set_props(pool, 2, -100, 16, 0, MS_E_INVALIDARG, 0);
    set_props(pool, 2, 100, 16, -4, MS_E_INVALIDARG, 0);
    ck_assert_int_eq(ms_pool_get_properties(pool, &q), MS_OK);
    props_eq(&q, 5, 108, 16, 20);
    ck_assert_int_eq(ms_pool_set_properties(pool, NULL, &q), MS_E_INVALIDARG);
    ck_assert_int_eq(ms_pool_set_properties(pool, &p, NULL), MS_E_INVALIDARG);
    ck_assert_int_eq(ms_pool_set_properties(NULL, &p, &q), MS_E_INVALIDARG);
    ck_assert_int_eq(ms_pool_get_properties(pool, NULL), MS_E_INVALIDARG);
    ck_assert_int_eq(ms_pool_get_properties(NULL, &q), MS_E_INVALIDARG);
    ck_assert_int_eq(ms_pool_get_properties(pool, &q), MS_OK);
    props_eq(&q, 5, 108, 16, 20);
    ms_pool_destroy(pool);
    ms_pool_destroy(NULL);
}
END_TEST

START_TEST(test_pool_commit)
{
    ms_pool *pool = ms_pool_create("commit");
    void *b = NULL;
    /* Nothing set yet. */
    ck_assert_int_eq(ms_pool_commit(pool), MS_E_SIZENOTSET);
    ck_assert_int_eq(ms_pool_get_buffer(pool, &b, MS_POOL_NOWAIT), MS_E_NOT_COMMITTED);
    ck_assert_int_eq(ms_pool_get_buffer(pool, &b, 0), MS_E_NOT_COMMITTED);   /* no wait */
    set_props(pool, 2, 0, 16, 0, MS_OK, 0);        /* a size of 0 is no size */
    ck_assert_int_eq(ms_pool_commit(pool), MS_E_SIZENOTSET);
    set_props(pool, 2, 100, 16, 0, MS_OK, 112);
    ck_assert_int_eq(ms_pool_get_buffer(pool, &b, 0), MS_E_NOT_COMMITTED);
    ck_assert_int_eq(ms_pool_commit(pool), MS_OK);
    ck_assert_int_eq(ms_pool_commit(pool), MS_OK); /* twice is fine */
    /* Committed: the properties are fixed. */
    set_props(pool, 4, 100, 16, 0, MS_E_ALREADY_COMMITTED, 0);
    ck_assert_int_eq(ms_pool_get_buffer(pool, &b, 0), MS_OK);
    set_props(pool, 4, 100, 16, 0, MS_E_ALREADY_COMMITTED, 0);
    /* Decommitted with a buffer out: still refused. */
    ck_assert_int_eq(ms_pool_decommit(pool), MS_OK);
    ck_assert_int_eq(ms_pool_decommit(pool), MS_OK); /* twice is fine */
    set_props(pool, 4, 100, 16, 0, MS_E_BUFFERS_OUTSTANDING, 0);
    ms_pool_properties q;
    ck_assert_int_eq(ms_pool_get_properties(pool, &q), MS_OK);
    props_eq(&q, 2, 112, 16, 0);
    ck_assert_int_eq(ms_pool_release_buffer(pool, b), MS_OK);
    set_props(pool, 4, 100, 16, 0, MS_OK, 112);
    ck_assert_int_eq(ms_pool_commit(pool), MS_OK);
    ck_assert_int_eq(ms_pool_decommit(pool), MS_OK);
    /* Never committed: decommit is fine too. */
    ms_pool *fresh = ms_pool_create(NULL);
    ck_assert_int_eq(ms_pool_decommit(fresh), MS_OK);
    ms_pool_destroy(fresh);
    ck_assert_int_eq(ms_pool_commit(NULL), MS_E_INVALIDARG);
    ms_pool_destroy(pool);
}
END_TEST

/* `count` buffers taken: aligned prefix starts, the pointer past the prefix, all
 * different, each writable over prefix + size without touching another. */
static void take_all(ms_pool *pool, void **b, long count, long size, long align, long prefix)
{
    for (long i = 0; i < count; i++) {
        b[i] = NULL;
        ck_assert_int_eq(ms_pool_get_buffer(pool, &b[i], i % 2 ? MS_POOL_NOWAIT : 0), MS_OK);
        ck_assert_ptr_nonnull(b[i]);
        ck_assert_msg(((uintptr_t)b[i] - (uintptr_t)prefix) % (uintptr_t)align == 0,
                      "buffer %ld at %p: prefix start not %ld-aligned", i, b[i], align);
        for (long j = 0; j < i; j++)
            ck_assert_ptr_ne(b[i], b[j]);
    }
    for (long i = 0; i < count; i++)
        memset((char *)b[i] - prefix, (int)(0x40 + i), (size_t)(size + prefix));
    for (long i = 0; i < count; i++)
        ck_assert(contents_ok((char *)b[i] - prefix, (size_t)(size + prefix), (char)(0x40 + i)));
}

START_TEST(test_pool_buffers)
{
    static const long shapes[][4] = { { 4, 100, 64, 10 }, { 3, 5000, 4096, 100 },
                                      { 5, 1, 1, 0 }, { 2, 24, 8, 40 } };
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        ms_pool *pool = ms_pool_create("buffers");
        ms_pool_properties req = { shapes[s][0], shapes[s][1], shapes[s][2], shapes[s][3] }, a;
        ck_assert_int_eq(ms_pool_set_properties(pool, &req, &a), MS_OK);
        ck_assert_int_eq(ms_pool_commit(pool), MS_OK);
        void *b[8], *extra = (void *)1;
        take_all(pool, b, a.count, a.size, a.align, a.prefix);
        /* All held: no-wait fails at once, leaving *buffer alone or NULL. */
        ck_assert_int_eq(ms_pool_get_buffer(pool, &extra, MS_POOL_NOWAIT), MS_E_TIMEOUT);
        /* Given back, a buffer is handed out again. */
        ck_assert_int_eq(ms_pool_release_buffer(pool, b[0]), MS_OK);
        void *again = NULL;
        ck_assert_int_eq(ms_pool_get_buffer(pool, &again, MS_POOL_NOWAIT), MS_OK);
        ck_assert_ptr_eq(again, b[0]);
        for (long i = 0; i < a.count; i++)
            ck_assert_int_eq(ms_pool_release_buffer(pool, b[i]), MS_OK);
        ck_assert_int_eq(ms_pool_decommit(pool), MS_OK);
        ms_pool_destroy(pool);
    }
}
END_TEST

START_TEST(test_pool_release_errors)
{
    ms_pool *pool = ms_pool_create("release"), *other = ms_pool_create("other");
    ms_pool_properties req = { 2, 64, 16, 16 }, a;
    ck_assert_int_eq(ms_pool_set_properties(pool, &req, &a), MS_OK);
    ck_assert_int_eq(ms_pool_set_properties(other, &req, &a), MS_OK);
    void *b = (void *)1;
    ck_assert_int_eq(ms_pool_release_buffer(pool, b), MS_E_INVALIDARG);   /* not committed */
    ck_assert_int_eq(ms_pool_commit(pool), MS_OK);
    ck_assert_int_eq(ms_pool_commit(other), MS_OK);
    ck_assert_int_eq(ms_pool_get_buffer(pool, &b, 0), MS_OK);
    void *ob = NULL;
    ck_assert_int_eq(ms_pool_get_buffer(other, &ob, 0), MS_OK);
    char *m = malloc(64);
    char local[64];
    ck_assert_int_eq(ms_pool_release_buffer(pool, m), MS_E_INVALIDARG);
    ck_assert_int_eq(ms_pool_release_buffer(pool, local), MS_E_INVALIDARG);
    ck_assert_int_eq(ms_pool_release_buffer(pool, (char *)b + 1), MS_E_INVALIDARG);
    ck_assert_int_eq(ms_pool_release_buffer(pool, (char *)b - 16), MS_E_INVALIDARG);
    ck_assert_int_eq(ms_pool_release_buffer(pool, (char *)b + 80), MS_E_INVALIDARG); /* not held */
    ck_assert_int_eq(ms_pool_release_buffer(pool, ob), MS_E_INVALIDARG);   /* another pool's */
    ck_assert_int_eq(ms_pool_release_buffer(pool, NULL), MS_E_INVALIDARG);
    ck_assert_int_eq(ms_pool_release_buffer(NULL, b), MS_E_INVALIDARG);
    /* Bad arguments to get_buffer. */
    ck_assert_int_eq(ms_pool_get_buffer(pool, NULL, 0), MS_E_INVALIDARG);
    ck_assert_int_eq(ms_pool_get_buffer(NULL, &ob, 0), MS_E_INVALIDARG);
    void *x = NULL;
    ck_assert_int_eq(ms_pool_get_buffer(pool, &x, 0x100), MS_E_INVALIDARG);
    /* The held buffers are still held: released once each, then no more. */
    ck_assert_int_eq(ms_pool_release_buffer(pool, b), MS_OK);
    ck_assert_int_eq(ms_pool_release_buffer(pool, b), MS_E_INVALIDARG);
    ck_assert_int_eq(ms_pool_release_buffer(other, ob), MS_OK);
    free(m);
    ms_pool_destroy(pool);
    ms_pool_destroy(other);
}
END_TEST

/* ---- threads waiting in get_buffer ------------------------------------------------------- */

struct waiter {
    pthread_t t;
    ms_pool *pool;
    atomic_bool started, done;
    int rc;
    void *buffer;
};

static void *waiter_main(void *arg)
{
    struct waiter *w = arg;
    atomic_store(&w->started, true);
    w->rc = ms_pool_get_buffer(w->pool, &w->buffer, 0);
    atomic_store(&w->done, true);
    return NULL;
}

static void start_waiters(struct waiter *w, int n, ms_pool *pool)
{
    for (int i = 0; i < n; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].pool = pool;
        w[i].rc = 12345;
        ck_assert_int_eq(pthread_create(&w[i].t, NULL, waiter_main, &w[i]), 0);
    }
    for (int i = 0; i < n; i++)
        while (!atomic_load(&w[i].started))
            usleep(1000);
    usleep(200 * 1000);                            /* and now inside get_buffer */
}

static int done_count(struct waiter *w, int n)
{
    int d = 0;
    for (int i = 0; i < n; i++)
        d += atomic_load(&w[i].done);
    return d;
}

/* Waits (at most 10 s) until `want` of the waiters are done. */
static void wait_done(struct waiter *w, int n, int want)
{
    for (int i = 0; i < 10000 && done_count(w, n) < want; i++)
        usleep(1000);
    ck_assert_int_eq(done_count(w, n), want);
}

static void join_waiters(struct waiter *w, int n)
{
    for (int i = 0; i < n; i++) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 10;
        ck_assert_msg(pthread_timedjoin_np(w[i].t, NULL, &ts) == 0, "waiter %d still blocked",
                      i);
    }
}

static ms_pool *committed_pool(const char *name, long count, long size)
{
    ms_pool *pool = ms_pool_create(name);
    ms_pool_properties req = { count, size, 16, 0 }, a;
    ck_assert_int_eq(ms_pool_set_properties(pool, &req, &a), MS_OK);
    ck_assert_int_eq(ms_pool_commit(pool), MS_OK);
    return pool;
}

START_TEST(test_pool_decommit_wakes_all)
{
    ms_pool *pool = committed_pool("wake", 2, 64);
    void *b[2];
    take_all(pool, b, 2, 64, 16, 0);
    static struct waiter w[4];
    start_waiters(w, 4, pool);
    ck_assert_int_eq(done_count(w, 4), 0);        /* all blocked */
    ck_assert_int_eq(ms_pool_decommit(pool), MS_OK);
    join_waiters(w, 4);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(w[i].rc, MS_E_NOT_COMMITTED);
    /* The held buffers are still valid. */
    memset(b[0], 1, 64);
    memset(b[1], 2, 64);
    ck_assert_int_eq(ms_pool_release_buffer(pool, b[0]), MS_OK);
    ck_assert_int_eq(ms_pool_release_buffer(pool, b[1]), MS_OK);
    ms_pool_destroy(pool);
}
END_TEST

START_TEST(test_pool_release_wakes)
{
    ms_pool *pool = committed_pool("handoff", 2, 64);
    void *b[2];
    take_all(pool, b, 2, 64, 16, 0);
    static struct waiter w[2];
    start_waiters(w, 2, pool);
    ck_assert_int_eq(done_count(w, 2), 0);
    /* Each buffer given back goes to one waiter. */
    ck_assert_int_eq(ms_pool_release_buffer(pool, b[1]), MS_OK);
    wait_done(w, 2, 1);
    ck_assert_int_eq(ms_pool_release_buffer(pool, b[0]), MS_OK);
    wait_done(w, 2, 2);
    join_waiters(w, 2);
    ck_assert_int_eq(w[0].rc, MS_OK);
    ck_assert_int_eq(w[1].rc, MS_OK);
    ck_assert_ptr_ne(w[0].buffer, w[1].buffer);
    ck_assert((w[0].buffer == b[0] || w[0].buffer == b[1]) &&
              (w[1].buffer == b[0] || w[1].buffer == b[1]));
    ck_assert_int_eq(ms_pool_release_buffer(pool, w[0].buffer), MS_OK);
    ck_assert_int_eq(ms_pool_release_buffer(pool, w[1].buffer), MS_OK);
    ms_pool_destroy(pool);
}
END_TEST

/* ---- the memory behind a pool -------------------------------------------------------------- */

/* A pool of count x (size + prefix) whose region the recorder sees allocated at commit. */
static ms_pool *recorded_pool(long count, long size, long prefix, char **region)
{
    ms_pool *pool = ms_pool_create("recorded");
    ms_pool_properties req = { count, size, 32, prefix }, a;
    ck_assert_int_eq(ms_pool_set_properties(pool, &req, &a), MS_OK);
    ck_assert_int_eq(a.size, size);              /* the test's shapes need no rounding */
    rec_start(NULL, (size_t)(count * (size + prefix)));
    atomic_store(&rec.armed, true);
    ck_assert_int_eq(ms_pool_commit(pool), MS_OK);
    ck_assert_int_eq(atomic_load(&rec.nalloc), 1);
    *region = rec.allocs[0];
    return pool;
}

START_TEST(test_pool_memory_after_decommit)
{
    char *region;
    ms_pool *pool = recorded_pool(3, 96, 32, &region);
    void *b[3];
    take_all(pool, b, 2, 96, 32, 32);
    ck_assert_ptr_eq((char *)b[0] - 32, region);   /* the first buffer opens the region */
    ck_assert_int_eq(ms_pool_decommit(pool), MS_OK);
    void *x = NULL;
    ck_assert_int_eq(ms_pool_get_buffer(pool, &x, 0), MS_E_NOT_COMMITTED);
    ck_assert(!rec_freed(region));                 /* buffers out: the memory stays */
    memset((char *)b[0] - 32, 7, 128);
    memset((char *)b[1] - 32, 8, 128);
    ck_assert_int_eq(ms_pool_release_buffer(pool, b[0]), MS_OK);
    ck_assert(!rec_freed(region));
    ck_assert(contents_ok((char *)b[1] - 32, 128, 8));
    ck_assert_int_eq(ms_pool_release_buffer(pool, b[1]), MS_OK);
    ck_assert(rec_freed(region));                  /* the last one back: gone */
    /* Decommitted with nothing out: the memory goes at once. */
    atomic_store(&rec.nfree, 0);
    atomic_store(&rec.nalloc, 0);
    ck_assert_int_eq(ms_pool_commit(pool), MS_OK);
    ck_assert_int_eq(atomic_load(&rec.nalloc), 1);
    region = rec.allocs[0];
    take_all(pool, b, 3, 96, 32, 32);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(ms_pool_release_buffer(pool, b[i]), MS_OK);
    ck_assert(!rec_freed(region));                 /* committed: kept */
    ck_assert_int_eq(ms_pool_decommit(pool), MS_OK);
    ck_assert(rec_freed(region));
    rec_stop();
    ms_pool_destroy(pool);
}
END_TEST

START_TEST(test_pool_recommit_keeps_buffers)
{
    char *region;
    ms_pool *pool = recorded_pool(3, 64, 0, &region);
    void *b[3];
    take_all(pool, b, 2, 64, 32, 0);
    ck_assert_int_eq(ms_pool_decommit(pool), MS_OK);
    /* Committed again while the decommit waits for its buffers: the same memory. */
    ck_assert_int_eq(ms_pool_commit(pool), MS_OK);
    ck_assert_int_eq(atomic_load(&rec.nalloc), 1);
    ck_assert(!rec_freed(region));
    void *third = NULL, *none = NULL;
    ck_assert_int_eq(ms_pool_get_buffer(pool, &third, MS_POOL_NOWAIT), MS_OK);
    ck_assert_ptr_eq(third, region + 2 * 64);
    ck_assert_int_eq(ms_pool_get_buffer(pool, &none, MS_POOL_NOWAIT), MS_E_TIMEOUT);
    ck_assert(contents_ok(b[0], 64, 0x40) && contents_ok(b[1], 64, 0x41));
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(ms_pool_release_buffer(pool, b[i]), MS_OK);
    ck_assert_int_eq(ms_pool_release_buffer(pool, third), MS_OK);
    ck_assert(!rec_freed(region));                 /* still committed */
    ms_pool_destroy(pool);
    ck_assert(rec_freed(region));
    rec_stop();
}
END_TEST

START_TEST(test_pool_destroy_held)
{
    char *region;
    ms_pool *pool = recorded_pool(2, 64, 0, &region);
    void *b[2];
    take_all(pool, b, 1, 64, 32, 0);
    ms_pool_destroy(pool);
    ck_assert(!rec_freed(region));
    memset(b[0], 3, 64);                           /* still valid */
    ck_assert_int_eq(ms_pool_release_buffer(pool, b[0]), MS_OK);
    ck_assert(rec_freed(region));
    rec_stop();
}
END_TEST

/* =========================================================================================
 * Buffer pools: the report (family_pool)
 * ======================================================================================= */

static const char *const pool_src = "family_pool.c";

START_TEST(test_pool_leaks)
{
    struct spied s = run_prog("family_pool", NULL, NULL, true);
    const struct jval *g;
    g = check_group(s.json, "pool", "take_frames", 2000, 2, pool_src, "/* TAKE-FRAMES */");
    ck_assert_str_eq(jstr(g, "pool"), "frames");
    ck_assert(is_null(g, "heap") && is_null(g, "tag"));
    g = check_group(s.json, "pool", "take_more", 1000, 1, pool_src, "/* TAKE-MORE */");
    ck_assert_str_eq(jstr(g, "pool"), "frames");
    g = check_group(s.json, "pool", "take_audio", 256, 1, pool_src, "/* TAKE-AUDIO */");
    ck_assert_str_eq(jstr(g, "pool"), "audio");
    ck_assert_int_eq(groups_with(s.json, "take_and_give"), 0);
    ck_assert_int_eq((int)jnum(s.json, "summary.pool_bytes"), 3256);
    ck_assert_int_eq((int)jnum(s.json, "summary.pool_blocks"), 4);
    /* The pools' own memory is not leaked: the program holds them. */
    ck_assert_int_eq((int)jnum(s.json, "summary.definite_blocks"), 0);
    ck_assert_int_eq((int)jnum(s.json, "summary.indirect_blocks"), 0);
    check_text_group(s.log, "Pool leak of 2000 byte(s) in 2 buffer(s) of pool 'frames' still held, "
                            "taken by:", "take_frames");
    check_text_group(s.log, "Pool leak of 1000 byte(s) in 1 buffer(s) of pool 'frames' still held, "
                            "taken by:", "take_more");
    check_text_group(s.log, "Pool leak of 256 byte(s) in 1 buffer(s) of pool 'audio' still held, "
                            "taken by:", "take_audio");
    ck_assert_msg(strstr(s.log, "SUMMARY: mallocspy: 3256 byte(s) leaked in 4 allocation(s).\n"),
                  "%s", s.log);
    spied_free(&s);
}
END_TEST

START_TEST(test_pool_no_leaks)
{
    const char *args[] = { "none", NULL };
    struct spied s = run_prog("family_pool", args, NULL, false);
    ck_assert_int_eq((int)jnum(s.json, "summary.pool_blocks"), 0);
    ck_assert_int_eq((int)jnum(s.json, "summary.pool_bytes"), 0);
    ck_assert_int_eq((int)jnum(s.json, "summary.definite_blocks"), 0);
    ck_assert_int_eq((int)jnum(s.json, "summary.live_blocks"), 0);
    ck_assert_int_eq((int)need_member(s.json, "leaks", J_ARR)->n, 0);
    spied_free(&s);
}
END_TEST

/* A pool destroyed with a buffer still held: the buffer is the leak, and only it. */
START_TEST(test_pool_destroyed_held_report)
{
    const char *args[] = { "orphan", NULL };
    struct spied s = run_prog("family_pool", args, NULL, false);
    const struct jval *g = check_group(s.json, "pool", "take_orphan", 512, 1, pool_src,
                                       "/* TAKE-ORPHAN */");
    ck_assert_str_eq(jstr(g, "pool"), "orphan");
    ck_assert_int_eq((int)jnum(s.json, "summary.pool_bytes"), 512);
    ck_assert_int_eq((int)jnum(s.json, "summary.pool_blocks"), 1);
    ck_assert_msg(jnum(s.json, "summary.definite_blocks") == 0 &&
                  jnum(s.json, "summary.indirect_blocks") == 0,
                  "the destroyed pool's own memory is reported as leaked: definite %.0f bytes "
                  "in %.0f blocks, indirect %.0f bytes in %.0f blocks",
                  jnum(s.json, "summary.definite_bytes"), jnum(s.json, "summary.definite_blocks"),
                  jnum(s.json, "summary.indirect_bytes"), jnum(s.json, "summary.indirect_blocks"));
    spied_free(&s);
}
END_TEST

/* =========================================================================================
 * Page mappings (family_map)
 * ======================================================================================= */

static const char *const map_src = "family_map.c";

START_TEST(test_mappings)
{
    struct spied s = run_prog("family_map", NULL, "report_reachable=1", true);
    ck_assert_msg(strstr(s.r.out, "moved=1\n") && strstr(s.r.out, "ok\n"), "stdout: %s",
                  s.r.out);
    const struct jval *g;
    g = check_group(s.json, "mapping", "map_leak", 3 * 4096, 1, map_src, "/* MAP-LEAK */");
    ck_assert(is_null(g, "heap") && is_null(g, "tag"));
    /* A partial unmap leaves pieces of one region: one mapping, not one per piece. */
    check_group(s.json, "mapping", "map_split", 4 * 4096, 1, map_src, "/* MAP-SPLIT */");
    check_group(s.json, "mapping", "map_trim", 3 * 4096, 1, map_src, "/* MAP-TRIM */");
    check_group(s.json, "mapping", "map_grow", 10 * 4096, 1, map_src, "/* MAP-GROW */");
    /* MAP_FIXED where nothing was mapped: new memory for the program. */
    check_group(s.json, "mapping", "map_fixed_hole", 2 * 4096, 1, map_src,
                "/* MAP-FIXED-HOLE */");
    /* Held from a global: reachable, and so is a block held only from inside it. */
    check_group(s.json, "reachable", "map_kept", 2 * 4096, 1, map_src, "/* MAP-KEPT */");
    check_group(s.json, "reachable", "map_kept_big", 32 * 4096, 1, map_src, "/* MAP-KEPT-BIG */");
    check_group(s.json, "reachable", "in_small_mapping", 300, 1, map_src, "/* IN-SMALL */");
    check_group(s.json, "reachable", "in_big_mapping", 700, 1, map_src, "/* IN-BIG */");
    /* Unmapped, or a file's: nothing. */
    ck_assert_int_eq(groups_with(s.json, "map_whole"), 0);
    ck_assert_int_eq(groups_with(s.json, "map_blocker"), 0);
    ck_assert_int_eq(groups_with(s.json, "map_file"), 0);
    ck_assert_int_eq((int)jnum(s.json, "summary.mapping_bytes"), (3 + 4 + 3 + 10 + 2) * 4096);
    ck_assert_int_eq((int)jnum(s.json, "summary.mapping_blocks"), 5);
    ck_assert_int_eq((int)jnum(s.json, "summary.definite_blocks"), 0);
    /* The text. */
    check_text_group(s.log, "Mapping leak of 12288 byte(s) in 1 mapping(s) made by:", "map_leak");
    check_text_group(s.log, "Mapping leak of 16384 byte(s) in 1 mapping(s) made by:",
                     "map_split");
    check_text_group(s.log, "Mapping leak of 40960 byte(s) in 1 mapping(s) made by:", "map_grow");
    ck_assert_int_eq(count_str(s.log, "Mapping leak of "), 5);
    spied_free(&s);
}
END_TEST

START_TEST(test_mappings_off)
{
    const char *args[] = { "map_leak", "map_split", "map_grow", NULL };
    struct spied s = run_prog("family_map", args, "mappings=0", false);
    ck_assert_int_eq(groups_with(s.json, "map_leak"), 0);
    ck_assert_int_eq(groups_with(s.json, "map_split"), 0);
    ck_assert_int_eq(groups_with(s.json, "map_grow"), 0);
    ck_assert_int_eq((int)jnum(s.json, "summary.mapping_bytes"), 0);
    ck_assert_int_eq((int)jnum(s.json, "summary.mapping_blocks"), 0);
    /* And on by default: the same run shows them. */
    struct spied on = run_prog("family_map", args, NULL, false);
    check_group(on.json, "mapping", "map_leak", 3 * 4096, 1, map_src, "/* MAP-LEAK */");
    ck_assert_int_eq((int)jnum(on.json, "summary.mapping_blocks"), 3);
    spied_free(&on);
    spied_free(&s);
}
END_TEST

/* The group of `kind` whose frame 0 is fn, with these bytes, one mapping, marked so. */
static void region_is(const struct jval *rep, const char *fn, const char *kind,
                      unsigned long bytes)
{
    const struct jval *g[4];
    int n = entries_with(rep, "leaks", fn, 1, kind, g, 4);
    ck_assert_msg(n == 1, "%d %s groups from %s (1 expected)", n, kind, fn);
    ck_assert_msg(jnum(g[0], "bytes") == (double)bytes && jnum(g[0], "blocks") == 1,
                  "%s (%s): %.0f byte(s) in %.0f mapping(s), expected %lu in 1", fn, kind,
                  jnum(g[0], "bytes"), jnum(g[0], "blocks"), bytes);
    const struct jval *m = jget(g[0], "mapping");
    ck_assert_msg(m && m->type == J_BOOL && m->b, "%s: not marked as a mapping", fn);
}

/* Mappings follow the leak model of blocks: a region (reserve, commits with MAP_FIXED,
 * mprotect, partial unmaps) is one mapping, reachable through a pointer anywhere into it,
 * from a global, a local or a live block; indirect when only a leaked block points to it;
 * leaked only when nothing does. */
START_TEST(test_mapping_regions)
{
    struct spied s = run_prog("map_patterns", NULL, "report_reachable=1", true);
    ck_assert_str_eq(s.r.out, "ok\n");
    region_is(s.json, "map_reserve", "reachable", 1024 * 1024 - 4096);
    region_is(s.json, "map_reserve", "mapping", 1024 * 1024 - 4096);
    const struct jval *g[4];
    ck_assert_int_eq(entries_with(s.json, "leaks", "map_trap", 1, "reachable", g, 4), 2);
    region_is(s.json, "map_interior", "reachable", 4 * 4096);
    region_is(s.json, "map_from_leak", "indirect", 3 * 4096);
    region_is(s.json, "map_from_live", "reachable", 2 * 4096);
    ck_assert_int_eq(entries_with(s.json, "leaks", "map_holder_lost", 1, "definite", g, 4), 1);
    ck_assert_int_eq((int)jnum(s.json, "summary.mapping_blocks"), 1);
    ck_assert_int_eq((int)jnum(s.json, "summary.mapping_bytes"), 1024 * 1024 - 4096);
    ck_assert_int_eq((int)jnum(s.json, "summary.indirect_blocks"), 1);
    ck_assert_int_eq((int)jnum(s.json, "summary.definite_blocks"), 1);
    check_text_group(s.log, "Indirect leak of 12288 byte(s) in 1 mapping(s) made by:",
                     "map_from_leak");
    check_text_group(s.log, "Mapping leak of 1044480 byte(s) in 1 mapping(s) made by:",
                     "map_reserve");
    spied_free(&s);
}
END_TEST

/* A 64 MB malloc (glibc maps it), a thread's stack, a library opened, guard pages mapped
 * over a thread's own stack: none of those mappings is the program's. */
START_TEST(test_allocator_mappings)
{
    const char *args[] = { "big", NULL };
    struct spied s = run_prog("family_map", args, NULL, false);
    check_group(s.json, "definite", "big_leak", (unsigned long)64 << 20, 1, map_src,
                "/* BIG-LEAK */");
    ck_assert_int_eq((int)jnum(s.json, "summary.mapping_bytes"), 0);
    ck_assert_int_eq((int)jnum(s.json, "summary.mapping_blocks"), 0);
    const struct jval *a = need_member(s.json, "leaks", J_ARR);
    for (size_t i = 0; i < a->n; i++)
        ck_assert_str_ne(jstr(a->items[i], "kind"), "mapping");
    ck_assert_int_eq((int)jnum(s.json, "summary.definite_blocks"), 1);
    ck_assert_int_eq((long)jnum(s.json, "summary.definite_bytes"), 64L << 20);
    spied_free(&s);
}
END_TEST

Suite *suite(void)
{
    Suite *s = suite_create("family");
    TCase *t = tcase_create("family");
    tcase_set_timeout(t, 300);
    /* debug allocations */
    tcase_add_test(t, test_tags_json);
    tcase_add_test(t, test_tags_text);
    tcase_add_test(t, test_tags_stripped);
    /* heaps */
    tcase_add_test(t, test_heap_calls);
    tcase_add_test(t, test_heap_validate);
    tcase_add_test(t, test_heap_walk);
    tcase_add_test(t, test_heap_walk_stop);
    tcase_add_test(t, test_heap_walk_free_given);
    tcase_add_test(t, test_heap_walk_free_others);
    tcase_add_test(t, test_heap_walk_alloc);
    tcase_add_test(t, test_walk_task);
    tcase_add_test(t, test_heap_destroy_frees);
    tcase_add_test(t, test_heap_threads_serialized);
    tcase_add_test(t, test_heap_threads_no_serialize);
    tcase_add_test(t, test_heap_leaks_by_name);
    tcase_add_test(t, test_heap_destroy_report);
    tcase_add_test(t, test_wrong_heap);
    tcase_add_test(t, test_wrong_heap_text);
    tcase_add_test(t, test_bad_handles);
    /* pools */
    tcase_add_test(t, test_pool_properties);
    tcase_add_test(t, test_pool_commit);
    tcase_add_test(t, test_pool_buffers);
    tcase_add_test(t, test_pool_release_errors);
    tcase_add_test(t, test_pool_decommit_wakes_all);
    tcase_add_test(t, test_pool_release_wakes);
    tcase_add_test(t, test_pool_memory_after_decommit);
    tcase_add_test(t, test_pool_recommit_keeps_buffers);
    tcase_add_test(t, test_pool_destroy_held);
    tcase_add_test(t, test_pool_leaks);
    tcase_add_test(t, test_pool_no_leaks);
    tcase_add_test(t, test_pool_destroyed_held_report);
    /* mappings */
    tcase_add_test(t, test_mappings);
    tcase_add_test(t, test_mappings_off);
    tcase_add_test(t, test_allocator_mappings);
    tcase_add_test(t, test_mapping_regions);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return run_suite(suite());
}
