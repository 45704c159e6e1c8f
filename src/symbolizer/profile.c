/* The pprof profile of a profile batch (main.c reads it; the protocol is at its top): the
 * host's raw samples (four values and a stack of module offsets each) become pprof's
 * profile.proto, with the sample types of a Go heap profile, names from the same answers
 * as the F lines get, gzip-compressed into the file the host opened and sent with the P
 * line.  The encoder is pprof's wire format written out by hand: varints and
 * length-delimited fields, nothing else is needed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "symbolizer.h"

/* profile.proto's field numbers (github.com/google/pprof, proto/profile.proto). */
enum {
    PROFILE_SAMPLE_TYPE = 1, PROFILE_SAMPLE = 2, PROFILE_MAPPING = 3, PROFILE_LOCATION = 4,
    PROFILE_FUNCTION = 5, PROFILE_STRING_TABLE = 6, PROFILE_TIME_NANOS = 9,
    PROFILE_DURATION_NANOS = 10, PROFILE_PERIOD_TYPE = 11, PROFILE_PERIOD = 12,
    PROFILE_COMMENT = 13, PROFILE_DEFAULT_SAMPLE_TYPE = 14,
    VALUETYPE_TYPE = 1, VALUETYPE_UNIT = 2,
    SAMPLE_LOCATION_ID = 1, SAMPLE_VALUE = 2,
    MAPPING_ID = 1, MAPPING_START = 2, MAPPING_LIMIT = 3, MAPPING_OFFSET = 4,
    MAPPING_FILENAME = 5, MAPPING_BUILD_ID = 6, MAPPING_HAS_FUNCTIONS = 7,
    MAPPING_HAS_FILENAMES = 8, MAPPING_HAS_LINE_NUMBERS = 9, MAPPING_HAS_INLINE_FRAMES = 10,
    LOCATION_ID = 1, LOCATION_MAPPING_ID = 2, LOCATION_ADDRESS = 3, LOCATION_LINE = 4,
    LINE_FUNCTION_ID = 1, LINE_LINE = 2,
    FUNCTION_ID = 1, FUNCTION_NAME = 2, FUNCTION_SYSTEM_NAME = 3, FUNCTION_FILENAME = 4,
};
#define WIRE_VARINT 0
#define WIRE_BYTES 2

#define NVALUES 4

struct mapping {
    uint32_t modid;
    struct sym_module *mod;
    uint64_t start, limit, base;
    bool all_functions, all_files, all_lines;
};

/* A location: one address of one module (or a bare address, mod NULL). */
struct location {
    uint32_t mapping;          /* index + 1; 0: none */
    struct sym_module *mod;
    uint64_t offset, address;
};

struct sample {
    int64_t value[NVALUES];
    uint32_t first, n;         /* its location ids, in prof.stack */
};

/* Open addressing from a key to an index + 1 (0: empty). */
struct table {
    uint32_t *slot;
    size_t cap, n;
};

/* One profile batch at a time. */
static struct {
    bool on;
    int fd;                    /* the host's file; -1 when none came with the P line */
    uint64_t time_ns, duration_ns, period;
    bool names;
    struct mapping *map;
    size_t nmap, capmap;
    struct location *loc;
    size_t nloc, caploc;
    struct table locs;         /* (mapping, offset) -> location */
    struct sample *smp;
    size_t nsmp, capsmp;
    uint32_t *stack;
    size_t nstack, capstack;
    /* While encoding: */
    char **str;
    size_t nstr, capstr;
    struct table strs;
    struct { uint32_t name, file; } *fn;
    size_t nfn, capfn;
    struct table fns;
    unsigned bad;              /* malformed lines of this batch */
} prof = { .fd = -1 };

static void *grow(void *p, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return p;
    *cap = *cap ? *cap * 2 : 64;
    return xrealloc(p, *cap * size);
}

/* ---- hashing -------------------------------------------------------------------------- */

static uint64_t mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; s && *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return mix(h + (s ? 1 : 0));
}

