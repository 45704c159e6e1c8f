/* Threads, spies coming and going under them, and fork from a threaded process. */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mallocspy.h"
#include "spies.h"
#include "testutil.h"

static atomic_bool stop;
static atomic_long corrupt;

/* Allocates, fills, checks and frees blocks of changing sizes until told to stop; any
 * block whose contents change under it counts as corruption. */
static void *worker(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    void *keep[32] = { 0 };
    size_t sizes[32] = { 0 };
    unsigned char tags[32] = { 0 };
    long n = 0;
    while (!atomic_load(&stop) || n < 20000) {
        int k = rand_r(&seed) % 32;
        if (keep[k]) {
            unsigned char *p = keep[k];
            for (size_t i = 0; i < sizes[k]; i++)
                if (p[i] != tags[k]) {
                    atomic_fetch_add(&corrupt, 1);
                    break;
                }
        }
        size_t sz = (size_t)(rand_r(&seed) % 2000);
        switch (rand_r(&seed) % 4) {
        case 0:
            free(keep[k]);
            keep[k] = malloc(sz);
            break;
        case 1:
            keep[k] = realloc(keep[k], sz);
            if (sz < sizes[k])
                sizes[k] = sz;
            break;
        case 2:
            free(keep[k]);
            keep[k] = calloc(1, sz);
            break;
        default: {
            free(keep[k]);
            void *p = NULL;
            keep[k] = posix_memalign(&p, 64, sz) ? NULL : p;
            break;
        }
        }
        sizes[k] = keep[k] ? sz : 0;
        tags[k] = (unsigned char)(n * 7 + k);
        if (keep[k])
            memset(keep[k], tags[k], sz);
        n++;
    }
    for (int k = 0; k < 32; k++)
        free(keep[k]);
    return NULL;
}

START_TEST(test_spies_come_and_go_under_8_threads)
{
    static struct header_spy h[6];
    static struct counting_spy c[6];
    atomic_store(&stop, false);
    atomic_store(&corrupt, 0);
    pthread_t t[8];
    for (int i = 0; i < 8; i++)
        pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1));
    int registrations = 0;
    for (int round = 0; round < 30; round++) {
        int i = round % 6;
        /* A spy revoked earlier may still be pending (a worker still holds one of its
         * blocks); it must be released before its struct is reused: wait for it, a
         * while. */
        bool pending = round >= 6;
        for (int w = 0; pending && w < 500; w++) {
            pending = h[i].released == 0 || c[i].calls[H_RELEASE] == 0;
            if (pending)
                nanosleep(&(struct timespec){ 0, 2000000 }, NULL);
        }
        if (pending)
            continue;
        header_spy_init(&h[i]);
        counting_spy_init(&c[i], 'c');
        ck_assert_int_eq(ms_register_spy(&h[i].base), MS_OK);
        ck_assert_int_eq(ms_register_spy_flags(&c[i].base, round % 2 ? MS_SPY_SERIALIZED : 0), MS_OK);
        registrations++;
        struct timespec ts = { 0, 2000000 };
        nanosleep(&ts, NULL);
        int r1 = ms_revoke_spy(&h[i].base), r2 = ms_revoke_spy(&c[i].base);
        ck_assert(r1 == MS_OK || r1 == MS_E_PENDING);
        ck_assert(r2 == MS_OK || r2 == MS_E_PENDING);
    }
    atomic_store(&stop, true);
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    ck_assert_int_eq(atomic_load(&corrupt), 0);
    ck_assert_int_gt(registrations, 6);
    long errors = 0, live = 0;
    for (int i = 0; i < 6; i++) {
        errors += h[i].errors;
        live += h[i].blocks;
    }
    ck_assert_int_eq(errors, 0);
    /* Every header spy's blocks came back through it: none is left with a header, so
     * every one of them has been released (the threads' TLS blocks aside, which glibc
     * frees only when the thread stacks are reused). */
    ck_assert_int_le(live, 8 * 2);
}
END_TEST

