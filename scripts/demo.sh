#!/bin/sh
# scripts/demo.sh BUILD_DIR: what `make run` shows: a small group of example actors (a
# counter in the shared store, a ping-pong pair, a supervisor whose crasher child traps and
# is restarted, a file user, the kv actor serving a JSON API over HTTP, and a summary actor
# serving what it fetches from the kv actor, in the same process) started from a manifest
# and served; work is sent to them with `evchain send` and curl; they are stopped;
# then every chain is verified and listed, replayed, checked against its signed checkpoint,
# the file user migrated with its sandbox, and the kv actor resumed from its chain, serving
# again. EVCHAIN_DEMO_HTTP sets the kv actor's address (the summary actor takes the next
# port).
set -eu
B=${1:-build}
EV=$B/evchain
A=$(cd "$B/actors" && pwd)
# On local disk by default, where the chains stay to be inspected after the demo; each run
# starts its own group afresh (the runtime refuses to start an actor id that already exists).
D=${EVCHAIN_DEMO_DIR:-./evchain-data/demo}
rm -rf "$D"
mkdir -p "$D"
D=$(cd "$D" && pwd)
SERVER=
cleanup() {
  if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
}
trap cleanup EXIT INT TERM
say() { printf '\n== %s\n' "$*"; }
# wait_serving WHAT: until $SERVER listens on the control socket (30 s at most).
wait_serving() {
  i=0
  while [ ! -S "$D/run.sock" ]; do
    sleep 0.1
    i=$((i + 1))
    if [ $i -gt 300 ] || ! kill -0 "$SERVER" 2>/dev/null; then
      echo "demo: $1 did not start" >&2
      exit 1
    fi
  done
}
HTTP=${EVCHAIN_DEMO_HTTP:-127.0.0.1:8080}
SHTTP=${HTTP%:*}:$((${HTTP##*:} + 1))

cat >"$D/group.json" <<JSON
{"http_allow": ["$HTTP"],
 "actors": [
  {"id": "counter", "module": "$A/counter.wasm"},
  {"id": "ping", "module": "$A/pingpong.wasm", "args": "pong"},
  {"id": "pong", "module": "$A/pingpong.wasm", "args": "ping"},
  {"id": "sup", "module": "$A/supervisor.wasm"},
  {"id": "files", "module": "$A/files.wasm", "env": ["GREETING"]},
  {"id": "kv", "module": "$A/kv.wasm", "http": "$HTTP"},
  {"id": "summary", "module": "$A/summary.wasm", "args": "http://$HTTP/kv", "http": "$SHTTP"}],
 "messages": [{"to": "counter", "body": "inc"}]}
JSON

say "starting the group (data directory $D)"
GREETING="hello from the demo" "$EV" run --manifest "$D/group.json" --data-dir "$D" --serve \
  --cache "$B/actor-cache" &
SERVER=$!
wait_serving "the runtime"

say "sending work with evchain send"
for m in "add 10" tick inc; do "$EV" send --data-dir "$D" counter "$m"; done
"$EV" send --data-dir "$D" ping "serve 3"
"$EV" send --data-dir "$D" sup "work 7"
"$EV" send --data-dir "$D" sup crash
"$EV" send --data-dir "$D" sup status
"$EV" send --data-dir "$D" files "write notes.txt chains all the way down"
"$EV" send --data-dir "$D" files greet
"$EV" send --data-dir "$D" files list
"$EV" send --data-dir "$D" files "read ../../../etc/passwd"

say "the kv actor's JSON API over HTTP (curl against http://$HTTP)"
U=http://$HTTP
show() { echo "\$ curl $*"; curl -s -w ' [%{http_code}]\n' "$@"; }
show -X PUT --data '{"name":"evchain","chains":3}' "$U/kv/project"
show -X PUT --data '"hello"' "$U/kv/greeting"
show "$U/kv/project"
show "$U/kv"
show -X DELETE "$U/kv/greeting"
show "$U/kv/greeting"
say "a request without Host: the server answers 400 itself, recorded before it is sent"
show -H 'Host:' "$U/kv"
say "the summary actor fetches the kv actor's list over HTTP, in the same process"
show "http://$SHTTP/summary"
sleep 0.5

say "stopping the runtime"
"$EV" send --data-dir "$D" --stop
wait "$SERVER"
SERVER=

say "verifying every chain, and the links between them"
"$EV" verify --links "$D"

say "the counter's chain (first 17 events: start, init, one message through the store)"
"$EV" log "$D/actors/counter/chain" --to 16
say "the crasher's trap and restart, as recorded in its own chain"
"$EV" log "$D/actors/sup.crasher/chain" --type 'wasm/trap'
"$EV" log "$D/actors/sup.crasher/chain" --type 'actor/restart'
say "the refused path escape, in the file user's chain, decoded"
seq=$("$EV" log "$D/actors/files/chain" --type 'fs/read.result' | tail -n 1 | cut -d' ' -f1)
"$EV" show "$D/actors/files/chain" "$seq"
say "the kv actor's HTTP events, and its first request decoded"
"$EV" log "$D/actors/kv/chain" --type 'http/*'
seq=$("$EV" log "$D/actors/kv/chain" --type 'http/request' | head -n 1 | cut -d' ' -f1)
"$EV" show "$D/actors/kv/chain" "$seq"
say "the server's own answer to the request without Host, decoded"
seq=$("$EV" log "$D/actors/kv/chain" --type 'http/refused' | head -n 1 | cut -d' ' -f1)
"$EV" show "$D/actors/kv/chain" "$seq"
say "replay: each actor rebuilt from its chain alone, every event reproduced byte for byte"
"$EV" replay "$D/actors/counter/chain" --cache "$B/actor-cache"
"$EV" replay "$D/actors/sup.crasher/chain" --cache "$B/actor-cache"
"$EV" replay "$D/actors/kv/chain" --cache "$B/actor-cache"
"$EV" replay "$D/actors/summary/chain" --cache "$B/actor-cache" # its fetch answered from the chain
say "debugging the crasher's trap: its memory as the trap left it (replayed to the event before)"
T=$("$EV" log "$D/actors/sup.crasher/chain" --type wasm/trap | head -n 1 | cut -d' ' -f1)
"$EV" replay "$D/actors/sup.crasher/chain" --cache "$B/actor-cache" --until $((T - 1)) \
  --memory-out "$D/sup.crasher.mem"
od -A d -t x1z "$D/sup.crasher.mem" | grep -v '^\*' | head -n 4

say "what an auditor checks with only the runtime's verifier key ($D/runtime.vkey)"
C=$D/actors/counter/chain
"$EV" verify "$C" --since "$C/checkpoints/latest" --vkey "$D/runtime.vkey"
"$EV" prove "$C" 5 -o "$D/counter-event-5.proof"
"$EV" verify-proof "$D/counter-event-5.proof" --vkey "$D/runtime.vkey"

say "migration: the file user moves to another data directory, its sandbox with it"
"$EV" export --bundle "$D/actors/files/chain" -o "$D/files.bundle" --cache "$B/actor-cache"
"$EV" verify "$D/files.bundle" --since "$D/actors/files/chain/checkpoints/latest" \
  --vkey "$D/runtime.vkey"
rm -rf "$D/elsewhere"
"$EV" import --bundle "$D/files.bundle" --data-dir "$D/elsewhere"
"$EV" resume files --data-dir "$D/elsewhere" --message "read notes.txt" --message list
"$EV" log "$D/elsewhere/actors/files/chain" --type 'fs/read*' | tail -n 2

say "the kv actor back from its chain alone, serving HTTP again (its data rebuilt by replay)"
"$EV" resume kv --data-dir "$D" --cache "$B/actor-cache" --http "$HTTP" &
SERVER=$!
wait_serving "the resumed kv actor"
show "$U/kv/project"
"$EV" send --data-dir "$D" --stop
wait "$SERVER"
SERVER=
"$EV" replay "$D/actors/kv/chain" --cache "$B/actor-cache"
echo
echo "chains, sandboxes and store kept in $D (the migrated file user in $D/elsewhere)"
