/* mallocspy-symbolizer: resolves the return addresses the library recorded to function
 * names, files and lines, in a process of its own, so that debug information, demanglers
 * and debuginfod never run inside the observed program.  Requests come on standard input
 * in batches and answers go to standard output, in the protocol mallocspy(1) describes:
 *
 *   M <modid> <build-id hex or -> <path>      declares (or re-declares) a module
 *   F <modid> <offset hex>                    a frame: an address of the module's file
 *   E                                         ends the batch
 *
 * answered, once the whole batch is read, by one "R <status> <n>[\t<function>\t<file>\t
 * <line>]*n" line per F line, in order, "W <message>" lines for the user's log, then "E".
 *
 * A profile batch (pprof_path) starts with a P line, which carries the descriptor of the
 * file to write (SCM_RIGHTS, with the line's first byte: standard input is then a socket):
 *
 *   P <time_nanos> <duration_nanos> <period> <names 0|1>    starts a profile batch
 *   A <modid> <start hex> <limit hex> <base hex>   where a declared module was in memory
 *   S <alloc_objects> <alloc_space> <inuse_objects> <inuse_space> <frame>...
 *                                                  one sample, its frames innermost first:
 *                                                  <modid>:<offset hex>, or @<address hex>
 *                                                  for an address in no module
 *   E
 *
 * The helper names the frames (names 1) as it answers F lines, writes the gzip-compressed
 * profile.proto into the file (profile.c) and closes it, and answers "P ok <bytes>" or
 * "P failed <reason>" among its W lines, before the E. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "symbolizer.h"

#ifndef SYMBOLIZER_VERSION
#define SYMBOLIZER_VERSION "?"
#endif

#define MAX_LINE 16384          /* a path is at most PATH_MAX: longer lines are malformed */
#define MAX_BAD_LINES 10        /* malformed lines named in one batch; the rest are counted */

/* A declared module id; the table maps ids (any 32-bit number the host picks) to modules. */
struct decl {
    bool used;
    uint32_t id;
    struct sym_module *mod;    /* NULL: the id's last declaration was malformed */
};

/* One F line of the batch: its module (NULL: answered none) and offset. */
struct req {
    struct sym_module *mod;
    uint64_t offset;
};

/* One thread: no locks. */
static struct {
    struct sbuf out;           /* the batch's answers: written in one go after its E */
    struct decl *decls;        /* open addressing on the id */
    size_t capdecls, ndecls;
    struct req *reqs;          /* the batch being read */
    size_t nreqs, capreqs;
    unsigned bad_lines;        /* malformed lines in this batch */
    char in[65536];            /* standard input, read with recvmsg (read if no socket) */
    size_t inpos, inlen;
    bool ineof;
    bool not_socket;
    int fds[8];                /* descriptors received and not yet taken by a P line */
    unsigned nfds;
} ms;

void warn(const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sbuf_add(&ms.out, "W ", 2);
    sbuf_escaped(&ms.out, msg);
    sbuf_add(&ms.out, "\n", 1);
}

/* ---- module declarations --------------------------------------------------------------- */

static struct decl *decl_slot(uint32_t id)
{
    size_t i = (size_t)(id * 2654435761u) & (ms.capdecls - 1);
    while (ms.decls[i].used && ms.decls[i].id != id)
        i = (i + 1) & (ms.capdecls - 1);
    return &ms.decls[i];
}

static void declare(uint32_t id, struct sym_module *mod)
{
    if ((ms.ndecls + 1) * 2 > ms.capdecls) {
        struct decl *old = ms.decls;
        size_t ocap = ms.capdecls;
        ms.capdecls = ocap ? ocap * 2 : 64;
        ms.decls = xmalloc(ms.capdecls * sizeof *ms.decls);
        memset(ms.decls, 0, ms.capdecls * sizeof *ms.decls);
        for (size_t i = 0; i < ocap; i++)
            if (old[i].used)
                *decl_slot(old[i].id) = old[i];
        free(old);
    }
    struct decl *d = decl_slot(id);
    if (!d->used)
        ms.ndecls++;
    d->used = true;
    d->id = id;
    d->mod = mod;
}

