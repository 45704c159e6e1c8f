# mallocspy: make builds build/libmallocspy.so; make check runs the test suite.
CC      ?= gcc
PREFIX  ?= /usr/local
# Debian's multiarch directory, for instance: LIBDIR=/usr/lib/x86_64-linux-gnu.  The
# symbolizer goes to $(libdir)/mallocspy, where the library looks for it beside itself.
LIBDIR  ?= $(PREFIX)/lib
DESTDIR ?=
prefix  := $(PREFIX)
libdir  := $(LIBDIR)
incdir  := $(prefix)/include
bindir  := $(prefix)/bin
mandir  := $(prefix)/share/man
datadir := $(prefix)/share/mallocspy
pcdir   := $(libdir)/pkgconfig
bashcompdir := $(prefix)/share/bash-completion/completions

VERSION := $(shell sed -n 's/^\#define MALLOCSPY_VERSION "\(.*\)"/\1/p' include/mallocspy.h)
# The ABI's number, in the soname: raised only when a change breaks programs linked with
# -lmallocspy.  Names added to the API go into a new node of src/exports.map instead.
SOVERSION := 0
SONAME  := libmallocspy.so.$(SOVERSION)
B := build

WARN    := -Wall -Wextra -Werror
# The library's own code: every function has its prototype in its module's header.
LIBWARN := -Wmissing-prototypes -Wnested-externs -Wredundant-decls
# CPPFLAGS and LDFLAGS as well, as dpkg-buildflags gives them for a package's hardening.
CFLAGS  ?= -O2 -g
BASE    := -std=gnu11 $(WARN) $(LIBWARN) -Iinclude -Isrc -D_GNU_SOURCE
# The library is injected into other programs: hidden by default, no sanitizers, and
# entry points keep their frame pointer (the stack cache starts from it).
LIBCFLAGS := $(BASE) $(CPPFLAGS) $(CFLAGS) -fPIC -fvisibility=hidden -fno-strict-aliasing \
             -ftls-model=initial-exec -MMD -MP
ENTRYFLAGS := -fno-omit-frame-pointer -fno-optimize-sibling-calls
# The soname lets a program linked with -lmallocspy and run under the preload share the
# one copy the preload brought in.
LIBLDFLAGS := -shared -Wl,-soname,$(SONAME) -Wl,--no-undefined -Wl,--version-script=src/exports.map -Wl,-z,now -Wl,-z,relro
LIBS    := -ldl -lpthread -lm

