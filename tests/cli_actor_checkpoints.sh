#!/bin/sh
# tests/cli_actor_checkpoints.sh: `evchain run` signs checkpoints of every actor chain with
# the runtime's key (made on first use), and an auditor holding only the verifier key can
# check the chain against them, prove an event, and catch a rewritten chain.
# $1 is the evchain binary; EVCHAIN_BUILD the build directory (for the example actors).
set -u
EV=$1
A=${EVCHAIN_BUILD:-build}/actors
T=$(mktemp -d /tmp/evchain_cli_actor_cp.XXXXXX)
trap 'rm -rf "$T"' EXIT INT TERM
. tests/clilib.sh
D=$T/data
C=$D/actors/counter/chain
CACHE=${EVCHAIN_BUILD:-build}/actor-cache

expect 0 "$EV" run "$A/counter.wasm" --name counter --data-dir "$D" --cache "$CACHE" \
  --message inc --message "add 5" --message inc --checkpoint-every 5 --quiet
has "$T/err" "made checkpoint key"
[ -f "$D/runtime.key" ] && [ -f "$D/runtime.vkey" ] && ok || bad "no runtime key files"
has "$D/runtime.vkey" "evchain-runtime+"
ls "$C/checkpoints/" >"$T/cps"
has "$T/cps" "latest"
n=$(grep -c '\.checkpoint$' "$T/cps")
[ "$n" -ge 3 ] && ok || bad "only $n checkpoints for a chain of more than 15 events"

# The latest checkpoint covers the whole chain (written when the actor stopped).
events=$("$EV" verify "$C" | sed -n 's/.*ok, \([0-9]*\) events.*/\1/p')
size=$(sed -n 2p "$C/checkpoints/latest")
[ "$size" = "$events" ] && ok || bad "latest checkpoint size $size, chain has $events events"
expect 0 "$EV" verify "$C" --since "$C/checkpoints/latest" --vkey "$D/runtime.vkey"
first=$(grep '\.checkpoint$' "$T/cps" | head -n 1)
expect 0 "$EV" verify "$C" --since "$C/checkpoints/$first" --vkey "$D/runtime.vkey"

# An auditor proves one event offline against the signed checkpoint.
expect 0 "$EV" prove "$C" 3 -o "$T/p3"
expect 0 "$EV" verify-proof "$T/p3" --vkey "$D/runtime.vkey"

# --checkpoint-keep N: only the newest N numbered checkpoints stay, `latest` the newest of
# them; the chain still verifies against it. 0 keeps all, and a bad count is refused.
expect 0 "$EV" run "$A/counter.wasm" --name kept --data-dir "$D" --cache "$CACHE" \
  --message inc --message "add 5" --message inc --message inc --checkpoint-every 3 \
  --checkpoint-keep 2 --quiet
K=$D/actors/kept/chain
n=$(ls "$K/checkpoints/" | grep -c '\.checkpoint$')
[ "$n" = 2 ] && ok || bad "--checkpoint-keep 2 left $n numbered checkpoints"
size=$(sed -n 2p "$K/checkpoints/latest")
[ -f "$K/checkpoints/$(printf %020d "$size").checkpoint" ] && ok || bad "latest not kept"
expect 0 "$EV" verify "$K" --since "$K/checkpoints/latest" --vkey "$D/runtime.vkey"
expect 0 "$EV" run "$A/counter.wasm" --name keptall --data-dir "$D" --cache "$CACHE" \
  --message inc --message "add 5" --message inc --message inc --checkpoint-every 3 \
  --checkpoint-keep 0 --quiet
n=$(ls "$D/actors/keptall/chain/checkpoints/" | grep -c '\.checkpoint$')
[ "$n" -ge 4 ] && ok || bad "--checkpoint-keep 0 left only $n numbered checkpoints"
expect 2 "$EV" run "$A/counter.wasm" --name k3 --data-dir "$D" --cache "$CACHE" \
  --checkpoint-keep many --quiet
has "$T/err" "--checkpoint-keep"

# A second run reuses the key (no new one is made) and the same verifier key checks it.
expect 0 "$EV" run "$A/counter.wasm" --name counter2 --data-dir "$D" --cache "$CACHE" \
  --message inc --quiet
