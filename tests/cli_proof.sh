#!/bin/sh
# tests/cli_proof.sh: the proof commands end to end: keygen, checkpoint, prove, verify-proof
# and verify --since, on the Theater vectors (theater-sha1) and a SHA-256 JSONL chain: exit
# codes (0 valid, 1 invalid, 2 unusable) and the messages for truncation, forks, altered
# proofs and malformed notes. $1 is the evchain binary. Run from the source directory.
set -u
EV=$1
V=tests/vectors/theater
T=$(mktemp -d /tmp/evchain_cli_proof.XXXXXX)
trap 'rm -rf "$T"' EXIT INT TERM
. tests/clilib.sh

# --- keygen
expect 0 "$EV" keygen example.org/proof-test -o "$T/k.key" --vkey-out "$T/k.vkey"
has "$T/out" "example.org/proof-test+"
VKEY=$(cat "$T/out")
has "$T/k.vkey" "$VKEY"
has "$T/k.key" "PRIVATE+KEY+example.org/proof-test+"
case $(stat -c %a "$T/k.key") in 600) ok ;; *) bad "key file mode $(stat -c %a "$T/k.key")" ;; esac
expect 2 "$EV" keygen example.org/proof-test -o "$T/k.key"
has "$T/err" "already exists"
expect 2 "$EV" keygen "bad name" -o "$T/k2.key"
has "$T/err" "key name"
expect 2 "$EV" keygen example.org/x
for c in "$(printf 'del\177')" "$(printf 'c1\302\200')" "$(printf 'c1\302\237')"; do
  expect 2 "$EV" keygen "$c" -o "$T/ctl.key"
  has "$T/err" "control characters"
done
if [ -e "$T/ctl.key" ]; then bad "a key with a control character in its name"; else ok; fi
# a refused --vkey-out leaves no key behind; --vkey-out never replaces the key just made
: >"$T/taken.vkey"
expect 2 "$EV" keygen example.org/two -o "$T/two.key" --vkey-out "$T/taken.vkey"
has "$T/err" "already exists"
if [ -e "$T/two.key" ]; then bad "keygen left a key whose verifier key it refused"; else ok; fi
expect 2 "$EV" keygen example.org/same -o "$T/same.key" --vkey-out "$T/same.key" --force
has "$T/err" "same file"
if [ -e "$T/same.key" ]; then bad "keygen wrote same.key"; else ok; fi
expect 0 "$EV" keygen example.org/linked -o "$T/linked.key"
cp "$T/linked.key" "$T/linked.orig"
ln -s linked.key "$T/linked.link"
expect 2 "$EV" keygen example.org/linked -o "$T/linked.key" --vkey-out "$T/linked.link" --force
has "$T/err" "same file"
if cmp -s "$T/linked.key" "$T/linked.orig"; then ok; else bad "keygen replaced linked.key"; fi
expect 2 "$EV" keygen example.org/dot -o "$T/dot.key" --vkey-out "$T/./dot.key" --force
has "$T/err" "same file"
expect 0 "$EV" keygen example.org/other -o "$T/other.key"
OTHER=$(cat "$T/out")

# --- checkpoint of a Theater chain (22 events) and of its first 10 events (JSONL prefix)
expect 0 "$EV" checkpoint "$V/wasi-http-two.json" --key "$T/k.key" -o "$T/cp22"
has "$T/err" "22 events, root "
expect 0 "$EV" export "$V/wasi-http-two.json" --format jsonl -o "$T/two.jsonl"
head -n 11 "$T/two.jsonl" >"$T/ten.jsonl"
expect 0 "$EV" checkpoint "$T/ten.jsonl" --key "$T/k.key"
cp "$T/out" "$T/cp10"
has "$T/cp10" "example.org/proof-test
10
"
expect 0 "$EV" checkpoint "$T/ten.jsonl" --key "$T/k.key" --origin example.org/elsewhere
has "$T/out" "example.org/elsewhere"
expect 2 "$EV" checkpoint "$V/wasi-http-two.json" --key "$T/nokey"
expect 2 "$EV" checkpoint "$V/wasi-http-two.json" --key "$T/k.vkey"
has "$T/err" "private key"
expect 2 "$EV" checkpoint "$T/missing.json" --key "$T/k.key"
# a tampered chain is not signed
sed '5s/"timestamp":0/"timestamp":1/' "$T/two.jsonl" >"$T/tampered.jsonl"
if cmp -s "$T/two.jsonl" "$T/tampered.jsonl"; then bad "tampering did not change the file"; fi
expect 1 "$EV" checkpoint "$T/tampered.jsonl" --key "$T/k.key"

