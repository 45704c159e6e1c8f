#!/bin/sh
# Makes sure the Debian packages the build (or, with "test", the test suite; with "deb",
# make deb) needs are installed: installs them when run as root, otherwise names the exact
# command to run.
set -e
want_build="uthash-dev check libdw-dev libelf-dev zlib1g-dev pkg-config"
# chromium renders the flame graphs in the test suite, as a user sees them; libc6-dbg is
# the separate debug file check_symbolizer finds by build ID, and libdebuginfod1 the client
# mallocspy-symbolizer --debuginfod loads.  check_guest runs openssl, curl, ssh, node and
# java (javac compiles its program) under the preload, builds static programs (libc6-dev's
# libc.a) and runs a set-user-ID one as nobody (setpriv, from util-linux).  check_pprof
# reads the pprof profiles with go tool pprof (golang-go).  Every JSON report and SARIF
# log the tests read is validated with python3-jsonschema.  check_procs runs make as a
# parent, waits with pgrep (procps) and reuses pids in a namespace (unshare, from
# util-linux).  check_package completes the wrapper's options with bash-completion loaded,
# as a user's shell does.
want_test="libjemalloc2 libtcmalloc-minimal4 python3 perl gcc g++ gdb valgrind binutils file
           chromium fonts-dejavu-core libc6-dbg libdebuginfod1
           openssl curl openssh-client nodejs openjdk-17-jdk-headless libc6-dev util-linux
           golang-go python3-jsonschema make procps bash-completion"
# make deb: debhelper builds the packages (dpkg-buildpackage wants build-essential),
# lintian checks them.
want_deb="build-essential debhelper dpkg-dev lintian"
case "$1" in
    test) want="$want_build $want_test" ;;
    deb) want="$want_build $want_deb" ;;
    *) want="$want_build" ;;
esac
missing=""
for p in $want; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "mallocspy: installing Debian packages:$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    dpkg --configure -a >/dev/null 2>&1 || true
    apt-get install -y -q $missing >/dev/null 2>&1 ||
        { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q $missing >/dev/null; }
    exit 0
fi
echo "mallocspy: missing Debian packages:$missing" >&2
echo "mallocspy: install them with:  sudo apt-get install$missing" >&2
exit 1
