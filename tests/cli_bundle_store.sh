#!/bin/sh
# tests/cli_bundle_store.sh: what a migration bundle must carry besides the chain and the
# sandbox (docs/FORMAT.md section 8, docs/ABI.md section 7): every store object the actor
# had and every label it set (checked by export, import and verify), no O or L entry twice,
# the snapshots (rebuilt by the import's replay), two imports of one actor at once, a bundle
# refused at replay leaving nothing, and sandbox names the ABI refuses so that every
# sandbox an actor can make can be exported. $1 is the evchain binary.
set -u
EV=$1
B=${EVCHAIN_BUILD:-build}
A=$B/actors
T=$(mktemp -d /tmp/evchain_cli_bundle_store.XXXXXX)
trap 'rm -rf "$T"' EXIT INT TERM
. "$(dirname "$0")/clilib.sh"
C=$T/cache # one compiled counter for the runs and most imports

# edit IN OUT MODE: IN rewritten as OUT, every digest computed anew. Modes: noobj, nolabel
# (those entries left out), dupobj, duplabel (the first one twice), ret1 (the last
# wasm/result of the chain returns 1 instead of 0, the records after it hashed again: a
# chain that verifies but does not replay).
edit() {
  python3 - "$@" <<'PY'
import hashlib, struct, sys
src, out, mode = sys.argv[1:4]
b = open(src, 'rb').read()
ents, off = [], 8
while off < len(b):
    k = chr(b[off]); nl = struct.unpack(">H", b[off + 1:off + 3])[0]
    name = b[off + 3:off + 3 + nl]; off += 3 + nl
    dl = struct.unpack(">Q", b[off:off + 8])[0]; data = b[off + 8:off + 8 + dl]; off += 8 + dl + 32
    if k != "E":
        ents.append([k, name, data])
if mode in ("noobj", "nolabel"):
    ents = [e for e in ents if e[0] != ("O" if mode == "noobj" else "L")]
if mode in ("dupobj", "duplabel"):
    i = [e[0] for e in ents].index("O" if mode == "dupobj" else "L")
    ents.insert(i + 1, list(ents[i]))
if mode == "ret1":
    c = ents[0][2]; recs, p = [], 0
    while p < len(c):
        n = struct.unpack(">I", c[p:p + 4])[0]; recs.append(bytearray(c[p + 4:p + 4 + n])); p += 4 + n
    def typ(r):
        q = 26 + (32 if r[9] & 1 else 0); tl = struct.unpack(">I", r[q:q + 4])[0]
        return bytes(r[q + 4:q + 4 + tl])
    last = max(i for i, r in enumerate(recs) if typ(r) == b"wasm/result")
    assert recs[last][-33] == 0  # ret 0 ends the payload, before the 32-byte hash
    recs[last][-33] = 1
    for i in range(last, len(recs)):
        r = recs[i]
        if i > last:
            r[26:58] = recs[i - 1][-32:]
        r[-32:] = hashlib.sha256(bytes(r[:-32])).digest()
    ents[0][2] = b"".join(struct.pack(">I", len(r)) + bytes(r) for r in recs)
def entry(k, name, data):
    return (k.encode() + struct.pack(">H", len(name)) + name + struct.pack(">Q", len(data)) +
            data + hashlib.sha256(data).digest())
body = b"EVBUNDL" + b[7:8] + b"".join(entry(*e) for e in ents)
open(out, 'wb').write(body + entry("E", b"", hashlib.sha256(body).digest()))
PY
}

# 1. Objects and labels the chain needs. The counter keeps its count in the store: an
# object put and a label set naming it.
expect 0 "$EV" run "$A/counter.wasm" --data-dir "$T/c1" --cache "$C" --message inc \
  --message "add 5" --quiet
