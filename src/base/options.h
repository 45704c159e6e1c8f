/* MALLOCSPY_OPTIONS: colon-separated key=value items, as the sanitizers spell them. */
#ifndef MS_OPTIONS_H
#define MS_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct options {
    char log_path[4096];
    char json_path[4096];
    char suppressions[4096];   /* files, separated by commas */
    bool use_default_suppressions;  /* and the default.supp installed with mallocspy */
    bool print_suppressions;   /* the text report's "Suppressions used" table */
    bool suggest_suppressions; /* a leak: line under each leak of the text report */
    char alloc_functions[4096]; /* more allocation wrappers for suggestions: globs, commas */
    unsigned depth;            /* frames per stack, 1..256 */
    bool leak_check;
    int exitcode;              /* exit status when leaks are reported; 0 keeps the program's */
    int report;                /* REPORT_TEXT, REPORT_QUIET */
    bool report_reachable;
    int report_signal;         /* 0: none */
    int stop_signal;           /* real-time signal that stops threads for a scan (SIGRTMAX-3) */
    bool halt_on_error;        /* abort after reporting the first heap error */
    bool mappings;             /* track the program's anonymous mappings */
    bool mismatch;             /* report malloc/delete, new/free and new[]/delete mixes */
    bool fast_path;
    bool start;                /* record from start-up; 0: dormant until started */
    size_t sample_bytes;       /* Poisson sampling, one sample per this many bytes; 0: all */
    uint64_t sample_seed;      /* the sampler's seed; 0: from the clock */
    int start_signal;          /* signal that starts and stops recording; 0: none */            /* mallocspy's own spies alone: no chain walk (core/dispatch.c) */
    size_t guard;              /* redzone bytes on each side of a block; 0: none */
    size_t quarantine;         /* bytes of freed blocks held back; 0: none */
    int malloc_fill, free_fill; /* byte new and freed blocks are filled with; -1: none */
    int error_exitcode;        /* exit status of a process that had a heap error; 0: keep */
    unsigned stack_cache;      /* entries of the per-thread stack cache (0: off) */
    unsigned sites_top;        /* the profile's top sites by each measure */
    bool timeline;             /* sample live bytes over time */
    unsigned timeline_ms;      /* every this many milliseconds, */
    uint64_t timeline_events;  /* or, if not 0, every this many operations of a thread */
    char folded_path[4096];    /* folded stacks, weighted by `weight` */
    char flamegraph_path[4096];
    int weight;                /* enum weight */
    int symbolize;             /* name frames with the symbolizer process: SYMBOLIZE_* */
    char symbolizer[4096];     /* that program; "": found next to the library */
    bool symbol_cache;         /* the symbolizer keeps what it resolved in the user's cache */
    bool debuginfod;           /* the symbolizer may ask debuginfod (never in secure mode) */
    unsigned debuginfod_timeout; /* seconds, for all of a process's lookups */
    unsigned verbosity;        /* 1: notes on what mallocspy does (diag_note) */
    bool help;                 /* print the keys at start-up */
    char pprof_path[4096];     /* the heap profile in pprof's format */
    unsigned pprof_interval;   /* seconds between two pprof profiles of a running process;
                                  0: at the reports only */
};
enum { REPORT_TEXT = 0, REPORT_QUIET = 1, REPORT_PROFILE = 2, REPORT_GROWTH = 3 };
/* symbolize=0: module+offset only; 1: name what is printed (a clean process's JSON stays
 * unnamed); all: name every stack of the JSON report, the profile's sites too. */
enum { SYMBOLIZE_NEVER = 0, SYMBOLIZE_PRINTED = 1, SYMBOLIZE_ALL = 2 };
/* What a flame graph or folded line is weighted by (option `weight`), and their names. */
enum weight { W_LEAKED = 0, W_ALLOCATED, W_COUNT, W_PEAK, W_TEMPORARY, NWEIGHTS };
extern const char *const weight_names[NWEIGHTS];
extern struct options options;
void options_defaults(struct options *o);
/* Parses a MALLOCSPY_OPTIONS string; warns about each bad item and goes on.  include=FILE
 * reads the file's items in its place. */
void options_parse(struct options *o, const char *s);
/* help=1: every key with its default and a line of help, where the warnings go. */
void options_help(void);
/* The keys, in the table's order (for tests): NULL past the end; *def the default shown. */
size_t options_count(void);
const char *options_key(size_t i, const char **def);

#endif
