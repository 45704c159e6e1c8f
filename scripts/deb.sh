#!/bin/sh
# make deb: builds the Debian packages (debian/) from a copy of this tree, so that
# dpkg-buildpackage writes neither into the tree nor beside it, and checks them with
# lintian.  Usage: scripts/deb.sh OUTDIR; the .deb files land in OUTDIR.
set -eu
out=${1:?usage: scripts/deb.sh OUTDIR}
top=$(cd "$(dirname "$0")/.." && pwd)
version=$(cd "$top" && dpkg-parsechangelog -S Version)
rm -rf "$out"
mkdir -p "$out"
out=$(cd "$out" && pwd)
src=$out/mallocspy-$version
mkdir "$src"
# The files git knows (changed or not) and new ones it does not ignore; everything but
# the build directories outside a git checkout.
cd "$top"
case $out in
    "$top"/*) keep_out=":(exclude)${out#"$top"/}" ;;
    *) keep_out=. ;;
esac
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -z --cached --others --exclude-standard -- . "$keep_out" | xargs -0 -r sh -c \
        'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
        tar --null -T - -cf - | tar -C "$src" -xf -
else
    tar --exclude=./build --exclude='./build-*' --exclude="./$(basename "$out")" -cf - . |
        tar -C "$src" -xf -
fi
cd "$src"
dpkg-buildpackage -b -us -uc -j"${JOBS:-2}"
cd "$out"
ls -1 "$out"/*.deb
if command -v lintian >/dev/null; then
    lintian --fail-on error --info --display-info "$out"/mallocspy_"$version"_*.changes
fi