/* Threads that allocate and exit while a spy is registered: their blocks stay counted,
 * and the spy is released exactly when the last of them is freed by another thread. */
#define PER_THREAD 100
static void *blocks_from[4][PER_THREAD];
static pthread_barrier_t go;
static void *allocator(void *arg)
{
    int k = (int)(uintptr_t)arg;
    pthread_barrier_wait(&go);
    for (int i = 0; i < PER_THREAD; i++)
        blocks_from[k][i] = malloc(16 + (size_t)i);
    return NULL;
}

START_TEST(test_exited_threads_lose_nothing)
{
    static struct counting_spy s;
    counting_spy_init(&s, 's');
    /* The threads exist before the spy does: what glibc allocates to start a thread (its
     * TLS vector) lives on in glibc's stack cache and would keep the spy pending. */
    pthread_barrier_init(&go, NULL, 5);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, allocator, (void *)(uintptr_t)i);
    int reg = ms_register_spy(&s.base);
    s.armed = true;
    pthread_barrier_wait(&go);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    s.armed = false;
    int rev = ms_revoke_spy(&s.base);
    ck_assert_int_eq(reg, MS_OK);
    ck_assert_int_eq(rev, MS_E_PENDING);
    ck_assert_int_eq(s.calls[H_POST_ALLOC], 4 * PER_THREAD);
    /* The threads are gone; their blocks are freed here, the last one releases. */
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < PER_THREAD; i++)
            if (k != 3 || i != PER_THREAD - 1)
                free(blocks_from[k][i]);
    long before = s.calls[H_RELEASE];
    free(blocks_from[3][PER_THREAD - 1]);
    ck_assert_int_eq(before, 0);
    ck_assert_int_eq(s.calls[H_RELEASE], 1);
    pthread_barrier_destroy(&go);
}
END_TEST

/* The child of a fork must be able to allocate at once, even though other threads were
 * inside mallocspy, holding its locks, at the moment of the fork. */
static void *hammer(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop)) {
        void *p = malloc(64);
        p = realloc(p, 128);
        free(p);
    }
    return NULL;
}

START_TEST(test_fork_from_threaded_process)
{
    static struct header_spy h;
    header_spy_init(&h);
    ck_assert_int_eq(ms_register_spy(&h.base), MS_OK);
    atomic_store(&stop, false);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, hammer, NULL);
    int ok = 0;
    for (int i = 0; i < 40; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            alarm(10);   /* a deadlock in the child ends as SIGALRM, not a hung suite */
            for (int j = 0; j < 1000; j++) {
                char *p = malloc(100);
                memset(p, 1, 100);
                p = realloc(p, 1000);
                free(p);
            }
            struct counting_spy c;
            counting_spy_init(&c, 'c');
            int rc = ms_register_spy(&c.base);
            free(malloc(10));
            ms_revoke_spy(&c.base);
            _exit(rc == MS_OK && h.errors == 0 ? 0 : 1);
        }
        int st;
        waitpid(pid, &st, 0);
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
            ok++;
    }
    atomic_store(&stop, true);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    ck_assert_int_eq(ok, 40);
    ck_assert_int_eq(h.errors, 0);
}
END_TEST

/* A process starts with one thread, which keeps the block table without its locks; the
 * second thread to take part turns them on while the first is busy in the table.  Each
 * child of a fork is one thread again, so every child goes through that hand-over. */
#define HANDOVER_BLOCKS 512
static void *held_by_second[HANDOVER_BLOCKS];

static void *second_thread(void *arg)
{
    (void)arg;
    for (int round = 0; round < 200; round++)
        for (int i = 0; i < HANDOVER_BLOCKS; i++) {
            free(held_by_second[i]);
            held_by_second[i] = malloc(32 + (size_t)i);
        }
    return NULL;
}

