/* Call sites for the symbolizer's tests (check_symbolizer.c): a plain call, and a call from
 * a function inlined into another inlined function.  Each call to where() prints
 * "<tag>=<offset>", the offset in this file of the call instruction (return address minus
 * one, minus the load bias), which is what the library would hand the symbolizer.  The
 * marker comments name the lines the answers must point at. */
#include <link.h>
#include <stdint.h>
#include <stdio.h>

#include "progutil.h"

static uintptr_t bias;
volatile int sym_sink;

static int first_module(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    (void)data;
    bias = info->dlpi_addr;   /* the first is the program itself */
    return 1;
}

NOINLINE void where(const char *tag)
{
    uintptr_t call = (uintptr_t)__builtin_return_address(0) - 1;
    printf("%s=%lx\n", tag, (unsigned long)(call - bias));
}

static inline __attribute__((always_inline)) void inner_step(void)
{
    where("inlined"); /* SYM-INNER */
    sym_sink++;
}

static inline __attribute__((always_inline)) void outer_step(void)
{
    inner_step(); /* SYM-OUTER */
    sym_sink++;
}

NOINLINE void plain_caller(void)
{
    where("plain"); /* SYM-PLAIN */
    sym_sink++;       /* no tail call: the return address stays in this function */
}

NOINLINE void inlining_caller(void)
{
    outer_step(); /* SYM-CALLER */
    sym_sink++;
}

int main(void)
{
    dl_iterate_phdr(first_module, NULL);
    plain_caller();
    inlining_caller();
    return 0;
}
