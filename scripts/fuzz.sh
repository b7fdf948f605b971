#!/bin/sh
# Runs every libFuzzer harness in BUILD_DIR for SECONDS each: first over the regression
# inputs kept in fuzz/regress/<name>/ (crashes found earlier), then fresh fuzzing from the
# seed corpus fuzz/corpus/<name>/. Exit non-zero on the first crash.
set -e
bdir=$1
secs=${2:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for f in "$bdir"/fuzz_*; do
  [ -x "$f" ] || continue
  name=$(basename "$f")
  if [ -d "fuzz/regress/$name" ] && [ -n "$(ls "fuzz/regress/$name")" ]; then
    "$f" -runs=0 "fuzz/regress/$name"/* >"$work/$name.log" 2>&1 || { cat "$work/$name.log"; exit 1; }
  fi
  mkdir -p "$work/$name"
  [ -d "fuzz/corpus/$name" ] && cp -r "fuzz/corpus/$name/." "$work/$name/"
  if ! "$f" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
       -artifact_prefix="$work/" "$work/$name" >"$work/$name.log" 2>&1; then
    tail -n 40 "$work/$name.log"
    for c in "$work"/crash-* "$work"/leak-* "$work"/timeout-*; do
      [ -f "$c" ] && { mkdir -p fuzz/found; cp "$c" fuzz/found/; echo "kept $c in fuzz/found/"; }
    done
    echo "fuzz: $name FAILED"
    exit 1
  fi
  runs=$(grep -o 'Done [0-9]* runs' "$work/$name.log" | tail -n 1)
  echo "fuzz: $name ok (${runs:-no summary}, ${secs}s)"
done