if grep -qF "made checkpoint key" "$T/err"; then bad "a second key was made"; else ok; fi
expect 0 "$EV" verify "$D/actors/counter2/chain" --since \
  "$D/actors/counter2/chain/checkpoints/latest" --vkey "$D/runtime.vkey"

# Each actor's checkpoints have an origin of their own, "<key name>/<actor id>": a proof
# about counter2 does not pass as one about counter under --origin (the key is the same).
C2=$D/actors/counter2/chain
# first_line FILE TEXT: FILE's first line is exactly TEXT
first_line() { [ "$(sed -n 1p "$1")" = "$2" ] && ok || bad "$1 starts '$(sed -n 1p "$1")', not '$2'"; }
first_line "$C/checkpoints/latest" evchain-runtime/counter
first_line "$C2/checkpoints/latest" evchain-runtime/counter2
expect 0 "$EV" prove "$C2" 3 -o "$T/q3"
expect 0 "$EV" verify-proof "$T/p3" --vkey "$D/runtime.vkey" --origin evchain-runtime/counter
has "$T/out" "events of evchain-runtime/counter, signed by evchain-runtime"
expect 1 "$EV" verify-proof "$T/q3" --vkey "$D/runtime.vkey" --origin evchain-runtime/counter
has "$T/out" "origin is 'evchain-runtime/counter2', not 'evchain-runtime/counter'"
expect 0 "$EV" verify-proof "$T/q3" --vkey "$D/runtime.vkey" --origin evchain-runtime/counter2
expect 0 "$EV" verify "$C2" --since "$C2/checkpoints/latest" --vkey "$D/runtime.vkey" \
  --origin evchain-runtime/counter2
has "$T/out" "of evchain-runtime/counter2 ("
expect 1 "$EV" verify "$C2" --since "$C/checkpoints/latest" --vkey "$D/runtime.vkey" \
  --origin evchain-runtime/counter2
has "$T/out" "origin is 'evchain-runtime/counter', not 'evchain-runtime/counter2'"
# `evchain checkpoint` with the runtime's key keeps the actor chain's origin
expect 0 "$EV" checkpoint "$C2" --key "$D/runtime.key" -o "$T/c2cp"
first_line "$T/c2cp" evchain-runtime/counter2
# A chain checkpointed before origins were per actor (origin = the key's name): its old
# checkpoint still verifies without --origin, and the runtime resuming it keeps signing with
# that origin (one chain, one origin), so its checkpoints stay consistent with the old ones.
rm -r "$C2/checkpoints"
expect 0 "$EV" checkpoint "$C2" --key "$D/runtime.key" -o "$T/c2old"
first_line "$T/c2old" evchain-runtime
expect 0 "$EV" resume counter2 --data-dir "$D" --cache "$CACHE" --message inc --quiet
first_line "$C2/checkpoints/latest" evchain-runtime # a resumed old chain keeps its origin
expect 0 "$EV" verify "$C2" --since "$T/c2old" --vkey "$D/runtime.vkey"
has "$T/out" "of evchain-runtime ("
expect 0 "$EV" verify "$C2" --since "$C2/checkpoints/latest" --vkey "$D/runtime.vkey" \
  --origin evchain-runtime
expect 1 "$EV" verify "$C2" --since "$T/c2old" --vkey "$D/runtime.vkey" \
  --origin evchain-runtime/counter2

# A key name so long that "<key name>/<actor id>" is over 255 bytes is refused, not cut.
long=$(printf 'k%.0s' $(seq 1 250))
expect 0 "$EV" keygen "$long" -o "$T/long.key"
expect 2 "$EV" run "$A/counter.wasm" --name a-long-actor-id --data-dir "$T/dl" --cache "$CACHE" \
  --checkpoint-key "$T/long.key" --message inc --quiet
has "$T/err" "over 255 bytes"
[ ! -e "$T/dl/actors/a-long-actor-id/chain" ] && ok || bad "a refused actor left its chain"

