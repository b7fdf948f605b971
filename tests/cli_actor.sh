#!/bin/sh
# tests/cli_actor.sh: `evchain run` and `evchain send` end to end on disk chains: a module
# with messages, a manifest group, the exit codes (0 clean, 1 an actor ended trapped, 2
# unusable input), a server fed by `evchain send` and stopped by it, and the chains read back
# by `evchain verify`/`evchain log` when those commands are built. $1 is the evchain binary.
set -u
EV=$1
B=${EVCHAIN_BUILD:-build}
A=$B/actors
CACHE=$B/actor-cache
T=$(mktemp -d /tmp/evchain_cli_actor.XXXXXX)
SERVER=
cleanup() {
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT INT TERM
. tests/clilib.sh
have_cmd() { "$EV" help "$1" >/dev/null 2>&1; }

# --- one module, messages, a disk chain that verifies
expect 0 "$EV" run "$A/counter.wasm" --data-dir "$T/d1" --cache "$CACHE" --quiet \
  --message inc --message "add 41"
has "$T/out" "counter"
has "$T/out" "running"
[ -d "$T/d1/actors/counter/chain" ] && ok || bad "no chain directory for counter"
obj=$(cat "$T/d1/store/labels/counter-counter" 2>/dev/null)
[ "$(cat "$T/d1/store/objects/$obj" 2>/dev/null)" = "42" ] && ok || bad "counter value not 42"
if have_cmd verify; then
  expect 0 "$EV" verify "$T/d1/actors/counter/chain"
fi
if have_cmd log; then
  expect 0 "$EV" log "$T/d1/actors/counter/chain"
  has "$T/out" "actor/start"
  has "$T/out" "store/label_set"
  has "$T/out" "actor/stop"
fi
if have_cmd show; then
  # Payloads are decoded for people: the binding event and a store result.
  expect 0 "$EV" show "$T/d1/actors/counter/chain" 0
  has "$T/out" '"abi":1'
  has "$T/out" '"actor":"counter"'
fi
# The store checks objects against their names: a damaged object is an error for the actor
# (recorded), not its bytes; one planted under the name of what is put is replaced.
O5=ef2d127de37b942baad06145e54b0c619a1f22327b2ebbcfbec78f5564afe39d # SHA-256 of "5"
O1=6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b # SHA-256 of "1"
expect 0 "$EV" run "$A/counter.wasm" --data-dir "$T/dobj" --cache "$CACHE" --quiet \
  --message "add 5" --no-checkpoints
printf XX >"$T/dobj/store/objects/$O5"
printf XX >"$T/dobj/store/objects/$O1"
expect 0 "$EV" resume counter --data-dir "$T/dobj" --cache "$CACHE" --quiet --message inc \
  --no-checkpoints
expect 0 "$EV" log "$T/dobj/actors/counter/chain" --type 'store/get.result' --json
has "$T/out" "object $O5 is corrupt"
has "$T/out" '"ret":-6'
[ "$(cat "$T/dobj/store/objects/$O1")" = "1" ] && ok || bad "a planted object was kept"
expect 0 "$EV" replay "$T/dobj/actors/counter/chain" --cache "$CACHE"
# The effects policy: the same outcome, synced only where an effect leaves the actor.
expect 0 "$EV" run "$A/files.wasm" --data-dir "$T/d1e" --cache "$CACHE" --quiet \
  --durability effects --message "write a.txt synced" --message "read a.txt"
[ "$(cat "$T/d1e/actors/files/fs/a.txt" 2>/dev/null)" = "synced" ] && ok || bad "effects: no file"
if have_cmd verify; then
  expect 0 "$EV" verify "$T/d1e/actors/files/chain"
fi
expect 2 "$EV" run "$A/files.wasm" --data-dir "$T/d1e" --durability sometimes
has "$T/err" "sometimes"
# A FIFO planted in the sandbox: read as "not a regular file", not waited on (its open would
# wait for a writer while the runtime lock is held).
mkdir -p "$T/dfifo/actors/files/fs"
mkfifo "$T/dfifo/actors/files/fs/pipe"
expect 0 timeout 20 "$EV" run "$A/files.wasm" --data-dir "$T/dfifo" --cache "$CACHE" \
  --message "read pipe" --no-checkpoints
expect 0 "$EV" log "$T/dfifo/actors/files/chain" --type 'fs/read.result' --json
has "$T/out" "pipe: not a regular file"
# fs_write's temporary file cannot be planted by whoever shares the sandbox: a hard link to a
# file outside at the name the runtime once used (".ec-tmp-<pid>") leaves that file alone, and
# a FIFO there does not hang the runtime (its open used to wait for a writer).
"$EV" run "$A/files.wasm" --data-dir "$T/dtmp" --cache "$CACHE" --quiet --serve \
  --no-checkpoints >"$T/serve.out" 2>"$T/serve.err" &
SERVER=$!
i=0
while { [ ! -S "$T/dtmp/run.sock" ] || [ ! -d "$T/dtmp/actors/files/fs" ]; } && [ $i -lt 600 ]; do
  sleep 0.1
  i=$((i + 1))
done
echo orig >"$T/victim"
ln "$T/victim" "$T/dtmp/actors/files/fs/.ec-tmp-$SERVER"
mkdir "$T/dtmp/actors/files/fs/sub"
mkfifo "$T/dtmp/actors/files/fs/sub/.ec-tmp-$SERVER"
expect 0 timeout 20 "$EV" send --data-dir "$T/dtmp" files "write z.txt PWNED"
expect 0 timeout 20 "$EV" send --data-dir "$T/dtmp" files "write sub/y.txt fifo"
expect 0 timeout 20 "$EV" send --data-dir "$T/dtmp" --stop
kill -KILL "$SERVER" 2>/dev/null # a runtime hung on the FIFO; gone already otherwise
wait "$SERVER"
SERVER=
[ "$(cat "$T/victim")" = orig ] && ok || bad "fs_write wrote through a planted hard link"
[ "$(cat "$T/dtmp/actors/files/fs/z.txt" 2>/dev/null)" = PWNED ] && ok || bad "z.txt not written"
[ "$(cat "$T/dtmp/actors/files/fs/sub/y.txt" 2>/dev/null)" = fifo ] && ok || bad "y.txt not written"
# The same actor id again in the same data directory: refused, the chain is left alone.
expect 2 "$EV" run "$A/counter.wasm" --data-dir "$T/d1" --cache "$CACHE" --quiet
has "$T/err" "already holds a chain"

# --- unusable input: exit 2 with the reason
expect 2 "$EV" run "$A/badimport.wasm" --data-dir "$T/d2" --cache "$CACHE"
has "$T/err" "env.launch_missiles"
expect 2 "$EV" run "$T/missing.wasm" --data-dir "$T/d2"
has "$T/err" "missing.wasm"
expect 2 "$EV" run --data-dir "$T/d2"
expect 2 "$EV" run "$A/counter.wasm" --fuel 0
expect 2 "$EV" run "$A/counter.wasm" --bogus
# A memory cap of 65536 pages (4 GiB) is refused: a memory.grow to it made the wasm2c runtime
# free the actor's memory (its byte size, computed in 32 bits, was 0). Under the largest cap a
# module without a declared maximum cannot grow to 65536 pages either.
expect 2 "$EV" run "$A/counter.wasm" --data-dir "$T/dpg" --memory-pages 65536
has "$T/err" "1..65535"
[ ! -e "$T/dpg" ] && ok || bad "a refused --memory-pages wrote $T/dpg"
if command -v wat2wasm >/dev/null 2>&1; then
  cat >"$T/grow4g.wat" <<'WAT'
(module (import "env" "log" (func $log (param i32 i32) (result i32)))
 (memory (export "memory") 1)
 (data (i32.const 100) "after grow")
 (func (export "ec_alloc") (param i32) (result i32) (i32.const 16))
 (func (export "ec_handle_message") (param i32 i32) (result i32) (local $r i32) (local $i i32)
   (local.set $r (memory.grow (i32.const 65535)))
   (loop $l (i32.store (local.get $i) (i32.const 0x41414141))
            (local.set $i (i32.add (local.get $i) (i32.const 4)))
            (br_if $l (i32.lt_u (local.get $i) (i32.const 65536))))
   (drop (call $log (i32.const 100) (i32.const 10)))
   (local.get $r)))
WAT
  wat2wasm "$T/grow4g.wat" -o "$T/grow4g.wasm"
  expect 0 "$EV" run "$T/grow4g.wasm" --data-dir "$T/dpg2" --cache "$CACHE" --quiet \
    --memory-pages 65535 --message hi --message hi --no-checkpoints
  expect 0 "$EV" log "$T/dpg2/actors/grow4g/chain" --type 'wasm/result' --json
  lines "$T/out" 2
  has "$T/out" '"ret":-1'
fi
echo '{"actors": [{"id": "x"}]}' >"$T/bad.json"
expect 2 "$EV" run --manifest "$T/bad.json" --data-dir "$T/d2"
has "$T/err" "actors[0]"
echo '{"actors": [' >"$T/broken.json"
expect 2 "$EV" run --manifest "$T/broken.json" --data-dir "$T/d2"
has "$T/err" "line"

# --- a manifest is checked in full before anything starts: an error in its second actor
# leaves no chain of the first (a rerun of the fixed manifest on the same directory works)
CW=$(cd "$A" && pwd)/counter.wasm
printf '{"actors": [{"id": "a", "module": "%s"}, {"id": "b"}]}' "$CW" >"$T/half.json"
expect 2 "$EV" run --manifest "$T/half.json" --data-dir "$T/dh" --cache "$CACHE" --quiet
has "$T/err" 'actors[1]: needs "module"'
[ ! -e "$T/dh" ] && ok || bad "a rejected manifest wrote $T/dh"
printf '{"actors": [{"id": "a", "module": "%s"}, {"id": "b", "module": "%s"}]}' "$CW" "$CW" \
  >"$T/half.json"
expect 0 "$EV" run --manifest "$T/half.json" --data-dir "$T/dh" --cache "$CACHE" --quiet
# an actor whose chain is already in the data directory is found before the others start
expect 0 "$EV" run "$CW" --name b --data-dir "$T/dc" --cache "$CACHE" --quiet
printf '{"actors": [{"id": "a", "module": "%s"}, {"id": "b", "module": "%s"}]}' "$CW" "$CW" \
  >"$T/dc.json"
expect 2 "$EV" run --manifest "$T/dc.json" --data-dir "$T/dc" --cache "$CACHE" --quiet
has "$T/err" "actor b: $T/dc/actors/b/chain already holds a chain"
[ ! -e "$T/dc/actors/a" ] && ok || bad "actor a started although b could not"
# a module that cannot run (an unknown import) is found before the actor before it starts
printf '{"actors": [{"id": "a", "module": "%s"}, {"id": "b", "module": "%s/badimport.wasm"}]}' \
  "$CW" "$(cd "$A" && pwd)" >"$T/imp.json"
expect 2 "$EV" run --manifest "$T/imp.json" --data-dir "$T/di" --cache "$CACHE" --quiet
has "$T/err" "actors[1].module"
has "$T/err" "env.launch_missiles"
[ ! -e "$T/di/actors" ] && ok || bad "a manifest with a module that cannot run started an actor"
for bad_manifest in \
  '{"actors": [{"id": "x", "module": "M"}, {"id": "x", "module": "M"}]}|is actors[0]'"'"'s too' \
  '{"actors": [{"id": "x", "module": "M", "htpp": "127.0.0.1:1"}]}|unknown key "htpp"' \
  '{"actors": [{"id": "x", "module": "M"}], "messages": [{"to": "y", "body": ""}]}|"y" is not an actor of this run' \
  '{"actors": [{"id": "x/y", "module": "M"}]}|is not an actor id' \
  '{"actors": [{"id": "x", "module": "M", "http": "localhost:80"}]}|with an IP address' \
  '{"actors": [{"id": "x", "module": "M", "env": ["A=B"]}]}|actors[0].env[0]' \
  '{"actors": [{"id": "x", "module": "M"}, {"id": "z", "module": "nope.wasm"}]}|actors[1].module' \
  '{"actors": [{"id": "counter", "module": "M"}]}|the module argument'"'"'s actor too' \
  '{"actors": [{"id": "sup", "module": "M"}, {"id": "sup.worker", "module": "M"}]}|"sup.worker" and actors[0].id "sup"' \
  '{"actors": [{"id": "a.b.c", "module": "M"}, {"id": "a.b", "module": "M"}]}|"a.b" and actors[0].id "a.b.c"' \
  '{"actors": [{"id": "counter.kid", "module": "M"}]}|and the module argument'"'"'s actor "counter"'; do
  printf '%s' "${bad_manifest%%|*}" | sed "s#\"M\"#\"$CW\"#g" >"$T/bad2.json"
  extra=
  case "$bad_manifest" in *"module argument"*) extra="$A/counter.wasm" ;; esac
  expect 2 "$EV" run $extra --manifest "$T/bad2.json" --data-dir "$T/db" --cache "$CACHE" --quiet
  has "$T/err" "${bad_manifest#*|}"
  [ ! -e "$T/db" ] && ok || bad "a rejected manifest wrote $T/db"
