/* MALLOCSPY_OPTIONS: colon-separated key=value items, as the sanitizers spell them.  A bad
 * item gets one line on stderr and the program runs on with the default.  Every key is one
 * row of the table below, which help=1 prints: a new key is a new row. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "base/diag.h"
#include "base/mem.h"
#include "base/options.h"

struct options options;
const char *const weight_names[NWEIGHTS] = { "leaked", "allocated", "allocations", "peak",
                                             "temporary" };

void options_defaults(struct options *o)
{
    memset(o, 0, sizeof *o);
    o->depth = 32;
    o->leak_check = true;
    o->exitcode = 0;
    o->report = REPORT_TEXT;
    o->stack_cache = 16384;
    o->mappings = true;
    o->mismatch = true;
    o->fast_path = true;
    o->start = true;
    o->malloc_fill = o->free_fill = -1;
    o->sites_top = 10;
    o->timeline_ms = 10;
    o->symbolize = SYMBOLIZE_PRINTED;
    o->symbol_cache = true;
    o->debuginfod_timeout = 5;
    o->stop_signal = SIGRTMAX - 3;
    o->use_default_suppressions = true;
    o->print_suppressions = true;
}

static bool parse_ulong(const char *v, size_t len, unsigned long *out)
{
    if (len == 0 || len > 19)
        return false;
    unsigned long r = 0;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9')
            return false;
        r = r * 10 + (unsigned long)(v[i] - '0');
    }
    *out = r;
    return true;
}

static bool parse_bool(const char *v, size_t len, bool *out)
{
    if (len == 1 && (v[0] == '0' || v[0] == '1')) {
        *out = v[0] == '1';
        return true;
    }
    if ((len == 4 && !strncmp(v, "true", 4)) || (len == 3 && !strncmp(v, "yes", 3))) {
        *out = true;
        return true;
    }
    if ((len == 5 && !strncmp(v, "false", 5)) || (len == 2 && !strncmp(v, "no", 2))) {
        *out = false;
        return true;
    }
    return false;
}

static const struct { const char *name; int sig; } signals[] = {
    { "HUP", SIGHUP }, { "INT", SIGINT }, { "QUIT", SIGQUIT }, { "USR1", SIGUSR1 },
    { "USR2", SIGUSR2 }, { "PIPE", SIGPIPE }, { "ALRM", SIGALRM }, { "TERM", SIGTERM },
    { "CHLD", SIGCHLD }, { "CONT", SIGCONT }, { "TSTP", SIGTSTP }, { "TTIN", SIGTTIN },
    { "TTOU", SIGTTOU }, { "URG", SIGURG }, { "XCPU", SIGXCPU }, { "XFSZ", SIGXFSZ },
    { "VTALRM", SIGVTALRM }, { "PROF", SIGPROF }, { "WINCH", SIGWINCH }, { "IO", SIGIO },
    { "PWR", SIGPWR }, { "SYS", SIGSYS },
};

/* Signals a report may be asked with: not those that mean a fault or cannot be caught. */
static bool parse_signal(const char *v, size_t len, int *out)
{
    unsigned long n;
    if (parse_ulong(v, len, &n)) {
        if (n == 0 || n >= 65)
            return false;
        *out = (int)n;
    } else {
        if (len > 3 && !strncmp(v, "SIG", 3)) {
            v += 3;
            len -= 3;
        }
        size_t i;
        for (i = 0; i < ARRAY_SIZE(signals); i++)
            if (strlen(signals[i].name) == len && !strncmp(signals[i].name, v, len))
                break;
        if (i == ARRAY_SIZE(signals))
            return false;
        *out = signals[i].sig;
    }
    switch (*out) {
    case SIGKILL: case SIGSTOP: case SIGSEGV: case SIGBUS: case SIGFPE: case SIGILL:
    case SIGABRT: case SIGTRAP:
        return false;
    }
    return true;
}

