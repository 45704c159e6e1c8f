/* Debug locations: (file, line) pairs interned, so that a block's site holds a small id
 * and the reports the location, even from a stripped program. */
#include <string.h>

#include "base/lock.h"
#include "base/mem.h"
#include "base/tags.h"
#include "base/ut.h"

struct tag {
    UT_hash_handle hh;
    uint32_t id;
    int line;
    char file[];               /* a copy: the string may live in a library unloaded later */
};

static struct {
    spinlock lock;              /* table, next, by_id */
    struct tag *table;
    struct tag **by_id;
    uint32_t next;
    size_t cap;
} tg = { .lock = SPIN_INIT, .next = 1 };

uint32_t tag_get(const char *file, int line)
{
    if (!file)
        file = "?";
    size_t flen = strlen(file);
    char key[4096 + sizeof(int)];
    if (flen > 4096)
        flen = 4096;
    memcpy(key, &line, sizeof line);
    memcpy(key + sizeof line, file, flen);
    size_t klen = sizeof line + flen;
    spin_lock(&tg.lock);
    struct tag *t;
    HASH_FIND(hh, tg.table, key, klen, t);
    if (t) {
        spin_unlock(&tg.lock);
        return t->id;
    }
    if (!arena_reserve(&tg.by_id, tg.next, &tg.cap, sizeof *tg.by_id, 256)) {
        spin_unlock(&tg.lock);
        return 0;
    }
    /* The key is stored right after the line: file[] follows `line` in the struct. */
    t = arena_alloc(sizeof *t + flen + 1);
    if (!t) {
        spin_unlock(&tg.lock);
        return 0;
    }
    t->id = tg.next++;
    t->line = line;
    memcpy(t->file, file, flen);
    t->file[flen] = 0;
    char *k = arena_alloc(klen);
    if (k) {
        memcpy(k, key, klen);
        HASH_ADD_KEYPTR(hh, tg.table, k, klen, t);
    }
    tg.by_id[t->id] = t;
    uint32_t id = t->id;
    spin_unlock(&tg.lock);
    return id;
}

bool tag_lookup(uint32_t id, const char **file, int *line)
{
    if (!id)
        return false;
    spin_lock(&tg.lock);
    bool ok = id < tg.next && tg.by_id[id];
    if (ok) {
        *file = tg.by_id[id]->file;
        *line = tg.by_id[id]->line;
    }
    spin_unlock(&tg.lock);
    return ok;
}

void tags_fork_child(void) { spin_reset(&tg.lock); }