static int handover_child(void)
{
    static void *mine[HANDOVER_BLOCKS];
    pthread_t t;
    if (pthread_create(&t, NULL, second_thread, NULL) != 0)
        return 2;
    /* The first thread keeps at the table while the second starts. */
    for (int round = 0; round < 200; round++)
        for (int i = 0; i < HANDOVER_BLOCKS; i++) {
            free(mine[i]);
            mine[i] = malloc(48 + (size_t)i);
        }
    pthread_join(t, NULL);
    ms_malloc *m = ms_get_malloc();
    int bad = 0;
    for (int i = 0; i < HANDOVER_BLOCKS; i++) {
        bad += ms_did_alloc(m, mine[i]) != 1;
        bad += ms_get_size(m, mine[i]) != 48 + (size_t)i;
        bad += ms_did_alloc(m, held_by_second[i]) != 1;
        bad += ms_get_size(m, held_by_second[i]) != 32 + (size_t)i;
        free(mine[i]);
        free(held_by_second[i]);
    }
    /* Freed: 0, or -1 ("cannot tell") when leak checking is off. */
    for (int i = 0; i < HANDOVER_BLOCKS; i++)
        bad += ms_did_alloc(m, mine[i]) == 1 || ms_did_alloc(m, held_by_second[i]) == 1;
    return bad ? 1 : 0;
}

/* Runs `child` in n fresh children of a fork, with a header spy registered that checks
 * every block it sees; how many children came out well, spy and all. */
static int children_ok(int n, int (*child)(void), unsigned seconds)
{
    static struct header_spy h;
    header_spy_init(&h);
    ck_assert_int_eq(ms_register_spy(&h.base), MS_OK);
    int ok = 0;
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            alarm(seconds);
            _exit(child() == 0 && h.errors == 0 ? 0 : 1);
        }
        int st;
        waitpid(pid, &st, 0);
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
            ok++;
    }
    ms_revoke_spy(&h.base);
    return ok;
}

START_TEST(test_second_thread_hand_over)
{
    ck_assert_int_eq(children_ok(30, handover_child, 20), 30);
}
END_TEST

/* Blocks handed from thread to thread: each is allocated by one thread and resized, sized
 * and freed by the next.  The block table gives each shard first to the one thread that
 * uses it, without a lock, and takes it back under the lock when another comes (blocks.c);
 * every child of a fork starts with all shards free again, so each child goes through
 * those hand-overs while the owners are busy in their shards. */
#define PASS_THREADS 4
#define PASS_RING 64
struct pass_ring {
    pthread_mutex_t lock;
    void *p[PASS_RING];
    size_t size[PASS_RING];
    unsigned head, tail;
};
static struct pass_ring rings[PASS_THREADS];
static atomic_int pass_bad;

static void *passer(void *arg)
{
    unsigned me = (unsigned)(uintptr_t)arg, seed = me + 1;
    struct pass_ring *out = &rings[(me + 1) % PASS_THREADS], *in = &rings[me];
    ms_malloc *m = ms_get_malloc();
    void *own[16] = { 0 };
    for (int round = 0; round < 3000; round++) {
        /* Blocks of up to 256 KiB: big ones are mapped apart, so new regions, and new
         * shards, keep coming. */
        size_t sz = (size_t)1 << (4 + rand_r(&seed) % 15);
        sz += (size_t)(rand_r(&seed) % 64);
        void *p = malloc(sz);
        int k = rand_r(&seed) % 16;
        free(own[k]);
        own[k] = malloc(16 + (size_t)k);
        pthread_mutex_lock(&out->lock);
        if (p && out->head - out->tail < PASS_RING) {
            out->p[out->head % PASS_RING] = p;
            out->size[out->head % PASS_RING] = sz;
            out->head++;
            p = NULL;
        }
        pthread_mutex_unlock(&out->lock);
        free(p);
        pthread_mutex_lock(&in->lock);
        void *q = NULL;
        size_t qsz = 0;
        if (in->tail != in->head) {
            q = in->p[in->tail % PASS_RING];
            qsz = in->size[in->tail % PASS_RING];
            in->tail++;
        }
        pthread_mutex_unlock(&in->lock);
        if (q) {
            if (ms_did_alloc(m, q) != 1 || ms_get_size(m, q) != qsz)
                atomic_fetch_add(&pass_bad, 1);
            q = realloc(q, qsz / 2 + 1);
            if (!q || ms_get_size(m, q) != qsz / 2 + 1)
                atomic_fetch_add(&pass_bad, 1);
            free(q);
        }
    }
    for (int k = 0; k < 16; k++) {
        if (ms_get_size(m, own[k]) != 16 + (size_t)k)
            atomic_fetch_add(&pass_bad, 1);
        free(own[k]);
    }
    return NULL;
}