# A chain rewritten after its checkpoint was signed is caught: export, change one event's
# data, re-hash the whole chain (a consistent forgery), and check it against the checkpoint.
"$EV" export "$C" --format jsonl -o "$T/c.jsonl"
python3 - "$T/c.jsonl" "$T/forged.jsonl" <<'PY'
import base64, hashlib, json, struct, sys
lines = open(sys.argv[1]).read().splitlines()
head, events = lines[0], [json.loads(l) for l in lines[1:]]
events[2]["data"] = base64.b64encode(b"forged").decode()
prev = None
for e in events:
    t = e["event_type"].encode(); d = base64.b64decode(e["data"])
    flags = (1 if prev else 0) | (2 if e["description"] is not None else 0)
    enc = b"evchain\x01" + bytes([1, flags]) + struct.pack(">QQ", e["seq"], e["timestamp"])
    enc += (prev or b"") + struct.pack(">I", len(t)) + t
    if e["description"] is not None:
        ds = e["description"].encode(); enc += struct.pack(">I", len(ds)) + ds
    enc += struct.pack(">I", len(d)) + d
    h = hashlib.sha256(enc).digest()
    e["parent_hash"] = prev.hex() if prev else None
    e["hash"] = h.hex(); prev = h
with open(sys.argv[2], "w") as f:
    f.write(head + "\n" + "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in events))
PY
expect 0 "$EV" verify "$T/forged.jsonl"
expect 1 "$EV" verify "$T/forged.jsonl" --since "$C/checkpoints/latest" --vkey "$D/runtime.vkey"

# log --json decodes actor payloads for jq ("payload"), and still imports back as a chain.
expect 0 "$EV" log --json "$C" --to 1
has "$T/out" '"payload":{"fn":"ec_init"'
{ echo '{"evchain":1,"hash_alg":"sha256"}'; "$EV" log --json "$C"; } >"$T/logged.jsonl"
expect 0 "$EV" diff "$C" "$T/logged.jsonl"

# An actor recovered after a trap goes on with signed checkpoints, with the same key, and
# its last checkpoint covers the whole chain, abandoned line and recovery marker included.
expect 1 "$EV" run "$A/tally.wasm" --name tally --data-dir "$D" --cache "$CACHE" \
  --message 5 --message crash --quiet
TC=$D/actors/tally/chain
expect 0 "$EV" recover "$TC" --cache "$CACHE" --message 7 --quiet
if grep -qF "made checkpoint key" "$T/err"; then bad "recover made a second key"; else ok; fi
events=$("$EV" verify "$TC" | sed -n 's/.*ok, \([0-9]*\) events.*/\1/p')
size=$(sed -n 2p "$TC/checkpoints/latest")
[ -n "$events" ] && [ "$size" = "$events" ] && ok || bad "tally: checkpoint size $size, chain $events"
expect 0 "$EV" verify "$TC" --since "$TC/checkpoints/latest" --vkey "$D/runtime.vkey"
expect 0 "$EV" log "$TC" --type 'runtime/recovered'
lines "$T/out" 1

# A recovery or resume of a chain without checkpoints/latest (an imported bundle, a run
# killed before its first checkpoint) signs with the actor's own origin, as a run does, not
# the key's name alone (that one is kept only when latest already has it, above).
cp -a "$D" "$T/dx"
mkdir -p "$T/dx/cache" && cp "$CACHE"/*.wasm "$T/dx/cache/" # export takes it from there
expect 0 "$EV" export --bundle "$T/dx/actors/counter/chain" -o "$T/counter.bundle"
expect 0 "$EV" import --bundle "$T/counter.bundle" --data-dir "$T/di"
[ ! -e "$T/di/actors/counter/chain/checkpoints/latest" ] && ok || bad "an import has a latest"
expect 0 "$EV" resume counter --data-dir "$T/di" --cache "$CACHE" --message inc --quiet
first_line "$T/di/actors/counter/chain/checkpoints/latest" evchain-runtime/counter
cp -a "$D" "$T/dn"
rm -r "$T/dn/actors/tally/chain/checkpoints"
expect 0 "$EV" recover "$T/dn/actors/tally/chain" --cache "$CACHE" --message 1 --quiet
first_line "$T/dn/actors/tally/chain/checkpoints/latest" evchain-runtime/tally

# `resume` of an actor that trapped (not imported, not killed) is a recovery from its trap:
# it records runtime/recovered, not runtime/migrated, and the chain replays identically.
expect 1 "$EV" run "$A/tally.wasm" --name tr --data-dir "$T/dr" --cache "$CACHE" \
  --message 5 --message crash --quiet
expect 0 "$EV" resume tr --data-dir "$T/dr" --cache "$CACHE" --message 1 --quiet
has "$T/out" "runtime/recovered at seq"
expect 0 "$EV" log "$T/dr/actors/tr/chain" --type runtime/recovered
lines "$T/out" 1
expect 0 "$EV" replay "$T/dr/actors/tr/chain" --cache "$CACHE"
has "$T/out" "identical"

# A chain that lost events a signed checkpoint covers (its last record torn off) is refused
# before anything is written: the writer's open would cut the torn record and the marker take
# its seq, another history under the same checkpoints. Without a checkpoint covering it, the
# torn record is cut and the cut reported, as `evchain append` does.
cp -a "$D" "$T/dt"
TT=$T/dt/actors/tally/chain
covered=$(sed -n 2p "$TT/checkpoints/latest")
seg=$TT/seg-0000000000000000.log
truncate -s $(($(wc -c <"$seg") - 5)) "$seg"
size=$(wc -c <"$seg")
expect 1 "$EV" recover "$TT" --cache "$CACHE" --message 1 --quiet
has "$T/err" "covers $covered events and the chain has $((covered - 1))"
[ "$(wc -c <"$seg")" = "$size" ] && ok || bad "a refused recovery changed the chain"
expect 1 "$EV" resume tally --data-dir "$T/dt" --cache "$CACHE" --quiet
rm -r "$TT/checkpoints"
# A tail altered below the checksums (the last intact record's data changed, its CRCs
# fixed), which a writer's open refuses only after its cut: a broken chain (exit 1), refused
# before the cut.
cp -a "$T/dt" "$T/da"
TA=$T/da/actors/tally/chain
n=$("$EV" verify "$TA" | sed -n 's/.*ok, \([0-9]*\) events.*/\1/p')
python3 tests/crc.py "$TA/seg-0000000000000000.log" $((n - 1)) -35
cp -a "$TA" "$T/ta-before"
expect 1 "$EV" recover "$TA" --cache "$CACHE" --message 1 --quiet
has "$T/err" "$TA: event $((n - 1)): hash mismatch"
diff -r "$T/ta-before" "$TA" >/dev/null && ok || bad "a refused recovery (altered tail) changed the chain"
# The other refusals come before the cut too, a refused recovery leaving the chain's files
# byte-identical, the torn record included: a --to that is no call boundary, a tree file
# the checkpointer cannot read (its header damaged).
printf 'not a merkle tree file, not at all: its header is damaged' >"$TT/proof/tree"
cp -a "$TT" "$T/tt-before"
expect 2 "$EV" recover "$TT" --cache "$CACHE" --to 1 --message 1 --quiet
has "$T/err" "not a call boundary"
diff -r "$T/tt-before" "$TT" >/dev/null && ok || bad "a refused recovery (--to) changed the chain"
expect 2 "$EV" recover "$TT" --cache "$CACHE" --message 1 --quiet
has "$T/err" "proof/tree: not an evchain merkle tree file (bad header)"
diff -r "$T/tt-before" "$TT" >/dev/null && ok || bad "a refused recovery (tree file) changed the chain"
rm "$TT/proof/tree"
expect 0 "$EV" recover "$TT" --cache "$CACHE" --message 1 --quiet
has "$T/err" "cut a torn record (never acknowledged)"

# Input that cannot be a module is refused before anything is written (no key, no data dir).
printf 'not wasm' >"$T/bad.wasm"
expect 2 "$EV" run "$T/bad.wasm" --data-dir "$T/d4"
has "$T/err" "not a WebAssembly module"
[ ! -e "$T/d4" ] && ok || bad "a refused run left $T/d4 behind"
mkdir "$T/dir.wasm"
expect 2 "$EV" run "$T/dir.wasm" --data-dir "$T/d4"
has "$T/err" "Is a directory"
[ ! -e "$T/d4" ] && ok || bad "a refused run left $T/d4 behind"

# --no-checkpoints: no tree, no checkpoints, no key needed.
expect 0 "$EV" run "$A/counter.wasm" --name plain --data-dir "$T/d2" --cache "$CACHE" \
  --message inc --quiet --no-checkpoints
[ ! -e "$T/d2/actors/plain/chain/checkpoints" ] && [ ! -e "$T/d2/runtime.key" ] && ok ||
  bad "--no-checkpoints still wrote checkpoints or a key"
expect 2 "$EV" run "$A/counter.wasm" --data-dir "$T/d3" --no-checkpoints --checkpoint-key x

finish
