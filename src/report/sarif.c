/* The leak report as a SARIF 2.1.0 log (sarif_path), for the code-scanning tools of CI: one
 * run for the process, one result per leak group and per heap error, each stack a code
 * flow.  A run stands on its own (tool, rules, source root, process), so that the logs of
 * several processes merge into one log by putting their runs side by side.  Rule ids and
 * the result properties are a contract (mallocspy(1)). */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "base/diag.h"
#include "base/mem.h"
#include "base/tags.h"
#include "core/heaps.h"
#include "output/errors.h"
#include "output/symbolize.h"
#include "output/writer.h"
#include "report/model.h"
#include "report/report.h"
#include "stacks/stacks.h"

/* GitHub code scanning takes at most this many results in a run. */
#define MAX_RESULTS 25000

static struct {
    /* The current directory when the library started: relative source file names are
     * taken from there (SRCROOT), as a build's usually are.  "" when unknown.  Written once
     * at start-up, read-only after. */
    char srcroot[4096];
} sf;

void sarif_init(void)
{
    int saved = errno;   /* start-up may run inside the program's first malloc */
    if (!getcwd(sf.srcroot, sizeof sf.srcroot) || sf.srcroot[0] != '/')
        sf.srcroot[0] = 0;
    errno = saved;
}

/* ---- rules ------------------------------------------------------------------------------ */

struct rule {
    const char *id, *name, *level, *precision, *cwe, *short_text, *full_text, *help;
};

/* Leak groups by kind (definite, indirect, mapping, pool), then heap errors by kind; a
 * result's ruleIndex is its place here. */
enum { R_DEFINITE, R_INDIRECT, R_MAPPING, R_POOL, R_ERRORS };
static const struct rule rules[R_ERRORS + NERR] = {
    { "leak/definite", "DirectLeak", "error", "high", "external/cwe/cwe-401",
      "Memory leaked: no pointer reaches the block",
      "A heap block still allocated when the report was made that nothing reachable points "
      "to: not a global, a stack, a register, thread-local storage, nor another block "
      "(LeakSanitizer's direct leak).",
      "Free the block once it is no longer used, or keep a pointer to it on purpose. The code "
      "flow is the stack that allocated it, outermost call first; the location is its "
      "innermost frame in the program's own source." },
    { "leak/indirect", "IndirectLeak", "warning", "high", "external/cwe/cwe-401",
      "Memory leaked: only leaked blocks point to the block",
      "A heap block still allocated that only other leaked blocks point to, such as the "
      "nodes of a lost list (LeakSanitizer's indirect leak).",
      "Fix the direct leak these blocks hang from, and they go with it. The code flow is the "
      "stack that allocated them, outermost call first." },
    { "leak/mapping", "MappingLeak", "error", "high", "external/cwe/cwe-401",
      "Page mapping leaked: nothing points to it",
      "An anonymous mapping the program made (mmap) and never unmapped, that nothing "
      "reachable points to.",
      "Unmap the region (munmap) when it is no longer used. The code flow is the stack of "
      "the call that mapped it, outermost call first." },
    { "leak/pool", "PoolBufferHeld", "warning", "high", "external/cwe/cwe-772",
      "Buffer of a buffer pool still held",
      "A buffer taken from a buffer pool of mallocspy(3) and never given back.",
      "Give the buffer back to its pool (ms_pool_release). The code flow is the stack that "
      "took it, outermost call first." },
    /* By enum err_kind. */
    { "error/invalid_free", "InvalidFree", "error", "very-high", "external/cwe/cwe-763",
      "Free, reallocation or size query of a pointer that is not a live block",
      "A free, realloc or size query of a pointer mallocspy never handed out, freed already, "
      "or pointing inside a block. The call was ignored.",
      "Pass only pointers that the allocator returned and that are still live. The code "
      "flows are the stack of the call, and of the block's allocation when the pointer "
      "falls inside one." },
    { "error/double_free", "DoubleFree", "error", "very-high", "external/cwe/cwe-415",
      "Block freed twice",
      "A second free of a block still held in the quarantine (option quarantine). The "
      "second free was ignored.",
      "Free each block once; clear the pointer after freeing it. The code flows are the "
      "stacks of the allocation, of the first free and of the second." },
    { "error/mismatch", "MismatchedDeallocation", "error", "very-high", "external/cwe/cwe-762",
      "Block released by the wrong family (malloc and delete, new and free, new[] and "
      "delete)",
      "A block of malloc released with delete, of new with free or delete[], of new[] with "
      "free or delete.",
      "Release each block with the function of its family. The code flows are the stacks "
      "of the allocation and of the release." },
    { "error/overflow", "HeapBufferOverflow", "error", "very-high", "external/cwe/cwe-122",
      "Heap buffer overflow: bytes written past the end of a block",
      "The redzone after a block was written (option guard).",
      "Keep writes within the size the block was allocated with. The code flows are the "
      "stacks of the allocation and of the call that found the damage." },
    { "error/underflow", "HeapBufferUnderflow", "error", "very-high", "external/cwe/cwe-124",
      "Heap buffer underflow: bytes written before the start of a block",
      "The redzone before a block was written (option guard).",
      "Keep writes within the block. The code flows are the stacks of the allocation and of "
      "the call that found the damage." },
    { "error/use_after_free", "HeapUseAfterFree", "error", "very-high", "external/cwe/cwe-416",
      "Heap use after free: a freed block was written",
      "Bytes of a block in the quarantine were written after it was freed (option "
      "quarantine).",
      "Do not use a block after freeing it. The code flows are the stacks of the allocation "
      "and of the free." },
    { "error/wrong_heap", "WrongHeap", "error", "very-high", "external/cwe/cwe-763",
      "Call through the wrong heap",
      "A block of a private heap freed or resized through another heap or with free, or a "
      "block of malloc through a private heap, or a call on a handle that is no heap. The "
      "call was ignored.",
      "Free each block through the heap it came from. The code flows are the stacks of the "
      "call and of the allocation." },
};