# --- prove every event against the 22-event checkpoint, verify each three ways
seq=0
while [ $seq -lt 22 ]; do
  expect 0 "$EV" prove "$V/wasi-http-two.json" $seq -o "$T/p$seq" --checkpoint "$T/cp22"
  expect 0 "$EV" verify-proof "$T/p$seq" --vkey "$VKEY"
  has "$T/out" "valid: event $seq "
  expect 0 "$EV" verify-proof "$T/p$seq" --vkey "$T/k.vkey" --event "$T/two.jsonl"
  seq=$((seq + 1))
done
H5=$(sed -n 7p "$T/two.jsonl" | sed 's/.*"hash":"\([0-9a-f]*\)".*/\1/')
expect 0 "$EV" verify-proof "$T/p5" --vkey "$VKEY" --hash "$H5"
H6=$(sed -n 8p "$T/two.jsonl" | sed 's/.*"hash":"\([0-9a-f]*\)".*/\1/')
expect 1 "$EV" verify-proof "$T/p5" --vkey "$VKEY" --hash "$H6"
has "$T/out" "invalid"
# the same proof, checked against another event of the chain file
expect 0 "$EV" prove "$V/wasi-http-two.json" 5 -o "$T/p5n" --checkpoint "$T/cp22" --no-event
expect 2 "$EV" verify-proof "$T/p5n" --vkey "$VKEY"
has "$T/err" "give --event"
expect 0 "$EV" verify-proof "$T/p5n" --vkey "$VKEY" --hash "$H5"
# the event as a binary record file (FORMAT.md section 1): the one carried in proof 5
sed -n 's/^extra //p' "$T/p5" | base64 -d >"$T/rec5"
expect 0 "$EV" verify-proof "$T/p5n" --vkey "$VKEY" --event "$T/rec5"
expect 1 "$EV" verify-proof "$T/p6" --vkey "$VKEY" --event "$T/rec5"
has "$T/out" "is event 5, the proof is for index 6"
printf 'evchain\001garbage' >"$T/badrec"
expect 2 "$EV" verify-proof "$T/p5n" --vkey "$VKEY" --event "$T/badrec"
# a proof against the older 10-event checkpoint, and one signed fresh with --key
expect 0 "$EV" prove "$V/wasi-http-two.json" 9 -o "$T/p9old" --checkpoint "$T/cp10"
expect 0 "$EV" verify-proof "$T/p9old" --vkey "$VKEY"
has "$T/out" "tree of 10 events"
expect 2 "$EV" prove "$V/wasi-http-two.json" 12 -o "$T/x" --checkpoint "$T/cp10"
has "$T/err" "not in the checkpoint"
expect 0 "$EV" prove "$V/wasi-http-two.json" 21 -o - --key "$T/k.key"
cp "$T/out" "$T/p21fresh"
expect 0 "$EV" verify-proof "$T/p21fresh" --vkey "$VKEY"

# --- prove: unusable input and a checkpoint of another chain
expect 2 "$EV" prove "$V/wasi-http-two.json" 22 -o "$T/x" --checkpoint "$T/cp22"
has "$T/err" "no event 22"
expect 2 "$EV" prove "$V/wasi-http-two.json" 3 -o "$T/x"
has "$T/err" "--key"
expect 2 "$EV" prove "$V/wasi-http-two.json" minus1 -o "$T/x" --key "$T/k.key"
expect 1 "$EV" prove "$V/wasi-clocks-test.json" 3 -o "$T/x" --checkpoint "$T/cp10"
has "$T/err" "not this chain's root"
if [ -e "$T/x" ]; then bad "a refused proof left a file"; else ok; fi

