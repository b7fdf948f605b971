#!/bin/sh
# tests/cli_replay.sh: `evchain replay` (identical, --json, --until, a changed module's
# divergence report, refusals), `evchain recover` after a trap, and migration with
# `export --bundle`, `import --bundle` and `resume`, end to end. $1 is the evchain binary.
set -u
EV=$1
B=${EVCHAIN_BUILD:-build}
A=$B/actors
T=$(mktemp -d /tmp/evchain_cli_replay.XXXXXX)
trap 'rm -rf "$T"' EXIT INT TERM
. "$(dirname "$0")/clilib.sh"
D=$T/data

# A counter run, replayed: identical, the same head as the chain's.
expect 0 "$EV" run "$A/counter.wasm" --data-dir "$D" --message inc --message "add 2" --quiet
C=$D/actors/counter/chain
expect 0 "$EV" replay "$C"
has "$T/out" "identical: 30 events"
head=$("$EV" log "$C" 2>/dev/null | tail -1 | cut -d' ' -f2)
has "$T/out" "head $head"
expect 0 "$EV" replay "$C" --json
has "$T/out" '"status": "identical", "events": 30'
expect 0 "$EV" replay "$C" --until 9
has "$T/out" "identical up to 10 events"
# The data directory (cache, store, key) is the one the chain directory resolves into: from
# inside it as ".", or through a symbolic link, replay and recover used ./cache and a new
# data directory in the current one (a recovery restarted the counter from 0).
cp -a "$D" "$T/p2"
ln -s "$T/p2/actors/counter/chain" "$T/p2lnk"
(cd "$T/p2/actors/counter/chain" && "$EV" replay . >"$T/out" 2>"$T/err") && ok ||
  bad "replay . inside the chain directory: $(cat "$T/err")"
has "$T/out" "identical: 30 events"
mkdir "$T/cwd"
(cd "$T/cwd" && "$EV" recover ../p2lnk --message inc >"$T/out" 2>"$T/err") && ok ||
  bad "recover through a symbolic link: $(cat "$T/err")"
has "$T/err" "count = 4"
[ -z "$(ls -A "$T/cwd")" ] && ok || bad "recover wrote into the current directory: $(ls "$T/cwd")"
# A chain directory not inside a data directory: said, not guessed.
mkdir -p "$T/loose/chain" && cp -a "$C"/. "$T/loose/chain/"
expect 2 "$EV" recover "$T/loose/chain" --message inc
has "$T/err" "not an actor's chain directory"
expect 2 "$EV" replay "$T/loose/chain"
has "$T/err" "give --module FILE"
expect 0 "$EV" replay "$T/loose/chain" --module "$A/counter.wasm"
expect 2 "$EV" replay "$C" --store "$D/store"
has "$T/err" "give both"
# A chain of no event (a run killed before its first event reached the disk, as under
# durability none; made here by cutting the segment to its 24-byte header): run and resume
# say so, instead of sending the user from one to the other.
expect 0 "$EV" run "$A/counter.wasm" --data-dir "$T/em" --message inc --quiet --no-checkpoints
truncate -s 24 "$T/em/actors/counter/chain/seg-0000000000000000.log"
expect 2 "$EV" run "$A/counter.wasm" --data-dir "$T/em" --message inc --quiet
has "$T/err" "holds an empty chain (0 events"
expect 2 "$EV" resume counter --data-dir "$T/em" --quiet
has "$T/err" "the chain is empty (0 events"
# resume with its module missing from the cache: --module gives it, as the error says (it
# was refused: "the module comes from the bundle"); a module of another hash is refused.
cp -a "$D" "$T/nc" && rm -rf "$T/nc/cache"
expect 2 "$EV" resume counter --data-dir "$T/nc" --quiet
has "$T/err" "give it with --module"
expect 2 "$EV" resume counter --data-dir "$T/nc" --module "$A/counter2.wasm" --quiet
expect 0 "$EV" resume counter --data-dir "$T/nc" --module "$A/counter.wasm" --message inc
has "$T/err" "count = 4"
expect 2 "$EV" replay "$C" --until 30
has "$T/err" "--until 30: the chain has 30 events"
# A damaged stored record (a byte flipped, its checksum left): a broken chain, exit 1 as
# verify and export say (replay and recover said 2, "unusable").
cp -a "$D" "$T/dm"
python3 -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[900]^=1; open(p,"wb").write(b)' \
  "$T/dm/actors/counter/chain/seg-0000000000000000.log"