done

# A manifest id that a supervised child would take ("<parent>.<name>") is refused before any
# chain exists (it used to be found when the supervisor spawned its child, after chains were
# written); the corrected manifest then runs on the same data directory.
SW=$(cd "$A" && pwd)/supervisor.wasm
printf '{"actors": [{"id": "sup", "module": "%s"}, {"id": "sup.worker", "module": "%s"}]}' \
  "$SW" "$CW" >"$T/kid.json"
expect 2 "$EV" run --manifest "$T/kid.json" --data-dir "$T/dk" --cache "$CACHE" --quiet
has "$T/err" 'children are named'
[ ! -e "$T/dk" ] && ok || bad "a manifest taking a child's id wrote $T/dk"
printf '{"actors": [{"id": "sup", "module": "%s"}, {"id": "worker", "module": "%s"}]}' \
  "$SW" "$CW" >"$T/kid.json"
expect 0 "$EV" run --manifest "$T/kid.json" --data-dir "$T/dk" --cache "$CACHE" --quiet

# --- a hostile actor ends trapped (exit 1), recorded; the command does not crash
expect 1 "$EV" run "$A/hostile.wasm" --data-dir "$T/d3" --cache "$CACHE" --fuel 100000 \
  --message loop
has "$T/err" "out of fuel"
has "$T/out" "trapped"
if have_cmd verify; then
  expect 0 "$EV" verify "$T/d3/actors/hostile/chain"
