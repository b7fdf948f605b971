#!/bin/sh
# tests/cli_set_aside.sh: a chain restored on purpose from an older copy, under the newer
# checkpoints its directory still holds. Every writer refuses it (its checkpoints bind it)
# and says exactly what to do; `evchain checkpoint <dir> --set-aside` moves checkpoints/ to
# checkpoints.superseded-N (N increasing, nothing deleted or replaced), after which append
# works and verify says ok with a note naming the folder set aside. The same for an actor's
# chain (resume). $1 is the evchain binary. Run from the source directory.
set -u
EV=$1
B=${EVCHAIN_BUILD:-build}
A=$B/actors
T=$(mktemp -d /tmp/evchain_cli_set_aside.XXXXXX)
trap 'rm -rf "$T"' EXIT INT TERM
. tests/clilib.sh

expect 0 "$EV" keygen example.org/aside -o "$T/k.key" --vkey-out "$T/k.vkey"
# fill DIR FROM TO: append events FROM..TO-1 (data "eN")
fill() {
  i=$2
  while [ "$i" -lt "$3" ]; do
    "$EV" append "$1" --type t --data "e$i" --timestamp $((i + 1)) --durability none \
      >/dev/null || bad "append $i to $1"
    i=$((i + 1))
  done
}
no_ok() { if grep -q ": ok, " "$T/out"; then bad "said ok: $(cat "$T/out")"; else ok; fi; }
HINT="Restore the missing events (a newer backup), or, if this older chain is the one to go on with, set its checkpoints aside first (kept, not deleted): evchain checkpoint"

# --- the chain and its backup: a backup of 6 events (its own checkpoint of 6 with it), then
# 10 events and a checkpoint of 10
D=$T/d
expect 0 "$EV" init "$D"
fill "$D" 0 6
expect 0 "$EV" checkpoint "$D" --key "$T/k.key" -o "$T/cp6"
cp -r "$D" "$T/backup6"
fill "$D" 6 10
expect 0 "$EV" checkpoint "$D" --key "$T/k.key" -o "$T/cp10"
ls "$D/checkpoints" >"$T/cps.before"

# --- the older backup's chain restored under the newer checkpoints (its segments copied
# back into the directory): every writer refuses it and names the way out
R=$T/restored
cp -r "$D" "$R"
rm "$R"/seg-*
cp "$T/backup6"/seg-* "$R/"
expect 1 "$EV" append "$R" --type t --data x
has "$T/err" "$R: the chain must keep 10 events (a signed checkpoint covers them) but holds 6: refusing to write, nothing was cut. $HINT $R --set-aside"
expect 1 "$EV" verify "$R"
has "$T/out" "$R: its own stored checkpoint $R/checkpoints/latest: truncated: the chain has 6 events but the checkpoint (signature not checked) covers 10"
has "$T/out" "$R: if this chain was restored on purpose from an older copy, \`evchain checkpoint $R --set-aside\` sets its checkpoints aside (kept, not deleted) so that it is accepted and can be written again; otherwise restore the chain"
no_ok
expect 1 "$EV" checkpoint "$R" --key "$T/k.key"
has "$T/err" "refusing to sign: the chain has 6 events, fewer than the 10"
has "$T/err" "\`evchain checkpoint $R --set-aside\` sets its checkpoints aside (kept, not deleted) first"

# --- what --set-aside refuses (exit 2, nothing moved)
expect 2 "$EV" checkpoint "$R" --set-aside --key "$T/k.key"
has "$T/err" "--set-aside signs nothing: --key does not go with it"
expect 2 "$EV" checkpoint "$R" --set-aside --no-store
has "$T/err" "--no-store does not go with it"
expect 2 "$EV" checkpoint "$D" --set-aside # extends them: nothing to set aside
has "$T/err" "$D extends its stored checkpoints: nothing set aside"
[ -d "$D/checkpoints" ] && [ ! -e "$D/checkpoints.superseded-1" ] && ok || bad "a sound chain's checkpoints were moved"
expect 0 "$EV" init "$T/bare"
expect 2 "$EV" checkpoint "$T/bare" --set-aside
has "$T/err" "$T/bare has no checkpoints (nothing set aside)"
expect 0 "$EV" export "$D" --format jsonl -o "$T/d.jsonl"
expect 2 "$EV" checkpoint "$T/d.jsonl" --set-aside
has "$T/err" "is not a chain directory"
# another writer holds the chain (flock on the directory, as every writer takes it)
# (-o: the lock is the flock process's own, gone when it is killed, not the sleep's)
if command -v flock >/dev/null 2>&1; then
  flock -o "$R" sleep 5 >/dev/null 2>&1 &
  holder=$!
  n=0
  while flock -n "$R" true && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
  expect 2 "$EV" checkpoint "$R" --set-aside
  has "$T/err" "another writer has this chain open"
  kill "$holder" 2>/dev/null
  wait "$holder" 2>/dev/null
