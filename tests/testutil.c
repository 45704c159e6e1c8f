/* Helpers shared by the test programs. */
#include "testutil.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

#ifndef BUILD_DIR
#error "BUILD_DIR must be defined"
#endif

extern char **environ;

const char *lib_path(void) { return BUILD_DIR "/libmallocspy.so"; }

const char *prog_path(const char *name)
{
    static char buf[8][PATH_MAX];
    static int k;
    char *b = buf[k++ & 7];
    snprintf(b, PATH_MAX, "%s/tests/progs/%s", BUILD_DIR, name);
    return b;
}

const char *tmp_path(const char *name)
{
    static char dir[PATH_MAX];
    static char buf[8][PATH_MAX + 64];
    static int k;
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "%s/tests/tmp", BUILD_DIR);
        mkdir(dir, 0755);
    }
    char *b = buf[k++ & 7];
    static unsigned seq;
    snprintf(b, PATH_MAX + 64, "%s/%d-%u-%.40s", dir, (int)getpid(), seq++, name);
    unlink(b);
    return b;
}

static void append(char **buf, size_t *len, size_t *cap, const char *data, size_t n)
{
    if (*len + n + 1 > *cap) {
        *cap = (*len + n + 1) * 2;
        *buf = realloc(*buf, *cap);
    }
    memcpy(*buf + *len, data, n);
    *len += n;
    (*buf)[*len] = 0;
}

struct run run_cmd(char *const argv[], const char *const env[], const char *in)
{
    struct run r = { 0 };
    int po[2], pe[2], pi[2];
    if (pipe(po) || pipe(pe) || pipe(pi)) {
        r.status = -1;
        return r;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pi[0], 0);
        dup2(po[1], 1);
        dup2(pe[1], 2);
        close(po[0]); close(pe[0]); close(pi[1]);
        for (int i = 0; env && env[i]; i++) {
            const char *eq = strchr(env[i], '=');
            char key[256];
            size_t kl = (size_t)(eq - env[i]);
            memcpy(key, env[i], kl);
            key[kl] = 0;
            if (eq[1])
                setenv(key, eq + 1, 1);
            else
                unsetenv(key);
        }
        execvp(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(po[1]); close(pe[1]); close(pi[0]);
    if (in) {
        size_t off = 0, n = strlen(in);
        while (off < n) {
            ssize_t w = write(pi[1], in + off, n - off);
            if (w <= 0)
                break;
            off += (size_t)w;
        }
    }
    close(pi[1]);
    size_t ol = 0, oc = 0, el = 0, ec = 0;
    append(&r.out, &ol, &oc, "", 0);
    append(&r.err, &el, &ec, "", 0);
    struct pollfd fds[2] = { { po[0], POLLIN, 0 }, { pe[0], POLLIN, 0 } };
    int open_fds = 2;
    while (open_fds) {
        if (poll(fds, 2, -1) < 0 && errno != EINTR)
            break;
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char buf[65536];
            ssize_t n = read(fds[i].fd, buf, sizeof buf);
            if (n <= 0) {
                close(fds[i].fd);
                fds[i].fd = -1;
                open_fds--;
            } else if (i == 0) {
                append(&r.out, &ol, &oc, buf, (size_t)n);
            } else {
                append(&r.err, &el, &ec, buf, (size_t)n);
            }
        }
    }
    int st;
    waitpid(pid, &st, 0);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return r;
}

/* The options a spied child runs with: the test's own, plus fast_path=0 when the test
 * program itself runs that way (tests/tests.mk runs some suites both ways). */
static const char *child_opts(const char *opts, char *buf, size_t cap)
{
    const char *mine = getenv("MALLOCSPY_OPTIONS");
    opts = opts ? opts : "";
    if (mine && strstr(mine, "fast_path=0") && !strstr(opts, "fast_path="))
        snprintf(buf, cap, "%s%sfast_path=0", opts, opts[0] ? ":" : "");
    else
        snprintf(buf, cap, "%s", opts);
    return buf;
}

