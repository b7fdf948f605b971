#!/bin/sh
# tests/cli_links.sh: `evchain verify --links` accounts for every accepted message (docs/ABI.md
# sections 2 and 3): a message/send with ret 0 whose receiver's chain has neither its delivery
# nor a message/dropped is listed as unaccounted (exit 3), whether the run was killed with
# the message queued or the receiver's chain was cut after the delivery (the chains cannot
# tell those apart; a signed checkpoint of the receiver's chain can); a cut in the sender's
# chain is a broken link (exit 1), not an unaccounted message; a normal run has neither; the
# receiver's resume after a kill delivers (or drops) what was still queued for it, once.
# $1 is the evchain binary.
set -u
EV=$1
B=${EVCHAIN_BUILD:-build}
A=$B/actors
CACHE=$B/actor-cache # compiled modules, shared with the other tests
T=$(mktemp -d /tmp/evchain_cli_links.XXXXXX)
RUN_PID=
trap '[ -n "$RUN_PID" ] && kill -9 "$RUN_PID" 2>/dev/null; rm -rf "$T"' EXIT INT TERM
. "$(dirname "$0")/clilib.sh"
mkdir -p "$T/mods"
cp "$A/relay.wasm" "$T/mods/"

# cut_chain CHAIN N: keep events 0 .. N-1 of a one-segment chain directory (docs/FORMAT.md
# section 4: a 24-byte header, then frames of 12 bytes + the record), as someone removing its
# tail would: what is left is an intact chain.
cut_chain() {
  python3 -c 'import sys, struct
p, keep = sys.argv[1], int(sys.argv[2])
b = open(p, "rb").read()
o = 24
for _ in range(keep):
    o += 12 + (struct.unpack(">I", b[o:o + 4])[0] & 0x7fffffff)
open(p, "r+b").truncate(o)' "$1/seg-0000000000000000.log" "$2"
}
seq_of() { cut -d' ' -f1; } # the seq column of `evchain log`

# (a) A normal run: a sends two messages to b, both delivered: nothing unaccounted.
printf '{"actors":[{"id":"a","module":"relay.wasm"},{"id":"b","module":"relay.wasm"}],"messages":[{"to":"a","body":"send b hello"},{"to":"a","body":"send b again"}]}' \
  >"$T/mods/ab.json"
D=$T/ab
expect 0 "$EV" run --manifest "$T/mods/ab.json" --data-dir "$D" --cache "$CACHE" --quiet
expect 0 "$EV" verify --links "$D"
has "$T/out" "links: ok, 2 links between 2 chains"
if grep -q unaccounted "$T/out"; then bad "a normal run has an unaccounted message"; else ok; fi
send2=$("$EV" log "$D/actors/a/chain" --type message/send | sed -n 2p | seq_of)
call2=$("$EV" log "$D/actors/b/chain" --type wasm/call | sed -n 3p | seq_of) # ec_init, hello, again
cp "$D/actors/b/chain/checkpoints/latest" "$T/b.checkpoint" # a checkpoint an auditor kept
cp -r "$D" "$T/ab2"

# (c) b's chain cut before its second delivery. Below its own stored checkpoint: broken
# (exit 1), whatever the links. With its checkpoints/ rolled back too, as whoever cuts it can:
# each chain intact, every remaining link resolves, and a's second send is unaccounted for:
# reported, exit 3.
cut_chain "$D/actors/b/chain" "$call2"
expect 1 "$EV" verify "$D/actors/b/chain"
has "$T/out" "its own stored checkpoint $D/actors/b/chain/checkpoints/latest: truncated"
expect 1 "$EV" verify --links "$D"
rm -r "$D/actors/b/chain/checkpoints"
expect 0 "$EV" verify "$D/actors/b/chain"
expect 3 "$EV" verify --links "$D"
has "$T/out" "links: unaccounted: a event $send2: its message to b was accepted"
has "$T/out" "neither delivered nor dropped in b's chain ($D/actors/a/chain)"
has "$T/out" "links: 1 link between 2 chains; 1 accepted message unaccounted for"
lines "$T/out" 5 # the two chains (a's also extends its own checkpoint), the message, the verdict
# What tells the cut from a killed run: a signed checkpoint of b's chain.
expect 1 "$EV" verify "$D/actors/b/chain" --since "$T/b.checkpoint" --vkey "$D/runtime.vkey"
has "$T/out" "truncated"
# The sender's chain cut instead (before its second send): b's delivery names a send that is
# not there: a broken link (exit 1), not an unaccounted message.
cut_chain "$T/ab2/actors/a/chain" "$send2"
rm -r "$T/ab2/actors/a/chain/checkpoints" # else reported as cut below it (exit 1 too)
expect 1 "$EV" verify --links "$T/ab2"
has "$T/out" "links: b: event $call2: link names"
has "$T/out" "which is not in a's chain"
if grep -q unaccounted "$T/out"; then bad "a broken link also reported as unaccounted"; else ok; fi

# (b) A run killed with messages queued: a's call sends "hello" to b; c's call sends "hello"
# to b and then never ends (relay's sendspin); the process is killed during it. The chains are
# intact and their links resolve; both messages were accepted and never delivered nor
# dropped: reported, exit 3.
printf '{"actors":[{"id":"a","module":"relay.wasm"},{"id":"b","module":"relay.wasm"},{"id":"c","module":"relay.wasm"}],"messages":[{"to":"a","body":"send b hello"},{"to":"c","body":"sendspin b"}]}' \
  >"$T/mods/kill.json"
