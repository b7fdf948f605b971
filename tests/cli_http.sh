#!/bin/sh
# tests/cli_http.sh: `evchain run --http` end to end with curl(1) over loopback: the kv actor
# served (PUT/GET/DELETE/list, 413, the chain verified and decoded), the summary actor calling
# the kv service in another process through --http-allow (and denied without it), and in its
# own process (one manifest), usage
# errors; then, when `evchain replay` exists, both chains replayed with the services gone
# (and without a network namespace's interfaces when unshare allows it): identical. $1 is the
# evchain binary.
set -u
EV=$1
B=${EVCHAIN_BUILD:-build}
A=$B/actors
T=$(mktemp -d /tmp/evchain_cli_http.XXXXXX)
PIDS=
cleanup() {
  for p in $PIDS; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  rm -rf "$T"
}
trap cleanup EXIT INT TERM
. "$(dirname "$0")/clilib.sh"

if ! command -v curl >/dev/null 2>&1; then
  echo "curl(1) not installed: nothing tested"
  exit 1
fi

# start NAME ARGS...: `evchain run ARGS` in the background, its stderr in $T/NAME.err; sets
# PORT to the HTTP port it printed (waits up to 10 s). SUB=resume: `evchain resume ARGS`;
# QUIET= (empty): the actors' logs echoed on its stderr (--quiet otherwise).
start() {
  name=$1
  shift
  : >"$T/$name.err"
  "$EV" "${SUB:-run}" "$@" ${QUIET---quiet} --no-checkpoints 2>"$T/$name.err" >"$T/$name.out" &
  PIDS="$PIDS $!"
  LAST=$!
  PORT=
  i=0
  while [ $i -lt 600 ] && [ -z "$PORT" ]; do
    PORT=$(sed -n 's|.*serves HTTP on http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$T/$name.err")
    [ -z "$PORT" ] && sleep 0.1
    i=$((i + 1))
  done
  [ -n "$PORT" ] || { bad "$name did not start"; cat "$T/$name.err" >&2; }
}
# stop DATA PID: `evchain send --stop`, then wait for the process; its exit into STOPPED.
stop() {
  "$EV" send --data-dir "$1" --stop >/dev/null 2>&1
  wait "$2"
  STOPPED=$?
}
# call OUT ARGS...: curl, body into $T/OUT, "status" into $T/OUT.status.
call() {
  out=$1
  shift
  curl -s -o "$T/$out" -w '%{http_code}' --max-time 10 "$@" >"$T/$out.status"
}
status() {
  if [ "$(cat "$T/$1.status")" = "$2" ]; then ok; else bad "$1: status $(cat "$T/$1.status"), want $2"; fi
}

# ---- the kv actor ----
D1=$T/kvdata
start kv "$A/kv.wasm" --data-dir "$D1" --http 127.0.0.1:0 --http-body-limit 4096 \
  --http-max-connections 16
KV=$LAST
KVPORT=$PORT
U=http://127.0.0.1:$KVPORT
call put1 -X PUT --data '{"n":1}' "$U/kv/alpha"
status put1 201
has "$T/put1" '{"ok":true}'
call put2 -X PUT --data '[1,2,3]' "$U/kv/beta"
status put2 201
call get1 "$U/kv/alpha"
status get1 200
has "$T/get1" '{"n":1}'
call list "$U/kv"
has "$T/list" '{"keys":["alpha","beta"]}'
call del -X DELETE "$U/kv/alpha"
status del 200
call get2 "$U/kv/alpha"
status get2 404
head -c 10000 /dev/zero | tr '\0' x >"$T/big"
call big -X PUT --data-binary "@$T/big" "$U/kv/big"
status big 413
call get3 "$U/kv/beta"
status get3 200
# A Transfer-Encoding libmicrohttpd does not frame as chunked: answered 501 at once (it used
# to hang until the idle timeout, unrecorded) and recorded as http/refused (checked below).
if command -v python3 >/dev/null 2>&1; then
  python3 - "$KVPORT" >"$T/te" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(5)
s.sendall(b"PUT /kv/te HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n1\r\n7\r\n0\r\n\r\n")
try:
    print(s.recv(999).split(b"\r\n")[0].decode())
except OSError as e:
    print("no answer:", e)
PY
  has "$T/te" "HTTP/1.1 501"
  TE=1
else
  echo "python3 not installed: the Transfer-Encoding refusal is not tested"
  TE=
fi

# ---- the summary actor, in another process, calling the kv service ----
D2=$T/sumdata
start sum "$A/summary.wasm" --data-dir "$D2" --http 127.0.0.1:0 --http-allow "127.0.0.1:$KVPORT" \
  --args "$U/kv"
SUM=$LAST
call s1 "http://127.0.0.1:$PORT/summary"
status s1 200
has "$T/s1" "{\"url\":\"$U/kv\",\"status\":200,\"bytes\":17,\"lines\":1}"
D3=$T/sumdenied
start den "$A/summary.wasm" --data-dir "$D3" --http 127.0.0.1:0 --args "$U/kv"
DEN=$LAST
call s2 "http://127.0.0.1:$PORT/summary"
status s2 502
has "$T/s2" '"error":"denied"'

# A port already taken: a clear error, exit 2, found before anything is written (a chain
# left behind would make the same command, rerun on a free port, refuse); in a manifest too.
expect 2 "$EV" run "$A/kv.wasm" --data-dir "$T/busy" --http "127.0.0.1:$KVPORT" --no-checkpoints
has "$T/err" "cannot listen on 127.0.0.1:$KVPORT"
[ ! -e "$T/busy" ] && ok || bad "a run refused for its port left $T/busy behind"
printf '{"actors":[{"id":"c","module":"counter.wasm"},{"id":"kv","module":"kv.wasm","http":"127.0.0.1:%s"}]}' \
  "$KVPORT" >"$A/busy-manifest.json"
expect 2 "$EV" run --manifest "$A/busy-manifest.json" --data-dir "$T/busy" --no-checkpoints
has "$T/err" "actor kv: http: cannot listen on 127.0.0.1:$KVPORT"
[ ! -e "$T/busy" ] && ok || bad "a manifest refused for a port left $T/busy behind"
rm -f "$A/busy-manifest.json"

stop "$D3" "$DEN"
stop "$D2" "$SUM"
[ "$STOPPED" -eq 0 ] && ok || bad "summary run exited $STOPPED"
stop "$D1" "$KV"
[ "$STOPPED" -eq 0 ] && ok || bad "kv run exited $STOPPED"
PIDS=

# ---- the chains ----
expect 0 "$EV" verify "$D1/actors/kv/chain"
expect 0 "$EV" log "$D1/actors/kv/chain"
has "$T/out" "http/request"
has "$T/out" "http/response"
has "$T/out" "http/refused"
N=$(grep -n "http/refused" "$T/out" | head -1 | cut -d: -f1)
SEQ=$(sed -n "${N}p" "$T/out" | cut -d' ' -f1)
expect 0 "$EV" show "$D1/actors/kv/chain" "$SEQ"
has "$T/out" '"http":"refusal","status":413'
if [ -n "$TE" ]; then
  expect 0 "$EV" log "$D1/actors/kv/chain"
  N=$(grep -n "http/refused" "$T/out" | sed -n 2p | cut -d: -f1)
  SEQ=$(sed -n "${N}p" "$T/out" | cut -d' ' -f1)
  expect 0 "$EV" show "$D1/actors/kv/chain" "$SEQ"
  has "$T/out" '"status":501'
  has "$T/out" 'gzip, chunked'
fi
expect 0 "$EV" verify "$D2/actors/summary/chain"
expect 0 "$EV" log "$D2/actors/summary/chain"
has "$T/out" "http/client-request"
has "$T/out" "http/client-request.result"

# ---- a manifest: "http" per actor, "http_allow" for the group ----
AK=$(cd "$A" && pwd)
printf '{"http_allow":["127.0.0.1:1"],"actors":[{"id":"m1","module":"%s/kv.wasm","http":"127.0.0.1:0"}]}' \
  "$AK" >"$T/group.json"
start man --manifest "$T/group.json" --data-dir "$T/mdata"
MAN=$LAST
call m1 -X PUT --data '7' "http://127.0.0.1:$PORT/kv/seven"
status m1 201
call m2 "http://127.0.0.1:$PORT/kv/seven"
has "$T/m2" "7"
stop "$T/mdata" "$MAN"
[ "$STOPPED" -eq 0 ] && ok || bad "manifest run exited $STOPPED"
PIDS=
expect 0 "$EV" verify "$T/mdata/actors/m1/chain"

# ---- one process: the summary actor calling the kv actor of its own group ----
# (actors run in parallel: the kv actor's handler runs while the summary's waits for it)
P1=$((20000 + $$ % 20000))
P2=$((P1 + 1))
printf '{"http_allow":["127.0.0.1:%s"],"actors":[{"id":"kv","module":"%s/kv.wasm","http":"127.0.0.1:%s"},{"id":"sum","module":"%s/summary.wasm","args":"http://127.0.0.1:%s/kv","http":"127.0.0.1:%s"}]}' \
  "$P1" "$AK" "$P1" "$AK" "$P1" "$P2" >"$T/both.json"
start both --manifest "$T/both.json" --data-dir "$T/bdata"
BOTH=$LAST
i=0 # start waits for the first server; the summary's may come a little later
while [ $i -lt 600 ] && [ "$(grep -c 'serves HTTP' "$T/both.err")" -lt 2 ]; do
  sleep 0.1
  i=$((i + 1))
done
call b1 -X PUT --data '1' "http://127.0.0.1:$P1/kv/one"
status b1 201
call b2 "http://127.0.0.1:$P2/summary"
status b2 200
has "$T/b2" '"status":200'
stop "$T/bdata" "$BOTH"
[ "$STOPPED" -eq 0 ] && ok || bad "one-process run exited $STOPPED"
PIDS=
expect 0 "$EV" verify --links "$T/bdata"

# ---- a served actor killed (SIGKILL), then resumed serving HTTP again ----
D5=$T/killed
start k5 "$A/kv.wasm" --data-dir "$D5" --http 127.0.0.1:0
call k5put -X PUT --data '{"before":"kill"}' "http://127.0.0.1:$PORT/kv/kept"
status k5put 201
kill -9 "$LAST"
wait "$LAST" 2>/dev/null
PIDS=
expect 2 "$EV" run "$A/kv.wasm" --data-dir "$D5" --http 127.0.0.1:0 --no-checkpoints
has "$T/err" "evchain resume kv --data-dir $D5"
SUB=resume start k5r kv --data-dir "$D5" --http 127.0.0.1:0
K5=$LAST
call k5get "http://127.0.0.1:$PORT/kv/kept"
status k5get 200
has "$T/k5get" '{"before":"kill"}'
call k5put2 -X PUT --data '{"after":"resume"}' "http://127.0.0.1:$PORT/kv/new"
status k5put2 201
# A port in use (the resumed actor's own): refused with the reason, before anything else.
expect 2 timeout 20 "$EV" resume kv --data-dir "$D5" --http "127.0.0.1:$PORT" --no-checkpoints
has "$T/err" "cannot listen on 127.0.0.1:$PORT"
stop "$D5" "$K5"
[ "$STOPPED" -eq 0 ] && ok || bad "resumed run exited $STOPPED"
PIDS=
has "$T/k5r.out" "runtime/migrated"
expect 0 "$EV" verify "$D5/actors/kv/chain"
expect 0 "$EV" replay "$D5/actors/kv/chain"
has "$T/out" "identical"

# ---- a request spinning in wasm with fuel for minutes: SIGTERM ends the run in bounded time
# (the call interrupted after --stop-grace, recorded as such); the chain verifies, replays
# identical, and resume continues the actor from before the interrupted call ----
D6=$T/spin
QUIET= start spin "$A/httptest.wasm" --args x --fuel 100000000000 --http-timeout 60000 \
  --stop-grace 300 --data-dir "$D6" --http 127.0.0.1:0
SPIN=$LAST
curl -s -o "$T/spin" -w '%{http_code}' --max-time 120 "http://127.0.0.1:$PORT/slowlog" \
  >"$T/spin.status" &
CURL=$!
# SIGTERM once the request's call spins: earlier, the run would stop before the request came
# and nothing would be interrupted. Its log line shows it, echoed at once (the chain does not:
# a served request's records reach the disk with its reply).
wait_text 120 '[httptest] slowlog: spinning' "$T/spin.err" ||
  bad "the /slowlog request's call never began"
T0=$(date +%s)
kill -TERM "$SPIN"
wait "$SPIN"
STOPPED=$?
T1=$(date +%s)
wait "$CURL"
PIDS=
[ $((T1 - T0)) -le 8 ] && ok || bad "SIGTERM during a spinning request: exited after $((T1 - T0)) s"
[ "$STOPPED" -eq 1 ] && ok || bad "interrupted run exited $STOPPED, want 1 (its actor trapped)"
status spin 500
has "$T/spin.err" "interrupted (--stop-grace)"
expect 0 "$EV" verify "$D6/actors/httptest/chain"
expect 0 "$EV" log "$D6/actors/httptest/chain" --json
has "$T/out" '"reason":"interrupted (runtime stopping)"'
has "$T/out" '"fuel":'
expect 0 "$EV" replay "$D6/actors/httptest/chain"
has "$T/out" "identical"
expect 0 "$EV" resume httptest --data-dir "$D6" --no-checkpoints
has "$T/out" "runtime/migrated"
expect 0 "$EV" replay "$D6/actors/httptest/chain"
has "$T/out" "identical"

# ---- usage ----
expect 2 "$EV" run "$A/kv.wasm" --data-dir "$T/u1" --http nonsense --no-checkpoints
has "$T/err" "is not ADDR:PORT"
[ ! -e "$T/u1" ] && ok || bad "a run refused for its address left $T/u1 behind"
expect 2 "$EV" run "$A/counter.wasm" --data-dir "$T/u2" --http 127.0.0.1:0 --no-checkpoints
has "$T/err" "ec_handle_http"
expect 2 "$EV" run "$A/kv.wasm" --data-dir "$T/u3" --http 127.0.0.1:0 --http-timeout 0
has "$T/err" "--http-timeout"
expect 2 "$EV" run "$A/kv.wasm" --data-dir "$T/u3" --http 127.0.0.1:0 --http-max-connections 0
has "$T/err" "--http-max-connections: '0' is not"
expect 2 "$EV" run "$A/kv.wasm" --data-dir "$T/u3" --serve --stop-grace soon
has "$T/err" "--stop-grace: 'soon' is not"
# allow-list entries that could never match are refused, named, with the forms expected
for e in 'http://127.0.0.1:18080' '127.0.0.1:99999' '127.0.0.1:abc' '[::1' ' 127.0.0.1' \
  '127.0.0.1/' '*.0.0.1' ''; do
  expect 2 "$EV" run "$A/kv.wasm" --data-dir "$T/u5" --http 127.0.0.1:0 --http-allow "$e" \
    --no-checkpoints
  has "$T/err" "--http-allow: allow-list entry \"$e\": "
  has "$T/err" "expected host, host:port"
  [ ! -e "$T/u5" ] && ok || bad "a run refused for --http-allow '$e' left $T/u5 behind"
done
printf '{"http_allow":["127.0.0.1","127.0.0.1:abc"],"actors":[{"id":"kv","module":"kv.wasm"}]}' \
  >"$A/../bad-http-manifest.json"
expect 2 "$EV" run --manifest "$A/../bad-http-manifest.json" --data-dir "$T/u4" --no-checkpoints
has "$T/err" 'http_allow[1]: allow-list entry "127.0.0.1:abc": the port must be 1..65535'
printf '{"actors":[{"id":"kv","module":"kv.wasm","http":7}]}' >"$A/../bad-http-manifest.json"
expect 2 "$EV" run --manifest "$A/../bad-http-manifest.json" --data-dir "$T/u4" --no-checkpoints
has "$T/err" 'actors[0].http: not a string'
rm -f "$A/../bad-http-manifest.json"

# ---- replay, with the services gone (and no network when unshare -rn works) ----
if "$EV" help replay >/dev/null 2>&1; then
  NET=
  unshare -rn true 2>/dev/null && NET="unshare -rn"
  for c in "$D1/actors/kv/chain" "$D2/actors/summary/chain"; do
    expect 0 $NET "$EV" replay "$c"
    HEAD=$("$EV" verify "$c" | sed -n 's/.*head \([0-9a-f]*\).*/\1/p')
    expect 0 $NET "$EV" replay "$c" --json
    has "$T/out" "$HEAD"
  done
else
  echo "evchain replay not built: the replay checks are skipped"
fi
finish
