/* The program the README runs under mallocspy: a small inventory that keeps a cache on
 * purpose, forgets a list of records, and loses a label; in between it works through
 * batches that it frees completely.  Built with -g, so the report names files and
 * lines. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct record {
    struct record *next;
    char name[24];
    double price;
};

/* Kept until exit on purpose: still reachable, so not a leak. */
static char *cache;

static void warm_cache(void)
{
    cache = malloc(4096);
    memset(cache, 0, 4096);
}

/* Builds a list of records and forgets its head: the head is a direct leak, the records
 * behind it indirect ones. */
static void load_records(int n)
{
    struct record *head = NULL;
    for (int i = 0; i < n; i++) {
        struct record *r = malloc(sizeof *r);
        memset(r, 0, sizeof *r);
        strcpy(r->name, "widget");
        r->price = i * 1.5;
        r->next = head;
        head = r;
    }
    __asm__ volatile("" : : "r"(head) : "memory");
}

/* Duplicates a label and never frees it. */
static char *make_label(const char *s)
{
    return strdup(s);
}

static void print_label(const char *s)
{
    char *label = make_label(s);
    (void)!write(1, label, strlen(label));
    (void)!write(1, "\n", 1);
}

/* Everything here is freed: nothing to report. */
static void tidy_work(void)
{
    for (int i = 0; i < 1000; i++) {
        char *p = malloc(64 + i);
        p = realloc(p, 128 + i);
        free(p);
    }
}

/* Holds a batch of buffers for a while, then frees them all: nothing leaks, but the
 * profile sees where the bytes went and the timeline shows each batch as a hump. */
static void process_batch(int n, size_t size)
{
    char *buf[256];
    for (int i = 0; i < n; i++) {
        buf[i] = malloc(size + 16 * (size_t)i);
        memset(buf[i], i, size);
    }
    usleep(20000);
    for (int i = 0; i < n; i++)
        free(buf[i]);
}

static void process_batches(void)
{
    for (int b = 1; b <= 4; b++) {
        process_batch(64 * b, 1024 * (size_t)b);
        usleep(10000);
    }
}

int main(void)
{
    warm_cache();
    load_records(10);
    print_label("inventory loaded");
    process_batches();
    tidy_work();
    return cache[0];   /* the cache is still in use at the end */
}