fi

# --- a manifest group: supervisor (whose crasher child traps and is restarted) and a pair
cat >"$T/group.json" <<JSON
{"actors": [
  {"id": "sup", "module": "$(cd "$A" && pwd)/supervisor.wasm"},
  {"id": "ping", "module": "$(cd "$A" && pwd)/pingpong.wasm", "args": "pong"},
  {"id": "pong", "module": "$(cd "$A" && pwd)/pingpong.wasm", "args": "ping"}],
 "messages": [{"to": "sup", "body": "work 3"}, {"to": "sup", "body": "crash"},
              {"to": "ping", "body": "serve 3"}]}
JSON
expect 0 "$EV" run --manifest "$T/group.json" --data-dir "$T/d4" --cache "$CACHE" --quiet
for id in sup sup.worker sup.crasher ping pong; do
  has "$T/out" "$id"
  [ -d "$T/d4/actors/$id/chain" ] && ok || bad "no chain for $id"
done
if have_cmd verify; then
  expect 0 "$EV" verify "$T/d4/actors/sup/chain" "$T/d4/actors/sup.crasher/chain" \
    "$T/d4/actors/ping/chain" "$T/d4/actors/pong/chain"
fi

# --- the group's chains checked against each other; mixing two runs breaks the links
if have_cmd verify; then
  expect 0 "$EV" verify --links "$T/d4"
  has "$T/out" "links: ok, 9 links between 5 chains"
  expect 0 "$EV" run --manifest "$T/group.json" --data-dir "$T/d4b" --cache "$CACHE" --quiet
  expect 1 "$EV" verify --links "$T/d4/actors/ping/chain" "$T/d4b/actors/pong/chain"
  has "$T/out" "which is not in pong's chain"
  expect 0 "$EV" verify --links "$T/d4/actors/pong/chain"
  has "$T/out" "to actors outside the group (not checked)"
  expect 2 "$EV" verify --links "$T/d4/actors/pong/chain" "$T/group.json"
