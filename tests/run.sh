#!/bin/bash
# Runs each test program with its options and ends with one summary line in Check's own
# format, adding up the programs' results.  Exits non-zero if anything failed.
#
# Usage: [ONLY="check_spy ..."] [JOBS=n] run.sh BUILD_DIR [PROG OPTS]...  The runs of one program stay in order, one after
# the other (they share its files); different programs run side by side, JOBS at a time
# (default: the number of processors), and their output is shown in the order given.
b=$1; shift
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mallocspy-run.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

# One program's runs, in order: each run's output in $tmp/<n>.out, its status in .rc.
run_group() {
    while [ $# -ge 3 ]; do
        n=$1; prog=$2; opts=$3; shift 3
        [ "$opts" = "-" ] && opts=""
        MALLOCSPY_OPTIONS="$opts" "$b/tests/$prog" >"$tmp/$n.out" 2>&1
        echo $? >"$tmp/$n.rc"
    done
}

# Groups by program, keeping the first appearance's order; ONLY (space-separated program
# names) keeps those.
n=0; progs=""; all=""
while [ $# -ge 2 ]; do
    if [ -n "$ONLY" ] && ! case " $ONLY " in *" $1 "*) true ;; *) false ;; esac; then
        shift 2
        continue
    fi
    n=$((n + 1))
    all="$all $n $1 $2"
    case " $progs " in *" $1 "*) ;; *) progs="$progs $1" ;; esac
    shift 2
done
running=0
for p in $progs; do
    set -- $all
    args=""
    while [ $# -ge 3 ]; do
        [ "$2" = "$p" ] && args="$args $1 $2 $3"
        shift 3
    done
    run_group $args &
    running=$((running + 1))
    if [ $running -ge "$jobs" ]; then
        wait -n
        running=$((running - 1))
    fi
done
wait

total=0; failures=0; errors=0; bad=""
set -- $all
while [ $# -ge 3 ]; do
    i=$1; prog=$2; opts=$3; shift 3
    [ "$opts" = "-" ] && opts=""
    label="$prog${opts:+ ($opts)}"
    echo "== $label"
    out=$(cat "$tmp/$i.out" 2>/dev/null); rc=$(cat "$tmp/$i.rc" 2>/dev/null || echo 1)
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