/* A real-time signal: SIGRTMIN+n, SIGRTMAX-n (SIG optional) or its number. */
static bool parse_rt_signal(const char *v, size_t len, int *out)
{
    unsigned long n;
    if (len > 3 && !strncmp(v, "SIG", 3)) {
        v += 3;
        len -= 3;
    }
    int sig;
    if (parse_ulong(v, len, &n)) {
        sig = (int)n;
    } else if (len >= 5 && (!strncmp(v, "RTMIN", 5) || !strncmp(v, "RTMAX", 5))) {
        int base = v[4] == 'N' ? SIGRTMIN : SIGRTMAX;
        if (len == 5) {
            sig = base;
        } else if ((v[5] == '+' || v[5] == '-') && parse_ulong(v + 6, len - 6, &n) && n < 64) {
            sig = v[5] == '+' ? base + (int)n : base - (int)n;
        } else {
            return false;
        }
    } else {
        return false;
    }
    if (sig < SIGRTMIN || sig > SIGRTMAX)
        return false;
    *out = sig;
    return true;
}

/* A byte count, with an optional k, m or g (KiB, MiB, GiB). */
static bool parse_bytes(const char *v, size_t len, size_t *out)
{
    size_t shift = 0;
    if (len > 1) {
        char u = v[len - 1];
        shift = (u == 'k' || u == 'K') ? 10 : (u == 'm' || u == 'M') ? 20 : (u == 'g' || u == 'G') ? 30 : 0;
        if (shift)
            len--;
    }
    unsigned long n;
    if (!parse_ulong(v, len, &n) || n > (1ul << 40) >> shift)
        return false;
    *out = (size_t)n << shift;
    return true;
}

/* A byte value: decimal or 0x-prefixed hexadecimal, 0..255. */
static bool parse_byte(const char *v, size_t len, int *out)
{
    unsigned long n = 0;
    if (len > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X')) {
        if (len > 4)
            return false;
        for (size_t i = 2; i < len; i++) {
            char c = v[i];
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                  : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
            if (d < 0)
                return false;
            n = n * 16 + (unsigned long)d;
        }
    } else if (!parse_ulong(v, len, &n)) {
        return false;
    }
    if (n > 255)
        return false;
    *out = (int)n;
    return true;
}

/* ---- the table ------------------------------------------------------------------------ */

struct opt;
/* Parses the value into its field; false leaves the field as it was. */
typedef bool (*opt_set)(struct options *o, const struct opt *op, const char *v, size_t len);

struct opt {
    const char *name;
    opt_set set;
    size_t off;                /* the field in struct options */
    unsigned long min, max;    /* numbers: the range; paths: max is the buffer's size */
    const char *expect;        /* what the warning about a bad value says is expected */
    const char *def;           /* the default, as help=1 shows it (a test parses it back) */
    const char *help;          /* one line for help=1 */
};

#define FIELD(o, op, type) ((type *)((char *)(o) + (op)->off))

static bool set_bool(struct options *o, const struct opt *op, const char *v, size_t len)
{
    return parse_bool(v, len, FIELD(o, op, bool));
}

static bool set_unsigned(struct options *o, const struct opt *op, const char *v, size_t len)
{
    unsigned long n;
    if (!parse_ulong(v, len, &n) || n < op->min || n > op->max)
        return false;
    *FIELD(o, op, unsigned) = (unsigned)n;
    return true;
}

static bool set_int(struct options *o, const struct opt *op, const char *v, size_t len)
{
    unsigned long n;
    if (!parse_ulong(v, len, &n) || n < op->min || n > op->max)
        return false;
    *FIELD(o, op, int) = (int)n;
    return true;
}

static bool set_path(struct options *o, const struct opt *op, const char *v, size_t len)
{
    if (len == 0 || len >= op->max)
        return false;
    char *dst = FIELD(o, op, char);
    memcpy(dst, v, len);
    dst[len] = 0;
    return true;
}

