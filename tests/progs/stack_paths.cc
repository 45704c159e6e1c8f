// Allocations reached along call paths that a stack cache could confuse: one allocation
// site called from different callers, recursion to different depths, longjmp out of deep
// frames, C++ exceptions unwinding through frames, a signal handler, and a second thread.
// Every block is leaked on purpose (kept in a global array, then dropped), so the report
// lists each distinct stack with its bytes.  check_stacks runs it with the stack cache on
// and off and compares the stacks.  Sizes differ per path so that groups can be matched.
#include <csetjmp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <pthread.h>
#include <stdexcept>

#define NOINLINE __attribute__((noinline))

static void *volatile sink;
static volatile int depth_guard;

extern "C" NOINLINE void stack_site(size_t n)
{
    sink = malloc(n);             // the one allocation site every path ends in
    depth_guard++;
}

extern "C" NOINLINE void stack_caller_a(size_t n) { stack_site(n); depth_guard++; }
extern "C" NOINLINE void stack_caller_b(size_t n) { stack_site(n); depth_guard++; }

extern "C" NOINLINE void stack_recurse(int d, size_t n)
{
    if (d == 0)
        stack_site(n);
    else
        stack_recurse(d - 1, n);
    depth_guard++;
}

static jmp_buf jb;
extern "C" NOINLINE void stack_jump_deep(int d)
{
    if (d == 0) {
        stack_site(301);          // allocated on the way down, then jumped out of
        longjmp(jb, 1);
    }
    stack_jump_deep(d - 1);
    depth_guard++;
}

extern "C" NOINLINE void stack_after_jump(void) { stack_site(302); depth_guard++; }

extern "C" NOINLINE void stack_throw_deep(int d)
{
    if (d == 0) {
        stack_site(401);
        throw std::runtime_error("unwind me");
    }
    stack_throw_deep(d - 1);
    depth_guard++;
}

extern "C" NOINLINE void stack_in_catch(void) { stack_site(402); depth_guard++; }

extern "C" NOINLINE void stack_handler(int sig)
{
    (void)sig;
    stack_site(501);              // not async-signal-safe in general; raise() makes it synchronous here
}

extern "C" NOINLINE void stack_raiser(void)
{
    raise(SIGUSR1);
    depth_guard++;
}

extern "C" NOINLINE void *stack_thread(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100; i++)
        stack_caller_a(601);
    return nullptr;
}

int main()
{
    for (int round = 0; round < 3; round++) {
        // The same site from two callers, alternating: the cache must tell them apart.
        for (int i = 0; i < 50; i++) {
            stack_caller_a(101);
            stack_caller_b(102);
        }
        // Recursion: each depth its own stack.
        for (int d = 0; d < 6; d++)
            stack_recurse(d, 200 + (size_t)d);
        // longjmp out of ten frames, then the same site from a shallow frame.
        if (!setjmp(jb))
            stack_jump_deep(10);
        stack_after_jump();
        // An exception through ten frames, then an allocation in the handler.
        try {
            stack_throw_deep(10);
        } catch (const std::exception &) {
            stack_in_catch();
        }
        // A signal handler.
        signal(SIGUSR1, stack_handler);
        stack_raiser();
        // A second thread.
        pthread_t t;
        pthread_create(&t, nullptr, stack_thread, nullptr);
        pthread_join(t, nullptr);
    }
    sink = nullptr;
    puts("paths done");
    return 0;
}