/* The slot of key h in t for which same(index) holds, or the empty one where it goes
 * (the caller has made room: table_grow). */
static uint32_t *table_find(struct table *t, uint64_t h, bool (*same)(uint32_t, const void *),
                            const void *key)
{
    size_t i = (size_t)h & (t->cap - 1);
    while (t->slot[i] && !same(t->slot[i] - 1, key))
        i = (i + 1) & (t->cap - 1);
    return &t->slot[i];
}

/* Grows t, re-placing each index by hash(index). */
static void table_grow(struct table *t, uint64_t (*hash)(uint32_t))
{
    size_t ocap = t->cap;
    uint32_t *old = t->slot;
    t->cap = ocap ? ocap * 4 : 1024;
    t->slot = xmalloc(t->cap * sizeof *t->slot);
    memset(t->slot, 0, t->cap * sizeof *t->slot);
    for (size_t i = 0; i < ocap; i++) {
        if (!old[i])
            continue;
        size_t j = (size_t)hash(old[i] - 1) & (t->cap - 1);
        while (t->slot[j])
            j = (j + 1) & (t->cap - 1);
        t->slot[j] = old[i];
    }
    free(old);
}

static void table_clear(struct table *t)
{
    free(t->slot);
    t->slot = NULL;
    t->cap = t->n = 0;
}

/* Locations by (mapping, offset); bare addresses by (0, address). */
struct loc_key { uint32_t mapping; uint64_t offset; };
static uint64_t loc_hash_key(uint32_t mapping, uint64_t offset)
{
    return mix(offset * 31 + mapping + 1);
}
static uint64_t loc_hash(uint32_t i)
{
    const struct location *l = &prof.loc[i];
    return loc_hash_key(l->mapping, l->mapping ? l->offset : l->address);
}
static bool loc_same(uint32_t i, const void *key)
{
    const struct loc_key *k = key;
    const struct location *l = &prof.loc[i];
    return l->mapping == k->mapping && (l->mapping ? l->offset : l->address) == k->offset;
}

static uint64_t str_hash(uint32_t i) { return hash_str(prof.str[i]); }
static bool str_same(uint32_t i, const void *key) { return !strcmp(prof.str[i], key); }

struct fn_key { uint32_t name, file; };
static uint64_t fn_hash_key(uint32_t name, uint32_t file) { return mix(((uint64_t)name << 32) | file); }
static uint64_t fn_hash(uint32_t i) { return fn_hash_key(prof.fn[i].name, prof.fn[i].file); }
static bool fn_same(uint32_t i, const void *key)
{
    const struct fn_key *k = key;
    return prof.fn[i].name == k->name && prof.fn[i].file == k->file;
}

/* ---- reading the batch ------------------------------------------------------------------ */

static void bad(const char *line, const char *why)
{
    if (++prof.bad <= 10)
        warn("malformed profile request (%s): %.200s", why, line);
}

void profile_reset(void)
{
    if (prof.fd >= 0)
        close(prof.fd);
    free(prof.map);
    free(prof.loc);
    free(prof.smp);
    free(prof.stack);
    table_clear(&prof.locs);
    for (size_t i = 0; i < prof.nstr; i++)
        free(prof.str[i]);
    free(prof.str);
    table_clear(&prof.strs);
    free(prof.fn);
    table_clear(&prof.fns);
    memset(&prof, 0, sizeof prof);
    prof.fd = -1;
}

bool profile_active(void) { return prof.on; }

/* "P <time_nanos> <duration_nanos> <period> <names 0|1>" */
void profile_begin(const char *line, int fd)
{
    profile_reset();
    prof.on = true;
    prof.fd = fd;
    unsigned long long t, d, p;
    int names, end = 0;
    if (sscanf(line, "P %llu %llu %llu %d%n", &t, &d, &p, &names, &end) != 4 || line[end] ||
        (names != 0 && names != 1)) {
        bad(line, "header");
        return;
    }
    prof.time_ns = t;
    prof.duration_ns = d;
    prof.period = p;
    prof.names = names;
}