struct sym_module *module_declared(uint32_t id)
{
    if (!ms.capdecls)
        return NULL;
    struct decl *d = decl_slot(id);
    return d->used ? d->mod : NULL;
}

/* ---- reading requests --------------------------------------------------------------------- */

/* Reads standard input into ms.in; descriptors that come with it (a P line's file) are
 * queued.  The bytes read so far end at the byte a descriptor came with, so the P line's
 * descriptor is queued before the line is parsed. */
static ssize_t refill(void)
{
    if (ms.not_socket)
        return read(0, ms.in, sizeof ms.in);
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int) * 8)];
    } ctl;
    struct iovec iov = { ms.in, sizeof ms.in };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                          .msg_controllen = sizeof ctl.buf };
    ssize_t r = recvmsg(0, &msg, MSG_CMSG_CLOEXEC);
    if (r < 0 && errno == ENOTSOCK) {
        ms.not_socket = true;
        return read(0, ms.in, sizeof ms.in);
    }
    for (struct cmsghdr *c = r >= 0 ? CMSG_FIRSTHDR(&msg) : NULL; c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof fd, sizeof fd);
            if (ms.nfds < sizeof ms.fds / sizeof ms.fds[0])
                ms.fds[ms.nfds++] = fd;
            else
                close(fd);
        }
    }
    return r;
}

/* The oldest descriptor received and not taken; -1 if none. */
static int take_fd(void)
{
    if (!ms.nfds)
        return -1;
    int fd = ms.fds[0];
    memmove(ms.fds, ms.fds + 1, --ms.nfds * sizeof ms.fds[0]);
    return fd;
}

static void drop_fds(void)
{
    while (ms.nfds)
        close(ms.fds[--ms.nfds]);
}

/* The next line of standard input into line (NUL-terminated, without its newline; the last
 * line may lack one): its length, -1 at the end of the input, -2 for a line too long (read
 * and dropped). */
static long next_line(char *line)
{
    size_t n = 0;
    bool too_long = false, any = false;
    for (;;) {
        if (ms.inpos == ms.inlen) {
            if (ms.ineof)
                break;
            ssize_t r = refill();
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                ms.ineof = true;
                break;
            }
            ms.inpos = 0;
            ms.inlen = (size_t)r;
        }
        any = true;
        char c = ms.in[ms.inpos++];
        if (c == '\n')
            break;
        if (n < MAX_LINE)
            line[n++] = c;
        else
            too_long = true;
    }
    if (!any)
        return -1;
    line[n] = 0;
    return too_long ? -2 : (long)n;
}

static void malformed(const char *line, long len, const char *why)
{
    if (++ms.bad_lines > MAX_BAD_LINES)
        return;
    if (len < 0)
        warn("malformed request (%s): a line longer than %d bytes", why, MAX_LINE);
    else
        warn("malformed request (%s): %.200s%s", why, line, len > 200 ? "..." : "");
}

static void add_req(struct sym_module *mod, uint64_t offset)
{
    if (ms.nreqs == ms.capreqs) {
        ms.capreqs = ms.capreqs ? ms.capreqs * 2 : 256;
        ms.reqs = xrealloc(ms.reqs, ms.capreqs * sizeof *ms.reqs);
    }
    ms.reqs[ms.nreqs++] = (struct req){ mod, offset };
}

/* The length of the token at s (up to a space or the end). */
static size_t token(const char *s)
{
    return strcspn(s, " ");
}

/* "M <modid> <build-id or -> <path>" */
/* Paths come percent-encoded: "%XX" for '%' and for the control bytes a line cannot
 * carry (a directory named with a newline).  False for a bad escape. */
