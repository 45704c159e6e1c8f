/* many_blocks - ends with about a million live blocks, for `make bench` (scripts/bench.py).
 *
 * Usage: many_blocks [NODES]
 *
 * Builds a list of NODES nodes (default 495,000), reachable from a global, each owning a
 * payload of 64 to 960 bytes (about 250 MB in all, every byte written), so 2 x NODES
 * reachable blocks; then leaks 5,000 lone strings (direct leaks) and a list of 5,000
 * nodes whose head is forgotten (1 direct, 4,999 indirect): a million live blocks at exit
 * with the default.  Used to measure a leak checker's memory per live block and the time
 * it takes, after the program's last instruction, to classify the blocks and report.
 *
 * The last thing main does is print "end_ns=N" on stderr: CLOCK_MONOTONIC (the clock of
 * Python's time.perf_counter on Linux) at that instant, so the harness can time what
 * happens between the program's end and the process's end.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NOINLINE __attribute__((noinline, noclone))

struct node {
    struct node *next;
    unsigned char *payload;
    uint32_t size;
    uint32_t id;
};

struct node *head;              /* the reachable list */
static volatile uintptr_t sink; /* keeps the leaked pointers out of the roots */
#define MASK ((uintptr_t)0xa5a5a5a5a5a5a5a5ull)

static uint64_t next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static NOINLINE struct node *new_node(uint32_t id)
{
    struct node *n = malloc(sizeof *n);
    if (!n)
        abort();
    n->next = NULL;
    n->id = id;
    return n;
}

static NOINLINE unsigned char *new_payload(uint32_t size)
{
    unsigned char *p = malloc(size);
    if (!p)
        abort();
    memset(p, 0x5a, size);      /* not a pointer, however it is read */
    return p;
}

static NOINLINE void build_list(long nodes, uint64_t *seed)
{
    struct node **tail = &head;
    for (long i = 0; i < nodes; i++) {
        struct node *n = new_node((uint32_t)i);
        n->size = 64 + (uint32_t)(next(seed) >> 40) % 897;
        n->payload = new_payload(n->size);
        *tail = n;
        tail = &n->next;
    }
}

static NOINLINE void leak_strings(int count)
{
    char buf[64];
    for (int i = 0; i < count; i++) {
        int len = snprintf(buf, sizeof buf, "leaked string number %d", i);
        char *s = malloc((size_t)len + 1);
        if (!s)
            abort();
        memcpy(s, buf, (size_t)len + 1);
        sink = (uintptr_t)s ^ MASK;     /* used, then forgotten: not a pointer */
    }
}

static NOINLINE void leak_list(int count)
{
    struct node *h = NULL;
    for (int i = 0; i < count; i++) {
        struct node *n = new_node((uint32_t)i);
        n->payload = NULL;
        n->size = 0;
        n->next = h;
        h = n;
    }
    sink = (uintptr_t)h ^ MASK;         /* the head itself is dropped here */
}

int main(int argc, char **argv)
{
    long nodes = argc > 1 ? atol(argv[1]) : 495000;
    uint64_t seed = 42, sum = 0;
    struct timespec ts;

    if (nodes < 1) {
        fprintf(stderr, "usage: many_blocks [NODES]\n");
        return 2;
    }
    build_list(nodes, &seed);
    leak_strings(5000);
    leak_list(5000);

    for (struct node *n = head; n; n = n->next)
        sum += n->payload[n->size - 1] + n->size;
    printf("many_blocks: %ld nodes, %ld live blocks, checksum %llu\n", nodes,
           2 * nodes + 10000, (unsigned long long)sum);
    fflush(stdout);

    clock_gettime(CLOCK_MONOTONIC, &ts);
    fprintf(stderr, "end_ns=%lld\n", (long long)ts.tv_sec * 1000000000ll + ts.tv_nsec);
    return 0;
}