expect 1 "$EV" replay "$T/dm/actors/counter/chain"
has "$T/err" "damage, not a torn write"
expect 1 "$EV" recover "$T/dm/actors/counter/chain" --message inc
has "$T/err" "covers 30 events and the chain has 6" # its checkpoint's events are not all there

# A module that counts by 2: refused as another module, then replayed on purpose.
expect 2 "$EV" replay "$C" --module "$A/counter2.wasm"
has "$T/err" "the chain was recorded with"
expect 1 "$EV" replay "$C" --module "$A/counter2.wasm" --any-module
has "$T/out" "diverges at seq 10"
has "$T/out" 'expected   store/put {"data":"1"}'
has "$T/out" 'actual     store/put {"data":"2"}'
has "$T/out" '9 store/label_get.result {"ret":-2'
expect 1 "$EV" replay "$C" --module "$A/counter2.wasm" --any-module --json
has "$T/out" '"status": "diverged", "seq": 10'
has "$T/out" '"actual": {"type": "store/put", "data": {"data":"2"}}'

# A FIFO in place of the module in the cache: refused at once, not waited on.
expect 0 "$EV" run "$A/counter.wasm" --data-dir "$T/fc" --message inc --quiet --no-checkpoints
for w in "$T"/fc/cache/*.wasm; do
  rm "$w"
  mkfifo "$w"
done
expect 2 timeout 20 "$EV" replay "$T/fc/actors/counter/chain"
has "$T/err" "not a regular file"

# The supervisor group: each actor replayed from its own chain.
expect 0 "$EV" run "$A/supervisor.wasm" --name sup --data-dir "$D" --message "work 3" \
  --message crash --message total --quiet
for id in sup sup.worker sup.crasher; do
  expect 0 "$EV" replay "$D/actors/$id/chain"
  has "$T/out" "identical"
done
# The links between the group's chains check the same with one of them as a bundle.
expect 0 "$EV" verify --links "$D/actors/sup/chain" "$D/actors/sup.worker/chain" \
  "$D/actors/sup.crasher/chain"
dirs_links=$(grep '^links:' "$T/out")
case "$dirs_links" in "links: ok, 0 links"*|"") bad "no links checked: $dirs_links" ;; *) ok ;; esac
expect 0 "$EV" export --bundle "$D/actors/sup.worker/chain" -o "$T/worker.bundle"
expect 0 "$EV" verify --links "$D/actors/sup/chain" "$T/worker.bundle" \
  "$D/actors/sup.crasher/chain"
has "$T/out" "$dirs_links"

# Unusable input: no module in the cache, not a chain.
expect 2 "$EV" replay "$C" --cache "$T/nocache"
has "$T/err" "give it with --module"
expect 2 "$EV" replay "$T/nothing"
# recover and resume of a run whose module went to a --cache elsewhere: refused with the
# way out (they crashed on the runtime the failed session never made), then done with it.
expect 0 "$EV" run "$A/tally.wasm" --data-dir "$T/elsewhere" --cache "$T/ecache" --quiet \
  --message 5 --no-checkpoints
expect 2 "$EV" resume tally --data-dir "$T/elsewhere" --no-checkpoints
has "$T/err" "is not in the cache $T/elsewhere/cache: give it with --module, or the cache with --cache"
expect 2 "$EV" recover "$T/elsewhere/actors/tally/chain" --no-checkpoints
has "$T/err" "is not in the cache"
expect 0 "$EV" recover "$T/elsewhere/actors/tally/chain" --cache "$T/ecache" --no-checkpoints \
  --quiet

# A trap, recovered to the last good state; the replay goes through the marker.
expect 1 "$EV" run "$A/tally.wasm" --data-dir "$D" --args 10 --message 5 --message crash --quiet
TC=$D/actors/tally/chain
expect 0 "$EV" replay "$TC"
has "$T/out" "is reproduced"

# The actor's memory where a replay stops. tally keeps total and count (static u64s, at
# most 8 bytes apart) in its memory: 15 and 1 when it traps on "crash".
# u64 little-endian, as hex digits: total then count, or count then total, in a dump.
pair_in() { # file total count
  hex=$(od -An -tx1 -v "$1" | tr -d ' \n')
  t=$(printf '%02x00000000000000' "$2")
  c=$(printf '%02x00000000000000' "$3")
  g='????????????????'
  case "$hex" in *"$t$c"* | *"$c$t"* | *"$t"$g"$c"* | *"$c"$g"$t"*) return 0 ;; *) return 1 ;; esac
}
trap_seq=$("$EV" log "$TC" --type wasm/trap | cut -d' ' -f1)
before=$((trap_seq - 1))
expect 0 "$EV" replay "$TC" --until "$before" --memory-out "$T/at-trap.mem"
has "$T/out" "memory where the replay stopped (after seq $before): "
size=$(wc -c <"$T/at-trap.mem")
has "$T/out" " $size bytes written to $T/at-trap.mem"
[ "$size" -gt 0 ] && [ $((size % 65536)) -eq 0 ] && ok || bad "memory dump of $size bytes"
pair_in "$T/at-trap.mem" 15 1 && ok || bad "total 15 and count 1 not in the memory at the trap"
# After the first message's call: 15 and 1 as well; after ec_init: 10 and 0.
first_result=$("$EV" log "$TC" --type wasm/result | sed -n 2p | cut -d' ' -f1)
expect 0 "$EV" replay "$TC" --until "$first_result" --memory-out "$T/m1.mem" --json
has "$T/out" "\"memory\": {\"file\": \"$T/m1.mem\", \"after_seq\": $first_result, \"bytes\": $size}"
pair_in "$T/m1.mem" 15 1 && ok || bad "total 15 and count 1 not in the memory after the message"
init_result=$("$EV" log "$TC" --type wasm/result | sed -n 1p | cut -d' ' -f1)
expect 0 "$EV" replay "$TC" --until "$init_result" --memory-out "$T/m0.mem"
pair_in "$T/m0.mem" 10 0 && ok || bad "total 10 and count 0 not in the memory after ec_init"
pair_in "$T/m0.mem" 15 1 && bad "the memory after ec_init holds the later total" || ok
# The same point twice: the same bytes (wasm is deterministic).
expect 0 "$EV" replay "$TC" --until "$before" --memory-out "$T/again.mem"
cmp -s "$T/at-trap.mem" "$T/again.mem" && ok || bad "two dumps of the same point differ"
# At the end the trapped actor has no instance: said, exit 2, no file.
expect 2 "$EV" replay "$TC" --memory-out "$T/end.mem"
has "$T/out" "memory: not written: the actor has no instance after seq $trap_seq (trapped)"
[ ! -e "$T/end.mem" ] && ok || bad "a memory file written for a trapped actor"
# Where it cannot be written: said, exit 2.
expect 2 "$EV" replay "$TC" --until "$before" --memory-out "$T/no/such/dir/m"
has "$T/out" "memory: not written:"
# At a divergence (the counter replayed with counter2): written, exit 1.
expect 1 "$EV" replay "$C" --module "$A/counter2.wasm" --any-module --memory-out "$T/div.mem"
has "$T/out" "memory where the replay stopped (after seq 9)"
expect 2 "$EV" recover "$TC" --to 1
has "$T/err" "not a call boundary"
# Event 0 of an actor with ec_init: named by its type (the message read a reused buffer, and
# named a random type).
expect 2 "$EV" recover "$TC" --to 0
has "$T/err" "event 0 is actor/start, not a call boundary"
expect 0 "$EV" recover "$TC" --message 7
has "$T/out" "runtime/recovered"
has "$T/err" "total = 22"
expect 0 "$EV" replay "$TC"
has "$T/out" "identical"
# recover --serve: live until `evchain send --stop`, taking messages meanwhile.
"$EV" run "$A/tally.wasm" --name live --data-dir "$T/live" --args 1 --message crash \
  >/dev/null 2>&1
"$EV" recover "$T/live/actors/live/chain" --serve >"$T/live.out" 2>"$T/live.err" &
LIVE=$!
i=0
while [ $i -lt 600 ] && ! grep -q "serving on" "$T/live.err"; do
  sleep 0.1
  i=$((i + 1))
done
expect 0 "$EV" send --data-dir "$T/live" live 4
expect 0 "$EV" send --data-dir "$T/live" --stop
wait $LIVE
[ $? -eq 0 ] && ok || bad "recover --serve exited non-zero: $(cat "$T/live.err")"
has "$T/live.err" "total = 5"
has "$T/live.out" "runtime/recovered"
expect 0 "$EV" replay "$T/live/actors/live/chain"
has "$T/out" "identical"

# Automatic recovery while running: the trap is survived once, the count goes on.
expect 0 "$EV" run "$A/tally.wasm" --name auto --data-dir "$D" --args 1 --message 2 \
  --message crash --message 3 --recover 1
has "$T/err" "recovered to seq"
has "$T/err" "total = 6"
has "$T/out" "running"
expect 0 "$EV" replay "$D/actors/auto/chain"

# Snapshots every 2 calls; the replay can start from the newest one.
expect 0 "$EV" run "$A/tally.wasm" --name snap --data-dir "$D" --args 1 --message 2 \
  --message 3 --message 4 --snapshot-every 2 --quiet
expect 0 "$EV" replay "$D/actors/snap/chain" --from-snapshot
has "$T/out" "started from the snapshot at seq"
has "$T/out" "identical"
# Stopping before the first snapshot: said so (it said the chain had none).
expect 2 "$EV" replay "$D/actors/snap/chain" --from-snapshot --until 3
has "$T/err" "no state/snapshot at or before seq 3"
expect 2 "$EV" replay "$D/actors/snap/chain" --from-snapshot --module "$A/counter2.wasm" \
  --any-module
has "$T/err" "a snapshot is the recorded module's memory"
expect 0 "$EV" recover "$D/actors/snap/chain" --from-snapshot --message 10
has "$T/err" "total = 20"
# With the cache elsewhere (--cache), the snapshots are still in the chain's <data>/store.
expect 0 "$EV" run "$A/tally.wasm" --data-dir "$T/sd" --cache "$T/scache" --args 1 \
  --message 5 --snapshot-every 1 --quiet --no-checkpoints
expect 0 "$EV" replay "$T/sd/actors/tally/chain" --from-snapshot --cache "$T/scache"
has "$T/out" "started from the snapshot at seq"
has "$T/out" "identical"

# Migration: the counter moves to another data directory and counts on.
expect 0 "$EV" export --bundle "$C" -o "$T/c.bundle"
expect 0 "$EV" import --bundle "$T/c.bundle" --data-dir "$T/other"
has "$T/out" "evchain resume counter"
expect 2 "$EV" import --bundle "$T/c.bundle" --data-dir "$T/other"
has "$T/err" "already exists"
expect 0 "$EV" resume counter --data-dir "$T/other" --message inc
has "$T/out" "runtime/migrated"
has "$T/err" "count = 4"
expect 0 "$EV" replay "$T/other/actors/counter/chain"
# The migrated chain continues the original: evchain diff sees a prefix.
expect 1 "$EV" diff "$C" "$T/other/actors/counter/chain"
has "$T/out" "identical up to 30"
# A bundle with one byte changed is refused, and nothing is imported.
python3 - "$T/c.bundle" "$T/bad.bundle" <<'PY' 2>/dev/null || cp "$T/c.bundle" "$T/bad.bundle"
import sys
b = bytearray(open(sys.argv[1], 'rb').read())
b[len(b) // 2] ^= 1
open(sys.argv[2], 'wb').write(b)
PY
expect 1 "$EV" import --bundle "$T/bad.bundle" --data-dir "$T/third"
has "$T/err" "digest"
[ -d "$T/third/actors/counter" ] && bad "a refused bundle left an actor" || ok
# A well-formed bundle (every digest right) whose module entry names a path, not its hash:
# refused before anything is written.
python3 - "$T/c.bundle" "$T/evil.bundle" <<'PY'
import hashlib, struct, sys
b = open(sys.argv[1], 'rb').read()
out, off = bytearray(b[:8]), 8
def entry(k, name, data):
    return (bytes([k]) + struct.pack(">H", len(name)) + name + struct.pack(">Q", len(data)) +
            data + hashlib.sha256(data).digest())
while off < len(b):
    k = b[off]; nl = struct.unpack(">H", b[off + 1:off + 3])[0]
    name = b[off + 3:off + 3 + nl]; off += 3 + nl
    dl = struct.unpack(">Q", b[off:off + 8])[0]; data = b[off + 8:off + 8 + dl]; off += 8 + dl + 32
    if k == ord('E'):
        break
    out += entry(k, b"../../evil" if k == ord('M') else name, data)
out += entry(ord('E'), b"", hashlib.sha256(bytes(out)).digest())
open(sys.argv[2], 'wb').write(out)
PY
expect 1 "$EV" import --bundle "$T/evil.bundle" --data-dir "$T/fourth/data"
has "$T/err" "not named by its SHA-256"
[ -e "$T/fourth/evil.wasm" ] || [ -e "$T/evil.wasm" ] && bad "a module was written outside" || ok
[ -d "$T/fourth/data/actors/counter" ] && bad "a refused bundle left an actor" || ok

# A timer pending when the runtime stopped survives a recovery: one not due before the
# recovery ends is reported still pending (a minute: no race with a slow machine); with
# --wait one is delivered (from @timer, its tag, linking its timer/set, whether it came due
# before the recovery or during the wait), and the chain still replays identically.
expect 0 "$EV" run "$A/counter.wasm" --name tk1 --data-dir "$T/tk" --message "tick 60000 8" \
  --wait 0 --quiet
expect 0 "$EV" recover "$T/tk/actors/tk1/chain" --quiet
has "$T/out" "1 timer(s) not yet due stay pending"
expect 2 "$EV" recover "$T/tk/actors/tk1/chain" --wait soon
has "$T/err" "--wait: 'soon' is not a number of milliseconds"
expect 0 "$EV" run "$A/counter.wasm" --name tk --data-dir "$T/tk" --message "tick 300 7" \
  --wait 0 --quiet
K=$T/tk/actors/tk/chain
expect 0 "$EV" recover "$K" --wait 3000 --quiet
if grep -q "stay pending" "$T/out"; then bad "the timer was not delivered"; else ok; fi
set_seq=$("$EV" log "$K" | awk '$4 == "timer/set" {print $1}')
set_hash=$("$EV" show "$K" "$set_seq" | sed -n 's/^hash: *\([0-9a-f]*\).*/\1/p')
last_call=$("$EV" log "$K" | awk '$4 == "wasm/call" {s = $1} END {print s}')
expect 0 "$EV" show "$K" "$last_call"
has "$T/out" "\"fn\":\"ec_handle_timer\",\"arg\":7,\"from\":\"@timer\",\"link\":\"$set_hash\""
expect 0 "$EV" replay "$K"
has "$T/out" "identical"
# An actor whose first call traps has a good state all the same: as started (no ec_init).
# recover goes back to event 0; so does run --recover.
expect 1 "$EV" run "$A/hostile.wasm" --name first --data-dir "$D" --message divzero --quiet
expect 0 "$EV" recover "$D/actors/first/chain" --message "fill 1" --quiet
has "$T/out" "replay of 1 events"
expect 0 "$EV" replay "$D/actors/first/chain"
has "$T/out" "identical"
expect 0 "$EV" run "$A/hostile.wasm" --name first2 --data-dir "$D" --recover 1 \
  --message divzero --message "fill 1"
