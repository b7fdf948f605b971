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

finish