# --- verify-proof: altered proofs are invalid (1), malformed ones unusable (2)
P=$T/p5
expect 1 "$EV" verify-proof "$P" --vkey "$OTHER"
has "$T/out" "no signature by a known key"
# one proof hash changed (line 4: the leaf's sibling)
awk 'NR==4 { $0 = (substr($0,1,1) == "A" ? "B" : "A") substr($0,2) } { print }' "$P" >"$T/alt"
expect 1 "$EV" verify-proof "$T/alt" --vkey "$VKEY"
has "$T/out" "inclusion proof"
# one proof hash dropped
awk 'NR!=5' "$P" >"$T/short"
expect 1 "$EV" verify-proof "$T/short" --vkey "$VKEY"
has "$T/out" "fewer than"
# the index past the tree size
sed 's/^index 5$/index 30/' "$P" >"$T/past"
expect 1 "$EV" verify-proof "$T/past" --vkey "$VKEY" --hash "$H5"
has "$T/out" "past the checkpoint's tree size"
# another index: the event carried in the proof is event 5
sed 's/^index 5$/index 6/' "$P" >"$T/idx"
expect 1 "$EV" verify-proof "$T/idx" --vkey "$VKEY"
has "$T/out" "is event 5"
# the checkpoint's size changed: its signature no longer verifies
sed 's/^22$/23/' "$P" >"$T/size"
expect 1 "$EV" verify-proof "$T/size" --vkey "$VKEY"
has "$T/out" "does not verify"
# the event record in the extra data altered (one base64 character)
awk '/^extra / { $0 = substr($0,1,40) (substr($0,41,1) == "A" ? "B" : "A") substr($0,42) } { print }' \
  "$P" >"$T/rec"
expect 1 "$EV" verify-proof "$T/rec" --vkey "$VKEY"
# the signature cut to 63 bytes: wrong length from a known key
awk '/^— / { n = split($0, f, " "); $0 = f[1] " " f[2] " " substr(f[3], 1, 88) } { print }' \
  "$P" >"$T/siglen"
expect 1 "$EV" verify-proof "$T/siglen" --vkey "$VKEY"
has "$T/out" "wrong length"
# a wrong key ID: the signature is from an unknown key
awk '/^— / { n = split($0, f, " "); c = substr(f[3],1,1); $0 = f[1] " " f[2] " " (c == "A" ? "B" : "A") substr(f[3],2) } { print }' \
  "$P" >"$T/keyid"
expect 1 "$EV" verify-proof "$T/keyid" --vkey "$VKEY"
has "$T/out" "no signature by a known key"
# no blank line between the checkpoint text and its signature
awk 'BEGIN { n = 0 } /^$/ { n++; if (n == 2) next } { print }' "$P" >"$T/noblank"
expect 2 "$EV" verify-proof "$T/noblank" --vkey "$VKEY"
has "$T/err" "blank line"
# bad base64 in a proof line
awk 'NR==4 { $0 = "!" substr($0,2) } { print }' "$P" >"$T/b64"
expect 2 "$EV" verify-proof "$T/b64" --vkey "$VKEY"
has "$T/err" "line 4"
# not a proof at all, no key, a bad key, a missing file
expect 2 "$EV" verify-proof "$T/cp22" --vkey "$VKEY"
has "$T/err" "tlog-proof"
expect 2 "$EV" verify-proof "$P"
expect 2 "$EV" verify-proof "$P" --vkey "not+a+key"
expect 2 "$EV" verify-proof "$T/none" --vkey "$VKEY"
expect 2 "$EV" verify-proof "$P" --vkey "$VKEY" --hash 1234
# the C2SP example note as a checkpoint: well-formed note, not a checkpoint text
expect 2 "$EV" verify tests/vectors/json/example.jsonl --since tests/vectors/c2sp/example.note \
  --vkey tests/vectors/c2sp/example.vkey
has "$T/err" "checkpoint: line 2"

