#!/bin/sh
# tests/cli_tamper.sh: a chain directory altered below the storage layer's checksums (a data
# byte changed and its frame's CRC32C fixed, tests/crc.py) or damaged (a byte flipped, CRC
# left wrong): every reading command refuses it as a broken chain (exit 1, "<chain>: event
# <seq>: <reason>"), as it refuses the same chain in a file. $1 is the evchain binary; run
# from the source directory.
set -u
EV=$1
T=$(mktemp -d /tmp/evchain_cli_tamper.XXXXXX)
trap 'rm -rf "$T"' EXIT INT TERM
. tests/clilib.sh # expect, has, lines, finish

SEG=seg-0000000000000000.log
expect 0 "$EV" init "$T/good"
for i in 0 1 2 3 4; do
  expect 0 "$EV" append "$T/good" --type t --data "{\"i\":$i}"
done

# ---- altered: record 2's data changed, its CRCs fixed ----
cp -r "$T/good" "$T/alt"
python3 tests/crc.py "$T/alt/$SEG" 2 -35 # a byte of the data ({"i":2}), before the 32-byte hash
expect 1 "$EV" verify "$T/alt"
has "$T/out" "event 2: hash mismatch"
for f in json jsonl; do
  expect 1 "$EV" export "$T/alt" --format $f -o "$T/alt.$f"
  has "$T/err" "$T/alt: event 2: hash mismatch"
  [ ! -e "$T/alt.$f" ] && ok || bad "export of a broken chain wrote $T/alt.$f"
  expect 1 "$EV" export "$T/alt" --format $f
done
expect 1 "$EV" show "$T/alt" 3
has "$T/err" "$T/alt: event 2: hash mismatch"
expect 1 "$EV" show "$T/alt" 2
expect 0 "$EV" show "$T/alt" 1 # events before the altered one are intact
expect 1 "$EV" log "$T/alt"
has "$T/err" "$T/alt: event 2: hash mismatch"
lines "$T/out" 2 # listed up to the broken event, then the error
expect 1 "$EV" log "$T/alt" --json
# the intact chain still reads, from any seq (the first listed event's link is checked)
expect 0 "$EV" export "$T/good" -o "$T/good.json"
expect 0 "$EV" log "$T/good" --from 3
lines "$T/out" 2
expect 0 "$EV" show "$T/good" 4

# ---- damaged: a byte of record 1 flipped, CRC left wrong (the last segment, read on open) ----
cp -r "$T/good" "$T/dam"
flip "$T/dam/$SEG" 200
expect 1 "$EV" verify "$T/dam"
has "$T/out" "$T/dam: event 1: record checksum mismatch"
expect 1 "$EV" export "$T/dam" -o "$T/dam.json"
has "$T/err" "$T/dam: event 1: record checksum mismatch"
[ ! -e "$T/dam.json" ] && ok || bad "export of a damaged chain wrote $T/dam.json"
expect 1 "$EV" log "$T/dam"
lines "$T/out" 1 # listed up to the damaged event (tests/cli_damage.sh: more)
expect 0 "$EV" show "$T/dam" 0 # only 0..0 need checking
expect 1 "$EV" show "$T/dam" 1
# not a chain at all stays unusable input (2)
cp -r "$T/good" "$T/nohdr"
printf 'x' >"$T/nohdr/EVCHAIN"
expect 2 "$EV" verify "$T/nohdr"
rm "$T/nohdr/EVCHAIN"
expect 2 "$EV" verify "$T/nohdr"

# ---- a torn tail: append cuts it and says what it dropped ----
cp -r "$T/good" "$T/torn"
printf 'abc' >>"$T/torn/$SEG"
size=$(wc -c <"$T/good/$SEG" | tr -d ' ')
expect 0 "$EV" append "$T/torn" --type t --data x
has "$T/err" "note: $T/torn: cut a torn record (never acknowledged): 3 bytes at byte offset $size of $SEG"
expect 0 "$EV" append "$T/torn" --type t --data y
[ ! -s "$T/err" ] && ok || bad "append with nothing to cut printed: $(cat "$T/err")"
expect 0 "$EV" verify "$T/torn"
has "$T/out" "ok, 7 events"

# ---- index files with valid checksums but wrong contents (tests/idx.py): only a cache, so
# a reader rebuilds them from the segment instead of reporting damage or absence ----
expect 0 "$EV" init "$T/ix" --segment-bytes 4096
expect 0 "$EV" init "$T/iy" --segment-bytes 4096
pad=$(printf '%0200d' 0)
for i in $(seq 0 39); do
  expect 0 "$EV" append "$T/ix" --type t --data "x$i$pad"
  expect 0 "$EV" append "$T/iy" --type t --data "y$i$pad"