# One folder per layer (src/README); the symbolizer is a program of its own, and the
# library a skipped program gets (src/skipped/) a library of its own.
SRC     := $(filter-out src/symbolizer/% src/skipped/%,$(wildcard src/*/*.c))
PRE     := $(wildcard preload/*.c)
# The flame graph template (scripts/flamegraph.svg, also read by mallocspy-report) is
# built into the library as a C string.
GEN     := $(B)/gen/flamegraph_template.c
OBJ     := $(SRC:src/%.c=$(B)/src/%.o) $(PRE:preload/%.c=$(B)/preload/%.o) \
           $(B)/gen/flamegraph_template.o
# The file itself, the soname's link (what the loader opens for a program linked with
# -lmallocspy) and the development link (what -lmallocspy and LD_PRELOAD=libmallocspy.so
# name).
LIBFILE := $(B)/libmallocspy.so.$(VERSION)
LIB     := $(B)/libmallocspy.so

.PHONY: all deps check clean install install-lib install-headers install-bin install-man \
        install-completion demo bench pictures deb
all: deps $(LIB)

deps:
	@scripts/deps.sh

# Headers are followed by the compiler's own dependency files (-MMD).
$(B)/src/%.o: src/%.c
	@mkdir -p $(@D)
	$(CC) $(LIBCFLAGS) $(if $(filter $(ENTRY_SRC),$<),$(ENTRYFLAGS)) -c $< -o $@
# The public API and COM's names (CoTaskMemAlloc...) are entry points too.
ENTRY_SRC := src/core/api.c src/family/pool.c $(wildcard src/com/*.c)
$(B)/preload/%.o: preload/%.c | $(B)/preload
	$(CC) $(LIBCFLAGS) $(ENTRYFLAGS) -c $< -o $@
-include $(OBJ:.o=.d)

$(GEN): scripts/flamegraph.svg
	@mkdir -p $(B)/gen
	{ echo '/* Generated from scripts/flamegraph.svg by make. */'; \
	  echo 'extern const char flamegraph_template[];'; \
	  echo 'const char flamegraph_template[] ='; \
	  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$$/\\n"/' $<; \
	  echo ';'; } > $@
$(B)/gen/flamegraph_template.o: $(GEN)
	$(CC) $(LIBCFLAGS) -c $< -o $@

$(LIBFILE): $(OBJ) src/exports.map
	$(CC) $(LIBLDFLAGS) $(LDFLAGS) -o $@ $(OBJ) $(LIBS)
$(B)/$(SONAME): $(LIBFILE)
	ln -sf $(<F) $@
$(LIB): $(B)/$(SONAME)
	ln -sf $(SONAME) $@

$(B)/preload $(B)/tests $(B)/tests/progs:
	@mkdir -p $@

include tests/tests.mk
include src/symbolizer/symbolizer.mk
include src/skipped/skipped.mk

# Shows mallocspy at work on the bundled example program.
demo: all $(B)/tests/examples/demo
	scripts/mallocspy --json $(B)/demo.json -- $(B)/tests/examples/demo
	@echo "(the JSON report is in $(B)/demo.json)"

# The pictures the README shows (man/images/), made from the demo; needs chromium.
pictures: all $(B)/tests/examples/demo
	@scripts/deps.sh test
	B=$(B) scripts/pictures.sh

clean:
	rm -rf $(B)

install: install-lib install-headers install-bin install-man install-completion
# The library finds default.supp from its own directory: $(libdir)/../share/mallocspy (or
# ../../share/mallocspy for a multiarch libdir), as in the source tree from build/.
install-lib: all
	install -d $(DESTDIR)$(libdir) $(DESTDIR)$(pcdir) $(DESTDIR)$(datadir)
	install -m 644 $(LIBFILE) $(DESTDIR)$(libdir)/$(notdir $(LIBFILE))
	ln -sf $(notdir $(LIBFILE)) $(DESTDIR)$(libdir)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(libdir)/libmallocspy.so
	install -m 644 share/mallocspy/default.supp $(DESTDIR)$(datadir)/default.supp
	sed -e 's|@prefix@|$(prefix)|' -e 's|@libdir@|$(libdir)|' -e 's|@includedir@|$(incdir)|' \
	    -e 's|@VERSION@|$(VERSION)|' mallocspy.pc.in > $(DESTDIR)$(pcdir)/mallocspy.pc
install-headers:
	install -d $(DESTDIR)$(incdir)
	install -m 644 include/mallocspy.h $(DESTDIR)$(incdir)/mallocspy.h
	install -d $(DESTDIR)$(incdir)/mallocspy
	install -m 644 include/mallocspy/com.h $(DESTDIR)$(incdir)/mallocspy/com.h
install-bin:
	install -d $(DESTDIR)$(bindir)
	sed -e 's|^MALLOCSPY_LIBDIR=.*|MALLOCSPY_LIBDIR="$(libdir)"|' \
	    -e 's|^MALLOCSPY_VERSION=.*|MALLOCSPY_VERSION="$(VERSION)"|' scripts/mallocspy \
	    > $(DESTDIR)$(bindir)/mallocspy
	chmod 755 $(DESTDIR)$(bindir)/mallocspy
	install -d $(DESTDIR)$(datadir)
	install -m 644 scripts/flamegraph.svg $(DESTDIR)$(datadir)/flamegraph.svg
	install -m 644 share/report.schema.json $(DESTDIR)$(datadir)/report.schema.json
	sed -e 's|^MALLOCSPY_DATADIR = .*|MALLOCSPY_DATADIR = "$(datadir)"|' \
	    -e 's|^MALLOCSPY_LIBEXEC = .*|MALLOCSPY_LIBEXEC = "$(libdir)/mallocspy"|' scripts/mallocspy-report \
	    > $(DESTDIR)$(bindir)/mallocspy-report
	chmod 755 $(DESTDIR)$(bindir)/mallocspy-report
install-man:
	install -d $(DESTDIR)$(mandir)/man1 $(DESTDIR)$(mandir)/man3
	install -m 644 man/mallocspy.1 $(DESTDIR)$(mandir)/man1/mallocspy.1
	install -m 644 man/mallocspy.3 $(DESTDIR)$(mandir)/man3/mallocspy.3
	install -m 644 man/mallocspy-com.3 $(DESTDIR)$(mandir)/man3/mallocspy-com.3
	echo '.so man1/mallocspy.1' > $(DESTDIR)$(mandir)/man1/mallocspy-report.1
# Completes the wrapper's options from its --help, so it needs no change when they do.
install-completion:
	install -d $(DESTDIR)$(bashcompdir)
	install -m 644 scripts/mallocspy.bash-completion $(DESTDIR)$(bashcompdir)/mallocspy

# Debian packages built from this tree (debian/), into $(B)/deb; lintian reads them.
deb:
	@scripts/deps.sh deb
	scripts/deb.sh $(B)/deb

# The benchmark of issue 5 (scripts/bench.py): mallocspy side by side with heaptrack,
# LeakSanitizer and Valgrind; writes tests/bench/results.md.  Not a test: nothing here
# asserts a timing.  Extra options through BENCH_ARGS (e.g. BENCH_ARGS=--quick).
BENCH_CFLAGS := -std=gnu11 -Wall -Wextra -O2 -g
BENCH_ARGS ?=
$(B)/bench/%: tests/bench/%.c tests/bench/deep.h
	@mkdir -p $(B)/bench
	$(CC) $(BENCH_CFLAGS) $< -o $@ -lpthread
$(B)/bench/%.so: tests/bench/%.c
	@mkdir -p $(B)/bench
	$(CC) $(BENCH_CFLAGS) -shared -fPIC $< -o $@ -ldl
bench: all $(B)/bench/churn $(B)/bench/prodcons $(B)/bench/waves $(B)/bench/many_blocks \
       $(B)/bench/tiny $(B)/bench/runner $(B)/bench/helper_rss $(B)/bench/lsan_signal_shim.so \
       $(B)/bench/rss_at_exit.so
	python3 scripts/bench.py $(BENCH_ARGS)