expect 0 "$EV" export --bundle "$T/c1/actors/counter/chain" --cache "$C" -o "$T/counter.bundle"
last=$(cat "$T/c1/store/labels/counter-counter")
# an object missing from the source: refused (1: the source is damaged), naming it
cp -a "$T/c1" "$T/c3"
rm "$T/c3/store/objects/$last"
expect 1 "$EV" export --bundle "$T/c3/actors/counter/chain" --cache "$C" -o "$T/c3.bundle"
has "$T/err" "the store object $last the chain refers to (seq"
has "$T/err" "is missing from $T/c3/store/objects"
[ -e "$T/c3.bundle" ] && bad "an export without an object wrote its bundle" || ok
# a damaged one too (its reader would refuse the bundle)
echo 99 >"$T/c3/store/objects/$last"
expect 1 "$EV" export --bundle "$T/c3/actors/counter/chain" --cache "$C" -o "$T/c3.bundle"
has "$T/err" "the store object $last the chain refers to"
has "$T/err" "is damaged"
# the labels missing
cp -a "$T/c1" "$T/c4"
rm -rf "$T/c4/store/labels"
expect 1 "$EV" export --bundle "$T/c4/actors/counter/chain" --cache "$C" -o "$T/c4.bundle"
has "$T/err" "the label counter-counter the chain sets (seq"
[ -e "$T/c4.bundle" ] && bad "an export without a label wrote its bundle" || ok
# a bundle with its O or L entries left out (every digest recomputed): verify and import
# refuse it (1), and the import writes nothing
for m in noobj nolabel; do
  edit "$T/counter.bundle" "$T/$m.bundle" $m
  expect 1 "$EV" verify "$T/$m.bundle"
  expect 1 "$EV" import --bundle "$T/$m.bundle" --data-dir "$T/i-$m" --cache "$C"
  [ -e "$T/i-$m" ] && bad "$m: a refused bundle wrote $T/i-$m" || ok
done
expect 1 "$EV" verify "$T/noobj.bundle"
has "$T/out" "the store object"
has "$T/out" "is not in the bundle"
expect 1 "$EV" import --bundle "$T/nolabel.bundle" --data-dir "$T/i-nolabel" --cache "$C"
has "$T/err" "the label counter-counter the chain sets (seq"
# and the whole bundle goes on with its count
expect 0 "$EV" import --bundle "$T/counter.bundle" --data-dir "$T/ok" --cache "$C"
expect 0 "$EV" resume counter --data-dir "$T/ok" --cache "$C" --message inc
has "$T/err" "[counter] count = 7"

# 2. O or L entries twice: refused (2, a malformed bundle) by verify and import.
for m in dupobj duplabel; do
  edit "$T/counter.bundle" "$T/$m.bundle" $m
  expect 2 "$EV" verify "$T/$m.bundle"
  has "$T/err" "twice (entries at offsets"
  expect 2 "$EV" import --bundle "$T/$m.bundle" --data-dir "$T/i-$m" --cache "$C"
  [ -e "$T/i-$m" ] && bad "$m: a refused bundle wrote $T/i-$m" || ok
done

# 3. Two imports of one actor into one data directory at once: one is refused, and it leaves
# nothing: the label names the count of the chain that was imported (6 after the counter's
# 29 events, 100 after the other's 17), never the refused one's.
expect 0 "$EV" run "$A/counter.wasm" --data-dir "$T/c9" --cache "$C" --message "add 100" --quiet
expect 0 "$EV" export --bundle "$T/c9/actors/counter/chain" --cache "$C" -o "$T/c9.bundle"
for round in 1 2 3 4; do
  R=$T/race$round
  "$EV" import --bundle "$T/counter.bundle" --data-dir "$R" --cache "$C" >"$T/r1" 2>&1 &
  p1=$!
  "$EV" import --bundle "$T/c9.bundle" --data-dir "$R" --cache "$C" >"$T/r2" 2>&1 &
  p2=$!
  wait $p1; s1=$?
  wait $p2; s2=$?
  [ $((s1 + s2)) -eq 2 ] && ok || bad "round $round: imports exited $s1 and $s2, want 0 and 2"
  expect 0 "$EV" resume counter --data-dir "$R" --cache "$C" --message "add 0"
  if grep -q "replay of 29 events" "$T/out"; then want=6; else want=100; fi
  has "$T/err" "[counter] count = $want"
