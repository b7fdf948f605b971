#!/bin/sh
# tests/cli_damage.sh: a chain directory with a damaged record (a byte flipped, its CRC left
# wrong) in an earlier (sealed) segment or in the last one reads the same way: the reading
# commands read the events before the damage and report it as the chain's first broken
# event in one form, "<chain>: event <seq>: <what> (seg-...log, byte offset O: damage, not a
# torn write)", exit 1 (docs/FORMAT.md section 4); a writer still refuses it (exit 2). $1 is
# the evchain binary; run from the source directory.
set -u
EV=$1
T=$(mktemp -d /tmp/evchain_cli_damage.XXXXXX)
trap '[ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT INT TERM
. tests/clilib.sh # expect, has, lines, finish

# 40 events of ~250 bytes in 4 KiB segments: seqs 0..12, 13..24, 25..36, 37..39 (the last)
expect 0 "$EV" init "$T/c" --segment-bytes 4096
pad=$(printf '%0200d' 0)
for i in $(seq 0 39); do
  "$EV" append "$T/c" --type t --data "x$i$pad" >/dev/null || bad "append $i"
done
LAST=seg-0000000000000025.log
[ -f "$T/c/$LAST" ] && [ ! -f "$T/c/seg-0000000000000028.log" ] && ok ||
  bad "segments: $(ls "$T/c")"
# frame_off FILE N: the byte offset of frame N of a segment file (frames from offset 24)
frame_off() {
  python3 -c '
import struct,sys
b=open(sys.argv[1],"rb").read(); off=24
for _ in range(int(sys.argv[2])):
    off+=12+(struct.unpack(">I",b[off:off+4])[0]&0x7fffffff)
print(off)' "$1" "$2"
}
# damage DIR SEG N: flip a byte inside the record of frame N of segment SEG
damage() {
  o=$(frame_off "$1/$2" "$3")
  flip "$1/$2" $((o + 50))
}

# d1: event 14 (frame 1 of the second, sealed segment); d7: event 38 (frame 1 of the last)
cp -r "$T/c" "$T/d1"
damage "$T/d1" seg-000000000000000d.log 1
o14=$(frame_off "$T/d1/seg-000000000000000d.log" 1)
cp -r "$T/c" "$T/d7"
damage "$T/d7" $LAST 1
o38=$(frame_off "$T/d7/$LAST" 1)
M1="$T/d1: event 14: record checksum mismatch (seg-000000000000000d.log, byte offset $o14: damage, not a torn write)"
M7="$T/d7: event 38: record checksum mismatch (seg-0000000000000025.log, byte offset $o38: damage, not a torn write)"

for d in d1 d7; do
  # (k, not n: clilib's lines sets n)
  case $d in d1) k=14 M=$M1 ;; d7) k=38 M=$M7 ;; esac
  expect 1 "$EV" verify "$T/$d"
  has "$T/out" "$M"
  # log: listed up to the damage, then the one message
  expect 1 "$EV" log "$T/$d"
  lines "$T/out" $k
  has "$T/err" "evchain log: $M"
  expect 1 "$EV" log "$T/$d" --from 5
  lines "$T/out" $((k - 5))
  expect 1 "$EV" log -f "$T/$d"
  lines "$T/out" $k
  has "$T/err" "evchain log: $M"
  # show verifies 0..N only: an event before the damage is shown, the damaged one refused
  expect 0 "$EV" show "$T/$d" 3
  has "$T/out" "seq:         3"
  expect 0 "$EV" show "$T/$d" $((k - 1))
  expect 1 "$EV" show "$T/$d" $k
  has "$T/err" "evchain show: $M"
  # a hash prefix is looked up in the whole chain: the damage is met first (broken, 1)
  expect 0 "$EV" show "$T/c" 3
  h3=$(sed -n 's/^hash: *\([0-9a-f]\{12\}\).*/\1/p' "$T/out")
  expect 1 "$EV" show "$T/$d" "$h3"
  has "$T/err" "$M"
  expect 1 "$EV" export "$T/$d" -o "$T/$d.json"
  has "$T/err" "$M"
  [ ! -e "$T/$d.json" ] && ok || bad "export of a damaged chain wrote $T/$d.json"
  # diff: compared up to the damage, exit 1, the damage named as verify names it
  for order in ab ba; do
    if [ $order = ab ]; then expect 1 "$EV" diff "$T/$d" "$T/c"; else expect 1 "$EV" diff "$T/c" "$T/$d"; fi
    has "$T/out" "broken: $M"
    has "$T/out" "identical up to $k: $T/$d cannot be read from event $k on"
  done
  # a difference before the damage is still found: the first 10 events of another chain
  rm -rf "$T/other"
  expect 0 "$EV" init "$T/other"
  for i in $(seq 0 9); do "$EV" append "$T/other" --type t --data "y$i" >/dev/null; done
  expect 1 "$EV" diff "$T/$d" "$T/other"
  has "$T/out" "first difference at seq 0"
  # a writer refuses it, with the same message
  expect 2 "$EV" append "$T/$d" --type t --data z
  has "$T/err" "$M"
done
# the writer left the damaged files as they were (nothing cut)
cmp -s "$T/c/seg-000000000000000d.log" "$T/d1/seg-000000000000000d.log" && bad "d1 not damaged" || ok
[ "$(wc -c <"$T/d7/$LAST")" = "$(wc -c <"$T/c/$LAST")" ] && ok || bad "d7's last segment was cut"

