/* Helpers shared by the test programs: running a program (under the preload or not) and
 * capturing what it prints, reading files, a small JSON reader for the reports, and the
 * Check assertions the end-to-end tests make the same way on what a run left behind. */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

/* Absolute paths inside the build tree. */
const char *lib_path(void);                 /* build/libmallocspy.so */
const char *prog_path(const char *name);    /* build/tests/progs/<name> (static buffer ring) */
const char *tmp_path(const char *name);     /* a fresh name in the test's temporary dir */

struct run {
    int status;        /* exit status, or 128 + signal */
    char *out, *err;   /* what it wrote, NUL-terminated (malloc'd) */
};

/* Runs argv[0] (searched in PATH) with the current environment plus `env` (NULL-terminated
 * "K=V" strings; "K=" removes K), stdin from /dev/null unless `in` is given. */
struct run run_cmd(char *const argv[], const char *const env[], const char *in);
void run_free(struct run *r);
/* The same, under LD_PRELOAD=lib_path() and MALLOCSPY_OPTIONS=opts. */
struct run run_spied(char *const argv[], const char *opts, const char *const env[]);

char *read_file(const char *path);          /* NULL if it cannot be read */
bool write_file(const char *path, const char *text);
bool have_cmd(const char *name);             /* on PATH */

/* ---- JSON ------------------------------------------------------------------------- */
enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };
struct jval {
    enum jtype type;
    double num;
    bool b;
    char *str;                  /* J_STR */
    size_t n;                   /* J_ARR, J_OBJ: members */
    struct jval **items;        /* J_ARR, J_OBJ */
    char **keys;                /* J_OBJ */
};
struct jval *json_parse(const char *text);  /* NULL on a syntax error */
void json_free(struct jval *v);
struct jval *jget(const struct jval *obj, const char *key);     /* NULL if absent */
/* Follows a path like "summary.definite_bytes" or "leaks.0.stack.1.function". */
struct jval *jpath(const struct jval *root, const char *path);
double jnum(const struct jval *root, const char *path);         /* NAN if absent */
const char *jstr(const struct jval *root, const char *path);    /* NULL if absent */

/* ---- Check ------------------------------------------------------------------------ */

/* Every test program's main: runs the suite, exits non-zero if a test failed. */
int run_suite(Suite *s);

/* Whether this test program runs with the leak tracker (suites that run with and without
 * it leave out what needs it: blocks' stacks, walking the task allocator). */
bool tracker_on(void);

/* ---- children under a time limit -------------------------------------------------- */

/* Seconds timeout(1) gives each child, so that a hang fails its test instead of blocking
 * the suite: "60" unless a test program with slow children sets it in main. */
extern const char *child_timeout;

/* Runs argv with the environment a tool needs: no preload, no MALLOCSPY_OPTIONS and no
 * MALLOCSPY_LIB inherited from the test program's own (it runs with options), then `env`
 * on top; no time limit, for callers that put timeout in argv themselves. */
struct run run_plain(char *const argv[], const char *const env[]);
/* run_plain within child_timeout seconds; a tool that timed out fails the test. */
struct run run_tool(char *const argv[], const char *const env[]);
/* run_tool of a tool that must succeed (cc, strip, cp...). */
void run_tool_ok(char *const argv[]);
/* Runs argv under the preload with MALLOCSPY_OPTIONS=opts and `env`, within the time limit.
 * Only the program is spied: timeout starts it through env(1) without the preload, else
 * timeout's own report at its exit would overwrite the program's (the same json_path). */
struct run spy(char *const argv[], const char *opts, const char *const env[]);
/* The run ended with status 0 and wrote nothing on stderr (`what` names it in messages). */
void check_clean_exit(const struct run *r, const char *what);

/* ---- a spied run and its reports -------------------------------------------------- */

struct spied {
    struct run r;
    struct jval *json;        /* the JSON report, NULL until read */
    char *log;                /* the text log, NULL until read */
    char json_path[PATH_MAX + 64], log_path[PATH_MAX + 64];   /* log_path "" unless asked */
};
/* spy() with "json_path=<fresh>" (and "log_path=<fresh>" when `log`) before `opts`, so
 * that each run's reports are its own; reads neither report. */
struct spied spy_reports(char *const argv[], const char *opts, const char *const env[],
                         bool log);
/* Frees what the run left in memory and removes its report files. */
void spied_free(struct spied *s);
/* The JSON report at path: it must exist, parse, be an object and come from mallocspy.
 * A copy is kept for the program's last test, which validates every report read against
 * its schema (share/report.schema.json). */