static void write_text_object(struct writer *w, const char *key, const char *text)
{
    w_fmt(w, "\"%s\":{\"text\":", key);
    w_json_str(w, text);
    w_str(w, "}");
}

static void write_rules(struct writer *w)
{
    for (unsigned i = 0; i < ARRAY_SIZE(rules); i++) {
        const struct rule *u = &rules[i];
        w_str(w, i ? ",\n{\"id\":" : "\n{\"id\":");
        w_json_str(w, u->id);
        w_str(w, ",\"name\":");
        w_json_str(w, u->name);
        w_str(w, ",");
        write_text_object(w, "shortDescription", u->short_text);
        w_str(w, ",");
        write_text_object(w, "fullDescription", u->full_text);
        w_str(w, ",");
        write_text_object(w, "help", u->help);
        w_fmt(w, ",\"defaultConfiguration\":{\"level\":\"%s\"},\"properties\":{\"tags\":"
                 "[\"memory\",\"%s\",\"%s\"],\"precision\":\"%s\",\"problem.severity\":\"%s\"}}",
              u->level, i < R_ERRORS ? "leak" : "heap-error", u->cwe, u->precision,
              !strcmp(u->level, "error") ? "error" : "warning");
    }
}

/* ---- places ----------------------------------------------------------------------------- */

/* A path as a URI path: every byte but the unreserved ones and '/' percent-encoded (a ':'
 * in a relative name would read as a scheme). */
