#!/bin/sh
# tests/cli_diff.sh: `evchain diff`: identical chains, a prefix, a first difference with both
# events shown, and unusable input. $1 is the evchain binary. Run from the source directory.
set -u
EV=$1
V=tests/vectors/theater
T=$(mktemp -d /tmp/evchain_cli_diff.XXXXXX)
trap 'rm -rf "$T"' EXIT INT TERM
. tests/clilib.sh

expect 0 "$EV" diff "$V/wasi-http-two.json" "$V/wasi-http-two.json"
has "$T/out" "identical: 22 events"

# The same chain in another file format is still the same chain.
"$EV" export "$V/wasi-http-two.json" --format jsonl -o "$T/two.jsonl"
expect 0 "$EV" diff "$V/wasi-http-two.json" "$T/two.jsonl"

# A prefix: the first 11 events (header line + 11 event lines).
head -n 12 "$T/two.jsonl" >"$T/prefix.jsonl"
expect 1 "$EV" diff "$T/prefix.jsonl" "$T/two.jsonl"
has "$T/out" "identical up to 11"
expect 1 "$EV" diff "$T/two.jsonl" "$T/prefix.jsonl"
has "$T/out" "identical up to 11"

# Two chains that share their first event and part ways at seq 1.
expect 1 "$EV" diff "$V/runtime-test.json" "$V/wasi-http-first.json"
has "$T/out" "first difference at seq 1"
has "$T/out" "theater:simple/runtime/log"
has "$T/out" "a (tests/vectors/theater/runtime-test.json):"

# Unusable input.
expect 2 "$EV" diff "$T/missing.json" "$T/two.jsonl"
has "$T/err" "missing.json"
expect 2 "$EV" diff "$T/two.jsonl"
printf 'not json' >"$T/junk"
expect 2 "$EV" diff "$T/junk" "$T/two.jsonl"

finish