fi
[ -d "$R/checkpoints" ] && ok || bad "a refused --set-aside moved the checkpoints"
# a chain that is itself broken: setting its checkpoints aside would not repair it (exit 1)
X=$T/broken
cp -r "$R" "$X"
flip "$(ls "$X"/seg-*.log | head -1)" 100
expect 1 "$EV" checkpoint "$X" --set-aside
has "$T/err" "the chain itself is broken"
[ -d "$X/checkpoints" ] && ok || bad "a broken chain's checkpoints were moved"

# --- set aside: the folder moved whole, every file kept as it was
expect 0 "$EV" checkpoint "$R" --set-aside
has "$T/err" "$R/checkpoints set aside as $R/checkpoints.superseded-1 (kept, not deleted): the chain (6 events) has no checkpoints now"
[ ! -e "$R/checkpoints" ] && ok || bad "checkpoints/ still there"
ls "$R/checkpoints.superseded-1" >"$T/cps.after"
cmp -s "$T/cps.before" "$T/cps.after" && ok || bad "the folder set aside lost files: $(cat "$T/cps.after")"
for f in $(cat "$T/cps.before"); do
  cmp -s "$D/checkpoints/$f" "$R/checkpoints.superseded-1/$f" && ok || bad "$f changed"
done
# now writers accept it, and verify says ok with a note
expect 0 "$EV" append "$R" --type t --data "after the restore"
expect 0 "$EV" verify "$R"
has "$T/out" "$R: ok, 7 events, head "
has "$T/out" "$R: note: checkpoints set aside (evchain checkpoint --set-aside), not checked against: $R/checkpoints.superseded-1"
lines "$T/out" 2
# a fresh checkpoint, checked against from now on
expect 0 "$EV" checkpoint "$R" --key "$T/k.key" -o "$T/r7.cp"
expect 0 "$EV" verify "$R"
has "$T/out" "$R: extends its own stored checkpoint $R/checkpoints/latest (7 of 7 events"
has "$T/out" "checkpoints.superseded-1"
lines "$T/out" 3
# an auditor holding the checkpoint of 10 sees what happened: the events it covered are gone
expect 1 "$EV" verify "$R" --since "$T/cp10" --vkey "$T/k.vkey"
has "$T/out" "truncated: the chain has 7 events but the checkpoint signed by example.org/aside covers 10"

# --- restored again from the same backup: the next set-aside is superseded-2, the first
# one untouched
rm "$R"/seg-*
cp "$T/backup6"/seg-* "$R/"
expect 1 "$EV" append "$R" --type t --data x
has "$T/err" "must keep 7 events"
ls "$R/checkpoints.superseded-1" >"$T/cps.first"
expect 0 "$EV" checkpoint "$R" --set-aside
has "$T/err" "set aside as $R/checkpoints.superseded-2 (kept, not deleted)"
ls "$R/checkpoints.superseded-1" | cmp -s - "$T/cps.first" && ok || bad "superseded-1 changed"
[ -e "$R/checkpoints.superseded-2/latest" ] && ok || bad "superseded-2 lacks latest"
expect 0 "$EV" append "$R" --type t --data x
expect 0 "$EV" verify "$R"
has "$T/out" "not checked against: $R/checkpoints.superseded-1, $R/checkpoints.superseded-2"
# a gap in the numbers (one removed by hand): never reused below the largest
mv "$R/checkpoints.superseded-1" "$T/kept1"
expect 0 "$EV" checkpoint "$R" --key "$T/k.key" >/dev/null
rm "$R"/seg-*
cp "$T/backup6"/seg-* "$R/"
expect 0 "$EV" checkpoint "$R" --set-aside
has "$T/err" "set aside as $R/checkpoints.superseded-3"

# --- an actor's chain restored from an older copy: resume refuses it, naming the command
# for its chain; set aside, it resumes
DD=$T/data
expect 0 "$EV" run "$A/counter.wasm" --data-dir "$DD" --durability none --quiet \
  --checkpoint-every 1 --message inc
C=$DD/actors/counter/chain
cp -r "$C" "$T/counter_backup"
expect 0 "$EV" resume counter --data-dir "$DD" --quiet --message inc --message inc
rm "$C"/seg-*
cp "$T/counter_backup"/seg-* "$C/"
expect 1 "$EV" resume counter --data-dir "$DD" --quiet --message inc
has "$T/err" "its signed checkpoint $C/checkpoints/latest covers"
has "$T/err" "set its checkpoints aside first (kept, not deleted): evchain checkpoint $C --set-aside"
expect 1 "$EV" recover "$C" --quiet
has "$T/err" "evchain checkpoint $C --set-aside"
expect 0 "$EV" checkpoint "$C" --set-aside
expect 0 "$EV" resume counter --data-dir "$DD" --quiet --message inc
expect 0 "$EV" verify --links "$DD"
has "$T/out" "$C: ok, "
has "$T/out" "not checked against: $C/checkpoints.superseded-1"

expect 0 "$EV" help checkpoint
has "$T/out" "--set-aside"
has "$T/out" "checkpoints.superseded-N"
finish