static bool set_report(struct options *o, const struct opt *op, const char *v, size_t len)
{
    (void)op;
    if (len == 4 && !strncmp(v, "text", 4))
        o->report = REPORT_TEXT;
    else if (len == 5 && !strncmp(v, "quiet", 5))
        o->report = REPORT_QUIET;
    else if (len == 7 && !strncmp(v, "profile", 7))
        o->report = REPORT_PROFILE;
    else if (len == 6 && !strncmp(v, "growth", 6))
        o->report = REPORT_GROWTH;
    else
        return false;
    return true;
}

static bool set_u64(struct options *o, const struct opt *op, const char *v, size_t len)
{
    unsigned long n;
    if (!parse_ulong(v, len, &n))
        return false;
    *FIELD(o, op, uint64_t) = n;
    return true;
}

static bool set_signal(struct options *o, const struct opt *op, const char *v, size_t len)
{
    return parse_signal(v, len, FIELD(o, op, int));
}

static bool set_rt_signal(struct options *o, const struct opt *op, const char *v, size_t len)
{
    return parse_rt_signal(v, len, FIELD(o, op, int));
}

static bool set_guard(struct options *o, const struct opt *op, const char *v, size_t len)
{
    (void)op;
    size_t g;
    /* guard=1 asks for redzones of the default size; a larger number is the size. */
    if (!parse_bytes(v, len, &g) || g > 4096)
        return false;
    o->guard = g == 1 ? 16 : g;
    return true;
}

static bool set_bytes(struct options *o, const struct opt *op, const char *v, size_t len)
{
    return parse_bytes(v, len, FIELD(o, op, size_t));
}

static bool set_byte(struct options *o, const struct opt *op, const char *v, size_t len)
{
    return parse_byte(v, len, FIELD(o, op, int));
}

static bool set_timeline_interval(struct options *o, const struct opt *op, const char *v,
                                  size_t len)
{
    (void)op;
    unsigned long n;
    /* "10ms": time; a bare number: operations of a thread. */
    if (len > 2 && !strncmp(v + len - 2, "ms", 2) && parse_ulong(v, len - 2, &n) && n >= 1 &&
        n <= 3600000) {
        o->timeline_ms = (unsigned)n;
        o->timeline_events = 0;
    } else if (parse_ulong(v, len, &n) && n >= 1) {
        o->timeline_events = n;
    } else {
        return false;
    }
    return true;
}

static bool set_symbolize(struct options *o, const struct opt *op, const char *v, size_t len)
{
    (void)op;
    bool b;
    if (len == 3 && !strncmp(v, "all", 3))
        o->symbolize = SYMBOLIZE_ALL;
    else if (parse_bool(v, len, &b))
        o->symbolize = b ? SYMBOLIZE_PRINTED : SYMBOLIZE_NEVER;
    else
        return false;
    return true;
}

static bool set_weight(struct options *o, const struct opt *op, const char *v, size_t len)
{
    (void)op;
    for (int i = 0; i < NWEIGHTS; i++)
        if (strlen(weight_names[i]) == len && !strncmp(v, weight_names[i], len)) {
            o->weight = i;
            return true;
        }
    return false;
}

static bool set_include(struct options *o, const struct opt *op, const char *v, size_t len);

#define OPT(name, set, field, min, max, expect, def, help) \
    { name, set, offsetof(struct options, field), min, max, expect, def, help }
#define BOOL(name, field, def, help) OPT(name, set_bool, field, 0, 1, "0 or 1", def, help)
#define PATH(name, field, def, help) \
    OPT(name, set_path, field, 0, sizeof ((struct options *)0)->field, "a file name", def, help)

/* In the order help=1 and mallocspy(1) give them.  LeakSanitizer's names for our keys
 * are rows of their own that set the same field. */
