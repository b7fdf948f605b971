#!/bin/sh
# tests/cli_serve.sh: runtimes started together on one data directory, and the serving
# runtime's control-socket contract: runtimes racing to make the checkpoint key, a refused
# --serve start that must write nothing, message counts checked before anything is written,
# and what `ok` from `evchain send` promises. $1 is the evchain binary.
set -u
EV=$1
B=${EVCHAIN_BUILD:-build}
A=$B/actors
CACHE=$B/actor-cache
T=$(mktemp -d /tmp/evchain_cli_serve.XXXXXX)
SERVER=
cleanup() {
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT INT TERM
. tests/clilib.sh
# wait_sock DIR: until DIR/run.sock exists (10 s at most).
wait_sock() {
  i=0
  while [ ! -S "$1/run.sock" ] && [ $i -lt 600 ]; do
    sleep 0.1
    i=$((i + 1))
  done
  [ -S "$1/run.sock" ] && ok || bad "control socket $1/run.sock never appeared"
}

# --- two runtimes on a fresh data directory at once: one makes the checkpoint key, the
# other loads it; both run (the race lost most tries before).
for n in 1 2 3 4; do
  D=$T/race$n
  "$EV" run "$A/counter.wasm" --data-dir "$D" --cache "$CACHE" --quiet \
    >"$T/r1.out" 2>"$T/r1.err" &
  p=$!
  "$EV" run "$A/tally.wasm" --data-dir "$D" --cache "$CACHE" --quiet >"$T/r2.out" 2>"$T/r2.err"
  rc2=$?
  wait $p
  rc1=$?
  [ "$rc1" -eq 0 ] && [ "$rc2" -eq 0 ] && ok || {
    bad "racing runs on a fresh data dir: exits $rc1 and $rc2"
    cat "$T/r1.err" "$T/r2.err" >&2
  }
  [ -s "$D/runtime.key" ] && [ -s "$D/runtime.vkey" ] && ok || bad "$D: key files missing"
done

# --- a second --serve on a served data directory is refused before it writes anything: no
# chain for its actor (a retry would find one), nothing appended by a refused recover, and
# one error line.
D=$T/served
expect 0 "$EV" run "$A/counter.wasm" --name c2 --data-dir "$D" --cache "$CACHE" --quiet
"$EV" log "$D/actors/c2/chain" >"$T/c2.before" 2>&1
"$EV" run "$A/counter.wasm" --data-dir "$D" --cache "$CACHE" --quiet --serve \
  >"$T/serve.out" 2>"$T/serve.err" &
SERVER=$!
wait_sock "$D"
expect 2 "$EV" run "$A/tally.wasm" --data-dir "$D" --cache "$CACHE" --serve --message 5
has "$T/err" "another runtime"
lines "$T/err" 1
[ ! -e "$D/actors/tally" ] && ok || bad "a refused --serve start made actors/tally"
expect 2 "$EV" recover "$D/actors/c2/chain" --cache "$CACHE" --serve --quiet
has "$T/err" "another runtime"
"$EV" log "$D/actors/c2/chain" >"$T/c2.after" 2>&1
cmp -s "$T/c2.before" "$T/c2.after" && ok || bad "a refused recover --serve wrote to the chain"
# The refused ones left the server's socket alone.
expect 0 "$EV" send --data-dir "$D" counter inc
expect 0 "$EV" send --data-dir "$D" --stop
wait "$SERVER"
rc=$?
SERVER=
[ "$rc" -eq 0 ] && ok || bad "server exit $rc"
# Nothing was written by the refusal: the same start now runs.
expect 0 "$EV" run "$A/tally.wasm" --data-dir "$D" --cache "$CACHE" --quiet --message 5

# --- more messages than the runtime's queue holds (65536): delivered in batches, in order,
# not refused once the actor's chain exists (each call: wasm/call and wasm/result; then its
# actor/stop, counted as the chain holds it).
{
  printf '{"actors": [{"id": "bench", "module": "%s/bench.wasm"}], "messages": [' "$(cd "$A" && pwd)"
  i=0
  while [ $i -lt 65536 ]; do
    printf '{"to":"bench","body":"clock 0"},'
    i=$((i + 1))
  done
  printf '{"to":"bench","body":"clock 0"}]}\n'
} >"$T/big.json"
expect 0 "$EV" run --manifest "$T/big.json" --data-dir "$T/big" --cache "$CACHE" --quiet \
  --no-checkpoints --durability none
has "$T/out" "131078 events"

# --- a send accepted while the runtime stops is refused, not answered ok and then lost: a
# call spins, a send to another actor waits for the runtime, SIGTERM (grace 0) interrupts
# the call; the waiting send must get an error.
cat >"$T/pair.json" <<JSON
{"actors": [{"id": "hostile", "module": "$(cd "$A" && pwd)/hostile.wasm"},
            {"id": "counter", "module": "$(cd "$A" && pwd)/counter.wasm"}]}
JSON
D=$T/stopping
"$EV" run --manifest "$T/pair.json" --data-dir "$D" --cache "$CACHE" --quiet --serve \
  --stop-grace 0 --fuel 100000000000 --no-checkpoints >"$T/serve.out" 2>"$T/serve.err" &
SERVER=$!
wait_sock "$D"
expect 0 "$EV" send --data-dir "$D" hostile loop
# The call spins (its wasm/call is recorded before it runs), then the late send has connected
# (the runtime's listening socket holds it; it is read before anything that comes later).
wait_log 120 '"input":"loop"' "$D/actors/hostile/chain" --type wasm/call --json ||
  bad "hostile's loop call was never recorded"
"$EV" send --data-dir "$D" counter inc >"$T/late.out" 2>"$T/late.err" &
LATE=$!
wait_connected 120 "$LATE" || bad "the late send never connected"
kill -TERM "$SERVER"
wait "$LATE"
rc=$?
wait "$SERVER"
SERVER=
obj=$(cat "$D/store/labels/counter-counter" 2>/dev/null)
v=$(cat "$D/store/objects/$obj" 2>/dev/null)
# Either answer is honest with what happened; ok and no delivery is the fault.
if [ "$rc" -eq 0 ]; then
  [ "$v" = "1" ] && ok || bad "a send answered ok during the stop was not delivered"
else
  has "$T/late.err" "stopping"
  [ -z "$v" ] && ok || bad "a send refused during the stop was delivered ('$v')"
fi

# --- a send that gave up (no answer within --timeout) is not delivered later: the runtime
# is busy in a call when it comes, and finds the client gone once it reads the request.
D=$T/gaveup
"$EV" run --manifest "$T/pair.json" --data-dir "$D" --cache "$CACHE" --quiet --serve \
  --fuel 300000000 --no-checkpoints >"$T/serve.out" 2>"$T/serve.err" &
SERVER=$!
wait_sock "$D"
expect 0 "$EV" send --data-dir "$D" counter inc
expect 0 "$EV" send --data-dir "$D" hostile loop
expect 2 "$EV" send --data-dir "$D" --timeout 100 counter inc
has "$T/err" "no answer"
expect 2 "$EV" send --data-dir "$D" --timeout 0 counter inc
expect 0 "$EV" send --data-dir "$D" --timeout 20000 --stop
wait "$SERVER"
SERVER=
obj=$(cat "$D/store/labels/counter-counter" 2>/dev/null)
v=$(cat "$D/store/objects/$obj" 2>/dev/null)
[ "$v" = "1" ] && ok || bad "counter is '$v' (want 1: the send that gave up was delivered)"

# --- `evchain send --stop` while a message call spins with fuel for minutes: answered at
# once and the call interrupted after --stop-grace, as SIGTERM does (the stop used to wait
# for the call to end); a send waiting for the runtime meanwhile is refused, not lost; the
# chains verify and replay identical, and resume continues the interrupted actor.
D=$T/sendstop
"$EV" run --manifest "$T/pair.json" --data-dir "$D" --cache "$CACHE" --quiet --serve \
  --stop-grace 300 --fuel 100000000000 --no-checkpoints >"$T/serve.out" 2>"$T/serve.err" &
SERVER=$!
wait_sock "$D"
expect 0 "$EV" send --data-dir "$D" counter inc
expect 0 "$EV" send --data-dir "$D" hostile loop
# As above: the loop call has begun, so the late send waits for the runtime; and it has
# connected before the stop does, so that it is taken (pending) before the stop comes.
wait_log 120 '"input":"loop"' "$D/actors/hostile/chain" --type wasm/call --json ||
  bad "hostile's loop call was never recorded"
"$EV" send --data-dir "$D" counter inc >"$T/late.out" 2>"$T/late.err" &
LATE=$!
wait_connected 120 "$LATE" || bad "the late send never connected"
T0=$(date +%s)
expect 0 "$EV" send --data-dir "$D" --timeout 5000 --stop
T1=$(date +%s)
# The server exits within 10 s of the stop (the old code spun for minutes: killed then).
i=0
while kill -0 "$SERVER" 2>/dev/null && [ $i -lt 100 ]; do
  sleep 0.1
  i=$((i + 1))
done
if kill -0 "$SERVER" 2>/dev/null; then
  bad "still running 10 s after evchain send --stop during a long call"
  kill -TERM "$SERVER"
fi
wait "$SERVER"
rc=$?
SERVER=
wait "$LATE"
late=$?
[ $((T1 - T0)) -le 3 ] && ok || bad "send --stop answered after $((T1 - T0)) s"
[ "$rc" -eq 1 ] && ok || bad "stopped run exited $rc, want 1 (its actor interrupted: trapped)"
has "$T/serve.err" "interrupted (--stop-grace)"
has "$T/serve.out" "hostile                  trapped"
[ ! -e "$D/run.sock" ] && ok || bad "socket left behind after send --stop"
[ "$late" -eq 2 ] && ok || bad "a send waiting during the stop exited $late, want 2"
has "$T/late.err" "the runtime is stopping"
obj=$(cat "$D/store/labels/counter-counter" 2>/dev/null)
v=$(cat "$D/store/objects/$obj" 2>/dev/null)
[ "$v" = "1" ] && ok || bad "counter is '$v' (want 1: the refused send was delivered)"
expect 0 "$EV" verify --links "$D"
expect 0 "$EV" log "$D/actors/hostile/chain" --json --type wasm/trap
has "$T/out" '"reason":"interrupted (runtime stopping)"'
has "$T/out" '"fuel":'
for c in hostile counter; do
  expect 0 "$EV" replay "$D/actors/$c/chain" --cache "$CACHE"
  has "$T/out" "identical"
done
expect 0 "$EV" resume hostile --data-dir "$D" --cache "$CACHE" --no-checkpoints
has "$T/out" "runtime/migrated"
expect 0 "$EV" replay "$D/actors/hostile/chain" --cache "$CACHE"
has "$T/out" "identical"

finish
