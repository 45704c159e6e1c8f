/* MALLOCSPY_OPTIONS: colon-separated key=value items, as the sanitizers spell them.  A bad
 * item gets one line on stderr and the program runs on with the default. */
#include <signal.h>
#include <string.h>

#include "base/base.h"
#include "base/diag.h"
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
    o->malloc_fill = o->free_fill = -1;
    o->sites_top = 10;
    o->timeline_ms = 10;
    o->symbolize = SYMBOLIZE_PRINTED;
    o->symbol_cache = true;
    o->debuginfod_timeout = 5;
    o->follow_children = true;
}

void options_silence(struct options *o)
{
    o->report = REPORT_QUIET;
    o->log_path[0] = o->json_path[0] = o->folded_path[0] = o->flamegraph_path[0] = 0;
    o->exitcode = o->error_exitcode = 0;
    o->halt_on_error = false;
    o->report_signal = 0;
    o->timeline = false;
}

void options_unobserved(struct options *o)
{
    struct options keep = *o;
    options_defaults(o);
    options_silence(o);
    o->leak_check = false;
    o->mismatch = false;
    o->mappings = false;
    o->follow_children = keep.follow_children;
    memcpy(o->children_skip, keep.children_skip, sizeof o->children_skip);
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

static bool set_path(char *dst, size_t cap, const char *v, size_t len)
{
    if (len == 0 || len >= cap)
        return false;
    memcpy(dst, v, len);
    dst[len] = 0;
    return true;
}

static void bad_value(const char *key, size_t klen, const char *v, size_t vlen,
                      const char *expect)
{
    char k[64], val[256];
    size_t kl = klen < sizeof k - 1 ? klen : sizeof k - 1;
    size_t vl = vlen < sizeof val - 1 ? vlen : sizeof val - 1;
    memcpy(k, key, kl);
    k[kl] = 0;
    memcpy(val, v, vl);
    val[vl] = 0;
    diag_warn("bad value '%s' for option '%s' in MALLOCSPY_OPTIONS (expected %s); "
            "keeping the default", val, k, expect);
}

static bool key_is(const char *k, size_t klen, const char *name)
{
    return strlen(name) == klen && !strncmp(k, name, klen);
}

static void parse_item(struct options *o, const char *k, size_t klen, const char *v,
                       size_t vlen)
{
    unsigned long n;
    bool b;
    int sig;
    if (key_is(k, klen, "log_path")) {
        if (!set_path(o->log_path, sizeof o->log_path, v, vlen))
            bad_value(k, klen, v, vlen, "a file name");
    } else if (key_is(k, klen, "json_path")) {
        if (!set_path(o->json_path, sizeof o->json_path, v, vlen))
            bad_value(k, klen, v, vlen, "a file name");
    } else if (key_is(k, klen, "suppressions")) {
        if (!set_path(o->suppressions, sizeof o->suppressions, v, vlen))
            bad_value(k, klen, v, vlen, "a file name");
    } else if (key_is(k, klen, "depth")) {
        if (parse_ulong(v, vlen, &n) && n >= 1 && n <= 256)
            o->depth = (unsigned)n;
        else
            bad_value(k, klen, v, vlen, "a number from 1 to 256");
    } else if (key_is(k, klen, "leak_check")) {
        if (parse_bool(v, vlen, &b))
            o->leak_check = b;
        else
            bad_value(k, klen, v, vlen, "0 or 1");
    } else if (key_is(k, klen, "exitcode")) {
        if (parse_ulong(v, vlen, &n) && n <= 255)
            o->exitcode = (int)n;
        else
            bad_value(k, klen, v, vlen, "a number from 0 to 255");
    } else if (key_is(k, klen, "report")) {
        if (vlen == 4 && !strncmp(v, "text", 4))
            o->report = REPORT_TEXT;
        else if (vlen == 5 && !strncmp(v, "quiet", 5))
            o->report = REPORT_QUIET;
        else if (vlen == 7 && !strncmp(v, "profile", 7))
            o->report = REPORT_PROFILE;
        else
            bad_value(k, klen, v, vlen, "text, quiet or profile");
    } else if (key_is(k, klen, "report_reachable")) {
        if (parse_bool(v, vlen, &b))
            o->report_reachable = b;
        else
            bad_value(k, klen, v, vlen, "0 or 1");
    } else if (key_is(k, klen, "report_signal")) {
        if (parse_signal(v, vlen, &sig))
            o->report_signal = sig;
        else
            bad_value(k, klen, v, vlen, "a signal name such as SIGUSR2, or its number");
    } else if (key_is(k, klen, "mismatch")) {
        if (parse_bool(v, vlen, &b))
            o->mismatch = b;
        else
            bad_value(k, klen, v, vlen, "0 or 1");
    } else if (key_is(k, klen, "guard")) {
        size_t g;
        /* guard=1 asks for redzones of the default size; a larger number is the size. */
        if (parse_bytes(v, vlen, &g) && g <= 4096)
            o->guard = g == 1 ? 16 : g;
        else
            bad_value(k, klen, v, vlen, "0, 1 or a byte count up to 4096");
    } else if (key_is(k, klen, "quarantine")) {
        size_t q;
        if (parse_bytes(v, vlen, &q))
            o->quarantine = q;
        else
            bad_value(k, klen, v, vlen, "a byte count, such as 1048576 or 64m");
    } else if (key_is(k, klen, "malloc_fill")) {
        if (!parse_byte(v, vlen, &o->malloc_fill))
            bad_value(k, klen, v, vlen, "a byte, 0 to 255 or 0x00 to 0xff");
    } else if (key_is(k, klen, "free_fill")) {
        if (!parse_byte(v, vlen, &o->free_fill))
            bad_value(k, klen, v, vlen, "a byte, 0 to 255 or 0x00 to 0xff");
    } else if (key_is(k, klen, "mappings")) {
        if (parse_bool(v, vlen, &b))
            o->mappings = b;
        else
            bad_value(k, klen, v, vlen, "0 or 1");
    } else if (key_is(k, klen, "halt_on_error")) {
        if (parse_bool(v, vlen, &b))
            o->halt_on_error = b;
        else
            bad_value(k, klen, v, vlen, "0 or 1");
    } else if (key_is(k, klen, "error_exitcode")) {
        if (parse_ulong(v, vlen, &n) && n <= 255)
            o->error_exitcode = (int)n;
        else
            bad_value(k, klen, v, vlen, "a number from 0 to 255");
    } else if (key_is(k, klen, "stop_signal")) {
        if (parse_rt_signal(v, vlen, &sig))
            o->stop_signal = sig;
        else
            bad_value(k, klen, v, vlen, "a real-time signal such as SIGRTMAX-3");
    } else if (key_is(k, klen, "stack_cache")) {
        if (parse_ulong(v, vlen, &n) && n <= (1ul << 20))
            o->stack_cache = (unsigned)n;
        else
            bad_value(k, klen, v, vlen, "a number of entries from 0 to 1048576");
    } else if (key_is(k, klen, "sites_top")) {
        if (parse_ulong(v, vlen, &n) && n <= 100000)
            o->sites_top = (unsigned)n;
        else
            bad_value(k, klen, v, vlen, "a number of sites from 0 to 100000");
    } else if (key_is(k, klen, "timeline")) {
        if (parse_bool(v, vlen, &b))
            o->timeline = b;
        else
            bad_value(k, klen, v, vlen, "0 or 1");
    } else if (key_is(k, klen, "timeline_interval")) {
        /* "10ms": time; a bare number: operations of a thread. */
        if (vlen > 2 && !strncmp(v + vlen - 2, "ms", 2) && parse_ulong(v, vlen - 2, &n) &&
            n >= 1 && n <= 3600000) {
            o->timeline_ms = (unsigned)n;
            o->timeline_events = 0;
        } else if (parse_ulong(v, vlen, &n) && n >= 1) {
            o->timeline_events = n;
        } else {
            bad_value(k, klen, v, vlen, "a time such as 10ms, or a number of operations");
        }
    } else if (key_is(k, klen, "folded_path")) {
        if (!set_path(o->folded_path, sizeof o->folded_path, v, vlen))
            bad_value(k, klen, v, vlen, "a file name");
    } else if (key_is(k, klen, "flamegraph_path")) {
        if (!set_path(o->flamegraph_path, sizeof o->flamegraph_path, v, vlen))
            bad_value(k, klen, v, vlen, "a file name");
    } else if (key_is(k, klen, "symbolize")) {
        if (key_is(v, vlen, "all"))
            o->symbolize = SYMBOLIZE_ALL;
        else if (parse_bool(v, vlen, &b))
            o->symbolize = b ? SYMBOLIZE_PRINTED : SYMBOLIZE_NEVER;
        else
            bad_value(k, klen, v, vlen, "0, 1 or all");
    } else if (key_is(k, klen, "symbolizer")) {
        if (!set_path(o->symbolizer, sizeof o->symbolizer, v, vlen))
            bad_value(k, klen, v, vlen, "a program's path");
    } else if (key_is(k, klen, "symbol_cache")) {
        if (parse_bool(v, vlen, &b))
            o->symbol_cache = b;
        else
            bad_value(k, klen, v, vlen, "0 or 1");
    } else if (key_is(k, klen, "debuginfod")) {
        if (parse_bool(v, vlen, &b))
            o->debuginfod = b;
        else
            bad_value(k, klen, v, vlen, "0 or 1");
    } else if (key_is(k, klen, "debuginfod_timeout")) {
        if (parse_ulong(v, vlen, &n) && n >= 1 && n <= 3600)
            o->debuginfod_timeout = (unsigned)n;
        else
            bad_value(k, klen, v, vlen, "a number of seconds from 1 to 3600");
    } else if (key_is(k, klen, "follow_children")) {
        if (parse_bool(v, vlen, &b))
            o->follow_children = b;
        else
            bad_value(k, klen, v, vlen, "0 or 1");
    } else if (key_is(k, klen, "children_skip")) {
        if (!set_path(o->children_skip, sizeof o->children_skip, v, vlen))
            bad_value(k, klen, v, vlen, "comma-separated shell patterns");
    } else if (key_is(k, klen, "weight")) {
        int found = -1;
        for (int i = 0; i < NWEIGHTS; i++)
            if (key_is(v, vlen, weight_names[i]))
                found = i;
        if (found >= 0)
            o->weight = found;
        else
            bad_value(k, klen, v, vlen, "leaked, allocated, allocations, peak or temporary");
    } else {
        char kb[64];
        size_t kl = klen < sizeof kb - 1 ? klen : sizeof kb - 1;
        memcpy(kb, k, kl);
        kb[kl] = 0;
        diag_warn("unknown option '%s' in MALLOCSPY_OPTIONS (ignored)", kb);
    }
}

void options_parse(struct options *o, const char *s)
{
    if (!s)
        return;
    while (*s) {
        const char *end = strchr(s, ':');
        if (!end)
            end = s + strlen(s);
        if (end > s) {
            const char *eq = memchr(s, '=', (size_t)(end - s));
            if (!eq) {
                char kb[64];
                size_t kl = (size_t)(end - s) < sizeof kb - 1 ? (size_t)(end - s) : sizeof kb - 1;
                memcpy(kb, s, kl);
                kb[kl] = 0;
                diag_warn("option '%s' in MALLOCSPY_OPTIONS has no value (ignored)", kb);
            } else {
                parse_item(o, s, (size_t)(eq - s), eq + 1, (size_t)(end - eq - 1));
            }
        }
        s = *end ? end + 1 : end;
    }
}