static const struct opt table[] = {
    PATH("log_path", log_path, "stderr", "the text report and the warnings go to this file (%p: the pid)"),
    PATH("json_path", json_path, "none", "also write the JSON report to this file (%p: the pid)"),
    OPT("depth", set_unsigned, depth, 1, 256, "a number from 1 to 256", "32",
        "frames recorded per stack, 1 to 256"),
    OPT("malloc_context_size", set_unsigned, depth, 1, 256, "a number from 1 to 256", "32",
        "LeakSanitizer's name for depth"),
    BOOL("leak_check", leak_check, "1", "track blocks and report leaks (0: only heap errors and spies)"),
    BOOL("detect_leaks", leak_check, "1", "LeakSanitizer's name for leak_check"),
    OPT("exitcode", set_int, exitcode, 0, 255, "a number from 0 to 255", "0",
        "exit status when leaks remain at exit (0: the program's own)"),
    OPT("suppressions", set_path, suppressions, 0, sizeof ((struct options *)0)->suppressions,
        "file names, separated by commas", "none",
        "suppression files, separated by commas ('leak:PATTERN' lines)"),
    BOOL("use_default_suppressions", use_default_suppressions, "1",
         "also use the default.supp installed with mallocspy"),
    BOOL("print_suppressions", print_suppressions, "1",
         "print the 'Suppressions used' table in the text report"),
    BOOL("suggest_suppressions", suggest_suppressions, "0",
         "print under each leak the 'leak:' line that would suppress it"),
    OPT("alloc_functions", set_path, alloc_functions, 0,
        sizeof ((struct options *)0)->alloc_functions, "patterns, separated by commas", "none",
        "more allocation wrappers that suggested suppressions skip (comma-separated globs)"),
    OPT("report", set_report, report, 0, 0, "text, quiet, profile or growth", "text",
        "text, quiet (no text report), profile or growth (the profile, or what grew, first)"),
    BOOL("report_reachable", report_reachable, "0", "list still-reachable blocks too"),
    OPT("report_signal", set_signal, report_signal, 0, 0,
        "a signal name such as SIGUSR2, or its number", "none",
        "the signal that asks a running process for a report"),
    BOOL("start", start, "1", "record from start-up (0: dormant until start_signal or ms_start_tracking)"),
    OPT("start_signal", set_signal, start_signal, 0, 0,
        "a signal name such as SIGUSR1, or its number", "none",
        "the signal that starts recording, and stops it"),
    OPT("sample_bytes", set_bytes, sample_bytes, 0, 0, "a byte count, such as 524288 or 512k",
        "0", "sample allocations: one per this many bytes on average (0: record all)"),
    OPT("sample_seed", set_u64, sample_seed, 0, 0, "a number", "0",
        "the sampler's seed, to repeat a run (0: from the clock)"),
    BOOL("fast_path", fast_path, "1", "mallocspy's own spies alone skip the spy chain walk"),
    OPT("stop_signal", set_rt_signal, stop_signal, 0, 0,
        "a real-time signal such as SIGRTMAX-3", "SIGRTMAX-3",
        "the real-time signal that stops threads during a scan"),
    OPT("stack_cache", set_unsigned, stack_cache, 0, 1ul << 20,
        "a number of entries from 0 to 1048576", "16384",
        "entries in each thread's cache of call chains (0: off)"),
    BOOL("mappings", mappings, "1", "track the program's anonymous mmap mappings"),
    BOOL("mismatch", mismatch, "1", "report malloc/delete and new/free mixes"),
    OPT("guard", set_guard, guard, 0, 0, "0, 1 or a byte count up to 4096", "0",
        "redzones of this many bytes around blocks (1: 16)"),
    OPT("quarantine", set_bytes, quarantine, 0, 0, "a byte count, such as 1048576 or 64m", "0",
        "hold back up to this many bytes of freed blocks (k, m, g)"),
    OPT("malloc_fill", set_byte, malloc_fill, 0, 0, "a byte, 0 to 255 or 0x00 to 0xff", "none",
        "fill new blocks with this byte"),
    OPT("free_fill", set_byte, free_fill, 0, 0, "a byte, 0 to 255 or 0x00 to 0xff", "none",
        "fill freed blocks with this byte"),
    BOOL("halt_on_error", halt_on_error, "0", "abort after the first heap error"),
    OPT("error_exitcode", set_int, error_exitcode, 0, 255, "a number from 0 to 255", "0",
        "exit status when heap errors were reported (0: the program's own)"),
    OPT("sites_top", set_unsigned, sites_top, 0, 100000, "a number of sites from 0 to 100000",
        "10", "stacks the profile keeps for each measure, 0 to 100000"),
    BOOL("timeline", timeline, "0", "sample live bytes over time into the JSON report"),
    OPT("timeline_interval", set_timeline_interval, timeline_ms, 0, 0,
        "a time such as 10ms, or a number of operations", "10ms",
        "how often: a time (10ms), or every N operations of a thread"),
    PATH("folded_path", folded_path, "none", "write folded stacks to this file"),
    PATH("flamegraph_path", flamegraph_path, "none", "write a flame graph (SVG or .html)"),
    PATH("pprof_path", pprof_path, "none",
         "write the heap profile in pprof's format (gzip'd profile.proto) to this file (%n: its number)"),
    OPT("pprof_interval", set_unsigned, pprof_interval, 0, 86400,
        "a number of seconds from 0 to 86400", "0",
        "write a pprof profile every this many seconds (0: at the reports only)"),
    OPT("weight", set_weight, weight, 0, 0, "leaked, allocated, allocations, peak or temporary",
        "leaked", "what pictures measure: leaked, allocated, allocations, peak, temporary"),
    OPT("symbolize", set_symbolize, symbolize, 0, 0, "0, 1 or all", "1",
        "name frames: 1 what is printed, all every stack, 0 none"),
    OPT("symbolizer", set_path, symbolizer, 0, sizeof ((struct options *)0)->symbolizer,
        "a program's path", "none", "the symbolizer to run (default: the one beside the library)"),
    BOOL("symbol_cache", symbol_cache, "1", "the symbolizer keeps its answers in ~/.cache/mallocspy"),
    BOOL("debuginfod", debuginfod, "0", "the symbolizer may fetch debug files from debuginfod"),
    OPT("debuginfod_timeout", set_unsigned, debuginfod_timeout, 1, 3600,
        "a number of seconds from 1 to 3600", "5", "seconds debuginfod may take in all"),
    OPT("verbosity", set_unsigned, verbosity, 0, 9, "a number from 0 to 9", "0",
        "1: say on the log what mallocspy is doing (0: reports and warnings only)"),
    BOOL("help", help, "0", "print this list when the program starts (it then runs on)"),
    /* include= sets no field of its own: its file's items set theirs. */
    OPT("include", set_include, help, 0, 0, "a file name", "none",
        "read options from this file: one a line, or colon-separated"),
};

