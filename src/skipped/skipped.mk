# libmallocspy-skip.so (src/skipped/): preloaded instead of mallocspy into a program that
# children_skip names, it gives the program's own children their preload back.  Injected,
# like the library (PIC, nothing exported, no sanitizers), but a library of its own: it
# interposes nothing and links only the C library.
SKIP_LIB := $(B)/libmallocspy-skip.so

all: $(SKIP_LIB)

$(SKIP_LIB): src/skipped/give_back.c
	$(CC) -std=gnu11 $(WARN) $(LIBWARN) -D_GNU_SOURCE $(CFLAGS) -fPIC -fvisibility=hidden \
	    -shared -Wl,--no-undefined -Wl,-z,now -Wl,-z,relro -o $@ $<

install: install-skip
install-skip: $(SKIP_LIB)
	install -d $(DESTDIR)$(libdir)/mallocspy
	install -m 644 $(SKIP_LIB) $(DESTDIR)$(libdir)/mallocspy/libmallocspy-skip.so
.PHONY: install-skip