struct jval *load_report(const char *path);
/* The SARIF log at path (sarif_path): it must exist, parse and say version 2.1.0; a copy is
 * kept for the validation of the program's last test (tests/sarif.schema.json). */
struct jval *load_sarif(const char *path);
/* A JSON file a test made itself, in part like a report (a fixture, read back after
 * mallocspy-report rewrote it): parsed, not held to the schema. */
struct jval *load_fixture(const char *path);
/* Keeps a copy of the report at path for that last test: kind "json" (a JSON report) or
 * "sarif" (a SARIF log), for reports a test reads otherwise.  Nothing if it is missing. */
void keep_report(const char *path, const char *kind);
/* Member `key` of the report, which must be there and of this type (J_ARR, J_OBJ). */
const struct jval *need_member(const struct jval *rep, const char *key, enum jtype type);

/* ---- finding entries by function name --------------------------------------------- */

/* The index of the first of the first `within` frames of `stack` (a JSON stack array;
 * NULL or null: none) whose function is fn; -1 if none. */
int frame_index(const struct jval *stack, const char *fn, int within);
/* The entries of array `array` of rep whose "stack" has fn among its first `within`
 * frames (and, unless kind is NULL, of that kind): how many; up to `max` of them in out. */
int entries_with(const struct jval *rep, const char *array, const char *fn, int within,
                 const char *kind, const struct jval **out, int max);
/* The one leak group allocated from fn (frame 0); fails the test if there is not one. */
const struct jval *one_leak_from(const struct jval *rep, const char *fn);

/* ---- files and paths -------------------------------------------------------------- */

/* The source tree (the build directory's parent), resolved, and a file in it by its
 * relative path: tests read sources and run scripts from it wherever make runs them. */
const char *repo_dir(void);
const char *repo_file(const char *rel);
/* tests/progs/<name>: relative to the working directory (make check runs from the top of
 * the tree), else next to the build directory; it must exist. */
const char *src_path(const char *name);
/* The (1-based) line of tests/progs/<name> holding `marker`: source lines are found from
 * marker comments, never hard-coded.  Exactly one line must hold it. */
int marker_line(const char *name, const char *marker);
/* A fresh directory under the test's temporary directory (the path is copied to out). */
void make_dir(const char *tag, char *out, size_t cap);
/* A fresh temporary name, copied out of tmp_path's small ring of buffers (free it). */
char *tmp_name(const char *name);
/* make_dir, the path malloc'd, for tests that keep several at once. */
char *tmp_dir(const char *name);
/* rm -rf: a test leaves nothing behind in the temporary directory, whatever it made. */
void remove_tree(const char *path);
/* A stripped copy of helper program `name` in the temporary directory (path copied to
 * out): what a report says of a program without symbols or debug information. */
void stripped_copy(const char *name, char *out, size_t cap);

/* ---- strings ---------------------------------------------------------------------- */

/* Paths in reports and the lines programs print are told apart by their ends. */
bool ends_with(const char *s, const char *suffix);
/* A source file name as a report gives it ("tests/progs/leak_basic.c") is file `name`. */
bool is_src_file(const char *reported, const char *name);
/* How often a text report or log says something: tests count groups and errors by it. */
int count_str(const char *text, const char *needle);
/* Warnings must come one line each: tests count the lines of a program's stderr. */
int count_lines(const char *s);
/* Reports give full paths; tests name programs and modules by their last component. */
const char *base_name(const char *path);
/* The value of a report's "0x..." string; anything else fails the test. */
unsigned long long hexval(const char *s);
/* Whether the `len` bytes at line name function fn as a frame line does (" in fn "). */
bool names_fn(const char *line, size_t len, const char *fn);
/* The last line of `text` that is a SUMMARY line, "==<pid>==SUMMARY: mallocspy: ...", or
 * NULL; *pid gets its pid when pid is not NULL. */
const char *summary_line(const char *text, int *pid);
/* Copies the line at *p (without its newline, cut to fit) to line and moves *p past it;
 * false at the end of the text.  Reports are read a line at a time with sscanf. */
bool next_line(const char **p, char *line, size_t cap);

/* A server on 127.0.0.1 that accepts connections, counts them and never answers (a
 * debuginfod that hangs).  silent_stop returns how many connections it accepted. */
struct silent {
    int fd, port;
    atomic_int accepted;
    pthread_t thread;
};
void silent_start(struct silent *s);
int silent_stop(struct silent *s);

#endif