# --- verify --since: extends, truncated, forked, untrusted
expect 0 "$EV" verify "$V/wasi-http-two.json" --since "$T/cp10" --vkey "$VKEY"
has "$T/out" "extends checkpoint"
expect 0 "$EV" verify "$V/wasi-http-two.json" --since "$T/cp22" --vkey "$T/k.vkey"
expect 0 "$EV" verify "$T/two.jsonl" --since "$T/cp22" --vkey "$VKEY"
expect 1 "$EV" verify "$T/ten.jsonl" --since "$T/cp22" --vkey "$VKEY"
has "$T/out" "truncated: the chain has 10 events but the checkpoint"
# the signed root covers all 22: the 10 left cannot be checked against it, and the verdict
# must not let them pass for intact
has "$T/out" "events 10 to 21 were removed; the 10 events left could not be checked against the checkpoint (they may have been rewritten too)"
expect 1 "$EV" verify "$V/wasi-http-first.json" --since "$T/cp10" --vkey "$VKEY"
has "$T/out" "truncated"
expect 1 "$EV" verify "$V/wasi-clocks-test.json" --since "$T/cp10" --vkey "$VKEY"
has "$T/out" "forked: the chain's first 10 events are not the ones signed"
# one verdict: no "ok" line before it
if grep -q ": ok, " "$T/out"; then bad "verify --since printed ok for a forked chain"; else ok; fi
lines "$T/out" 1
expect 1 "$EV" verify "$V/wasi-http-first.json" --since "$T/cp10" --vkey "$VKEY"
lines "$T/out" 1
expect 0 "$EV" verify "$V/wasi-http-two.json" --since "$T/cp10" --vkey "$VKEY"
has "$T/out" "wasi-http-two.json: ok, 22 events"
lines "$T/out" 2
expect 1 "$EV" verify "$V/wasi-http-two.json" --since "$T/cp10" --vkey "$OTHER"
has "$T/out" "not trusted"
expect 1 "$EV" verify "$V/wasi-http-two.json" --since "$T/size" --vkey "$VKEY"
expect 2 "$EV" verify "$V/wasi-http-two.json" --since "$T/cp10"
expect 2 "$EV" verify "$V/wasi-http-two.json" --since "$T/none" --vkey "$VKEY"
# the chain itself tampered: reported as broken before any checkpoint logic
expect 1 "$EV" verify "$T/tampered.jsonl" --since "$T/cp10" --vkey "$VKEY"
# an --event chain file that does not verify is invalid input (1), not unusable (2)
expect 1 "$EV" verify-proof "$T/p5" --vkey "$VKEY" --event "$T/tampered.jsonl"
has "$T/out" "invalid: --event $T/tampered.jsonl: the chain file is broken"

# --- --origin: the origin names the chain a checkpoint is about, and a key may sign several.
# The same 10 events re-signed with another origin by the same key: accepted without
# --origin (the verdict names the origin), refused with exit 1 under the one expected.
expect 0 "$EV" checkpoint "$T/ten.jsonl" --key "$T/k.key" --origin example.org/elsewhere -o \
  "$T/cp10else"
expect 0 "$EV" verify "$V/wasi-http-two.json" --since "$T/cp10" --vkey "$VKEY" \
  --origin example.org/proof-test
has "$T/out" "extends checkpoint $T/cp10 of example.org/proof-test (10 of 22 events"
expect 0 "$EV" verify "$V/wasi-http-two.json" --since "$T/cp10else" --vkey "$VKEY"
has "$T/out" "of example.org/elsewhere"
expect 1 "$EV" verify "$V/wasi-http-two.json" --since "$T/cp10else" --vkey "$VKEY" \
  --origin example.org/proof-test
