#!/bin/sh
# Runs every benchmark program and ends with the collected `name: ratio` lines.
bdir=$1
out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=0
for b in "$bdir"/bench_*; do
  [ -x "$b" ] || continue
  echo "== $(basename "$b")"
  "$b" | tee -a "$out" || status=1
done
echo "== summary"
grep -E '^[a-z_]+\.[a-z_0-9]+: [0-9.]+$' "$out"
exit $status