done
IDX=seg-000000000000000d.idx # the second segment: seqs 13..24 (12 frames of ~240 bytes)
[ -f "$T/ix/$IDX" ] && ok || bad "no $IDX: $(ls "$T/ix")"
expect 0 "$EV" log "$T/ix" --json
h20=$(sed -n 21p "$T/out" | sed 's/.*"hash":"\([0-9a-f]*\)".*/\1/')
[ ${#h20} -eq 64 ] && ok || bad "the hash of seq 20: '$h20'"
# (a) the offsets of seqs 20 and 21 exchanged
cp -r "$T/ix" "$T/swap"
python3 tests/idx.py "$T/swap/$IDX" swap 7 8
expect 0 "$EV" log "$T/swap" --from 20
lines "$T/out" 20
expect 0 "$EV" show "$T/swap" 20
has "$T/out" "$h20"
expect 0 "$EV" show "$T/swap" "$h20"
expect 0 "$EV" append "$T/swap" --type t --data more # a writer rewrites the index
expect 0 "$EV" show "$T/swap" 21
# (b) the index of another chain (same first seq, same length): a hash lookup miss rescans
cp -r "$T/ix" "$T/other"
cp "$T/iy/$IDX" "$T/other/$IDX"
expect 0 "$EV" show "$T/other" "$h20"
has "$T/out" "seq:         20"
expect 0 "$EV" verify "$T/other"
# (c) the count changed (header checksum fixed): the next segment's name says 13
cp -r "$T/ix" "$T/count"
python3 tests/idx.py "$T/count/$IDX" count 11
expect 0 "$EV" verify "$T/count"
has "$T/out" "ok, 40 events"
expect 0 "$EV" append "$T/count" --type t --data more
has "$T/out" "40 "

# ---- a segment file removed: events are missing, a broken chain (exit 1, the first missing
# seq named), as a damaged record is; the writer refuses it (2) ----
cp -r "$T/ix" "$T/gap"
rm "$T/gap/seg-000000000000000d.log"
expect 1 "$EV" verify "$T/gap"
has "$T/out" "$T/gap: event 13: seqs 13..24 are missing"
expect 1 "$EV" log "$T/gap"
has "$T/err" "$T/gap: event 13: seqs 13..24 are missing"
expect 1 "$EV" show "$T/gap" 3
expect 2 "$EV" append "$T/gap" --type t --data x
cp -r "$T/ix" "$T/gap2"
rm "$T/gap2/$(ls "$T/gap2" | grep 'seg-.*\.log' | tail -n 1)"
expect 1 "$EV" verify "$T/gap2"
has "$T/out" "is sealed, so the segment after it"

# ---- import stopped by a signal: no temporary directory left, exit 128 + the signal ----
expect 0 "$EV" export "$T/good" --format jsonl -o "$T/good.jsonl"
head -n 3 "$T/good.jsonl" >"$T/part.jsonl"
for sig in INT TERM HUP; do
  rm -f "$T/fifo"
  mkfifo "$T/fifo"
  # the feeder sends a few events, then keeps the FIFO open: import waits in a read
  (cat "$T/part.jsonl"; sleep 20) >"$T/fifo" &
  feeder=$!
  "$EV" import "$T/fifo" -o "$T/ki" >"$T/out" 2>"$T/err" &
  imp=$!
  n=0
  # (up to 60 s: a sanitized import on a loaded machine can take seconds to get there)
  while [ $n -lt 1200 ] && ! ls -d "$T"/ki.import-* >/dev/null 2>&1; do sleep 0.05; n=$((n + 1)); done
  sleep 0.2
  kill -$sig $imp
  wait $imp
  code=$?
  kill $feeder 2>/dev/null
  wait $feeder 2>/dev/null
  case $sig in INT) want=130 ;; TERM) want=143 ;; HUP) want=129 ;; esac
  [ $code -eq $want ] && ok || bad "import stopped by SIG$sig: exit $code, want $want"
  has "$T/err" "nothing was written to $T/ki"
  if ls -d "$T"/ki* >/dev/null 2>&1; then bad "SIG$sig left $(ls -d "$T"/ki*)"; else ok; fi
done
# a leftover of a killed import (kill -9) is named by the next import to the same DIR
mkdir "$T/ki.import-AbC123"
expect 0 "$EV" import "$T/good.jsonl" -o "$T/ki"
has "$T/err" "note: $T/ki.import-AbC123 was left by a killed import to $T/ki"
[ -d "$T/ki.import-AbC123" ] && ok || bad "the leftover was removed"

# ---- import messages ----
printf '{"evchain":1,"hash_alg":"sha256","events":[],"events":[]}' >"$T/dup.json"
expect 2 "$EV" import "$T/dup.json" -o "$T/dup"
has "$T/err" "duplicate key \"events\""

finish