/* ---- parsing -------------------------------------------------------------------------- */

/* Where the items being parsed come from, for the warnings: MALLOCSPY_OPTIONS or a file of
 * include=; and how deep in include= files we are (read at start-up, by one thread). */
static const char *source = "MALLOCSPY_OPTIONS";
static unsigned include_depth;

static void copy_cut(char *dst, size_t cap, const char *s, size_t len)
{
    size_t n = len < cap - 1 ? len : cap - 1;
    memcpy(dst, s, n);
    dst[n] = 0;
}

static void parse_item(struct options *o, const char *k, size_t klen, const char *v,
                       size_t vlen)
{
    for (size_t i = 0; i < ARRAY_SIZE(table); i++) {
        const struct opt *op = &table[i];
        if (strlen(op->name) != klen || strncmp(op->name, k, klen))
            continue;
        if (!op->set(o, op, v, vlen)) {
            char val[256];
            copy_cut(val, sizeof val, v, vlen);
            diag_warn("bad value '%s' for option '%s' in %s (expected %s); keeping the default",
                      val, op->name, source, op->expect);
        }
        return;
    }
    char kb[64];
    copy_cut(kb, sizeof kb, k, klen);
    diag_warn("unknown option '%s' in %s (ignored)", kb, source);
}

/* Items separated by any of `seps`; blank space around an item and, in a file, lines
 * that start with '#' are ignored. */