has "$T/out" "origin is 'example.org/elsewhere', not 'example.org/proof-test' (--origin)"
lines "$T/out" 1
expect 2 "$EV" verify "$V/wasi-http-two.json" --origin example.org/proof-test
has "$T/err" "--origin ORIGIN goes with --since"
expect 0 "$EV" prove "$T/ten.jsonl" 4 -o "$T/pe4" --checkpoint "$T/cp10else"
expect 0 "$EV" verify-proof "$T/pe4" --vkey "$VKEY"
has "$T/out" "in the tree of 10 events of example.org/elsewhere, signed by example.org/proof-test"
expect 0 "$EV" verify-proof "$T/pe4" --vkey "$VKEY" --origin example.org/elsewhere
expect 1 "$EV" verify-proof "$T/pe4" --vkey "$VKEY" --origin example.org/proof-test
has "$T/out" "invalid: $T/pe4: the checkpoint's origin is 'example.org/elsewhere', not"
expect 0 "$EV" verify-proof "$T/p5" --vkey "$VKEY" --origin example.org/proof-test
# an untrusted checkpoint is untrusted whatever its origin
expect 1 "$EV" verify-proof "$T/pe4" --vkey "$OTHER" --origin example.org/proof-test
if grep -q "origin is" "$T/out"; then bad "origin compared on an untrusted checkpoint"; else ok; fi

# --- a SHA-256 chain (the JSON vectors)
expect 0 "$EV" checkpoint tests/vectors/json/example.jsonl --key "$T/k.key" -o "$T/cp2"
expect 0 "$EV" prove tests/vectors/json/example.jsonl 1 -o "$T/q1" --checkpoint "$T/cp2"
expect 0 "$EV" verify-proof "$T/q1" --vkey "$VKEY"
has "$T/out" "valid: event 1 "
expect 0 "$EV" verify tests/vectors/json/example.jsonl --since "$T/cp2" --vkey "$VKEY"

# jsonl_chain N PREFIX FILE: a SHA-256 chain of N events (seq i: type t, data PREFIX<i>,
# timestamp 1000 + i) as JSONL (docs/FORMAT.md sections 1 and 2), for `evchain import` to
# make a chain directory in one process (it checks every hash and link as it reads). The
# chains below were made by one `evchain append` per event, about 500 processes: under ASan
# on a loaded machine the test took 350-450 s, near ctest's limit. What is checked is the
# tree and checkpoints over the events, not how they were written; the appends that grow a
# chain past a checkpoint are still `evchain append`s.
jsonl_chain() {
  python3 - "$@" <<'PY' || bad "jsonl_chain $*"
import base64, hashlib, json, struct, sys
n, prefix, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
with open(out, "w") as f:
    f.write('{"evchain":1,"hash_alg":"sha256"}\n')
    parent = None
    for i in range(n):
        data, ts = (prefix + str(i)).encode(), 1000 + i
        enc = b"evchain\x01" + bytes([1, 1 if parent else 0]) + struct.pack(">QQ", i, ts)
        enc += (parent or b"") + struct.pack(">I", 1) + b"t" + struct.pack(">I", len(data)) + data
        h = hashlib.sha256(enc).digest()
        ev = {"seq": i, "hash": h.hex(), "parent_hash": parent.hex() if parent else None,
              "event_type": "t", "timestamp": ts, "description": None,
              "data": base64.b64encode(data).decode()}
        f.write(json.dumps(ev, separators=(",", ":")) + "\n")
        parent = h
PY
}

# --- a chain directory: the tree in <dir>/proof/, checkpoints in <dir>/checkpoints/
D=$T/dir
jsonl_chain 70 "event " "$T/d70.jsonl"
expect 0 "$EV" import "$T/d70.jsonl" -o "$D"
expect 2 "$EV" prove "$D" 3 -o "$T/d3"
has "$T/err" "evchain checkpoint"
expect 0 "$EV" checkpoint "$D" --key "$T/k.key" -o "$T/dcp70"
has "$T/err" "stored in"
if cmp -s "$T/dcp70" "$D/checkpoints/latest" && [ -f "$D/checkpoints/00000000000000000070.checkpoint" ]
then ok; else bad "checkpoint not stored in $D/checkpoints"; fi
case $(stat -c %a "$D/checkpoints/latest") in 644) ok ;; *) bad "checkpoint mode" ;; esac
# 70 events: one block of 64 stored, after the 32-byte header
case $(stat -c %s "$D/proof/tree") in 64) ok ;; *) bad "tree file $(stat -c %s "$D/proof/tree") bytes" ;; esac
expect 0 "$EV" prove "$D" 3 -o "$T/d3"
expect 0 "$EV" verify-proof "$T/d3" --vkey "$VKEY"
has "$T/out" "tree of 70 events"
i=70
while [ $i -lt 140 ]; do
  "$EV" append "$D" --type t --data "event $i" --durability none >/dev/null || bad "append $i"
  i=$((i + 1))
