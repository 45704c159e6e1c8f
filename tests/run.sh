#!/bin/sh
# Runs each test program with its options and ends with one summary line in Check's own
# format, adding up the programs' results.  Exits non-zero if anything failed.
b=$1; shift
total=0; failures=0; errors=0; bad=""
while [ $# -ge 2 ]; do
    prog=$1; opts=$2; shift 2
    [ "$opts" = "-" ] && opts=""
    label="$prog${opts:+ ($opts)}"
    echo "== $label"
    out=$(MALLOCSPY_OPTIONS="$opts" "$b/tests/$prog" 2>&1); rc=$?
    echo "$out" | grep -v '^Running suite' | sed 's/^/   /'
    line=$(echo "$out" | grep -E '^[0-9]+%: Checks: [0-9]+, Failures: [0-9]+, Errors: [0-9]+' | tail -n 1)
    if [ -z "$line" ]; then
        errors=$((errors + 1)); total=$((total + 1)); bad="$bad $label"
        echo "   (no Check summary: exit status $rc)"
        continue
    fi
    c=$(echo "$line" | sed -E 's/.*Checks: ([0-9]+).*/\1/')
    f=$(echo "$line" | sed -E 's/.*Failures: ([0-9]+).*/\1/')
    e=$(echo "$line" | sed -E 's/.*Errors: ([0-9]+).*/\1/')
    total=$((total + c)); failures=$((failures + f)); errors=$((errors + e))
    [ "$f" != 0 ] || [ "$e" != 0 ] || [ "$rc" != 0 ] && bad="$bad $label"
done
pass=$((total - failures - errors))
pct=0; [ $total -gt 0 ] && pct=$((100 * pass / total))
[ -n "$bad" ] && echo "Failed:$bad"
echo "$pct%: Checks: $total, Failures: $failures, Errors: $errors"
[ -z "$bad" ]