static void parse_items(struct options *o, const char *s, size_t len, const char *seps)
{
    const char *end_all = s + len;
    while (s < end_all) {
        const char *end = s;
        while (end < end_all && !strchr(seps, *end))
            end++;
        const char *a = s, *b = end;
        while (a < b && (*a == ' ' || *a == '\t' || *a == '\r'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\r'))
            b--;
        bool comment = strchr(seps, '\n') && a < b && *a == '#';
        if (comment) {
            /* A comment runs to the end of its line, colons included. */
            while (end < end_all && *end != '\n')
                end++;
        } else if (b > a) {
            const char *eq = memchr(a, '=', (size_t)(b - a));
            if (!eq) {
                char kb[64];
                copy_cut(kb, sizeof kb, a, (size_t)(b - a));
                diag_warn("option '%s' in %s has no value (ignored)", kb, source);
            } else {
                parse_item(o, a, (size_t)(eq - a), eq + 1, (size_t)(b - eq - 1));
            }
        }
        s = end < end_all ? end + 1 : end;
    }
}

/* include=FILE: the file's items, in place of the include= item (so later items still
 * override them).  Relative to the current directory, as LeakSanitizer's. */
static bool set_include(struct options *o, const struct opt *op, const char *v, size_t len)
{
    (void)op;
    char path[4096];
    if (len == 0 || len >= sizeof path)
        return false;
    memcpy(path, v, len);
    path[len] = 0;
    if (include_depth >= 8) {
        diag_warn("include=%s in %s: includes nested 8 deep (a loop?); not read", path, source);
        return true;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        diag_warn("cannot read options from '%s' (include= in %s): %s; going on without them",
                  path, source, strerror(errno));
        return true;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        diag_warn("cannot read options from '%s' (include= in %s): not a regular file; going "
                  "on without them", path, source);
        return true;
    }
    size_t n, cap;
    char *text = pages_read_fd(fd, &n, &cap);
    close(fd);
    if (!text) {
        diag_warn("cannot read options from '%s' (include= in %s); going on without them",
                  path, source);
        return true;
    }
    if (memchr(text, 0, n))
        diag_warn("'%s' (include= in %s) holds a NUL byte: not a text file; its options are "
                  "not used", path, source);
    else {
        diag_note("reading options from '%s'", path);
        const char *outer = source;
        source = path;
        include_depth++;
        parse_items(o, text, n, ":\n");
        include_depth--;
        source = outer;
    }
    pages_free(text, cap);
    return true;
}

void options_parse(struct options *o, const char *s)
{
    if (s)
        parse_items(o, s, strlen(s), ":");
}

void options_help(void)
{
    char line[512];
    size_t n = diag_format(line, sizeof line, "mallocspy: the keys of MALLOCSPY_OPTIONS "
                           "(key=value:key=value...), each with its default:\n");
    diag_text(line, n);
    for (size_t i = 0; i < ARRAY_SIZE(table); i++) {
        /* "  key=default", padded to a column (the formatter pads on the left only). */
        n = diag_format(line, sizeof line, "  %s=%s", table[i].name, table[i].def);
        do
            line[n++] = ' ';
        while (n < 34);
        n += diag_format(line + n, sizeof line - n, "%s\n", table[i].help);
        diag_text(line, n < sizeof line ? n : sizeof line - 1);
    }
}

size_t options_count(void)
{
    return ARRAY_SIZE(table);
}

const char *options_key(size_t i, const char **def)
{
    if (i >= ARRAY_SIZE(table))
        return NULL;
    if (def)
        *def = table[i].def;
    return table[i].name;
}