fi

# --- serve, feed with evchain send, stop with evchain send --stop
"$EV" run "$A/counter.wasm" --data-dir "$T/d5" --cache "$CACHE" --quiet --serve \
  >"$T/serve.out" 2>"$T/serve.err" &
SERVER=$!
i=0
while [ ! -S "$T/d5/run.sock" ] && [ $i -lt 600 ]; do
  sleep 0.1
  i=$((i + 1))
done
[ -S "$T/d5/run.sock" ] && ok || bad "control socket never appeared"
expect 0 "$EV" send --data-dir "$T/d5" counter inc
expect 0 "$EV" send --data-dir "$T/d5" counter "add 9"
expect 2 "$EV" send --data-dir "$T/d5" nobody inc
has "$T/err" "no such actor"
# A second server on the same data directory is refused.
expect 2 "$EV" run "$A/counter.wasm" --name other --data-dir "$T/d5" --cache "$CACHE" --serve
has "$T/err" "another runtime"
expect 0 "$EV" send --data-dir "$T/d5" --stop
wait "$SERVER"
rc=$?
SERVER=
[ "$rc" -eq 0 ] && ok || bad "server exit $rc"
[ ! -e "$T/d5/run.sock" ] && ok || bad "socket left behind"
obj=$(cat "$T/d5/store/labels/counter-counter" 2>/dev/null)
[ "$(cat "$T/d5/store/objects/$obj" 2>/dev/null)" = "10" ] && ok || bad "served counter not 10"
expect 2 "$EV" send --data-dir "$T/d5" counter inc
has "$T/err" "no runtime is serving"
expect 2 "$EV" send --data-dir "$T/d5" counter
if have_cmd verify; then
  expect 0 "$EV" verify "$T/d5/actors/counter/chain"
