// Leaks objects made with new and arrays made with new[] from named functions (one in a
// namespace, one a class member), for check_tracker.c.  Prints the sizes the test must
// find in the report: "widget=N gadget=N gadgets=N widgets=N" (stdout unbuffered: no stdio buffer
// left behind).  The pointers pass through a volatile global that is cleared at once.
#include <cstdio>
#include <cstring>

#include "progutil.h"

void *volatile leak_sink;

namespace shapes {

struct Widget {
    int id;
    double weight;
    char name[52];
};

struct Gadget {         // trivially destructible: new[] adds no array cookie
    long a, b, c;
    short s;
};

NOINLINE Widget *make_widget()
{
    Widget *w = new Widget; // LEAK-NEW-OBJECT
    w->id = 7;
    std::memset(w->name, 'w', sizeof w->name);
    return w;
}

class Factory {
public:
    NOINLINE static Gadget *make_gadgets(int n)
    {
        Gadget *g = new Gadget[n]; // LEAK-NEW-ARRAY
        for (int i = 0; i < n; i++)
            g[i].a = i;
        return g;
    }
};

} // namespace shapes

static const int kGadgets = 13;
static volatile int kWidgets = 3;   // volatile: the loop is not unrolled (one call site)

NOINLINE static void leak_them()
{
    for (int i = 0; i < kWidgets; i++) {
        leak_sink = shapes::make_widget();
        leak_sink = nullptr;
    }
    leak_sink = shapes::Factory::make_gadgets(kGadgets);
    leak_sink = nullptr;
}

int main()
{
    std::setvbuf(stdout, nullptr, _IONBF, 0);
    std::printf("widget=%zu gadget=%zu gadgets=%d widgets=%d\n", sizeof(shapes::Widget),
                sizeof(shapes::Gadget), kGadgets, (int)kWidgets);
    leak_them();
    scrub_stack();
    return 0;
}
