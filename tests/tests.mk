# The Check suite: one program per area (tests/check_<area>.c), helper programs the tests
# run (tests/progs/), and the example from the README (tests/examples/).
CXX ?= g++
ABSB := $(abspath $(B))
CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)
# The test programs link libmallocspy, so their own allocations are spied; UBSan watches
# them (ASan would bring an allocator of its own; it runs on the core in check_core).
TEST_CFLAGS := -std=gnu11 $(WARN) -Wno-error=deprecated-declarations -Iinclude -Isrc -Itests -O1 -g \
               -fno-omit-frame-pointer -fno-builtin -D_GNU_SOURCE -DBUILD_DIR='"$(ABSB)"' $(CHECK_CFLAGS)
TEST_LDFLAGS := -L$(B) -Wl,-rpath,$(ABSB) -lmallocspy $(CHECK_LIBS) -lpthread -ldl -lm
TEST_COMMON := tests/testutil.c tests/spies.c

CHECK_SRC := $(filter-out tests/check_core.c,$(wildcard tests/check_*.c))
CHECK_BIN := $(CHECK_SRC:tests/%.c=$(B)/tests/%) $(B)/tests/check_core
# Libraries the tests build themselves (tests/progs/*_lib.c, *_lib.cc) are no programs.
PROG_C    := $(filter-out %_lib.c,$(wildcard tests/progs/*.c))
PROG_CXX  := $(filter-out %_lib.cc,$(wildcard tests/progs/*.cc))
PROG_BIN  := $(PROG_C:tests/progs/%.c=$(B)/tests/progs/%) \
             $(PROG_CXX:tests/progs/%.cc=$(B)/tests/progs/%)
EXAMPLE_BIN := $(patsubst tests/examples/%.c,$(B)/tests/examples/%,$(wildcard tests/examples/*.c)) \
               $(patsubst tests/examples/%.cc,$(B)/tests/examples/%,$(wildcard tests/examples/*.cc))

# Programs that link libmallocspy need it to exist, not to be older than them: the library
# is shared, so a change in it rebuilds none of them (order-only).
$(B)/tests/check_%: tests/check_%.c $(TEST_COMMON) tests/*.h | $(LIB) $(B)/tests
	$(CC) $(TEST_CFLAGS) -fsanitize=undefined -fno-sanitize-recover=undefined $< $(TEST_COMMON) \
	    -o $@ $(TEST_LDFLAGS)

# The core itself, linked statically (not interposing anything), under ASan and UBSan.
CORE_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined
$(B)/asan/%.o: src/%.c
	@mkdir -p $(@D)
	$(CC) $(BASE) -O1 -g -fno-omit-frame-pointer $(CORE_SAN) -MMD -MP -c $< -o $@
-include $(SRC:src/%.c=$(B)/asan/%.d)
$(B)/tests/check_core: tests/check_core.c tests/testutil.c tests/*.h \
                       $(SRC:src/%.c=$(B)/asan/%.o) $(B)/gen/flamegraph_template.o | $(B)/tests
	$(CC) $(TEST_CFLAGS) $(CORE_SAN) tests/check_core.c tests/testutil.c \
	    $(SRC:src/%.c=$(B)/asan/%.o) $(B)/gen/flamegraph_template.o -o $@ $(CHECK_LIBS) \
	    $(LIBS) -lm

# Helper programs: built with debug information.  Only those that include mallocspy.h or
# mallocspy/com.h link libmallocspy (it defines malloc, so --as-needed would keep it for
# any program); the others are spied only when run under LD_PRELOAD.
PROG_CFLAGS := -std=gnu11 -O1 -g -fno-omit-frame-pointer -fno-builtin -Iinclude -D_GNU_SOURCE
MS_LINK := -L$(B) -Wl,-rpath,$(ABSB) -lmallocspy
PROG_LIBS = $(if $(shell grep -l 'include "mallocspy' $<),$(MS_LINK)) -lpthread -ldl
$(B)/tests/progs/%: tests/progs/%.c tests/progs/progutil.h | $(LIB) $(B)/tests/progs
	$(CC) $(PROG_CFLAGS) $< -o $@ $(PROG_LIBS)
$(B)/tests/progs/%: tests/progs/%.cc tests/progs/progutil.h | $(LIB) $(B)/tests/progs
	$(CXX) -O1 -g -fno-omit-frame-pointer -Iinclude $< -o $@ $(PROG_LIBS)
$(B)/tests/examples/%: tests/examples/%.c | $(LIB)
	@mkdir -p $(B)/tests/examples
	$(CC) $(PROG_CFLAGS) $< -o $@ $(PROG_LIBS)
$(B)/tests/examples/%: tests/examples/%.cc | $(LIB)
	@mkdir -p $(B)/tests/examples
	$(CXX) -std=c++11 -O1 -g -fno-omit-frame-pointer -Iinclude $< -o $@ $(PROG_LIBS)

# Each entry: test program, then the MALLOCSPY_OPTIONS it runs with ("-": none).  Some
# run twice, without and with the leak tracker, which must change nothing they check; and
# some again with fast_path=0 (every operation through the general spy chain walk), which
# must give the same results as the dispatcher's fast path.
CHECK_RUNS := \
    check_core report=quiet \
    check_exports report=quiet \
    check_layers report=quiet \
    check_interpose leak_check=0 \
    check_interpose report=quiet \
    check_interpose report=quiet:fast_path=0 \
    check_task leak_check=0 \
    check_task report=quiet \
    check_spy leak_check=0 \
    check_spy report=quiet \
    check_threads leak_check=0 \
    check_threads report=quiet \
    check_threads report=quiet:fast_path=0 \
    check_programs report=quiet \
    check_tracker report=quiet \
    check_tracker report=quiet:fast_path=0 \
    check_scan report=quiet \
    check_family leak_check=0 \
    check_family report=quiet \
    check_com leak_check=0 \
    check_com report=quiet \
    check_errors report=quiet \
    check_errors report=quiet:fast_path=0 \
    check_profile report=quiet \
    check_stacks report=quiet \
    check_stacks report=quiet:fast_path=0 \
    check_wrapper report=quiet \
    check_package report=quiet \
    check_symbolizer report=quiet \
    check_pprof report=quiet \
    check_guest report=quiet \
    check_servers report=quiet \
    check_suppress report=quiet \
    check_options report=quiet \
    check_docs report=quiet \
    check_formats report=quiet \
    check_report_tool report=quiet \
    check_procs report=quiet

# make check T=spy (or T="spy threads") runs those areas only; JOBS=n how many at once.
T ?=
CHECK_ONLY := $(foreach t,$(T),check_$(t))
check: all test-deps $(if $(T),$(CHECK_ONLY:%=$(B)/tests/%),$(CHECK_BIN)) $(PROG_BIN) $(EXAMPLE_BIN)
	@ONLY="$(CHECK_ONLY)" tests/run.sh $(B) $(CHECK_RUNS)

test-deps:
	@scripts/deps.sh test
.PHONY: test-deps
