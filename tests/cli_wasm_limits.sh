#!/bin/sh
# tests/cli_wasm_limits.sh: modules that once crashed the host (SIGSEGV) in `evchain run` and
# `evchain replay`: a start section (refused at load, exit 2, and as a child: the spawn is
# refused, recorded), and functions with native frames so large that 2000 calls overflow
# the thread's stack (the module's own, smaller call-depth limit: a recorded "call stack
# exhausted" trap, reproduced by the replay). Modules are made with wat2wasm (wabt, which
# the runtime needs for wasm2c anyway). $1 is the evchain binary.
set -u
EV=$1
B=${EVCHAIN_BUILD:-build}
A=$B/actors
CACHE=$B/actor-cache
T=$(mktemp -d /tmp/evchain_cli_wasm_limits.XXXXXX)
trap 'rm -rf "$T"' EXIT INT TERM
. "$(dirname "$0")/clilib.sh"

# --- a start section: refused before anything runs, in run, replay and spawn
cat >"$T/start.wat" <<'EOF'
(module (memory (export "memory") 1)
 (func $s (i32.store (i32.const 0) (i32.const 7))) (start $s)
 (func (export "ec_alloc") (param i32) (result i32) (i32.const 16))
 (func (export "ec_handle_message") (param i32 i32) (result i32) (i32.load (i32.const 0))))
EOF
cat >"$T/startlog.wat" <<'EOF'
(module (import "env" "log" (func $log (param i32 i32) (result i32)))
 (memory (export "memory") 1) (data (i32.const 0) "hi")
 (func $s (drop (call $log (i32.const 0) (i32.const 2)))) (start $s))
EOF
wat2wasm "$T/start.wat" -o "$T/start.wasm" && wat2wasm "$T/startlog.wat" -o "$T/startlog.wasm" ||
  bad "wat2wasm failed"
for m in start startlog; do
  expect 2 "$EV" run "$T/$m.wasm" --data-dir "$T/d-$m" --cache "$CACHE" --message x
  has "$T/err" "start section (section 8"
  has "$T/err" "ec_init"
done
# A replay given such a module (a chain of a good one, --any-module) refuses it the same way.
expect 0 "$EV" run "$A/counter.wasm" --data-dir "$T/dc" --cache "$CACHE" --message inc --quiet
expect 2 "$EV" replay "$T/dc/actors/counter/chain" --cache "$CACHE" --module "$T/start.wasm" \
  --any-module
has "$T/err" "start section (section 8"
# A parent that spawns it: the spawn is refused and recorded; the parent goes on.
mkdir -p "$T/mods"
cp "$A/hostile.wasm" "$T/start.wasm" "$T/mods/"
expect 0 "$EV" run "$T/mods/hostile.wasm" --data-dir "$T/dsp" --cache "$CACHE" \
  --message "spawn start" --message "spawn start"
has "$T/out" "running"
expect 0 "$EV" log "$T/dsp/actors/hostile/chain" --type supervisor/spawn.result --json
has "$T/out" '"ret":-1'
has "$T/out" "start section"
expect 0 "$EV" verify "$T/dsp/actors/hostile/chain"
expect 0 "$EV" replay "$T/dsp/actors/hostile/chain" --cache "$CACHE"

# --- large frames: 1500 i64 locals live across a recursive call (about 12 KiB of native
# stack a call): 2000 calls would take 24 MiB. The module's limit is lower; it traps.
awk 'BEGIN {
  n = 1500
  printf "(module (memory (export \"memory\") 1)\n (func $r (param $d i64) (result i64) (local $acc i64)"
  for (i = 0; i < n; i++) printf " (local $l%d i64)", i
  for (i = 0; i < n; i++)
    printf "(local.set $l%d (i64.load offset=%d (i32.wrap_i64 (local.get $d))))", i, (i * 8) % 60000
  printf "(local.set $acc (call $r (i64.add (local.get $d) (i64.const 1))))"
  for (i = 0; i < n; i++)
    printf "(local.set $acc (i64.xor (i64.rotl (local.get $acc) (i64.const 3)) (local.get $l%d)))", i
  printf " (local.get $acc))\n"
  printf " (func (export \"ec_alloc\") (param i32) (result i32) (i32.const 16))\n"
  printf " (func (export \"ec_handle_message\") (param i32 i32) (result i32)"
  printf " (i32.wrap_i64 (call $r (i64.const 0)))))\n"
}' >"$T/bigframe.wat"
wat2wasm "$T/bigframe.wat" -o "$T/bigframe.wasm" || bad "wat2wasm bigframe failed"
expect 1 "$EV" run "$T/bigframe.wasm" --data-dir "$T/dbf" --cache "$CACHE" --message go
has "$T/out" "call stack exhausted"
C=$T/dbf/actors/bigframe/chain
expect 0 "$EV" log "$C" --type actor/start --json
has "$T/out" '"call_depth":259'
expect 0 "$EV" log "$C" --type wasm/trap --json
has "$T/out" '"code":8'
expect 0 "$EV" verify "$C"
expect 0 "$EV" replay "$C" --cache "$CACHE"
has "$T/out" "identical: 3 events"
has "$T/out" "trap at seq 2 is reproduced"
# Small frames keep the full limit, as before.
expect 0 "$EV" log "$T/dc/actors/counter/chain" --type actor/start --json
has "$T/out" '"call_depth":2000'
# --- a call nested in another actor's call (a spawn's ec_init, a request) starts where its
# caller's calls left the thread's count: the start is recorded in its wasm/call (`depth`), so
# that a replay of its chain alone (from 0 on its own thread) traps at the same point. The
# parent recurses 1500 calls, then spawns child a (whose ec_init recurses 1000: 2500 > 2000
# from there, 1000 alone) or sends child b (spawned from ec_init, shallow) a request that
# recurses 1000. Both children trap in the record, and must trap in the replay too.
cat >"$T/kid.wat" <<'EOF'
(module (memory (export "memory") 1)
 (func $r (param $n i32) (result i32)
  (if (result i32) (local.get $n)
   (then (i32.add (call $r (i32.sub (local.get $n) (i32.const 1))) (i32.const 1)))
   (else (i32.const 0))))
 (func (export "ec_alloc") (param i32) (result i32) (i32.const 1024))
 (func (export "ec_init") (param i32 i32) (result i32) (drop (call $r (i32.const 1000))) (i32.const 0))
 (func (export "ec_handle_request") (param i32 i32) (result i32)
  (drop (call $r (i32.const 1000))) (i32.const 0)))