has "$T/err" "recovered to seq 0"
expect 0 "$EV" replay "$D/actors/first2/chain"
has "$T/out" "identical"

# Killed inside a call (SIGKILL while it writes files), then resumed: the chain holds the
# cut call and then the marker that abandons it; the replay goes through both.
"$EV" run "$A/hostile.wasm" --name cut --data-dir "$T/cut" --message "fill 1" \
  --message "fill 20000" --quiet >/dev/null 2>&1 &
cut_pid=$!
n=0
for _ in $(seq 1 400); do
  n=$("$EV" log "$T/cut/actors/cut/chain" 2>/dev/null | wc -l)
  [ "$n" -ge 40 ] && break
  sleep 0.05
done
kill -9 $cut_pid 2>/dev/null
wait $cut_pid 2>/dev/null
[ "$n" -ge 40 ] && ok || bad "the cut actor never reached 40 events ($n)"
"$EV" log "$T/cut/actors/cut/chain" >"$T/cut.log" 2>&1
tail -1 "$T/cut.log" | grep -q 'fs/write' && ok || bad "not cut inside a call: $(tail -1 "$T/cut.log")"
expect 0 "$EV" resume cut --data-dir "$T/cut" --message "fill 1" --quiet
expect 0 "$EV" verify "$T/cut/actors/cut/chain"
expect 0 "$EV" replay "$T/cut/actors/cut/chain"
has "$T/out" "identical"
finish
