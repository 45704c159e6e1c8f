/* A call stack as every report shows it: in text, LeakSanitizer's frame lines; in JSON,
 * an array of frames. */
#ifndef MS_FRAMES_H
#define MS_FRAMES_H

struct writer;
struct symbolizer;
struct stack_rec;

/* "    #N 0x... in f file:line (module+0xoff)" per frame, functions inlined at an address
 * each a frame of their own; "    <no stack recorded>" for none. */
void frames_text(struct writer *w, struct symbolizer *sym, const struct stack_rec *st);
/* [{"address","function","module","build_id","offset","file","line","inlined"}...], or
 * null for no stack. */
void frames_json(struct writer *w, struct symbolizer *sym, const struct stack_rec *st);

#endif