done
expect 2 "$EV" prove "$D" 100 -o "$T/d100"
has "$T/err" "not in the checkpoint"
expect 0 "$EV" verify "$D" --since "$D/checkpoints/latest" --vkey "$VKEY"
has "$T/out" "extends checkpoint"
# a chain directory keeps the origin of its checkpoints: an explicit other one is refused,
# and without --origin the stored one is used (here the key's name, the first default)
expect 2 "$EV" checkpoint "$D" --key "$T/k.key" --origin example.org/elsewhere
has "$T/err" "its checkpoints have origin 'example.org/proof-test'"
expect 0 "$EV" checkpoint "$D" --key "$T/other.key" -o "$T/dcp140other"
[ "$(sed -n 1,2p "$T/dcp140other" | tr '\n' ' ')" = "example.org/proof-test 140 " ] && ok ||
  bad "checkpoint with another key: origin $(sed -n 1p "$T/dcp140other")"
has "$T/err" "origin example.org/proof-test"
# the stored checkpoint of 140 events is the other key's: another one of that size is not
# put in its place unless --replace (tests/cli_checkpoint_store.sh)
expect 2 "$EV" checkpoint "$D" --key "$T/k.key" -o "$T/dcp140"
has "$T/err" "signed by example.org/other, this one by example.org/proof-test"
expect 0 "$EV" checkpoint "$D" --key "$T/k.key" -o "$T/dcp140" --replace
# 140 events: blocks 0 and 1 and their parent
case $(stat -c %s "$D/proof/tree") in 128) ok ;; *) bad "tree file $(stat -c %s "$D/proof/tree") bytes" ;; esac
expect 0 "$EV" prove "$D" 100 -o "$T/d100"
expect 0 "$EV" verify-proof "$T/d100" --vkey "$VKEY"
# the tree is derived: deleted, proofs still work (rebuilt in memory) and checkpoint restores it
rm "$D/proof/tree"
expect 0 "$EV" prove "$D" 130 -o "$T/d130"
expect 0 "$EV" verify-proof "$T/d130" --vkey "$VKEY"
if [ -e "$D/proof/tree" ]; then bad "a read-only prove wrote the tree"; else ok; fi
# prove --origin: the checkpoint used (given or the chain's latest) must be of that origin,
# else refused (exit 2, nothing written); with --key the chain directory's origin is signed
# (as by `evchain checkpoint`), another --origin refused
expect 2 "$EV" prove "$D" 5 -o "$T/o5" --checkpoint "$T/dcp140" --origin wrong/origin
has "$T/err" "the checkpoint's origin is 'example.org/proof-test', not 'wrong/origin' (--origin)"
[ ! -e "$T/o5" ] && ok || bad "prove --origin with another origin wrote a proof"
expect 2 "$EV" prove "$D" 5 -o "$T/o5" --origin wrong/origin
has "$T/err" "not 'wrong/origin' (--origin)"
expect 0 "$EV" prove "$D" 5 -o "$T/o5" --checkpoint "$T/dcp140" --origin example.org/proof-test
expect 0 "$EV" prove "$D" 5 -o "$T/o5" --origin example.org/proof-test
expect 2 "$EV" prove "$D" 5 -o "$T/o5k" --key "$T/other.key" --origin wrong/origin
has "$T/err" "its checkpoints have origin 'example.org/proof-test'"
[ ! -e "$T/o5k" ] && ok || bad "prove --key --origin with another origin wrote a proof"
expect 0 "$EV" prove "$D" 5 -o "$T/o5k" --key "$T/other.key"
expect 0 "$EV" verify-proof "$T/o5k" --vkey "$OTHER" --origin example.org/proof-test
# a file keeps no checkpoints: --key signs the origin given
expect 0 "$EV" prove "$T/ten.jsonl" 4 -o "$T/pf4" --key "$T/k.key" --origin example.org/file
expect 0 "$EV" verify-proof "$T/pf4" --vkey "$VKEY" --origin example.org/file
expect 2 "$EV" prove "$T/ten.jsonl" 4 -o "$T/pf4b" --checkpoint "$T/cp10else" --origin x/y
has "$T/err" "the checkpoint's origin is 'example.org/elsewhere', not 'x/y' (--origin)"
expect 0 "$EV" prove "$T/ten.jsonl" 4 -o "$T/pf4b" --checkpoint "$T/cp10else" \
  --origin example.org/elsewhere
