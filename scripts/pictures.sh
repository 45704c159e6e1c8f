#!/bin/sh
# Makes the pictures the README shows, from the bundled example (tests/examples/demo.c):
#   man/images/flamegraph.svg   the flame graph of bytes allocated, as libmallocspy writes it
#   man/images/flamegraph.png   the same, as headless Chromium draws it
#   man/images/timeline.svg     live bytes over time, drawn by mallocspy-report
# Run by "make pictures" after "make"; needs chromium (scripts/deps.sh test installs it).
set -eu
cd "$(dirname "$0")/.."
B=${B:-build}
out=man/images
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

scripts/mallocspy --quiet --json "$tmp/demo.json" --timeline \
    --options timeline_interval=2ms \
    --flamegraph "$out/flamegraph.svg" --weight allocated -- "$B/tests/examples/demo" >/dev/null
scripts/mallocspy-report "$tmp/demo.json" --timeline "$out/timeline.svg" \
    --title "Live heap bytes over time: the bundled demo"

chromium_run() {
    timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$tmp/profile" --hide-scrollbars "$@" 2>/dev/null
}
# The graph's height is set by its script: read it from the drawn page first.
height=$(chromium_run --dump-dom "file://$PWD/$out/flamegraph.svg" |
         sed -n 's/.*<svg[^>]* height="\([0-9]*\)".*/\1/p' | head -1)
chromium_run --window-size="1200,${height:-400}" --screenshot="$out/flamegraph.png" \
    "file://$PWD/$out/flamegraph.svg" >/dev/null
echo "pictures written to $out/"