static struct mapping *mapping_of(uint32_t modid, uint32_t *index)
{
    for (size_t i = 0; i < prof.nmap; i++)
        if (prof.map[i].modid == modid) {
            *index = (uint32_t)i + 1;
            return &prof.map[i];
        }
    return NULL;
}

/* "A <modid> <start hex> <limit hex> <base hex>": where a declared module was in memory. */
void profile_mapping(const char *line)
{
    unsigned long id;
    char s[24], l[24], b[24];
    uint64_t start, limit, base;
    int end = 0;
    if (sscanf(line, "A %lu %23s %23s %23s%n", &id, s, l, b, &end) != 4 || line[end] ||
        id > UINT32_MAX || !parse_hex64(s, strlen(s), false, &start) ||
        !parse_hex64(l, strlen(l), false, &limit) || !parse_hex64(b, strlen(b), false, &base)) {
        bad(line, "mapping");
        return;
    }
    struct sym_module *mod = module_declared((uint32_t)id);
    uint32_t ix;
    if (!mod || mapping_of((uint32_t)id, &ix)) {
        bad(line, mod ? "mapping given twice" : "module not declared");
        return;
    }
    prof.map = grow(prof.map, &prof.capmap, prof.nmap, sizeof *prof.map);
    prof.map[prof.nmap++] = (struct mapping){ (uint32_t)id, mod, start, limit, base, true,
                                              true, true };
}

static uint32_t location(uint32_t mapping, uint64_t key)
{
    if ((prof.locs.n + 1) * 2 > prof.locs.cap)
        table_grow(&prof.locs, loc_hash);
    struct loc_key k = { mapping, key };
    uint32_t *slot = table_find(&prof.locs, loc_hash_key(mapping, key), loc_same, &k);
    if (*slot)
        return *slot;
    prof.loc = grow(prof.loc, &prof.caploc, prof.nloc, sizeof *prof.loc);
    struct location *l = &prof.loc[prof.nloc++];
    const struct mapping *m = mapping ? &prof.map[mapping - 1] : NULL;
    *l = (struct location){ mapping, m ? m->mod : NULL, m ? key : 0, m ? m->base + key : key };
    prof.locs.n++;
    *slot = (uint32_t)prof.nloc;
    return *slot;
}

/* "S <v1> <v2> <v3> <v4> [<modid>:<offset hex> | @<address hex>]...", innermost first. */
void profile_sample(const char *line)
{
    int64_t v[NVALUES];
    const char *p = line + 1;
    for (int i = 0; i < NVALUES; i++) {
        char *e;
        errno = 0;
        if (*p != ' ' || p[1] < '0' || p[1] > '9') {
            bad(line, "values");
            return;
        }
        unsigned long long x = strtoull(p + 1, &e, 10);
        if (errno || x > INT64_MAX) {
            bad(line, "values");
            return;
        }
        v[i] = (int64_t)x;
        p = e;
    }
    size_t first = prof.nstack;
    while (*p == ' ') {
        p++;
        size_t len = strcspn(p, " ");
        const char *colon = memchr(p, ':', len);
        uint64_t off;
        uint32_t id = 0;
        if (p[0] == '@' && parse_hex64(p + 1, len - 1, false, &off)) {
            id = location(0, off);
        } else if (colon) {
            unsigned long modid;
            uint32_t mi;
            if (parse_uint(p, (size_t)(colon - p), UINT32_MAX, &modid) &&
                parse_hex64(colon + 1, len - (size_t)(colon - p) - 1, false, &off) &&
                mapping_of((uint32_t)modid, &mi))
                id = location(mi, off);
        }
        if (!id) {
            bad(line, "frame");
            prof.nstack = first;
            return;
        }
        prof.stack = grow(prof.stack, &prof.capstack, prof.nstack, sizeof *prof.stack);
        prof.stack[prof.nstack++] = id;
        p += len;
    }
    if (*p) {
        bad(line, "frames");
        prof.nstack = first;
        return;
    }
    prof.smp = grow(prof.smp, &prof.capsmp, prof.nsmp, sizeof *prof.smp);
    struct sample *s = &prof.smp[prof.nsmp++];
    memcpy(s->value, v, sizeof v);
    s->first = (uint32_t)first;
    s->n = (uint32_t)(prof.nstack - first);
}