struct run run_spied(char *const argv[], const char *opts, const char *const env[])
{
    const char *e[32];
    int k = 0;
    static char pre[PATH_MAX + 16], op[8192];
    char ob[8000];
    snprintf(pre, sizeof pre, "LD_PRELOAD=%s", lib_path());
    snprintf(op, sizeof op, "MALLOCSPY_OPTIONS=%s", child_opts(opts, ob, sizeof ob));
    e[k++] = pre;
    e[k++] = op;
    for (int i = 0; env && env[i] && k < 31; i++)
        e[k++] = env[i];
    e[k] = NULL;
    return run_cmd(argv, e, NULL);
}

void run_free(struct run *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    char tmp[65536];
    size_t n;
    append(&buf, &len, &cap, "", 0);
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        append(&buf, &len, &cap, tmp, n);
    fclose(f);
    return buf;
}

bool write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return false;
    fputs(text, f);
    return fclose(f) == 0;
}

bool have_cmd(const char *name)
{
    const char *path = getenv("PATH");
    if (!path)
        return false;
    char buf[PATH_MAX];
    for (const char *p = path; *p;) {
        const char *e = strchr(p, ':');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        snprintf(buf, sizeof buf, "%.*s/%s", (int)l, p, name);
        if (access(buf, X_OK) == 0)
            return true;
        p += l + (e ? 1 : 0);
    }
    return false;
}

/* ---- JSON ---------------------------------------------------------------------------- */

struct parser {
    const char *s;
    bool err;
};

static void ws(struct parser *p)
{
    while (*p->s == ' ' || *p->s == '\n' || *p->s == '\t' || *p->s == '\r')
        p->s++;
}

static struct jval *jnew(enum jtype t)
{
    struct jval *v = calloc(1, sizeof *v);
    v->type = t;
    return v;
}

static void put_utf8(char **b, size_t *l, size_t *c, unsigned cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) { u[0] = (char)cp; n = 1; }
    else if (cp < 0x800) { u[0] = (char)(0xc0 | cp >> 6); u[1] = (char)(0x80 | (cp & 0x3f)); n = 2; }
    else if (cp < 0x10000) { u[0] = (char)(0xe0 | cp >> 12); u[1] = (char)(0x80 | ((cp >> 6) & 0x3f)); u[2] = (char)(0x80 | (cp & 0x3f)); n = 3; }
    else { u[0] = (char)(0xf0 | cp >> 18); u[1] = (char)(0x80 | ((cp >> 12) & 0x3f)); u[2] = (char)(0x80 | ((cp >> 6) & 0x3f)); u[3] = (char)(0x80 | (cp & 0x3f)); n = 4; }
    append(b, l, c, u, n);
}

static char *pstring(struct parser *p)
{
    if (*p->s != '"') {
        p->err = true;
        return NULL;
    }
    p->s++;
    char *b = NULL;
    size_t l = 0, c = 0;
    append(&b, &l, &c, "", 0);
    while (*p->s && *p->s != '"') {
        unsigned char ch = (unsigned char)*p->s;
        if (ch < 0x20) {
            p->err = true;   /* raw control characters are not valid JSON */
            return b;
        }
        if (ch == '\\') {
            p->s++;
            char e = *p->s++;
            switch (e) {
            case '"': append(&b, &l, &c, "\"", 1); break;
            case '\\': append(&b, &l, &c, "\\", 1); break;
            case '/': append(&b, &l, &c, "/", 1); break;
            case 'b': append(&b, &l, &c, "\b", 1); break;
            case 'f': append(&b, &l, &c, "\f", 1); break;
            case 'n': append(&b, &l, &c, "\n", 1); break;
            case 'r': append(&b, &l, &c, "\r", 1); break;
            case 't': append(&b, &l, &c, "\t", 1); break;
            case 'u': {
                unsigned cp = 0;
                for (int i = 0; i < 4; i++) {
                    char h = *p->s++;
                    if (!isxdigit((unsigned char)h)) {
                        p->err = true;
                        return b;
                    }
                    cp = cp * 16 + (unsigned)(isdigit((unsigned char)h) ? h - '0' : (tolower(h) - 'a' + 10));
                }
                put_utf8(&b, &l, &c, cp);
                break;
            }
            default:
                p->err = true;
                return b;
            }
        } else {
            append(&b, &l, &c, p->s, 1);
            p->s++;
        }
    }
    if (*p->s != '"')
        p->err = true;
    else
        p->s++;
    return b;
}

