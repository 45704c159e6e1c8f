# mallocspy-symbolizer (src/symbolizer/): the program the library hands its stacks to, which
# resolves them with libdw in a process of its own.  An ordinary program, not injected:
# none of the library's flags (PIC, hidden symbols, frame pointers) and no sanitizers.
SYM_SRC    := $(wildcard src/symbolizer/*.c)
SYM_OBJ    := $(SYM_SRC:src/symbolizer/%.c=$(B)/symbolizer/%.o)
SYM_BIN    := $(B)/mallocspy-symbolizer
SYM_CFLAGS := -std=gnu11 $(WARN) -D_GNU_SOURCE $(CPPFLAGS) $(CFLAGS) -DSYMBOLIZER_VERSION='"$(VERSION)"'
# -lstdc++ for __cxa_demangle, -lz for the pprof profiles' gzip; libdebuginfod is
# dlopen'ed, only with --debuginfod.
SYM_LIBS   := -ldw -lelf -lz -ldl -lstdc++

all: $(SYM_BIN)

$(B)/symbolizer/%.o: src/symbolizer/%.c src/symbolizer/symbolizer.h
	@mkdir -p $(B)/symbolizer
	$(CC) $(SYM_CFLAGS) -c $< -o $@
$(SYM_BIN): $(SYM_OBJ)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(SYM_OBJ) $(SYM_LIBS)

install: install-symbolizer
install-symbolizer: $(SYM_BIN)
	install -d $(DESTDIR)$(libdir)/mallocspy
	install -m 755 $(SYM_BIN) $(DESTDIR)$(libdir)/mallocspy/mallocspy-symbolizer
.PHONY: install-symbolizer