/* ---- encoding ----------------------------------------------------------------------------- */

static void varint(struct sbuf *b, uint64_t v)
{
    char tmp[10];
    size_t n = 0;
    do {
        tmp[n++] = (char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    sbuf_add(b, tmp, n);
}

static void key(struct sbuf *b, unsigned field, unsigned wire)
{
    varint(b, (uint64_t)field << 3 | wire);
}

/* proto3: a field at its default (0) is left out. */
static void uint_field(struct sbuf *b, unsigned field, uint64_t v)
{
    if (!v)
        return;
    key(b, field, WIRE_VARINT);
    varint(b, v);
}

static void bytes_field(struct sbuf *b, unsigned field, const char *p, size_t n)
{
    key(b, field, WIRE_BYTES);
    varint(b, n);
    sbuf_add(b, p, n);
}

/* A submessage encoded in `msg`, appended to b; msg is emptied for the next. */
static void message_field(struct sbuf *b, unsigned field, struct sbuf *msg)
{
    bytes_field(b, field, msg->p ? msg->p : "", msg->len);
    msg->len = 0;
}

static uint32_t string_index(const char *s)
{
    if (!s)
        s = "";
    if ((prof.strs.n + 1) * 2 > prof.strs.cap)
        table_grow(&prof.strs, str_hash);
    uint32_t *slot = table_find(&prof.strs, hash_str(s), str_same, s);
    if (*slot)
        return *slot - 1;
    prof.str = grow(prof.str, &prof.capstr, prof.nstr, sizeof *prof.str);
    prof.str[prof.nstr++] = xstrdup(s);
    prof.strs.n++;
    *slot = (uint32_t)prof.nstr;
    return *slot - 1;
}

static uint32_t function_id(const char *name, const char *file)
{
    struct fn_key k = { string_index(name), string_index(file) };
    if ((prof.fns.n + 1) * 2 > prof.fns.cap)
        table_grow(&prof.fns, fn_hash);
    uint32_t *slot = table_find(&prof.fns, fn_hash_key(k.name, k.file), fn_same, &k);
    if (*slot)
        return *slot;
    prof.fn = grow(prof.fn, &prof.capfn, prof.nfn, sizeof *prof.fn);
    prof.fn[prof.nfn].name = k.name;
    prof.fn[prof.nfn].file = k.file;
    prof.nfn++;
    prof.fns.n++;
    *slot = (uint32_t)prof.nfn;
    return *slot;
}

static void value_type(struct sbuf *out, unsigned field, const char *type, const char *unit,
                       struct sbuf *tmp)
{
    uint_field(tmp, VALUETYPE_TYPE, string_index(type));
    uint_field(tmp, VALUETYPE_UNIT, string_index(unit));
    message_field(out, field, tmp);
}

/* One location, named by the symbolizer's answer when names were asked: pprof's Lines are
 * innermost first, the real function last, as the answers have them. */
static void encode_location(struct sbuf *out, uint32_t id, struct location *l, struct sbuf *m,
                            struct sbuf *ln)
{
    uint_field(m, LOCATION_ID, id);
    uint_field(m, LOCATION_MAPPING_ID, l->mapping);
    uint_field(m, LOCATION_ADDRESS, l->address);
    struct mapping *map = l->mapping ? &prof.map[l->mapping - 1] : NULL;
    bool named = false;
    if (prof.names && l->mod) {
        struct sym_answer fresh = { 0 };
        const struct sym_answer *a = lookup(l->mod, l->offset, &fresh);
        /* Named when the real function is: an inlined frame without a name still says
         * where it is. */
        named = a->n && a->f[a->n - 1].function;
        for (unsigned j = 0; named && j < a->n; j++) {
            const struct sym_frame *f = &a->f[j];
            uint_field(ln, LINE_FUNCTION_ID, function_id(f->function ? f->function : "??",
                                                         f->file));
            uint_field(ln, LINE_LINE, (uint64_t)(f->line > 0 ? f->line : 0));
            message_field(m, LOCATION_LINE, ln);
            if (map && !f->file)
                map->all_files = false;
            if (map && f->line <= 0)
                map->all_lines = false;
        }
        answer_clear(&fresh);
    } else if (!l->mod && !l->address) {
        /* A sample without a stack. */
        uint_field(ln, LINE_FUNCTION_ID, function_id("[no stack]", NULL));
        message_field(m, LOCATION_LINE, ln);
        named = true;
    }
    if (map && !named)
        map->all_functions = map->all_files = map->all_lines = false;
    message_field(out, PROFILE_LOCATION, m);
}

/* The whole profile, uncompressed, into out. */
static void encode(struct sbuf *out)
{
    struct sbuf m = { 0 }, sub = { 0 }, packed = { 0 };
    string_index("");          /* string_table[0] is "" */
    value_type(out, PROFILE_SAMPLE_TYPE, "alloc_objects", "count", &sub);
    value_type(out, PROFILE_SAMPLE_TYPE, "alloc_space", "bytes", &sub);
    value_type(out, PROFILE_SAMPLE_TYPE, "inuse_objects", "count", &sub);
    value_type(out, PROFILE_SAMPLE_TYPE, "inuse_space", "bytes", &sub);
    for (size_t i = 0; i < prof.nsmp; i++) {
        const struct sample *s = &prof.smp[i];
        for (uint32_t k = 0; k < s->n; k++)
            varint(&packed, prof.stack[s->first + k]);
        if (!s->n) {
            /* pprof wants a place for every sample: one without a stack gets its own. */
            varint(&packed, location(0, 0));
        }
        message_field(&m, SAMPLE_LOCATION_ID, &packed);
        for (int k = 0; k < NVALUES; k++)
            varint(&packed, (uint64_t)s->value[k]);
        message_field(&m, SAMPLE_VALUE, &packed);
        message_field(out, PROFILE_SAMPLE, &m);
    }
    /* Locations before mappings: naming them tells whether each mapping is fully named. */
    struct sbuf locs = { 0 };
    for (size_t i = 0; i < prof.nloc; i++)
        encode_location(&locs, (uint32_t)i + 1, &prof.loc[i], &m, &sub);
    for (size_t i = 0; i < prof.nmap; i++) {
        const struct mapping *map = &prof.map[i];
        uint_field(&m, MAPPING_ID, i + 1);
        uint_field(&m, MAPPING_START, map->start);
        uint_field(&m, MAPPING_LIMIT, map->limit);
        /* The lowest segment starts the file (offset 0), as linkers lay ELF files out. */
        uint_field(&m, MAPPING_OFFSET, 0);
        uint_field(&m, MAPPING_FILENAME, string_index(module_path(map->mod)));
        uint_field(&m, MAPPING_BUILD_ID, string_index(module_build_id(map->mod)));
        bool names = prof.names;
        uint_field(&m, MAPPING_HAS_FUNCTIONS, names && map->all_functions);
        uint_field(&m, MAPPING_HAS_FILENAMES, names && map->all_functions && map->all_files);
        uint_field(&m, MAPPING_HAS_LINE_NUMBERS, names && map->all_functions && map->all_lines);
        uint_field(&m, MAPPING_HAS_INLINE_FRAMES, names && map->all_functions);
        message_field(out, PROFILE_MAPPING, &m);
    }
    sbuf_add(out, locs.p ? locs.p : "", locs.len);
    free(locs.p);
    for (size_t i = 0; i < prof.nfn; i++) {
        uint_field(&m, FUNCTION_ID, i + 1);
        uint_field(&m, FUNCTION_NAME, prof.fn[i].name);
        uint_field(&m, FUNCTION_SYSTEM_NAME, prof.fn[i].name);
        uint_field(&m, FUNCTION_FILENAME, prof.fn[i].file);
        message_field(out, PROFILE_FUNCTION, &m);
    }
    uint_field(out, PROFILE_TIME_NANOS, prof.time_ns);
    uint_field(out, PROFILE_DURATION_NANOS, prof.duration_ns);
    /* Go's heap profiles: the period is in bytes of allocation between two samples. */
    value_type(out, PROFILE_PERIOD_TYPE, "space", "bytes", &sub);
    uint_field(out, PROFILE_PERIOD, prof.period);
    uint_field(out, PROFILE_COMMENT, string_index(prof.period ? "mallocspy: sampled heap profile"
                                                              : "mallocspy: every allocation"));
    uint_field(out, PROFILE_DEFAULT_SAMPLE_TYPE, string_index("inuse_space"));
    /* Last, once every string is known; entry 0, "", is written too (empty, but there). */
    for (size_t i = 0; i < prof.nstr; i++)
        bytes_field(out, PROFILE_STRING_TABLE, prof.str[i], strlen(prof.str[i]));
    free(m.p);
    free(sub.p);
    free(packed.p);
}

/* ---- writing ------------------------------------------------------------------------------- */

static bool write_all(int fd, const unsigned char *p, size_t n, char *why, size_t cap)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            snprintf(why, cap, "%s", w < 0 ? strerror(errno) : "nothing written");
            return false;
        }
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* gzip (RFC 1952) of data into fd: what pprof expects on disk. */
static bool gzip_to(int fd, const char *data, size_t len, uint64_t *written, char *why,
                    size_t cap)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
        Z_OK) {
        snprintf(why, cap, "zlib: cannot start compressing");
        return false;
    }
    z.next_in = (unsigned char *)data;
    z.avail_in = (uInt)len;
    unsigned char out[65536];
    bool ok = true;
    int r;
    do {
        z.next_out = out;
        z.avail_out = sizeof out;
        r = deflate(&z, Z_FINISH);
        size_t n = sizeof out - z.avail_out;
        if (r == Z_STREAM_ERROR || !write_all(fd, out, n, why, cap)) {
            if (r == Z_STREAM_ERROR)
                snprintf(why, cap, "zlib: compression failed");
            ok = false;
            break;
        }
        *written += n;
    } while (r != Z_STREAM_END);
    deflateEnd(&z);
    return ok;
}

/* The answer to the batch's P line, into out: "P ok <bytes>" or "P failed <why>". */
void profile_finish(struct sbuf *answer)
{
    char why[512] = "";
    uint64_t written = 0;
    bool ok = false;
    if (prof.bad) {
        snprintf(why, sizeof why, "%u malformed line(s) in the profile request", prof.bad);
    } else if (prof.fd < 0) {
        snprintf(why, sizeof why, "no file descriptor came with the P line");
    } else {
        struct sbuf data = { 0 };
        encode(&data);
        if (data.len > UINT32_MAX)
            snprintf(why, sizeof why, "the profile is larger than 4 GiB");
        else
            ok = gzip_to(prof.fd, data.p, data.len, &written, why, sizeof why);
        free(data.p);
        if (ok && close(prof.fd) != 0) {
            snprintf(why, sizeof why, "%s", strerror(errno));
            ok = false;
        }
        if (ok)
            prof.fd = -1;
    }
    if (ok) {
        sbuf_printf(answer, "P ok %llu\n", (unsigned long long)written);
    } else {
        sbuf_add(answer, "P failed ", 9);
        sbuf_escaped(answer, why);
        sbuf_add(answer, "\n", 1);
    }
    profile_reset();
}