done

# 4. Snapshots: a bundle carries none, the import makes them again by its replay (each one
# checked against its recorded hash), so resume --from-snapshot works after a migration.
expect 0 "$EV" run "$A/tally.wasm" --data-dir "$T/s1" --args 10 --snapshot-every 2 \
  --message 5 --message 7 --message 9 --message 11 --message 13 --quiet
expect 0 "$EV" export --bundle "$T/s1/actors/tally/chain" -o "$T/s1.bundle"
expect 0 "$EV" import --bundle "$T/s1.bundle" --data-dir "$T/s1i" --cache "$T/s1/cache"
for o in "$T"/s1/store/objects/*; do
  cmp -s "$o" "$T/s1i/store/objects/${o##*/}" && ok || bad "snapshot ${o##*/} not rebuilt"
done
expect 0 "$EV" resume tally --data-dir "$T/s1i" --cache "$T/s1/cache" --from-snapshot --message 1
has "$T/err" "[tally] total = 56"

# 5. A bundle refused at its replay (a chain that verifies but is not what its module does)
# leaves nothing: no data directory, no cache, no compiled module; and in a data directory
# that exists, nothing new.
edit "$T/counter.bundle" "$T/ret1.bundle" ret1
expect 0 "$EV" verify "$T/ret1.bundle"
expect 1 "$EV" import --bundle "$T/ret1.bundle" --data-dir "$T/x1"
has "$T/err" "does not replay with its module"
[ -e "$T/x1" ] && bad "a bundle refused at replay left $(find "$T/x1" | head -5)" || ok
mkdir "$T/x2"
expect 1 "$EV" import --bundle "$T/ret1.bundle" --data-dir "$T/x2/data"
[ -e "$T/x2/data" ] && bad "a bundle refused at replay left $T/x2/data" || ok
(cd "$T/ok" && find . | sort) >"$T/before"
expect 2 "$EV" import --bundle "$T/ret1.bundle" --data-dir "$T/ok" --cache "$C"
has "$T/err" "already exists"
rm -rf "$T/ok/actors/counter"
(cd "$T/ok" && find . | sort) >"$T/before"
expect 1 "$EV" import --bundle "$T/ret1.bundle" --data-dir "$T/ok"
(cd "$T/ok" && find . | sort) >"$T/after"
cmp -s "$T/before" "$T/after" && ok || bad "a refused import changed $T/ok: $(diff "$T/before" "$T/after")"

# 6. Sandbox names: an actor cannot make a name a bundle cannot carry (control characters,
# DEL, C1, not UTF-8): EINVAL, recorded; the sandbox exports and the chain replays.
expect 0 "$EV" run "$A/files.wasm" --data-dir "$T/fs" --cache "$T/fscache" \
  --message "$(printf 'write a\001b hi')" --message "$(printf 'write a\177b hi')" \
  --message "$(printf 'write a\302\205b hi')" --message "$(printf 'write a\377b hi')" \
  --message "$(printf 'write caf\303\251 hi')" --message "$(printf 'read a\001b')"
"$EV" log "$T/fs/actors/files/chain" --json --type fs/write.result >"$T/w" 2>&1
has "$T/w" '"error":"path contains a control character"'
has "$T/w" '"error":"path is not valid UTF-8"'
[ "$(grep -c '"ret":-1' "$T/w")" -eq 4 ] && ok || bad "not 4 writes refused: $(cat "$T/w")"
[ "$(ls "$T/fs/actors/files/fs")" = "$(printf 'caf\303\251')" ] && ok ||
  bad "the sandbox holds $(ls -b "$T/fs/actors/files/fs")"
expect 0 "$EV" export --bundle "$T/fs/actors/files/chain" --cache "$T/fscache" -o "$T/fs.bundle"
expect 0 "$EV" replay "$T/fs/actors/files/chain" --cache "$T/fscache"
has "$T/out" "identical"
finish
