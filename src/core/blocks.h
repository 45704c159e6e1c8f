/* The live blocks: each block mallocspy hands out carries a 16-byte header in front of it
 * (in the same allocation), and a byte map over the address space says where blocks start.
 * A free finds its block's record in O(1) with no lock and no probe; a block freed by
 * another thread than its own costs that thread nothing more. */
#ifndef MS_BLOCKS_H
#define MS_BLOCKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* In front of every tracked block:
 *
 *   real                                  actual                       p
 *   | [padding][real ptr] | header 16 B  | spies' headers ...         | the program's bytes
 *
 * `real` is what the real allocator gave; `actual` what the spies were given (IMallocSpy's
 * pActual); p what the program got.  Without spies that move the pointer, p == actual. */
#define BLOCK_HEADER 16

/* A tracked block as its header describes it. */
struct block {
    uintptr_t addr;            /* the program's pointer */
    uintptr_t actual;          /* the spies' view of the block */
    uintptr_t real;            /* the real allocator's */
    uint64_t size;             /* bytes the program asked for */
    uint32_t site;
    bool headless;             /* recorded in the side table, not in a header */
};

/* Bytes to ask of the real allocator for `cur` bytes of spies' region, when the spies will
 * move the pointer by `shift` and the program wants `align` (a power of two, >= 16): the
 * real block is then allocated with alignment max(align, 16), and block_actual tells where
 * the spies' region starts in it.  With `headed` false (aligned blocks, whose record goes
 * in a side table: a header in front of them would cost a whole alignment), no room is
 * kept for a header. */
size_t block_extra(size_t align, size_t shift, bool headed);
uintptr_t block_actual(uintptr_t real, size_t align, size_t shift, bool headed);

/* Writes the header and marks p as the start of a block: from now on blocks_find(p) finds
 * it.  False when the map could not take it (out of memory: the block is then not
 * tracked, and must be freed as it was allocated).  blocks_publish_side: the same for a
 * block without a header (an aligned one), recorded in the side table. */
bool blocks_publish(const struct block *b);
bool blocks_publish_side(const struct block *b);
/* A block of this alignment is laid out without a header: its record goes in the side
 * table.  (Not from a signal handler that came in while its thread was inside the side
 * table: then it has a header.) */
bool blocks_side_for(size_t align);
/* The block starting at p, if one does (a pointer that is not, or a foreign one, is never
 * dereferenced: the map says first). */
bool blocks_find(uintptr_t p, struct block *out);
/* p is no longer the start of a block (before the real free: a scan never sees a block
 * whose memory is gone). */
void blocks_unpublish(uintptr_t p);
/* The block's record now says `site` (the header is rewritten). */
void blocks_set_site(struct block *b, uint32_t site);
/* Moves the block's mark from its program pointer to its actual pointer: a spy took charge
 * of it (pre_free returned NULL) and will free the actual pointer itself later. */
void blocks_move_to_actual(struct block *b);

/* The block containing p (for the error path of a bad pointer: a search backwards in the
 * map over a bounded distance). */
bool blocks_containing(uintptr_t p, struct block *out);

/* Calls fn on a copy of each live block, in address order.  The headers are read with
 * process_vm_readv, so a block freed under the walk by another thread is skipped, never a
 * fault. */
void blocks_for_each(void (*fn)(const struct block *, void *), void *arg);

/* The map has held something: a free must look there first. */
extern bool blocks_used;
/* Bytes of the map in memory (resident pages). */
size_t blocks_map_bytes(void);
size_t blocks_count(void);
void blocks_fork_prepare(void);
void blocks_fork_parent(void);
void blocks_fork_child(void);

#endif