static struct jval *pvalue(struct parser *p, int depth);

/* The members of an object or the items of an array (v, empty, of that type), from its
 * opening bracket to its closing one: one loop for both, keys only for objects. */
static void pmembers(struct parser *p, int depth, struct jval *v)
{
    bool obj = v->type == J_OBJ;
    char close = obj ? '}' : ']';
    p->s++;
    ws(p);
    if (*p->s == close) {
        p->s++;
        return;
    }
    for (;;) {
        char *k = NULL;
        if (obj) {
            ws(p);
            k = pstring(p);
            ws(p);
            if (p->err || *p->s != ':') {
                p->err = true;
                free(k);
                return;
            }
            p->s++;
        }
        struct jval *m = pvalue(p, depth + 1);
        v->items = realloc(v->items, (v->n + 1) * sizeof *v->items);
        v->items[v->n] = m;
        if (obj) {
            v->keys = realloc(v->keys, (v->n + 1) * sizeof *v->keys);
            v->keys[v->n] = k;
        }
        v->n++;
        if (p->err)
            return;
        ws(p);
        if (*p->s == ',') {
            p->s++;
            continue;
        }
        if (*p->s == close) {
            p->s++;
            return;
        }
        p->err = true;
        return;
    }
}

static struct jval *pvalue(struct parser *p, int depth)
{
    ws(p);
    if (depth > 200) {
        p->err = true;
        return NULL;
    }
    struct jval *v;
    if (*p->s == '{' || *p->s == '[') {
        v = jnew(*p->s == '{' ? J_OBJ : J_ARR);
        pmembers(p, depth, v);
        return v;
    }
    if (*p->s == '"') {
        v = jnew(J_STR);
        v->str = pstring(p);
        return v;
    }
    if (!strncmp(p->s, "null", 4)) {
        p->s += 4;
        return jnew(J_NULL);
    }
    if (!strncmp(p->s, "true", 4)) {
        p->s += 4;
        v = jnew(J_BOOL);
        v->b = true;
        return v;
    }
    if (!strncmp(p->s, "false", 5)) {
        p->s += 5;
        return jnew(J_BOOL);
    }
    if (*p->s == '-' || isdigit((unsigned char)*p->s)) {
        char *end;
        v = jnew(J_NUM);
        v->num = strtod(p->s, &end);
        if (end == p->s)
            p->err = true;
        p->s = end;
        return v;
    }
    p->err = true;
    return NULL;
}

struct jval *json_parse(const char *text)
{
    if (!text)
        return NULL;
    struct parser p = { text, false };
    struct jval *v = pvalue(&p, 0);
    ws(&p);
    if (p.err || *p.s) {
        json_free(v);
        return NULL;
    }
    return v;
}

void json_free(struct jval *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->n; i++) {
        json_free(v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->str);
    free(v);
}

struct jval *jget(const struct jval *obj, const char *key)
{
    if (!obj || obj->type != J_OBJ)
        return NULL;
    for (size_t i = 0; i < obj->n; i++)
        if (!strcmp(obj->keys[i], key))
            return obj->items[i];
    return NULL;
}

struct jval *jpath(const struct jval *root, const char *path)
{
    const struct jval *v = root;
    char part[256];
    while (v && *path) {
        size_t l = strcspn(path, ".");
        if (l >= sizeof part)
            return NULL;
        memcpy(part, path, l);
        part[l] = 0;
        path += l + (path[l] == '.');
        if (v->type == J_ARR) {
            char *end;
            long i = strtol(part, &end, 10);
            v = (*end || i < 0 || (size_t)i >= v->n) ? NULL : v->items[i];
        } else {
            v = jget(v, part);
        }
    }
    return (struct jval *)v;
}

