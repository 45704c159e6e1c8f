// The C++ plugin guest_plugins loads late (check_guest.c builds it): guest_cxxplug_leak
// leaks one Widget made with new in guestns::make_widget(int), whose name the report
// must give demangled.
#include <cstring>

#include "progutil.h"

void *volatile guest_cxxplug_sink;
volatile int guest_cxxplug_seed = 5;

namespace guestns {

struct Widget {
    int id;
    char name[60];
};

NOINLINE Widget *make_widget(int id)
{
    Widget *w = new Widget; // GUEST-CXXPLUG
    w->id = id;
    std::memset(w->name, 'p', sizeof w->name);
    return w;
}

}  // namespace guestns

extern "C" void guest_cxxplug_leak()
{
    guest_cxxplug_sink = guestns::make_widget(guest_cxxplug_seed);
    guest_cxxplug_sink = nullptr;
}