static int pass_child(void)
{
    pthread_t t[PASS_THREADS];
    for (unsigned i = 0; i < PASS_THREADS; i++)
        pthread_mutex_init(&rings[i].lock, NULL);
    for (unsigned i = 0; i < PASS_THREADS; i++)
        if (pthread_create(&t[i], NULL, passer, (void *)(uintptr_t)i) != 0)
            return 2;
    for (unsigned i = 0; i < PASS_THREADS; i++)
        pthread_join(t[i], NULL);
    ms_malloc *m = ms_get_malloc();
    for (unsigned i = 0; i < PASS_THREADS; i++)
        for (unsigned j = rings[i].tail; j != rings[i].head; j++) {
            void *p = rings[i].p[j % PASS_RING];
            if (ms_did_alloc(m, p) != 1 || ms_get_size(m, p) != rings[i].size[j % PASS_RING])
                atomic_fetch_add(&pass_bad, 1);
            free(p);
        }
    return atomic_load(&pass_bad) ? 1 : 0;
}

START_TEST(test_blocks_passed_between_threads)
{
    ck_assert_int_eq(children_ok(20, pass_child, 30), 20);
}
END_TEST

/* The child may also exec at once: the new program gets its own mallocspy. */
START_TEST(test_fork_exec)
{
    atomic_store(&stop, false);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, hammer, NULL);
    char *argv[] = { "sh", "-c", "echo hello | tr a-z A-Z", NULL };
    struct run r = run_cmd(argv, NULL, NULL);
    atomic_store(&stop, true);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.out, "HELLO\n");
    run_free(&r);
}
END_TEST

/* ---- nothing waits for a thread inside the loader ---------------------------------------
 * The orders that deadlocked, forced with barriers in fresh processes, each run with a
 * time limit (alarm survives exec): a run that hangs dies and counts as failed. */
static int runs_pass(char *const argv[], int n, unsigned seconds)
{
    char pre[PATH_MAX + 16];
    snprintf(pre, sizeof pre, "LD_PRELOAD=%s", lib_path());
    char *env[] = { pre, "MALLOCSPY_OPTIONS=report=quiet", NULL };
    int ok = 0;
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            alarm(seconds);
            execve(argv[0], argv, env);
            _exit(127);
        }
        int st;
        waitpid(pid, &st, 0);
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
            ok++;
        else if (ok == i)
            fprintf(stderr, "run %d of %s: %s %d\n", i, argv[0],
                    WIFEXITED(st) ? "exit status" : "killed by signal",
                    WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
    }
    return ok;
}

START_TEST(test_first_allocation_under_the_loader_lock)
{
    char *argv[] = { (char *)prog_path("thread_loader_lock"), NULL };
    ck_assert_int_eq(runs_pass(argv, 1000, 10), 1000);
}
END_TEST

START_TEST(test_spy_hook_while_a_thread_is_in_dlopen)
{
    char lib[PATH_MAX];
    snprintf(lib, sizeof lib, "%s", tmp_path("thread_dlopen_lib.so"));
    char *cc[] = { "cc", "-shared", "-fPIC", "-g", (char *)src_path("thread_dlopen_lib.c"),
                   "-o", lib, NULL };
    run_tool_ok(cc);
    char *argv[] = { (char *)prog_path("thread_dlopen_spy"), lib, NULL };
    ck_assert_int_eq(runs_pass(argv, 1000, 10), 1000);
    unlink(lib);
}
END_TEST