double jnum(const struct jval *root, const char *path)
{
    const struct jval *v = jpath(root, path);
    return v && v->type == J_NUM ? v->num : NAN;
}

const char *jstr(const struct jval *root, const char *path)
{
    const struct jval *v = jpath(root, path);
    return v && v->type == J_STR ? v->str : NULL;
}


/* ---- every report read is held to its schema ----------------------------------------- */

/* Where the reports the tests read are copied, for one validation at the end of the test
 * program (a python start per report would cost more than many tests); set by run_suite,
 * inherited by the tests Check forks.  "" outside run_suite. */
static char kept_dir[PATH_MAX];

static void keep_text(const char *text, const char *kind)
{
    if (!kept_dir[0] || !text)
        return;
    static unsigned seq;
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%d-%u.%s", kept_dir, (int)getpid(), seq++, kind);
    if (!write_file(path, text))
        fprintf(stderr, "cannot keep a copy of a report in %s: %s\n", path, strerror(errno));
}

void keep_report(const char *path, const char *kind)
{
    char *text = read_file(path);
    keep_text(text, kind);
    free(text);
}

static int kept_count(void)
{
    DIR *d = opendir(kept_dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

/* The last test of every program: each JSON report and SARIF log its tests read is valid
 * (tests/validate_reports.py, with Debian's python3 and python3-jsonschema). */
START_TEST(test_reports_valid)
{
    int n = kept_count();
    if (n == 0)
        return;
    char *argv[] = { "/usr/bin/python3", (char *)repo_file("tests/validate_reports.py"),
                     kept_dir, NULL };
    struct run r = run_tool(argv, NULL);
    ck_assert_msg(r.status == 0, "of the %d report(s) the tests read, some break their schema "
                  "(copies kept in %s):\n%.2000s%.500s", n, kept_dir, r.out, r.err);
    run_free(&r);
}
END_TEST

/* ---- Check --------------------------------------------------------------------------- */

static void remove_dir(const char *dir)
{
    /* Outside any test: no Check assertion may run here. */
    pid_t pid = fork();
    if (pid == 0) {
        execlp("rm", "rm", "-rf", dir, (char *)NULL);
        _exit(127);
    }
    if (pid > 0)
        waitpid(pid, NULL, 0);
}

int run_suite(Suite *s)
{
    /* The symbolizer's cache of every program the tests run goes to the build tree, one
     * per test program, never to the user's own (~/.cache/mallocspy). */
    char cache[PATH_MAX];
    snprintf(cache, sizeof cache, "%s/tests/cache-%d", BUILD_DIR, (int)getpid());
    setenv("XDG_CACHE_HOME", cache, 1);
    snprintf(kept_dir, sizeof kept_dir, "%s/tests/reports-%d", BUILD_DIR, (int)getpid());
    mkdir(kept_dir, 0755);
    TCase *t = tcase_create("schemas");
    tcase_add_test(t, test_reports_valid);
    tcase_set_timeout(t, 300);
    suite_add_tcase(s, t);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    remove_dir(cache);
    /* Kept when a report broke its schema, to be looked at. */
    if (!failed)
        remove_dir(kept_dir);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

bool tracker_on(void)
{
    const char *o = getenv("MALLOCSPY_OPTIONS");
    return !o || !strstr(o, "leak_check=0");
}

/* ---- children under a time limit ----------------------------------------------------- */

const char *child_timeout = "60";

struct run run_plain(char *const argv[], const char *const env[])
{
    static const char *const clean[] = { "LD_PRELOAD=", "MALLOCSPY_OPTIONS=",
                                         "MALLOCSPY_LIB=", "MALLOCSPY_RUN=" };
    const char *e[48];
    size_t k = 0;
    for (; k < COUNT_OF(clean); k++)
        e[k] = clean[k];
    for (int i = 0; env && env[i] && k < COUNT_OF(e) - 1; i++)
        e[k++] = env[i];
    e[k] = NULL;
    return run_cmd(argv, e, NULL);
}

/* argv behind "timeout <child_timeout>"; the caller says what timed out. */
static struct run run_timed(char *const argv[], const char *const env[])
{
    char *full[72] = { "timeout", (char *)child_timeout };
    int k = 2;
    for (int i = 0; argv[i] && k < 71; i++)
        full[k++] = argv[i];
    full[k] = NULL;
    return run_plain(full, env);
}

struct run run_tool(char *const argv[], const char *const env[])
{
    struct run r = run_timed(argv, env);
    ck_assert_msg(r.status != 124, "%s timed out (%s s)", argv[0], child_timeout);
    return r;
}

void run_tool_ok(char *const argv[])
{
    struct run r = run_tool(argv, NULL);
    ck_assert_msg(r.status == 0, "%s failed with status %d:\n%s%s", argv[0], r.status,
                  r.out, r.err);
    run_free(&r);
}

struct run spy(char *const argv[], const char *opts, const char *const env[])
{
    static char pre[PATH_MAX + 16], op[8192];
    char ob[8000];
    snprintf(pre, sizeof pre, "LD_PRELOAD=%s", lib_path());
    snprintf(op, sizeof op, "MALLOCSPY_OPTIONS=%s", child_opts(opts, ob, sizeof ob));
    char *full[64] = { "env", pre, op };
    int k = 3;
    for (int i = 0; env && env[i] && k < 40; i++)
        full[k++] = (char *)env[i];
    for (int i = 0; argv[i] && k < 63; i++)
        full[k++] = argv[i];
    full[k] = NULL;
    struct run r = run_timed(full, NULL);
    ck_assert_msg(r.status != 124, "%s timed out (%s s)", argv[0], child_timeout);
    return r;
}

void check_clean_exit(const struct run *r, const char *what)
{
    ck_assert_msg(r->status == 0, "%s: status %d\nstdout: %s\nstderr: %s", what, r->status,
                  r->out, r->err);
    ck_assert_msg(!strcmp(r->err, ""), "%s wrote on stderr:\n%s", what, r->err);
}

/* ---- a spied run and its reports ----------------------------------------------------- */

struct spied spy_reports(char *const argv[], const char *opts, const char *const env[],
                         bool log)
{
    struct spied s;
    memset(&s, 0, sizeof s);
    snprintf(s.json_path, sizeof s.json_path, "%s", tmp_path("report.json"));
    if (log)
        snprintf(s.log_path, sizeof s.log_path, "%s", tmp_path("report.log"));
    char o[8192];
    snprintf(o, sizeof o, "json_path=%s%s%s%s%s", s.json_path, log ? ":log_path=" : "",
             s.log_path, opts && *opts ? ":" : "", opts ? opts : "");
    s.r = spy(argv, o, env);
    return s;
}

void spied_free(struct spied *s)
{
    run_free(&s->r);
    /* A report no test read is held to the schema all the same. */
    if (!s->json && s->json_path[0] && access(s->json_path, F_OK) == 0)
        keep_report(s->json_path, "json");
    json_free(s->json);
    free(s->log);
    s->json = NULL;
    s->log = NULL;
    if (s->json_path[0])
        unlink(s->json_path);
    if (s->log_path[0])
        unlink(s->log_path);
}

struct jval *load_report(const char *path)
{
    char *text = read_file(path);
    ck_assert_msg(text, "no JSON report at %s", path);
    struct jval *v = json_parse(text);
    ck_assert_msg(v, "the JSON report %s does not parse:\n%.3000s", path, text);
    keep_text(text, "json");
    free(text);
    ck_assert_msg(v->type == J_OBJ, "the JSON report is not an object");
    ck_assert_str_eq(jstr(v, "tool"), "mallocspy");
    return v;
}

struct jval *load_sarif(const char *path)
{
    char *text = read_file(path);
    ck_assert_msg(text, "no SARIF log at %s", path);
    struct jval *v = json_parse(text);
    ck_assert_msg(v, "the SARIF log %s does not parse:\n%.3000s", path, text);
    keep_text(text, "sarif");
    free(text);
    ck_assert_msg(v->type == J_OBJ && jstr(v, "version") && !strcmp(jstr(v, "version"), "2.1.0"),
                  "%s is no SARIF 2.1.0 log", path);
    return v;
}

struct jval *load_fixture(const char *path)
{
    char *text = read_file(path);
    ck_assert_msg(text, "no JSON file at %s", path);
    struct jval *v = json_parse(text);
    ck_assert_msg(v, "%s does not parse:\n%.3000s", path, text);
    free(text);
    return v;
}

const struct jval *need_member(const struct jval *rep, const char *key, enum jtype type)
{
    const struct jval *m = jget(rep, key);
    ck_assert_msg(m && m->type == type, "no \"%s\" %s in the report", key,
                  type == J_ARR ? "array" : type == J_OBJ ? "object" : "member");
    return m;
}

/* ---- finding entries by function name ------------------------------------------------ */

int frame_index(const struct jval *stack, const char *fn, int within)
{
    if (!stack || stack->type != J_ARR)
        return -1;
    for (size_t i = 0; i < stack->n && i < (size_t)within; i++) {
        const char *f = jstr(stack->items[i], "function");
        if (f && !strcmp(f, fn))
            return (int)i;
    }
    return -1;
}

int entries_with(const struct jval *rep, const char *array, const char *fn, int within,
                 const char *kind, const struct jval **out, int max)
{
    const struct jval *a = need_member(rep, array, J_ARR);
    int n = 0;
    for (size_t i = 0; i < a->n; i++) {
        const struct jval *g = a->items[i];
        if (kind && (!jstr(g, "kind") || strcmp(jstr(g, "kind"), kind)))
            continue;
        if (frame_index(jget(g, "stack"), fn, within) < 0)
            continue;
        if (n < max && out)
            out[n] = g;
        n++;
    }
    return n;
}

const struct jval *one_leak_from(const struct jval *rep, const char *fn)
{
    const struct jval *g = NULL;
    int n = entries_with(rep, "leaks", fn, 1, NULL, &g, 1);
    ck_assert_msg(n == 1, "%d leak groups from %s, 1 expected", n, fn);
    return g;
}

/* ---- files and paths ----------------------------------------------------------------- */

const char *repo_dir(void)
{
    static char dir[PATH_MAX];
    if (!dir[0])
        ck_assert_msg(realpath(BUILD_DIR "/..", dir), "cannot resolve %s/..", BUILD_DIR);
    return dir;
}

const char *repo_file(const char *rel)
{
    static char buf[4][PATH_MAX + 64];
    static int k;
    char *b = buf[k++ & 3];
    snprintf(b, PATH_MAX + 64, "%s/%s", repo_dir(), rel);
    return b;
}

const char *src_path(const char *name)
{
    static char buf[4][PATH_MAX];
    static int k;
    char *b = buf[k++ & 3];
    snprintf(b, PATH_MAX, "tests/progs/%s", name);
    if (access(b, R_OK) != 0)
        snprintf(b, PATH_MAX, "%s/../tests/progs/%s", BUILD_DIR, name);
    ck_assert_msg(access(b, R_OK) == 0, "source %s not found", name);
    return b;
}

int marker_line(const char *name, const char *marker)
{
    char *text = read_file(src_path(name));
    ck_assert_msg(text, "cannot read %s", name);
    int line = 1, found = 0, count = 0;
    for (const char *p = text; *p; p++) {
        if (*p == '\n') {
            line++;
        } else if (!strncmp(p, marker, strlen(marker))) {
            found = line;
            count++;
        }
    }
    free(text);
    ck_assert_msg(count == 1, "marker %s found %d times in %s", marker, count, name);
    return found;
}

void make_dir(const char *tag, char *out, size_t cap)
{
    snprintf(out, cap, "%s", tmp_path(tag));
    /* Names carry the test process's pid: one that exists was left by an earlier run
     * whose process had the same pid, and no live process owns it. */
    if (mkdir(out, 0755) != 0 && errno == EEXIST) {
        remove_tree(out);
        errno = 0;
        mkdir(out, 0755);
    }
    struct stat st;
    ck_assert_msg(stat(out, &st) == 0 && S_ISDIR(st.st_mode), "mkdir %s: %s", out,
                  strerror(errno));
}

char *tmp_name(const char *name) { return strdup(tmp_path(name)); }

char *tmp_dir(const char *name)
{
    char d[PATH_MAX + 64];
    make_dir(name, d, sizeof d);
    return strdup(d);
}

void remove_tree(const char *path)
{
    char *argv[] = { "rm", "-rf", (char *)path, NULL };
    struct run r = run_tool(argv, NULL);
    run_free(&r);
}

void stripped_copy(const char *name, char *out, size_t cap)
{
    ck_assert_msg(have_cmd("strip"), "strip (binutils) is not installed");
    char tag[256];
    snprintf(tag, sizeof tag, "%s.stripped", name);
    snprintf(out, cap, "%s", tmp_path(tag));
    char *cp[] = { "cp", (char *)prog_path(name), out, NULL };
    run_tool_ok(cp);
    char *strip[] = { "strip", out, NULL };
    run_tool_ok(strip);
}

/* ---- strings ------------------------------------------------------------------------- */

bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

bool is_src_file(const char *reported, const char *name)
{
    if (!reported || !ends_with(reported, name))
        return false;
    size_t a = strlen(reported), b = strlen(name);
    return a == b || reported[a - b - 1] == '/';
}

int count_str(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

int count_lines(const char *s) { return count_str(s, "\n"); }

const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

unsigned long long hexval(const char *s)
{
    ck_assert_msg(s && s[0] == '0' && s[1] == 'x' && s[2], "not a hex string: %s",
                  s ? s : "(null)");
    char *end;
    unsigned long long v = strtoull(s + 2, &end, 16);
    ck_assert_msg(!*end, "not a hex string: %s", s);
    return v;
}

bool names_fn(const char *line, size_t len, const char *fn)
{
    char want[256];
    snprintf(want, sizeof want, " in %s ", fn);
    return memmem(line, len, want, strlen(want)) != NULL;
}

const char *summary_line(const char *text, int *pid)
{
    const char *found = NULL;
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        int n = 0, got = 0;
        if (sscanf(p, "==%d==SUMMARY: mallocspy: %n", &got, &n) == 1 && n > 0) {
            found = p;
            if (pid)
                *pid = got;
        }
    }
    return found;
}

bool next_line(const char **p, char *line, size_t cap)
{
    if (!**p)
        return false;
    const char *nl = strchr(*p, '\n');
    size_t len = nl ? (size_t)(nl - *p) : strlen(*p);
    snprintf(line, cap, "%.*s", (int)(len < cap - 1 ? len : cap - 1), *p);
    *p += len + (nl ? 1 : 0);
    return true;
}

static void *silent_loop(void *arg)
{
    struct silent *s = arg;
    for (;;) {
        int c = accept(s->fd, NULL, NULL);
        if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return NULL;                    /* shut down */
        }
        atomic_fetch_add(&s->accepted, 1);  /* kept open, never answered */
    }
}

void silent_start(struct silent *s)
{
    memset(s, 0, sizeof *s);
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert(s->fd >= 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    ck_assert(bind(s->fd, (struct sockaddr *)&a, sizeof a) == 0);
    ck_assert(listen(s->fd, 64) == 0);
    ck_assert(getsockname(s->fd, (struct sockaddr *)&a, &len) == 0);
    s->port = ntohs(a.sin_port);
    ck_assert(pthread_create(&s->thread, NULL, silent_loop, s) == 0);
}

int silent_stop(struct silent *s)
{
    shutdown(s->fd, SHUT_RDWR);
    pthread_join(s->thread, NULL);
    close(s->fd);
    return atomic_load(&s->accepted);
}