EOF
cat >"$T/deep.wat" <<'EOF'
(module
 (import "env" "sup_spawn" (func $spawn (param i32 i32 i32 i32 i32 i32) (result i32)))
 (import "env" "msg_request" (func $req (param i32 i32 i32 i32 i32 i32) (result i32)))
 (memory (export "memory") 1)
 (data (i32.const 0) "kid") (data (i32.const 8) "a") (data (i32.const 12) "b")
 (data (i32.const 16) "deep.b")
 (func (export "ec_alloc") (param i32) (result i32) (i32.const 1024))
 (func $down (param $n i32) (param $op i32) (result i32)
  (if (result i32) (local.get $n)
   (then (i32.add (call $down (i32.sub (local.get $n) (i32.const 1)) (local.get $op))
                  (i32.const 0)))
   (else (if (result i32) (i32.eq (local.get $op) (i32.const 115))
    (then (call $spawn (i32.const 0) (i32.const 3) (i32.const 8) (i32.const 1) (i32.const 0)
                       (i32.const 0)))
    (else (call $req (i32.const 16) (i32.const 6) (i32.const 0) (i32.const 1) (i32.const 2048)
                     (i32.const 64)))))))
 (func (export "ec_init") (param i32 i32) (result i32)
  (call $spawn (i32.const 0) (i32.const 3) (i32.const 12) (i32.const 1) (i32.const 0)
               (i32.const 0)))
 (func (export "ec_handle_message") (param $p i32) (param $l i32) (result i32)
  (call $down (i32.const 1500) (i32.load8_u (local.get $p)))))
EOF
mkdir -p "$T/nest"
wat2wasm "$T/kid.wat" -o "$T/nest/kid.wasm" && wat2wasm "$T/deep.wat" -o "$T/nest/deep.wasm" ||
  bad "wat2wasm nest failed"
expect 1 "$EV" run "$T/nest/deep.wasm" --data-dir "$T/dn" --cache "$CACHE" --message s \
  --message r
D=$T/dn/actors
expect 0 "$EV" log "$D/deep.a/chain" --type wasm/trap --json
has "$T/out" '"code":8'
expect 0 "$EV" log "$D/deep.a/chain" --type wasm/call --json
has "$T/out" '"depth":150'
expect 0 "$EV" log "$D/deep.b/chain" --type wasm/trap --json
has "$T/out" '"fn":"ec_handle_request"'
has "$T/out" '"code":8'
# b's ec_init ran inside deep's: from depth 1, recorded; its request from 1500 and more.
expect 0 "$EV" log "$D/deep.b/chain" --type wasm/call --json
has "$T/out" '"depth":1,'
has "$T/out" '"depth":150'
for c in deep.a deep.b deep; do
  expect 0 "$EV" verify "$D/$c/chain"
  expect 0 "$EV" replay "$D/$c/chain" --cache "$CACHE"
  has "$T/out" "identical"
done
# An automatic recovery of b, inside deep's request 1502 calls deep, replays b's ec_init
# (recorded from depth 1) no lower than the thread's count (1502): the native stack stays
# bounded, the replayed ec_init traps where the chain has a result, and the recovery fails.
expect 1 "$EV" run "$T/nest/deep.wasm" --data-dir "$T/dr" --cache "$CACHE" --message r \
  --recover 1
has "$T/err" "deep.b: automatic recovery failed: replay diverges at seq 2"
expect 0 "$EV" replay "$T/dr/actors/deep.b/chain" --cache "$CACHE"
has "$T/out" "identical: 5 events"
finish