static bool unescape(const char *in, char *out, size_t cap)
{
    size_t n = 0;
    for (; *in; in++) {
        char c = *in;
        if (c == '%') {
            unsigned v = 0;
            for (int k = 1; k <= 2; k++) {
                char h = in[k];
                unsigned d = h >= '0' && h <= '9' ? (unsigned)(h - '0')
                           : h >= 'a' && h <= 'f' ? (unsigned)(h - 'a' + 10)
                           : h >= 'A' && h <= 'F' ? (unsigned)(h - 'A' + 10) : 16u;
                if (d == 16)
                    return false;
                v = v * 16 + d;
            }
            if (!v)
                return false;
            c = (char)v;
            in += 2;
        }
        if (n + 1 >= cap)
            return false;
        out[n++] = c;
    }
    out[n] = 0;
    return true;
}

static void m_line(char *line, long len)
{
    const char *p = line + 2;
    size_t l = token(p);
    unsigned long id;
    if (!parse_uint(p, l, UINT32_MAX, &id) || p[l] != ' ') {
        malformed(line, len, "module id");
        return;
    }
    p += l + 1;
    l = token(p);
    char bid[SYM_MAX_BUILD_ID + 1];
    bool have_bid = !(l == 1 && p[0] == '-');
    bool ok = p[l] == ' ' && p[l + 1];
    if (have_bid) {
        ok = ok && l >= 2 && l <= SYM_MAX_BUILD_ID && l % 2 == 0;
        for (size_t i = 0; ok && i < l; i++) {
            char c = p[i];
            if (c >= 'A' && c <= 'F')
                c = (char)(c - 'A' + 'a');
            ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
            bid[i] = c;
        }
        bid[ok ? l : 0] = 0;
    }
    char path[4096];
    if (!ok || !unescape(p + l + 1, path, sizeof path)) {
        malformed(line, len, "build ID or path");
        /* Frames of the id must not go to what it named before. */
        declare((uint32_t)id, NULL);
        return;
    }
    declare((uint32_t)id, module_get(path, have_bid ? bid : NULL));
}

/* "F <modid> <offset hex>" */
static void f_line(char *line, long len)
{
    const char *p = line + 2;
    size_t l = token(p);
    unsigned long id;
    uint64_t offset;
    if (!parse_uint(p, l, UINT32_MAX, &id) || p[l] != ' ' ||
        !parse_hex64(p + l + 1, strlen(p + l + 1), false, &offset)) {
        malformed(line, len, "frame");
        add_req(NULL, 0);
        return;
    }
    struct sym_module *m = module_declared((uint32_t)id);
    if (!m)
        malformed(line, len, "module not declared");
    add_req(m, offset);
}

/* Reads one batch, up to its E line; false at the end of the input before any line. */
static bool read_batch(bool *ended)
{
    static char line[MAX_LINE + 1];
    ms.nreqs = 0;
    ms.bad_lines = 0;
    bool any = false;
    *ended = false;
    for (;;) {
        long len = next_line(line);
        if (len == -1)
            return any;
        any = true;
        const char *why = len == -2 ? "too long" : (size_t)len != strlen(line) ? "a NUL byte"
                                                                      : NULL;
        if (!why && len == 1 && line[0] == 'E') {
            *ended = true;
            return true;
        }
        if (!why && line[0] == 'M' && line[1] == ' ')
            m_line(line, len);
        else if (!why && line[0] == 'F' && line[1] == ' ')
            f_line(line, len);
        else if (!why && line[0] == 'P' && line[1] == ' ' && !profile_active())
            profile_begin(line, take_fd());
        else if (!why && line[0] == 'A' && line[1] == ' ' && profile_active())
            profile_mapping(line);
        else if (!why && line[0] == 'S' && (line[1] == ' ' || !line[1]) && profile_active())
            profile_sample(line);
        else {
            malformed(line, len, why ? why : "unknown line");
            if (line[0] == 'F')
                add_req(NULL, 0);   /* still an F line: it gets its answer */
        }
    }
}

/* ---- answering --------------------------------------------------------------------------- */