fi

# --- a message to an actor that is no longer running is refused, not dropped unrecorded
SUPW=$(cd "$A" && pwd)/supervisor.wasm
printf '{"actors": [{"id": "sup", "module": "%s"}]}' "$SUPW" >"$T/sup.json"
"$EV" run --manifest "$T/sup.json" --data-dir "$T/d7" --cache "$CACHE" --quiet --serve \
  --no-checkpoints >"$T/serve.out" 2>"$T/serve.err" &
SERVER=$!
i=0
while [ ! -S "$T/d7/run.sock" ] && [ $i -lt 600 ]; do
  sleep 0.1
  i=$((i + 1))
done
expect 0 "$EV" send --data-dir "$T/d7" sup.worker quit
# The quit is delivered after its answer: asked again until the worker has stopped.
i=0
while "$EV" send --data-dir "$T/d7" sup.worker 5 >"$T/out" 2>"$T/err" && [ $i -lt 50 ]; do
  sleep 0.1
  i=$((i + 1))
done
has "$T/err" "actor sup.worker is stopped"
expect 2 "$EV" send --data-dir "$T/d7" sup.worker 5
has "$T/err" "error: message to sup.worker: actor sup.worker is stopped"
expect 0 "$EV" send --data-dir "$T/d7" sup 5
expect 0 "$EV" send --data-dir "$T/d7" --stop
wait "$SERVER"
SERVER=

# --- SIGTERM stops a serving runtime cleanly: actors stopped (recorded), socket removed
"$EV" run "$A/counter.wasm" --data-dir "$T/d6" --cache "$CACHE" --quiet --serve \
  >"$T/serve.out" 2>"$T/serve.err" &
SERVER=$!
i=0
while [ ! -S "$T/d6/run.sock" ] && [ $i -lt 600 ]; do
  sleep 0.1
  i=$((i + 1))
done
expect 0 "$EV" send --data-dir "$T/d6" counter inc
kill -TERM "$SERVER"
wait "$SERVER"
rc=$?
SERVER=
[ "$rc" -eq 0 ] && ok || bad "server exit $rc after SIGTERM"
[ ! -e "$T/d6/run.sock" ] && ok || bad "socket left behind after SIGTERM"
if have_cmd log; then
  expect 0 "$EV" log "$T/d6/actors/counter/chain" --type 'actor/stop'
  has "$T/out" "actor/stop"