expect 0 "$EV" checkpoint "$D" --key "$T/k.key" -o "$T/dcp140b"
if cmp -s "$T/dcp140" "$T/dcp140b"; then ok; else bad "rebuilt tree signs another root"; fi
# a file that is not a tree file is refused, not overwritten
printf 'not a tree' >"$D/proof/tree"
expect 2 "$EV" checkpoint "$D" --key "$T/k.key"
has "$T/err" "proof/tree"
rm "$D/proof/tree"
# the old checkpoint against the grown chain: a consistency proof of 70 -> 140
expect 0 "$EV" verify "$D" --since "$T/dcp70" --vkey "$VKEY"
# a stored subtree altered where the open-time check does not look (the parent of the two
# blocks, hash 2): the root no longer matches the last checkpoint, so nothing is signed
# (C2SP: never sign a checkpoint inconsistent with an earlier one); --rebuild repairs it
expect 0 "$EV" checkpoint "$D" --key "$T/k.key" -o "$T/dcp140c"
flip "$D/proof/tree" 100
expect 1 "$EV" checkpoint "$D" --key "$T/k.key" -o "$T/dcp_stale"
has "$T/err" "refusing to sign"
# the chain still has the signed root: the file is damaged, and a rebuild is the remedy
has "$T/err" "which the chain's own events still have: the tree file is damaged (rebuild it"
if grep -q "rewritten" "$T/err"; then bad "a damaged tree file reported as a rewritten chain"; else ok; fi
if [ -e "$T/dcp_stale" ]; then bad "a refused checkpoint was written"; else ok; fi
expect 0 "$EV" checkpoint "$D" --key "$T/k.key" -o "$T/dcp_rebuilt" --rebuild
if cmp -s "$T/dcp140c" "$T/dcp_rebuilt"; then ok; else bad "--rebuild signed another root"; fi
expect 0 "$EV" verify "$D" --since "$T/dcp_rebuilt" --vkey "$VKEY"

# --- a damaged tree file is never signed from (K = 6: blocks of 64 events; hash x of the
# file at byte 32 + 32x)
B=$T/big
jsonl_chain 320 e "$T/big320.jsonl"
expect 0 "$EV" import "$T/big320.jsonl" -o "$B"
expect 0 "$EV" checkpoint "$B" --key "$T/k.key" -o "$T/big320.cp"
i=320
while [ $i -lt 384 ]; do
  "$EV" append "$B" --type t --data "e$i" --timestamp $((1000 + i)) --durability none \
    >/dev/null || bad "append $i"
  i=$((i + 1))
