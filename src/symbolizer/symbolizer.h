/* mallocspy-symbolizer's private header: what main.c (the protocol), resolve.c (libdw and
 * debuginfod) and cache.c (the symbol files) share.  The program stands alone: nothing here
 * comes from the library's sources. */
#ifndef MS_SYMBOLIZER_H
#define MS_SYMBOLIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Inlined functions at one address, at most, plus the real function (symbolize.c keeps 64). */
#define SYM_MAX_FRAMES 65
/* A build ID, in hex: GNU's are 40 digits; longer ones are refused (the cache's file name). */
#define SYM_MAX_BUILD_ID 128

enum sym_status { SYM_NONE, SYM_OK, SYM_LATE };

/* One function at an address: a name, and the place in it; NULL / 0 when unknown. */
struct sym_frame {
    char *function;
    char *file;
    int line;
};

/* What is known of one address: n frames, innermost first (the inlined functions, then the
 * real one), each with the line of the call to the next one in. */
struct sym_answer {
    enum sym_status status;
    unsigned n;
    struct sym_frame *f;
};

/* ---- util.c: memory, text buffers, parsers, answers ----------------------------------- */

/* malloc and friends that end the program on failure: a helper out of memory has nothing
 * useful left to say, and the host then sees EOF and falls back to module+offset. */
void *xmalloc(size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

/* A growing text buffer: the answers of a batch, a cache file being written. */
struct sbuf {
    char *p;
    size_t len, cap;
};
void sbuf_add(struct sbuf *b, const char *s, size_t n);
void sbuf_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s with every control character (tabs and newlines among them) as '?': the protocol and
 * the cache files separate fields with tabs and records with newlines. */
void sbuf_escaped(struct sbuf *b, const char *s);
/* The answer's fields as the protocol and the cache write them:
 * "<n>[\t<function>\t<file>\t<line>]*n". */
void sbuf_frames(struct sbuf *b, const struct sym_answer *a);

void answer_clear(struct sym_answer *a);
void answer_copy(struct sym_answer *dst, const struct sym_answer *src);
const char *status_name(enum sym_status s);

/* A whole string of hex digits (1 to 16; lowercase only when `lower`) into *v. */
bool parse_hex64(const char *s, size_t len, bool lower, uint64_t *v);
/* A whole string of decimal digits (no sign, no leading zero), at most max, into *v. */
bool parse_uint(const char *s, size_t len, unsigned long max, unsigned long *v);

/* ---- main.c --------------------------------------------------------------------------- */

/* A W line for the user's log (printf-like; control characters become '?'), sent with the
 * answers of the batch being read or answered. */
void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
struct sym_module;
/* The module the host declared with this id (an M line); NULL if none or malformed. */
struct sym_module *module_declared(uint32_t id);
/* What is known of an offset of the module: from the cache, else resolved (into *fresh,
 * which the caller clears) and kept as the cache allows. */
const struct sym_answer *lookup(struct sym_module *m, uint64_t offset, struct sym_answer *fresh);

/* ---- profile.c: the pprof profile of a profile batch ---------------------------------- */

/* A P line starts a profile batch; fd (-1: none) is the file the host sent with it, which
 * the profile is written to. */
void profile_begin(const char *line, int fd);
bool profile_active(void);
/* Its A (where a module was in memory) and S (one sample) lines. */
void profile_mapping(const char *line);
void profile_sample(const char *line);
/* Encodes, compresses and writes the profile, and appends the P answer line to `answer`;
 * the batch's state is then gone. */
void profile_finish(struct sbuf *answer);
/* Drops a batch's state (and closes its file). */
void profile_reset(void);

/* ---- resolve.c ------------------------------------------------------------------------ */

struct sym_options {
    bool debuginfod;         /* ask debuginfod for what is not found locally */
    double timeout;          /* seconds debuginfod may take in the whole session */
};
/* Before libdw is used: puts the DEBUGINFOD_* variables away (for our own queries only
 * when asked to use debuginfod). */
void resolve_init(const struct sym_options *o);

struct sym_module;
/* The module file declared with this path and build ID (NULL: none given); the same pair
 * gives the same module, so what was opened is opened once per session. */
struct sym_module *module_get(const char *path, const char *build_id);
const char *module_build_id(const struct sym_module *m);
const char *module_path(const struct sym_module *m);
/* Whether an answer may be kept for the module's build ID: not at all (the file was not
 * verified against it, or debuginfod ran late), for the session, or in the cache file too
 * (it came from debug information, which a later session could not better). */
enum sym_keep { KEEP_NOT, KEEP_SESSION, KEEP_FILE };
/* Resolves `offset` (a virtual address of the file) as the library's in-process
 * symbolizer did; opens the module the first time. */
void module_resolve(struct sym_module *m, uint64_t offset, struct sym_answer *out,
                    enum sym_keep *keep);

/* ---- cache.c ------------------------------------------------------------------------- */

/* The cache directory (created 0700 with its parents); false, with a W line, if unusable. */
bool cache_open(const char *dir);
struct sym_cache;
/* The answers known for a build ID: its file in the cache directory, read the first time;
 * also kept in memory without a directory.  NULL when build_id is NULL. */
struct sym_cache *cache_for(const char *build_id);
const struct sym_answer *cache_find(const struct sym_cache *c, uint64_t offset);
/* Adds an answer (copied); `persist`: to be written to the file at the next flush. */
void cache_add(struct sym_cache *c, uint64_t offset, const struct sym_answer *a, bool persist);
/* Writes each cache file that got new answers (old and new, through a rename). */
void cache_flush(void);

#endif
