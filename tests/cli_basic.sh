#!/bin/sh
# tests/cli_basic.sh: the evchain command's verify, log, show and export on the Theater
# vectors, JSON/JSONL files and a chain directory: exit codes (0 intact, 1 tampered,
# 2 unusable) and the messages naming file and event. $1 is the evchain binary; run from
# the source directory.
set -u
EV=$1
V=tests/vectors/theater
T=$(mktemp -d /tmp/evchain_cli_basic.XXXXXX)
trap 'rm -rf "$T"' EXIT INT TERM
. tests/clilib.sh # expect, has, lines, finish

# --- verify the six Theater vectors, one by one and together (61 events)
for f in runtime-test:6 environment-test:8 wasi-clocks-test:16 wasi-random-test:7 \
         wasi-http-first:2 wasi-http-two:22; do
  name=${f%%:*}
  n=${f##*:}
  expect 0 "$EV" verify "$V/$name.json"
  has "$T/out" "$V/$name.json: ok, $n events, head "
done
expect 0 "$EV" verify "$V"/*.json
lines "$T/out" 6
has "$T/out" "$V/runtime-test.json: ok, 6 events, head 26c0e93400b048d09857c0c3b0e9b574bcc90901"

# --- export round trips: Theater -> JSON / JSONL -> Theater is byte for byte the original
for f in "$V"/*.json; do
  expect 0 "$EV" export "$f" --format jsonl -o "$T/c.jsonl"
  expect 0 "$EV" export "$T/c.jsonl" --format theater -o "$T/back.json"
  if cmp -s "$f" "$T/back.json"; then ok; else bad "theater round trip differs: $f"; fi
done
expect 0 "$EV" export "$V/runtime-test.json" --format json -o "$T/c.json"
expect 0 "$EV" export "$V/runtime-test.json" --format jsonl -o "$T/c.jsonl"
has "$T/c.json" '{"evchain":1,"hash_alg":"theater-sha1","events":['
expect 0 "$EV" export "$V/runtime-test.json" --format=json
if cmp -s "$T/out" "$T/c.json"; then ok; else bad "export to stdout differs from -o"; fi
expect 0 "$EV" verify "$T/c.json" "$T/c.jsonl"
has "$T/out" "$T/c.json: ok, 6 events"
has "$T/out" "$T/c.jsonl: ok, 6 events"
ls -a "$T" >"$T/ls"
if grep -q '\.tmp$' "$T/ls"; then bad "a temporary export file was left behind"; else ok; fi

# standard input
"$EV" export "$V/runtime-test.json" --format jsonl | "$EV" verify - >"$T/out" 2>"$T/err"
if [ $? -eq 0 ]; then ok; else bad "verify - from a pipe failed"; fi
has "$T/out" "-: ok, 6 events"

# --- tampered: one base64 character of event 3's data changed -> exit 1 naming seq 3
sed '/^{"seq":3,/ s/"data":"e/"data":"f/' "$T/c.json" >"$T/t.json"
if cmp -s "$T/c.json" "$T/t.json"; then bad "sed did not tamper"; else ok; fi
expect 1 "$EV" verify "$T/t.json"
has "$T/out" "$T/t.json: event 3: "
has "$T/out" "hash mismatch"
# a tampered parent link in JSONL: event 4 points at event 2 instead of 3
p2=$(sed -n 's/^{"seq":2,"hash":"\([0-9a-f]*\)".*/\1/p' "$T/c.jsonl")
sed "/^{\"seq\":4,/ s/\"parent_hash\":\"[0-9a-f]*\"/\"parent_hash\":\"$p2\"/" "$T/c.jsonl" \
  >"$T/t.jsonl"
expect 1 "$EV" verify "$T/t.jsonl"
has "$T/out" "$T/t.jsonl: event 4: "
# good + tampered: 1; plus unreadable: 2
expect 1 "$EV" verify "$V/runtime-test.json" "$T/t.json"
has "$T/out" "$V/runtime-test.json: ok"
has "$T/out" "$T/t.json: event 3"
expect 2 "$EV" verify "$T/t.json" "$T/missing.json"
# other commands refuse a broken chain with 1
expect 1 "$EV" log "$T/t.json"
has "$T/err" "event 3"
expect 1 "$EV" export "$T/t.json" --format jsonl -o "$T/never.jsonl"
if [ -e "$T/never.jsonl" ]; then bad "export of a broken chain wrote a file"; else ok; fi

# --- unusable input: malformed, missing, empty, usage -> exit 2 with what and where
printf '{"evchain":1,"hash_alg":"sha256","events":[\n{"seq":0,' >"$T/trunc.json"
expect 2 "$EV" verify "$T/trunc.json"
has "$T/err" "$T/trunc.json: byte 53 (event 0): the file ends inside an event"
printf '{"evchain":1,"hash_alg":"sha256"}\n{"seq":0,"hash":"00","parent_hash":null,"event_type":"t","timestamp":1,"description":null,"data":""}\n' >"$T/short.jsonl"
expect 2 "$EV" verify "$T/short.jsonl"
has "$T/err" "$T/short.jsonl: line 2 (event 0): hash: expected 64 hex digits"
printf '{"evchain":1,"hash_alg":"blake3"}\n' >"$T/alg.jsonl"
expect 2 "$EV" verify "$T/alg.jsonl"
has "$T/err" 'unknown hash algorithm "blake3"'
: >"$T/empty.json"
expect 2 "$EV" verify "$T/empty.json"
has "$T/err" "$T/empty.json: empty file"
expect 2 "$EV" verify "$T/missing.json"
has "$T/err" "$T/missing.json"
expect 2 "$EV" verify
has "$T/err" "no chain given"
expect 2 "$EV" verify --bogus "$V/runtime-test.json"
has "$T/err" "unknown option '--bogus'"

# --- log
expect 0 "$EV" log "$V/runtime-test.json"
lines "$T/out" 6
has "$T/out" "0 584d8e1be21f 1970-01-01T00:00:00.000000000Z wasm"
expect 0 "$EV" log "$V/runtime-test.json" --type 'theater:*'
lines "$T/out" 4
expect 0 "$EV" log "$V/runtime-test.json" --from 2 --to 3
lines "$T/out" 2
has "$T/out" "2 352d5fbbe60a"
expect 0 "$EV" log "$V/runtime-test.json" --json --to 0
lines "$T/out" 1
has "$T/out" '{"seq":0,"hash":"584d8e1be21fed4367e60f8297f7c104cd377791","parent_hash":null,"event_type":"wasm","timestamp":0,"description":null,"data":"eyJ'
# log --json lines under a header line make a JSONL file that verifies
expect 0 "$EV" log "$V/runtime-test.json" --json
{ echo '{"evchain":1,"hash_alg":"theater-sha1"}'; cat "$T/out"; } >"$T/log.jsonl"
expect 0 "$EV" verify "$T/log.jsonl"
has "$T/out" "$T/log.jsonl: ok, 6 events, head 26c0e93400b048d09857c0c3b0e9b574bcc90901"
expect 2 "$EV" log "$V/runtime-test.json" --from x
expect 0 "$EV" log tests/vectors/json/example.jsonl
has "$T/out" "0 cbf41e2dcc43 2023-11-14T22:13:20.000000000Z greeting first"
has "$T/out" "1 2c9ef613cf2b 2554-07-21T23:34:33.709551615Z bytes"

# --- show: by seq, by hash prefix, text and binary data
expect 0 "$EV" show "$V/runtime-test.json" 0
has "$T/out" "hash:        584d8e1be21fed4367e60f8297f7c104cd377791 (theater-sha1)"
has "$T/out" "parent:      (none)"
has "$T/out" '{"category":"Wasm","WasmCall":'
expect 0 "$EV" show "$V/runtime-test.json" 5a6b97
has "$T/out" "seq:         1"
expect 0 "$EV" show tests/vectors/json/example.jsonl 1
has "$T/out" "3 bytes, hex:"
has "$T/out" "00000000  00 01 ff"
expect 2 "$EV" show "$V/runtime-test.json" ffffffffff
has "$T/err" "no event 'ffffffffff'"
expect 2 "$EV" show "$V/runtime-test.json"

# --- export refusals: Theater needs a theater-sha1 chain; unknown format
expect 2 "$EV" export tests/vectors/json/example.jsonl --format theater -o "$T/x.json"
has "$T/err" "cannot be written as Theater"
if [ -e "$T/x.json" ]; then bad "refused export left a file"; else ok; fi
expect 2 "$EV" export tests/vectors/json/example.jsonl --format xml
has "$T/err" "unknown output format 'xml'"
expect 2 "$EV" export tests/vectors/json/example.jsonl -o /nonexistent/dir/x.json
has "$T/err" "/nonexistent/dir/x.json"

# --- a chain directory: verify, then through JSON and back to a file that verifies
expect 0 "$EV" init "$T/dir"
expect 0 "$EV" append "$T/dir" --type a/b --data '{"x":1}' --description "first one"
expect 0 "$EV" append "$T/dir" --type a/c --data second
expect 0 "$EV" verify "$T/dir"
has "$T/out" "$T/dir: ok, 2 events, head "
head=$(sed -n 's/.*head \([0-9a-f]*\)$/\1/p' "$T/out")
expect 0 "$EV" export "$T/dir" --format json -o "$T/dir.json"
expect 0 "$EV" verify "$T/dir.json"
has "$T/out" "$T/dir.json: ok, 2 events, head $head"
expect 0 "$EV" log "$T/dir" --type 'a/c'
lines "$T/out" 1
has "$T/out" "a/c"
expect 2 "$EV" export "$T/dir" --format theater
has "$T/err" "sha256 chain cannot be written as Theater"

finish