done
expect 0 "$EV" checkpoint "$B" --key "$T/k.key" -o "$T/big384.cp"
cp -r "$B" "$T/big_saved"
restore() { rm -rf "$B" && cp -r "$T/big_saved" "$B"; }
damage() { printf '\377\377\377\377' | dd of="$B/proof/tree" bs=1 seek="$1" conv=notrunc 2>/dev/null; }
# hash 6, the subtree of events 0..255, is under the root; with no checkpoint to compare it
# with the whole file is (the first and last blocks, all that was compared, are intact)
rm -rf "$B/checkpoints"
damage 224
expect 1 "$EV" checkpoint "$B" --key "$T/k.key" -o "$T/big_bad.cp"
has "$T/err" "$B/proof/tree: subtree 8/0 (events 0 to 255, stored at byte 224) does not match"
if [ -e "$T/big_bad.cp" ]; then bad "a checkpoint signed from a damaged tree"; else ok; fi
expect 1 "$EV" prove "$B" 5 --key "$T/k.key" -o "$T/big_bad.proof"
has "$T/err" "does not match the chain"
if [ -e "$T/big_bad.proof" ]; then bad "a proof signed from a damaged tree"; else ok; fi
expect 0 "$EV" checkpoint "$B" --key "$T/k.key" -o "$T/big_rebuilt.cp" --rebuild
if cmp -s "$T/big384.cp" "$T/big_rebuilt.cp"; then ok; else bad "--rebuild signed another root"; fi
# checkpoints/latest at 320 events: hash 9, the subtree of events 256..383, covers events
# past it and is compared with the chain (the numbered checkpoint of 384 removed too: the
# newest numbered one binds as latest does)
restore
cp "$T/big320.cp" "$B/checkpoints/latest"
rm "$B/checkpoints/00000000000000000384.checkpoint"
damage 320
expect 1 "$EV" checkpoint "$B" --key "$T/k.key" -o "$T/big_bad.cp"
has "$T/err" "subtree 7/2 (events 256 to 383, stored at byte 320) does not match the chain"
if [ -e "$T/big_bad.cp" ]; then bad "a checkpoint signed from a damaged tree"; else ok; fi
# latest at 384: hash 5 (events 128..255) is inside it and no root's part; the checkpoint is
# right, and a proof whose path uses it is refused rather than written
restore
damage 192
expect 0 "$EV" checkpoint "$B" --key "$T/k.key" -o "$T/big_again.cp"
if cmp -s "$T/big384.cp" "$T/big_again.cp"; then ok; else bad "a damaged inner subtree changed the root"; fi
expect 1 "$EV" prove "$B" 70 -o "$T/big70.proof"
has "$T/err" "does not lead to the checkpoint's root"
if [ -e "$T/big70.proof" ]; then bad "a proof that does not check was written"; else ok; fi
expect 0 "$EV" prove "$B" 300 -o "$T/big300.proof"
expect 0 "$EV" verify-proof "$T/big300.proof" --vkey "$T/k.vkey"
expect 0 "$EV" verify "$B" --since "$T/big_again.cp" --vkey "$T/k.vkey"

# --- numbers are digits only: no white space, sign or 0x (strtoull took " -1" as 2^64-1)
expect 0 "$EV" init "$T/num"
for n in " -1" " 5" "+5" "0x10" "5 " "-1" "18446744073709551616"; do
  expect 2 "$EV" append "$T/num" --type t --data x --timestamp "$n"
  expect 2 "$EV" init "$T/num$n" --segment-bytes "$n"
  expect 2 "$EV" prove "$T/num" "$n" -o "$T/num.proof" --key "$T/k.key"
  case $n in -*) ;; *) has "$T/err" "not a non-negative decimal number" ;; esac
done
expect 0 "$EV" log "$T/num"
lines "$T/out" 0

# --- byte for byte what an independent implementation (note_vectors.py) computes
C=tests/vectors/c2sp
printf 'PRIVATE+KEY+evchain.test/vector+ad21a967+AQABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f\n' \
  >"$T/vec.key"
expect 0 "$EV" checkpoint tests/vectors/json/example.jsonl --key "$T/vec.key" -o "$T/vec.cp"
if cmp -s "$T/vec.cp" "$C/evchain-example.checkpoint"; then ok; else bad "checkpoint differs"; fi
expect 0 "$EV" prove tests/vectors/json/example.jsonl 1 --no-event -o "$T/vec.proof" \
  --checkpoint "$C/evchain-example.checkpoint"
if cmp -s "$T/vec.proof" "$C/evchain-example-1.tlog-proof"; then ok; else bad "proof differs"; fi
expect 0 "$EV" verify-proof "$C/evchain-example-1.tlog-proof" \
  --vkey evchain.test/vector+ad21a967+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4 \
  --hash 2c9ef613cf2b30d32907a2f2d915ccd4da2fb1517d8b705341082e124c8ec37f

finish