/* ---- everything at once --------------------------------------------------------------- */

/* ---- a spy's pActual freed by another thread before the core marked it held ---------
 * A quarantine-like spy with a 16-byte header (COM's way): thread A frees a block, the
 * spy takes it in charge (pre_free returns NULL) and, before A's free has finished, thread
 * B frees that pActual from inside a hook of its own free (the block left the quarantine
 * there).  The interleaving is forced: A's hook waits until B's hook has freed the block.
 * The real allocator must see each block freed once, at its real start. */
struct handoff {
    ms_spy base;
    pthread_barrier_t ready, freed;
    void *volatile held;           /* pActual handed from A's hook to B's */
    volatile int a_tid;
};

static size_t ho_pre_alloc(ms_spy *self, size_t n)
{
    (void)self;
    return n + 16;
}
static void *ho_post_alloc(ms_spy *self, void *actual)
{
    (void)self;
    return actual ? (char *)actual + 16 : NULL;
}
static void *ho_pre_free(ms_spy *self, void *request, bool spied)
{
    struct handoff *h = (struct handoff *)self;
    if (!spied)
        return request;
    void *actual = (char *)request - 16;
    if (gettid() == h->a_tid) {
        h->held = actual;                    /* taken in charge... */
        pthread_barrier_wait(&h->ready);
        pthread_barrier_wait(&h->freed);     /* ...and already freed by B */
        return NULL;
    }
    void *held = h->held;
    if (held) {
        h->held = NULL;
        free(held);                          /* inside a hook: the quarantine's release */
        pthread_barrier_wait(&h->freed);
    }
    return actual;
}
static const ms_spy_ops handoff_ops = { .pre_alloc = ho_pre_alloc, .post_alloc = ho_post_alloc,
                                        .pre_free = ho_pre_free };

struct ho_arg { struct handoff *h; void *volatile block; pthread_barrier_t start; };
static void *ho_thread_a(void *arg)
{
    struct ho_arg *a = arg;
    a->h->a_tid = gettid();
    pthread_barrier_wait(&a->start);
    free(a->block);
    return NULL;
}

START_TEST(test_held_block_freed_by_another_thread)
{
    for (int round = 0; round < 200; round++) {
        struct handoff h = { .base.ops = &handoff_ops, .a_tid = -1 };
        pthread_barrier_init(&h.ready, NULL, 2);
        pthread_barrier_init(&h.freed, NULL, 2);
        /* Thread A exists before the spy: the spy's only blocks are x, y and z. */
        struct ho_arg a = { .h = &h };
        pthread_barrier_init(&a.start, NULL, 2);
        pthread_t t;
        ck_assert_int_eq(pthread_create(&t, NULL, ho_thread_a, &a), 0);
        ck_assert_int_eq(ms_register_spy(&h.base), MS_OK);
        void *x = malloc(100), *y = malloc(200);
        memset(x, 1, 100);
        a.block = x;
        pthread_barrier_wait(&a.start);
        pthread_barrier_wait(&h.ready);      /* A is inside its hook, x taken in charge */
        free(y);                             /* B: frees x's pActual in its hook */
        ck_assert_int_eq(pthread_join(t, NULL), 0);
        /* The heap is sound, and the spy has no block left. */
        void *z = malloc(100);
        ck_assert_ptr_nonnull(z);
        free(z);
        ck_assert_int_eq(ms_revoke_spy(&h.base), MS_OK);
        pthread_barrier_destroy(&h.ready);
        pthread_barrier_destroy(&h.freed);
        pthread_barrier_destroy(&a.start);
    }
}
END_TEST