# the damaged record is the head (the last event): everything before it reads
cp -r "$T/c" "$T/dh"
damage "$T/dh" $LAST 2
expect 1 "$EV" verify "$T/dh"
has "$T/out" "$T/dh: event 39: record checksum mismatch (seg-0000000000000025.log"
expect 1 "$EV" log "$T/dh"
lines "$T/out" 39
expect 0 "$EV" show "$T/dh" 38

# The audit's fault 1 (zeros in the last segment, acknowledged events after them): verify
# said "ok, 42 events" of a chain of 100, and the next append cut 58 acknowledged events
# ("never acknowledged"), below the chain's own signed checkpoint. Each `append` synced its
# event before the next was written, and says so in the frame (FORMAT.md section 4): the
# zeros are damage, reported as such, and nothing is cut.
zs=seg-0000000000000000.log
# frame_at FILE OFF: the index of the frame holding byte OFF
frame_at() {
  python3 -c '
import struct,sys
b=open(sys.argv[1],"rb").read(); off=24; n=0; at=int(sys.argv[2])
while off+12+(struct.unpack(">I",b[off:off+4])[0]&0x7fffffff)<=at:
    off+=12+(struct.unpack(">I",b[off:off+4])[0]&0x7fffffff); n+=1
print(n, off)' "$1" "$2"
}
expect 0 "$EV" init "$T/zs"
for i in $(seq 0 99); do
  "$EV" append "$T/zs" --type login --data "user$i" >/dev/null || bad "append $i"
done
expect 0 "$EV" keygen example.com/audit -o "$T/a.key" --force
vkey=$(cat "$T/out")
expect 0 "$EV" checkpoint "$T/zs" --key "$T/a.key"
cp -r "$T/zs" "$T/zv1"
set -- $(frame_at "$T/zs/$zs" 5120)
zk=$1 zo=$2
size=$(wc -c <"$T/zs/$zs")
dd if=/dev/zero of="$T/zs/$zs" bs=512 seek=10 count=1 conv=notrunc 2>/dev/null
MZ="$T/zs: event $zk: a sector of zeros, with acknowledged records after it"
expect 1 "$EV" verify "$T/zs"
has "$T/out" "$MZ"
has "$T/out" "($zs, byte offset $zo: damage, not a torn write)"
expect 1 "$EV" export "$T/zs" --format jsonl -o "$T/zs.jsonl"
has "$T/err" "$MZ"
expect 2 "$EV" append "$T/zs" --type next --data x
has "$T/err" "$MZ"
[ "$(wc -c <"$T/zs/$zs")" = "$size" ] && ok || bad "the append cut the zeroed chain"
expect 1 "$EV" verify "$T/zs" --since "$T/zs/checkpoints/latest" --vkey "$vkey"
has "$T/out" "$MZ"

# The same chain as directory format version 1 (no group marks: read and written as before)
# cannot tell: the zeros read as a torn group. A writer still never cuts below the signed
# checkpoint; without one, it cuts and says what it cut, without "never acknowledged".
PYTHONPATH=tests python3 -B - "$T/zv1" <<'PY' || bad "converting to version 1"
import struct, sys
from crc import crc32c, frames  # tests/crc.py
d = sys.argv[1]
h = bytearray(open(d + "/EVCHAIN", "rb").read())
h[8:12] = struct.pack(">I", 1)
h[24:28] = struct.pack(">I", crc32c(h[:24]))
open(d + "/EVCHAIN", "wb").write(h)
p = d + "/seg-0000000000000000.log"
b = bytearray(open(p, "rb").read())
for off, n in frames(b):  # each len word without its SYNCED flag, its header CRC fixed
    b[off:off + 4] = struct.pack(">I", n)
    b[off + 8:off + 12] = struct.pack(">I", crc32c(b[off:off + 8]))
open(p, "wb").write(b)
PY
expect 0 "$EV" verify "$T/zv1"
has "$T/out" "ok, 100 events"
dd if=/dev/zero of="$T/zv1/$zs" bs=512 seek=10 count=1 conv=notrunc 2>/dev/null
# verify cannot tell either, but the chain's own stored checkpoint covers 100 events: the
# events counted fall short of it, broken (exit 1), with the warning saying what was not
# counted
expect 1 "$EV" verify "$T/zv1"
has "$T/out" "$T/zv1: its own stored checkpoint $T/zv1/checkpoints/latest: truncated: the chain has $zk events but the checkpoint (signature not checked) covers 100"
has "$T/err" "evchain verify: warning: $T/zv1: not counted; the next writer would cut "
has "$T/err" "seq $zk on: a sector of zeros, then "
expect 1 "$EV" append "$T/zv1" --type next --data x
has "$T/err" "must keep 100 events (a signed checkpoint covers them) but holds $zk"
[ "$(wc -c <"$T/zv1/$zs")" = "$size" ] && ok || bad "the append cut below the checkpoint"
rm -rf "$T/zv1/checkpoints"
expect 0 "$EV" verify "$T/zv1"
has "$T/out" "$T/zv1: ok, $zk events"
expect 0 "$EV" append "$T/zv1" --type next --data x
has "$T/err" "evchain append: warning: $T/zv1: cut "
has "$T/err" "at byte offset $zo of $zs, seq $zk on: a sector of zeros, then "
has "$T/err" "whether they were acknowledged is not known"
grep -q "never acknowledged" "$T/err" && bad "a cut of intact records said never acknowledged" || ok

finish
