/* Buffer pools with buffers still held at exit, for check_family.c.
 *   pool "frames" (4 buffers, size 1000, align 8, prefix 24; kept in a global):
 *     take_frames   takes 2 buffers from one call site (TAKE-FRAMES): 2000 bytes, 2 buffers
 *     take_more     takes 1 (TAKE-MORE): 1000 bytes
 *     take_and_give takes 1 and gives it back: nothing
 *   pool "audio" (1 buffer of 256, kept in a global):
 *     take_audio    takes it (TAKE-AUDIO): 256 bytes
 * The buffer pointers are dropped.  With argv[1] "none", every buffer is given back and
 * the pools destroyed: nothing is reported.  With "orphan", only: the pool "orphan" (2 x 512)
 * is committed, take_orphan takes a buffer (TAKE-ORPHAN) and the pool is destroyed with it
 * still held, its pointer dropped: the buffer is a pool leak, and the pool's own memory is
 * no leak of the program's.  Prints "ok". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mallocspy.h"
#include "progutil.h"

void *volatile leak_sink;
ms_pool *volatile frames, *volatile audio;
void *volatile kept[8];

static NOINLINE void drop(void *p)
{
    leak_sink = p;
    leak_sink = NULL;
}

NOINLINE void *take_frames(void)
{
    void *first = NULL;
    for (volatile int i = 0; i < 2; i++) {
        void *b = NULL;
        CHECK(ms_pool_get_buffer(frames, &b, 0) == MS_OK); /* TAKE-FRAMES */
        memset(b, 1, 1000);
        if (!first)
            first = b;
        else
            kept[1] = b;
    }
    return first;
}

NOINLINE void *take_more(void)
{
    void *b = NULL;
    CHECK(ms_pool_get_buffer(frames, &b, MS_POOL_NOWAIT) == MS_OK); /* TAKE-MORE */
    memset(b, 2, 1000);
    return b;
}

NOINLINE void take_and_give(void)
{
    void *b = NULL;
    CHECK(ms_pool_get_buffer(frames, &b, 0) == MS_OK);
    CHECK(ms_pool_release_buffer(frames, b) == MS_OK);
}

NOINLINE void *take_audio(void)
{
    void *b = NULL;
    CHECK(ms_pool_get_buffer(audio, &b, 0) == MS_OK); /* TAKE-AUDIO */
    memset(b, 3, 256);
    return b;
}

NOINLINE void *take_orphan(ms_pool *p)
{
    void *b = NULL;
    CHECK(ms_pool_get_buffer(p, &b, 0) == MS_OK); /* TAKE-ORPHAN */
    memset(b, 4, 512);
    return b;
}

NOINLINE void orphan(void)
{
    ms_pool *p = ms_pool_create("orphan");
    CHECK(p);
    ms_pool_properties want = { 2, 512, 16, 0 }, got;
    CHECK(ms_pool_set_properties(p, &want, &got) == MS_OK);
    CHECK(ms_pool_commit(p) == MS_OK);
    drop(take_orphan(p));
    ms_pool_destroy(p);
    drop(p);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc > 1 && !strcmp(argv[1], "orphan")) {
        orphan();
        scrub_stack();
        printf("ok\n");
        return 0;
    }
    bool none = argc > 1 && !strcmp(argv[1], "none");
    frames = ms_pool_create("frames");
    audio = ms_pool_create("audio");
    CHECK(frames && audio);
    ms_pool_properties want = { 4, 1000, 8, 24 }, got;
    CHECK(ms_pool_set_properties(frames, &want, &got) == MS_OK);
    CHECK(got.size == 1000 && got.count == 4);
    ms_pool_properties want2 = { 1, 256, 16, 0 };
    CHECK(ms_pool_set_properties(audio, &want2, &got) == MS_OK);
    CHECK(ms_pool_commit(frames) == MS_OK && ms_pool_commit(audio) == MS_OK);
    kept[0] = take_frames();
    kept[2] = take_more();
    take_and_give();
    kept[3] = take_audio();
    if (none) {
        for (int i = 0; i < 3; i++)
            CHECK(ms_pool_release_buffer(frames, kept[i]) == MS_OK);
        CHECK(ms_pool_release_buffer(audio, kept[3]) == MS_OK);
        ms_pool_destroy(frames);
        ms_pool_destroy(audio);
        frames = audio = NULL;
    }
    for (int i = 0; i < 4; i++) {
        drop(kept[i]);
        kept[i] = NULL;
    }
    scrub_stack();
    printf("ok\n");
    return 0;
}