fi

# --- the module cache's modes (docs/ABI.md section 7): a cache the runtime makes is 0700 and
# its objects writable by their owner only, whatever the umask; a cache directory or a
# compiled object that another account could have written is refused (exit 2, named, with
# what to do), before anything is run or written; normal use is unchanged.
MC=$T/mc/cache
(
  umask 002
  "$EV" run "$A/counter.wasm" --data-dir "$T/dm" --cache "$MC" --quiet --message inc \
    >"$T/out" 2>"$T/err"
) && ok || bad "a run with a new cache: $(cat "$T/err")"
[ "$(stat -c %a "$MC")" = 700 ] && ok || bad "a new cache is mode $(stat -c %a "$MC"), want 700"
[ "$(stat -c %a "$T/mc")" = 755 ] && ok || bad "the cache's parent is $(stat -c %a "$T/mc")"
SO=$(ls "$MC"/*.so)
case $(stat -c %A "$SO") in ?????w????|????????w?) bad "$SO: $(stat -c %A "$SO") under umask 002" ;; *) ok ;; esac
for m in g+w o+w; do
  chmod $m "$MC"
  expect 2 "$EV" run "$A/counter.wasm" --name m1 --data-dir "$T/dm" --cache "$MC" --quiet
  has "$T/err" "module cache $MC: the directory is writable by"
  has "$T/err" "(chmod go-w it, or use another --cache DIR)"
  [ ! -e "$T/dm/actors/m1" ] && ok || bad "a run refused for its cache ($m) made actors/m1"
  expect 2 "$EV" replay "$T/dm/actors/counter/chain" --cache "$MC"
  has "$T/err" "module cache $MC: the directory is writable by"
  chmod go-w "$MC"
done
for m in o+w g+w; do
  chmod $m "$SO"
  expect 2 "$EV" run "$A/counter.wasm" --name m1 --data-dir "$T/dm" --cache "$MC" --quiet
  has "$T/err" "compiled module $SO is writable by"
  has "$T/err" "(remove it: the module is compiled again)"
  [ ! -e "$T/dm/actors/m1" ] && ok || bad "a run refused for its object ($m) made actors/m1"
  chmod go-w "$SO"
done
# a bundle import into a data directory whose cache is refused writes nothing
if have_cmd export; then
  expect 0 "$EV" export --bundle "$T/dm/actors/counter/chain" --data-dir "$T/dm" --cache "$MC" \
    -o "$T/dm.bundle"
  chmod o+w "$MC"
  expect 2 "$EV" import --bundle "$T/dm.bundle" --data-dir "$T/dmi" --cache "$MC"
  has "$T/err" "module cache $MC: the directory is writable by others"
  [ ! -e "$T/dmi" ] && ok || bad "a bundle import refused for its cache left $T/dmi"
  chmod o-w "$MC"
fi
# another owner (only root can give a file away)
if [ "$(id -u)" -eq 0 ]; then
  chown 65534 "$SO"
  expect 2 "$EV" run "$A/counter.wasm" --name m1 --data-dir "$T/dm" --cache "$MC" --quiet
  has "$T/err" "compiled module $SO is owned by uid 65534, not by this user (uid 0)"
  chown 0 "$SO"
  chown 65534 "$MC"
  expect 2 "$EV" run "$A/counter.wasm" --name m1 --data-dir "$T/dm" --cache "$MC" --quiet
  has "$T/err" "module cache $MC: the directory is owned by uid 65534"
  chown 0 "$MC"
fi
# a cache directory of the user's own that others may read (0755, as caches were made
# before) is used as it is; an object removed is compiled again
chmod 755 "$MC"
rm "$SO"
expect 0 "$EV" run "$A/counter.wasm" --name m1 --data-dir "$T/dm" --cache "$MC" --quiet --message inc
[ -f "$SO" ] && ok || bad "the removed object was not compiled again"
[ "$(stat -c %a "$MC")" = 755 ] && ok || bad "the cache's mode was changed to $(stat -c %a "$MC")"
expect 0 "$EV" replay "$T/dm/actors/m1/chain" --cache "$MC"
has "$T/out" "identical"

finish
