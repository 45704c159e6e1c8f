/* Loaded modules: the program and its shared libraries, remembered after dlclose. */
#ifndef MS_MODULES_H
#define MS_MODULES_H

#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"

struct module {
    uint32_t id;               /* index in the table, stable */
    uintptr_t base;            /* load bias (dlpi_addr) */
    uintptr_t start, end;      /* lowest and highest address of its PT_LOAD segments */
    char *path;                /* file name, in mallocspy's memory; absolute when it could be
                                  resolved (a dlopen("./x.so") is named by its real path) */
    char *build_id;            /* hex, from the module's own note in memory; NULL if none */
    uint32_t load_gen;         /* first generation in which it was loaded */
    uint32_t unload_gen;       /* first generation in which it was gone; UINT32_MAX: loaded */
    bool is_main;
};


/* Makes sure the module of each pc is in the table (asking the loader without a lock);
 * returns the current generation. */
uint32_t modules_cover(const uintptr_t *pc, unsigned n);
uint32_t modules_generation(void);
/* Brings the table up to date with the loader (dl_iterate_phdr, so the loader's lock:
 * never on an allocation's path); true if a module went away. */
bool modules_refresh(void);
/* The loaded module containing addr, as of the last sync. */
bool module_loaded_at(uintptr_t addr, struct module *out);
/* The module that contained addr in generation gen, loaded or not now. */
bool module_at(uintptr_t addr, uint32_t gen, struct module *out);
bool module_by_id(uint32_t id, struct module *out);
uint32_t modules_count(void);
void loader_gate_enter(void);
void loader_gate_leave(void);
void loader_gate_fork_prepare(void);
void loader_gate_fork_parent(void);
void loader_gate_fork_child(void);
/* Evaluates `call`, which may take the loader's dl_iterate_phdr lock, inside the gate. */
/* Calls of mallocspy's that may take the loader's lock, in progress on this thread. */
extern TLS_IE unsigned gate_depth;
#define loader_call(call)                                                                 \
    do {                                                                                  \
        loader_gate_enter();                                                              \
        gate_depth++;                                                                     \
        call;                                                                             \
        gate_depth--;                                                                     \
        loader_gate_leave();                                                              \
    } while (0)
void modules_fork_prepare(void);
void modules_fork_parent(void);
void modules_fork_child(void);

#endif