static void put_uri_path(struct writer *w, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    const char *run = s;
    for (const char *p = s;; p++) {
        unsigned char c = (unsigned char)*p;
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                     (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~' ||
                     c == '/';
        if (plain)
            continue;
        w_put(w, run, (size_t)(p - run));
        if (!c)
            return;
        char e[3] = { '%', hex[c >> 4], hex[c & 15] };
        w_put(w, e, 3);
        run = p + 1;
    }
}

/* {"uri":"file:///..."} of an absolute path. */
static void artifact_absolute(struct writer *w, const char *path)
{
    w_str(w, "{\"uri\":\"file://");
    put_uri_path(w, path);
    w_str(w, "\"}");
}

/* A source file: relative to SRCROOT when the debug information names it relatively (as
 * a build from the top of its tree does) or it lies under SRCROOT; absolute otherwise. */
static void artifact_source(struct writer *w, const char *file)
{
    size_t n = strlen(sf.srcroot);
    const char *rel = NULL;
    if (file[0] != '/')
        rel = file;
    else if (n == 1)
        rel = file + 1;
    else if (n && !strncmp(file, sf.srcroot, n) && file[n] == '/')
        rel = file + n + 1;
    while (rel && rel[0] == '.' && rel[1] == '/')
        for (rel += 2; *rel == '/'; rel++)
            ;
    if (!rel || !*rel || !sf.srcroot[0]) {
        if (file[0] == '/') {
            artifact_absolute(w, file);
            return;
        }
        rel = rel && *rel ? rel : file;
    }
    w_str(w, "{\"uri\":\"");
    put_uri_path(w, rel);
    w_str(w, sf.srcroot[0] ? "\",\"uriBaseId\":\"SRCROOT\"}" : "\"}");
}

static bool is_system_module(const char *m)
{
    static const char *const dirs[] = { "/lib/", "/lib64/", "/usr/lib/", "/usr/lib64/",
                                        "/usr/libexec/" };
    for (unsigned i = 0; m && i < ARRAY_SIZE(dirs); i++)
        if (!strncmp(m, dirs[i], strlen(dirs[i])))
            return true;
    return false;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* One frame of a stack: the address's symbol and which of its functions (0..ninline). */
struct frame {
    const struct symbol *s;
    unsigned j;
    const char *fn, *file;
    int line;
};

static struct frame frame_at(const struct symbol *s, unsigned j)
{
    struct frame f = { s, j, NULL, NULL, 0 };
    symbol_frame(s, j, &f.fn, &f.file, &f.line);
    if (!f.file || f.line <= 0) {
        f.file = NULL;
        f.line = 0;
    }
    return f;
}

/* "fn file:line (module+0xoff)", the parts known, as the text report shows a frame. */
static void put_frame_text(struct writer *w, const struct frame *f)
{
    w_json_chars(w, f->fn ? f->fn : "?");
    if (f->file) {
        w_str(w, " ");
        w_json_chars(w, f->file);
        w_fmt(w, ":%d", f->line);
    }
    if (f->s->has_module) {
        w_str(w, " (");
        w_json_chars(w, f->s->module ? f->s->module : "?");
        w_fmt(w, "+0x%lx)", (unsigned long)f->s->offset);
    }
}

/* A location object for the frame: its source file and line; else the module with the
 * address in it, or the bare address.  A system library's relative file names are
 * relative to a build directory elsewhere, not to SRCROOT: its frames are placed in the
 * module (the message keeps file and line). */
static void write_location(struct writer *w, const struct frame *f, const char *note)
{
    w_str(w, "{\"physicalLocation\":{");
    const char *module = f->s->has_module ? f->s->module : NULL;
    if (f->file && (f->file[0] == '/' || !is_system_module(module))) {
        w_str(w, "\"artifactLocation\":");
        artifact_source(w, f->file);
        w_fmt(w, ",\"region\":{\"startLine\":%d}", f->line);
    } else if (module && module[0] == '/') {
        w_str(w, "\"artifactLocation\":");
        artifact_absolute(w, module);
        w_fmt(w, ",\"address\":{\"absoluteAddress\":%lu,\"offsetFromParent\":%lu}",
              (unsigned long)f->s->addr, (unsigned long)f->s->offset);
    } else {
        w_fmt(w, "\"address\":{\"absoluteAddress\":%lu}", (unsigned long)f->s->addr);
    }
    w_str(w, "}");
    if (f->fn) {
        w_str(w, ",\"logicalLocations\":[{\"fullyQualifiedName\":");
        w_json_str(w, f->fn);
        w_str(w, ",\"kind\":\"function\"}]");
    }
    w_str(w, ",\"message\":{\"text\":\"");
    if (note) {
        w_json_chars(w, note);
        w_str(w, ": ");
    }
    put_frame_text(w, f);
    w_str(w, "\"}}");
}

/* Whether a source file is the program's own: named relatively, or under SRCROOT (a
 * header of /usr/include inlined into the program is not). */
static bool in_source_tree(const char *file)
{
    size_t n = strlen(sf.srcroot);
    return file[0] != '/' || (n && !strncmp(file, sf.srcroot, n) &&
                              (file[n] == '/' || n == 1));
}

/* The frame a result is shown at: the innermost with a source line in the program's own
 * code (not in a system library, in the source tree), else the innermost with a source
 * line outside the system libraries, else with one anywhere, else the innermost.  False
 * for no stack. */
static bool primary_frame(struct symbolizer *sym, const struct stack_rec *st, struct frame *out)
{
    int best = -1;
    for (uint32_t i = 0; st && i < st->pub.depth && best < 3; i++) {
        const struct symbol *s = symbolize(sym, st->frames[i], st->modgen);
        for (unsigned j = 0; j <= s->ninline && best < 3; j++) {
            struct frame f = frame_at(s, j);
            bool system = is_system_module(s->has_module ? s->module : NULL);
            int rank = !f.file ? 0 : system ? 1 : in_source_tree(f.file) ? 3 : 2;
            if (rank > best) {
                best = rank;
                *out = f;
            }
        }
    }
    return best >= 0;
}

/* The stack as one thread flow, outermost call first, each call one level deeper. */
static void write_flow(struct writer *w, struct symbolizer *sym, const struct stack_rec *st,
                       const char *what)
{
    w_str(w, "{");
    write_text_object(w, "message", what);
    w_str(w, ",\"threadFlows\":[{\"locations\":[");
    unsigned level = 0;
    for (uint32_t i = st->pub.depth; i-- > 0;) {
        const struct symbol *s = symbolize(sym, st->frames[i], st->modgen);
        for (unsigned j = s->ninline + 1; j-- > 0;) {
            struct frame f = frame_at(s, j);
            w_str(w, level ? ",\n{\"location\":" : "\n{\"location\":");
            write_location(w, &f, NULL);
            w_fmt(w, ",\"nestingLevel\":%u}", level++);
        }
    }
    w_str(w, "]}]}");
}

static bool has_frames(const struct stack_rec *st) { return st && st->pub.depth; }

/* ---- fingerprints ----------------------------------------------------------------------- */

/* FNV-1a over what identifies a result across runs and builds: its rule, and the
 * functions, file names and lines of its stack (not addresses, which move). */
static uint64_t fnv(uint64_t h, const char *s)
{
    for (; s && *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return (h ^ 0xff) * 0x100000001b3ULL;
}

static uint64_t stack_hash(uint64_t h, struct symbolizer *sym, const struct stack_rec *st)
{
    for (uint32_t i = 0; st && i < st->pub.depth; i++) {
        const struct symbol *s = symbolize(sym, st->frames[i], st->modgen);
        for (unsigned j = 0; j <= s->ninline; j++) {
            struct frame f = frame_at(s, j);
            char num[32];
            if (f.fn) {
                h = fnv(h, f.fn);
            } else {
                h = fnv(h, s->has_module && s->module ? base_name(s->module) : "?");
                diag_format(num, sizeof num, "%lx", (unsigned long)s->offset);
                h = fnv(h, num);
            }
            h = fnv(h, f.file ? base_name(f.file) : "");
            diag_format(num, sizeof num, "%d", f.line);
            h = fnv(h, num);
        }
    }
    return fnv(h, "|");
}

static void write_fingerprint(struct writer *w, uint64_t h)
{
    w_fmt(w, ",\"partialFingerprints\":{\"mallocspyStack/v1\":\"%016lx\"}", (unsigned long)h);
}

/* ---- results ---------------------------------------------------------------------------- */

static void result_head(struct writer *w, unsigned rule, bool first)
{
    w_str(w, first ? "\n{\"ruleId\":" : ",\n{\"ruleId\":");
    w_json_str(w, rules[rule].id);
    w_fmt(w, ",\"ruleIndex\":%u,\"level\":\"%s\"", rule, rules[rule].level);
}

/* "locations": the primary frame, else the program itself. */
static void write_primary(struct writer *w, const struct frame *f, bool have, const char *exe)
{
    w_str(w, ",\"locations\":[");
    if (have) {
        write_location(w, f, NULL);
    } else {
        w_str(w, "{\"physicalLocation\":{\"artifactLocation\":");
        artifact_absolute(w, exe[0] ? exe : "/");
        w_str(w, "},\"message\":{\"text\":\"no stack recorded\"}}");
    }
    w_str(w, "]");
}

static void put_where(struct writer *w, const struct frame *f, bool have)
{
    if (!have) {
        w_str(w, " an unknown stack");
        return;
    }
    w_str(w, " ");
    w_json_chars(w, f->fn ? f->fn : "?");
    if (f->file) {
        w_str(w, " (");
        w_json_chars(w, f->file);
        w_fmt(w, ":%d)", f->line);
    } else if (f->s->has_module && f->s->module) {
        w_str(w, " (");
        w_json_chars(w, base_name(f->s->module));
        w_str(w, ")");
    }
}

static unsigned group_rule(const struct group *g)
{
    switch (g->kind) {
    case KIND_DEFINITE: return R_DEFINITE;
    case KIND_INDIRECT: return R_INDIRECT;
    case KIND_MAPPING: return R_MAPPING;
    default: return R_POOL;
    }
}

static void write_group(struct writer *w, struct report *r, const struct group *g, bool first,
                        const char *exe)
{
    const struct stack_rec *st = stack_by_id(g->stack);
    unsigned rule = group_rule(g);
    struct frame f;
    bool have = primary_frame(r->sym, st, &f);
    result_head(w, rule, first);
    w_str(w, ",\"message\":{\"text\":\"");
    if (g->kind == KIND_POOL) {
        w_fmt(w, "Pool leak of %lu byte(s) in %lu buffer(s) of pool '", (unsigned long)g->bytes,
              (unsigned long)g->blocks);
        w_json_chars(w, g->pool ? g->pool : "?");
        w_str(w, "' still held, taken by");
    } else if (g->kind == KIND_MAPPING || g->mapping) {
        w_fmt(w, "%s leak of %lu byte(s) in %lu mapping(s) made by",
              g->kind == KIND_MAPPING ? "Mapping" : "Indirect", (unsigned long)g->bytes,
              (unsigned long)g->blocks);
    } else {
        w_fmt(w, "%s leak of %lu byte(s) in %lu object(s) allocated",
              g->kind == KIND_DEFINITE ? "Direct" : "Indirect", (unsigned long)g->bytes,
              (unsigned long)g->blocks);
        const char *file;
        int line;
        if (g->heap && heap_name(g->heap)) {
            w_str(w, " in heap '");
            w_json_chars(w, heap_name(g->heap));
            w_str(w, "'");
        }
        if (g->tag && tag_lookup(g->tag, &file, &line)) {
            w_str(w, " at ");
            w_json_chars(w, file);
            w_fmt(w, ":%d", line);
        }
        w_str(w, " from");
    }
    put_where(w, &f, have);
    w_str(w, ".\"}");
    write_primary(w, &f, have, exe);
    uint64_t h = fnv(0xcbf29ce484222325ULL, rules[rule].id);
    h = fnv(h, g->heap ? heap_name(g->heap) : NULL);
    h = fnv(h, g->pool);
    h = stack_hash(h, r->sym, st);
    write_fingerprint(w, h);
    if (has_frames(st)) {
        w_str(w, ",\"codeFlows\":[");
        write_flow(w, r->sym, st, g->kind == KIND_POOL ? "taken by" :
                                  g->kind == KIND_MAPPING || g->mapping ? "mapped by" :
                                  "allocated by");
        w_str(w, "]");
    }
    w_fmt(w, ",\"properties\":{\"kind\":\"%s\",\"bytes\":%lu,\"blocks\":%lu}}",
          g->kind == KIND_DEFINITE ? "definite" : g->kind == KIND_INDIRECT ? "indirect" :
          g->kind == KIND_MAPPING ? "mapping" : "pool",
          (unsigned long)g->bytes, (unsigned long)g->blocks);
}

static void write_error(struct writer *w, struct symbolizer *sym, const struct heap_error *e,
                        bool first, const char *exe)
{
    unsigned rule = R_ERRORS + (unsigned)e->kind;
    /* Shown where the error was found; a write found later (use after free) at the free. */
    const struct stack_rec *at = has_frames(e->here) ? e->here :
                                 has_frames(e->free) ? e->free : e->alloc;
    struct frame f;
    bool have = primary_frame(sym, at, &f);
    result_head(w, rule, first);
    w_str(w, ",\"message\":{\"text\":\"");
    w_json_chars(w, error_title(e));
    w_fmt(w, " on 0x%lx", (unsigned long)e->address);
    if (e->call) {
        w_str(w, " in ");
        w_json_chars(w, e->call);
    }
    if (e->kind == ERR_OVERFLOW || e->kind == ERR_UNDERFLOW || e->kind == ERR_USE_AFTER_FREE)
        w_fmt(w, ": %lu byte(s) damaged at offset %ld of the %lu-byte block",
              (unsigned long)e->length, e->offset, (unsigned long)e->bytes);
    w_str(w, ", at");
    put_where(w, &f, have);
    w_str(w, ".\"}");
    write_primary(w, &f, have, exe);
    uint64_t h = fnv(0xcbf29ce484222325ULL, rules[rule].id);
    h = fnv(h, e->call);
    h = stack_hash(h, sym, e->here);
    h = stack_hash(h, sym, e->free);
    h = stack_hash(h, sym, e->alloc);
    write_fingerprint(w, h);
    /* In the order things happened: allocated, freed, the call that erred. */
    const struct stack_rec *flows[3] = { e->alloc, e->free, e->here };
    static const char *const what[3] = { "allocated by", "freed by", "here" };
    bool any = false;
    for (int k = 0; k < 3; k++) {
        if (!has_frames(flows[k]))
            continue;
        w_str(w, any ? ",\n" : ",\"codeFlows\":[");
        write_flow(w, sym, flows[k], what[k]);
        any = true;
    }
    if (any)
        w_str(w, "]");
    w_fmt(w, ",\"properties\":{\"kind\":\"%s\",\"address\":\"0x%lx\",\"bytes\":%lu,\"call\":",
          error_kind_name(e->kind), (unsigned long)e->address, (unsigned long)e->bytes);
    w_json_str(w, e->call);
    w_str(w, "}}");
}

/* ---- the log ---------------------------------------------------------------------------- */

void report_write_sarif(struct writer *w, struct report *r)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = 0;
    int pid = (int)getpid();
    w_str(w, "{\"$schema\":\"https://json.schemastore.org/sarif-2.1.0.json\","
             "\"version\":\"2.1.0\",\"runs\":[{\n\"tool\":{\"driver\":{\"name\":\"mallocspy\","
             "\"version\":\"" MALLOCSPY_VERSION "\",\"semanticVersion\":\"" MALLOCSPY_VERSION
             "\",\"rules\":[");
    write_rules(w);
    w_fmt(w, "]}},\n\"invocations\":[{\"executionSuccessful\":true,\"processId\":%d", pid);
    if (exe[0] == '/') {
        w_str(w, ",\"executableLocation\":");
        artifact_absolute(w, exe);
    }
    if (sf.srcroot[0]) {
        /* A directory's URI ends with '/', as SARIF wants of a base. */
        w_str(w, ",\"workingDirectory\":{\"uri\":\"file://");
        put_uri_path(w, sf.srcroot);
        w_str(w, sf.srcroot[1] ? "/\"}}],\n" : "\"}}],\n");
        w_str(w, "\"originalUriBaseIds\":{\"SRCROOT\":{\"uri\":\"file://");
        put_uri_path(w, sf.srcroot);
        w_str(w, sf.srcroot[1] ? "/\"" : "\"");
        w_str(w, ",\"description\":{\"text\":\"The current directory when the process "
                 "started: relative source file names are taken from there.\"}}},\n");
    } else {
        w_str(w, "}],\n");
    }
    /* One category per program ("mallocspy/NAME"), the process apart. */
    w_str(w, "\"automationDetails\":{\"id\":\"mallocspy/");
    w_json_chars(w, exe[0] ? base_name(exe) : "unknown");
    w_fmt(w, "/%d\"},\n\"properties\":{\"pid\":%d,\"exe\":", pid, pid);
    w_json_str(w, exe[0] ? exe : NULL);
    w_str(w, "},\n\"results\":[");
    size_t nerr = 0, bytes = 0, written = 0;
    struct heap_error *errs = errors_copy(&nerr, &bytes);
    for (size_t i = 0; i < nerr && written < MAX_RESULTS; i++, written++)
        write_error(w, r->sym, &errs[i], written == 0, exe);
    for (size_t i = 0; i < r->ng && written < MAX_RESULTS; i++) {
        const struct group *g = &r->g[i];
        if (g->kind == KIND_REACHABLE || g->kind == KIND_SUPPRESSED)
            continue;
        write_group(w, r, g, written++ == 0, exe);
    }
    if (errs)
        pages_free(errs, bytes);
    w_str(w, "]}]}\n");
}