D=$T/kill
"$EV" run --manifest "$T/mods/kill.json" --data-dir "$D" --cache "$CACHE" --no-checkpoints \
  --fuel 100000000000000 --quiet >/dev/null 2>&1 &
RUN_PID=$!
up=0
until=$(($(date +%s) + 120)) # a loaded machine (sanitizers, parallel tests) starts slowly
while [ "$(date +%s)" -lt "$until" ]; do
  if "$EV" log "$D/actors/c/chain" --type message/send.result 2>/dev/null | grep -q . &&
    "$EV" log "$D/actors/a/chain" --type message/send.result 2>/dev/null | grep -q .; then
    up=1
    break
  fi
  sleep 0.05
done
kill -9 "$RUN_PID"
wait "$RUN_PID" 2>/dev/null
RUN_PID=
[ "$up" -eq 1 ] && ok || bad "c's endless call never started after a's send"
send=$("$EV" log "$D/actors/a/chain" --type message/send | seq_of)
csend=$("$EV" log "$D/actors/c/chain" --type message/send | seq_of)
"$EV" log "$D/actors/b/chain" --type wasm/call >"$T/log" 2>&1
lines "$T/log" 1 # its ec_init: the messages were still queued
expect 3 "$EV" verify --links "$D"
has "$T/out" "links: unaccounted: a event $send: its message to b was accepted"
has "$T/out" "links: unaccounted: c event $csend: its message to b was accepted"
has "$T/out" "2 accepted messages unaccounted for"
# More than the queue may hold (--max-queued-bytes 1, or --max-queue 1 for two messages):
# refused as a whole, exit 2, nothing written: b's chain files stay byte-identical, its torn
# tail included (the killed writer's last segment ends in what a writer's open cuts).
cp -a "$D/actors/b/chain" "$T/b-before"
nb=$("$EV" log "$D/actors/b/chain" 2>/dev/null | wc -l)
expect 2 "$EV" resume b --data-dir "$D" --cache "$CACHE" --no-checkpoints --quiet --max-queued-bytes 1
has "$T/err" "max_queued_bytes 1"
[ "$("$EV" log "$D/actors/b/chain" 2>/dev/null | wc -l)" -eq "$nb" ] && ok || bad "a refused resume wrote to b's chain"
diff -r "$T/b-before" "$D/actors/b/chain" >/dev/null && ok || bad "a refused resume changed b's chain files"
expect 2 "$EV" resume b --data-dir "$D" --cache "$CACHE" --no-checkpoints --quiet --max-queue 1
has "$T/err" "2 messages (10 bytes) sent to b and never given would pass the runtime's queue limits (max_queue 1,"
diff -r "$T/b-before" "$D/actors/b/chain" >/dev/null && ok || bad "a refused resume (--max-queue) changed b's chain files"
expect 2 "$EV" recover "$D/actors/b/chain" --cache "$CACHE" --no-checkpoints --quiet --max-queue 1
has "$T/err" "(max_queue 1,"
diff -r "$T/b-before" "$D/actors/b/chain" >/dev/null && ok || bad "a refused recover (--max-queue) changed b's chain files"
expect 2 "$EV" resume b --data-dir "$D" --cache "$CACHE" --no-checkpoints --quiet --max-queue 4294967296
has "$T/err" "--max-queue: '4294967296' is not 1..4294967295"
# resume finds them in the senders' chains (docs/ABI.md section 7): a's, sent in a call that
# completed, is delivered; c's, sent in the call the kill cut (c's own resume abandons it),
# is recorded as dropped. Every message is then accounted for.
expect 0 "$EV" resume b --data-dir "$D" --cache "$CACHE" --no-checkpoints --quiet
has "$T/out" "2 message(s) sent to b and never given (still queued when their runtime ended) queued again: 1 to deliver, 1 to record as dropped"
has "$T/err" "$D/actors/b/chain: cut a torn record (never acknowledged)" # only now, going live
"$EV" log "$D/actors/b/chain" --json --type wasm/call >"$T/log" 2>&1
lines "$T/log" 2
has "$T/log" '"from":"a"'
"$EV" log "$D/actors/b/chain" --json --type message/dropped >"$T/log" 2>&1
lines "$T/log" 1
has "$T/log" '"from":"c"'
has "$T/log" "did not complete before its runtime ended"
expect 0 "$EV" verify --links "$D"
# Once: a second resume finds both accounted for in b's chain, and queues nothing.
expect 0 "$EV" resume b --data-dir "$D" --cache "$CACHE" --no-checkpoints --quiet
if grep -q "never given" "$T/out"; then bad "a second resume queued again: $(cat "$T/out")"; else ok; fi
"$EV" log "$D/actors/b/chain" --type wasm/call >"$T/log" 2>&1
lines "$T/log" 2
expect 0 "$EV" replay "$D/actors/b/chain" --cache "$CACHE"
expect 0 "$EV" verify --links "$D"
# Given without b's chain, the message is to an actor outside the group: not checked.
expect 0 "$EV" verify --links "$D/actors/a/chain"
has "$T/out" "1 to actors outside the group (not checked)"
expect 0 "$EV" help verify
has "$T/out" "3 (--links) all intact and linked, but some accepted"
finish