const struct sym_answer *lookup(struct sym_module *m, uint64_t offset, struct sym_answer *fresh)
{
    struct sym_cache *c = cache_for(module_build_id(m));
    const struct sym_answer *known = cache_find(c, offset);
    if (known)
        return known;
    enum sym_keep keep;
    module_resolve(m, offset, fresh, &keep);
    if (c && keep != KEEP_NOT)
        cache_add(c, offset, fresh, keep == KEEP_FILE);
    return fresh;
}

static void answer(const struct req *r)
{
    struct sym_answer fresh = { 0 };
    const struct sym_answer *a = r->mod ? lookup(r->mod, r->offset, &fresh) : &fresh;
    sbuf_printf(&ms.out, "R %s ", status_name(a->status));
    sbuf_frames(&ms.out, a);
    sbuf_add(&ms.out, "\n", 1);
    answer_clear(&fresh);
}

/* Writes the answers; false if standard output is gone (the host is). */
static bool send_answers(void)
{
    const char *p = ms.out.p;
    size_t n = ms.out.len;
    while (n) {
        ssize_t w = write(1, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    ms.out.len = 0;
    return true;
}

/* ---- the command line --------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: mallocspy-symbolizer [--cache DIR] [--debuginfod] [--timeout SECONDS]\n"
            "                            [--version] [--help]\n"
            "Resolves module offsets to functions, files and lines for mallocspy, reading\n"
            "requests on standard input and answering on standard output (mallocspy(1)).\n"
            "  --cache DIR        keep the answers per build ID in DIR (created 0700)\n"
            "  --debuginfod       ask debuginfod ($DEBUGINFOD_URLS) for missing debug files\n"
            "  --timeout SECONDS  the time debuginfod may take in all (default 5)\n");
}

/* A descriptor inherited from the host (the write end of a pipe it waits on, say) must not
 * live as long as we do. */
static void close_inherited(void)
{
#ifdef SYS_close_range
    if (syscall(SYS_close_range, 3u, ~0u, 0u) == 0)
        return;
#endif
    long max = sysconf(_SC_OPEN_MAX);
    for (long fd = 3; fd < (max > 0 && max < 1L << 20 ? max : 1L << 16); fd++)
        close((int)fd);
}

int main(int argc, char **argv)
{
    close_inherited();
    signal(SIGPIPE, SIG_IGN);

    static const struct option longopts[] = {
        { "cache", required_argument, NULL, 'c' },
        { "debuginfod", no_argument, NULL, 'd' },
        { "timeout", required_argument, NULL, 't' },
        { "version", no_argument, NULL, 'V' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct sym_options o = { .debuginfod = false, .timeout = 5.0 };
    const char *cache_dir = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            cache_dir = optarg;
            break;
        case 'd':
            o.debuginfod = true;
            break;
        case 't': {
            char *end;
            errno = 0;
            o.timeout = strtod(optarg, &end);
            if (errno || end == optarg || *end || !isfinite(o.timeout) || o.timeout < 0 ||
                o.timeout > 1e6) {
                fprintf(stderr, "mallocspy-symbolizer: bad --timeout: %s\n", optarg);
                return 2;
            }
            break;
        }
        case 'V':
            printf("mallocspy-symbolizer %s\n", SYMBOLIZER_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return 2;
    }

    resolve_init(&o);   /* before libdw looks at the environment */
    if (cache_dir)
        cache_open(cache_dir);   /* a W line in the first batch's answers if it fails */

    bool ended;
    while (read_batch(&ended)) {
        for (size_t i = 0; i < ms.nreqs; i++)
            answer(&ms.reqs[i]);
        if (ms.bad_lines > MAX_BAD_LINES)
            warn("%u more malformed request lines in this batch", ms.bad_lines - MAX_BAD_LINES);
        if (!ended)
            warn("the input ended inside a batch (no E line)");
        /* An unfinished profile batch is not written: its samples may be cut short. */
        if (profile_active() && ended)
            profile_finish(&ms.out);
        profile_reset();
        drop_fds();
        cache_flush();
        sbuf_add(&ms.out, "E\n", 2);
        if (!send_answers())
            return 1;
        if (!ended)
            break;
    }
    return 0;
}