START_TEST(test_stress_report_is_exact)
{
    char lib[PATH_MAX];
    snprintf(lib, sizeof lib, "%s", tmp_path("thread_stress_lib.so"));
    char *cc[] = { "cc", "-shared", "-fPIC", "-g", (char *)src_path("thread_dlopen_lib.c"),
                   "-o", lib, NULL };
    run_tool_ok(cc);
    char *argv[] = { (char *)prog_path("thread_stress"), lib, "3", NULL };
    struct spied s = spy_reports(argv, "report=quiet", NULL, false);
    ck_assert_msg(s.r.status == 0, "status %d\n%s%s", s.r.status, s.r.out, s.r.err);
    ck_assert_str_eq(s.r.out, "bad 0\n");
    const struct jval *rep = s.json = load_report(s.json_path);
    /* 16 workers leaked 5 blocks each, of 40 to 44 bytes: those, and nothing else. */
    ck_assert_msg(jnum(rep, "summary.definite_blocks") == 80 &&
                  jnum(rep, "summary.definite_bytes") == 16 * (40 + 41 + 42 + 43 + 44),
                  "definite: %.0f blocks, %.0f bytes", jnum(rep, "summary.definite_blocks"),
                  jnum(rep, "summary.definite_bytes"));
    ck_assert_int_eq(jnum(rep, "summary.indirect_blocks"), 0);
    ck_assert_int_eq(jnum(rep, "summary.errors"), 0);
    /* stress_leak's loop may be unrolled into several call sites: all its groups. */
    const struct jval *g[8];
    int n = entries_with(rep, "leaks", "stress_leak", 1, "definite", g, 8);
    double blocks = 0;
    for (int i = 0; i < n; i++)
        blocks += jnum(g[i], "blocks");
    ck_assert_msg(blocks == 80, "%.0f blocks from stress_leak in %d group(s)", blocks, n);
    ck_assert_msg(jnum(rep, "summary.allocations") > 100000, "only %.0f allocations",
                  jnum(rep, "summary.allocations"));
    spied_free(&s);
    unlink(lib);
}
END_TEST

/* Signal handlers that allocate and free while their thread is inside mallocspy (inside
 * each kind of hook): nothing is corrupted, nothing is reported as an error, and the leaks
 * the program made are counted exactly. */
START_TEST(test_signal_handlers_allocate_inside_mallocspy)
{
    char *argv[] = { (char *)prog_path("signal_alloc"), NULL };
    struct spied s = spy_reports(argv, "report=quiet", NULL, false);
    ck_assert_msg(s.r.status == 0, "status %d\n%s%s", s.r.status, s.r.out, s.r.err);
    ck_assert_str_eq(s.r.out, "1 1\n");
    const struct jval *rep = s.json = load_report(s.json_path);
    ck_assert_int_eq(jnum(rep, "summary.errors"), 0);
    ck_assert_int_eq(jnum(rep, "summary.definite_blocks"), 3);
    ck_assert_int_eq(jnum(rep, "summary.definite_bytes"), 600);
    const struct jval *g[4];
    int n = entries_with(rep, "leaks", "sig_leak", 1, "definite", g, 4);
    double blocks = 0;
    for (int i = 0; i < n; i++)
        blocks += jnum(g[i], "blocks");
    ck_assert_msg(blocks == 3, "%.0f blocks from sig_leak in %d group(s)", blocks, n);
    spied_free(&s);
}
END_TEST

Suite *suite(void)
{
    Suite *s = suite_create("threads");
    TCase *t = tcase_create("threads");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, test_spies_come_and_go_under_8_threads);
    tcase_add_test(t, test_exited_threads_lose_nothing);
    tcase_add_test(t, test_fork_from_threaded_process);
    tcase_add_test(t, test_fork_exec);
    tcase_add_test(t, test_second_thread_hand_over);
    tcase_add_test(t, test_blocks_passed_between_threads);
    tcase_add_test(t, test_first_allocation_under_the_loader_lock);
    tcase_add_test(t, test_spy_hook_while_a_thread_is_in_dlopen);
    tcase_add_test(t, test_held_block_freed_by_another_thread);
    tcase_add_test(t, test_stress_report_is_exact);
    tcase_add_test(t, test_signal_handlers_allocate_inside_mallocspy);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return run_suite(suite());
}
