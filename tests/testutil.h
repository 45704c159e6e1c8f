/* Helpers shared by the test programs: running a program (under the preload or not) and
 * capturing what it prints, reading files, and a small JSON reader for the reports. */
#ifndef TESTUTIL_H
#define TESTUTIL_H

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

#endif
