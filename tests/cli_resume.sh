#!/bin/sh
# tests/cli_resume.sh: `evchain recover` and `evchain resume` end as `evchain run` does: the
# summary line counts what is in each chain when the command ends (its actor/stop included),
# as `evchain verify` counts it; a --message accepted and then dropped is said on stderr in
# the same words and the command exits 3; a refused recover or resume (a damaged chain,
# another module, a data directory without the actor) leaves the data directory exactly as
# it was: no runtime.key made on first use, nothing compiled into the cache, no directory.
# $1 is the evchain binary.
set -u
EV=$1
B=${EVCHAIN_BUILD:-build}
A=$B/actors
T=$(mktemp -d /tmp/evchain_cli_resume.XXXXXX)
trap 'rm -rf "$T"' EXIT INT TERM
. "$(dirname "$0")/clilib.sh"
R="--durability none"

# same_count ID CHAIN: the count on ID's summary line in $T/out is the one `evchain verify`
# gives for CHAIN.
same_count() {
  said=$(awk -v id="$1" '$1 == id && $4 == "events" { print $3 }' "$T/out")
  "$EV" verify "$2" >"$T/vout" 2>&1
  got=$(sed -n 's/.*: ok, \([0-9]*\) events.*/\1/p' "$T/vout")
  if [ -n "$said" ] && [ "$said" = "$got" ]; then ok; else
    bad "$1: the summary says '$said' events, verify '$got' ($(cat "$T/vout"))"
    sed 's/^/  stdout: /' "$T/out" >&2
  fi
}

# --- the summary counts the chain as it stays: run, recover, resume
D=$T/count
expect 1 "$EV" run "$A/tally.wasm" --data-dir "$D" $R --quiet --message 5 --message crash
same_count tally "$D/actors/tally/chain" # trapped: nothing more is recorded
expect 0 "$EV" recover "$D/actors/tally/chain" --quiet --message 3
same_count tally "$D/actors/tally/chain" # running when the messages were done, then stopped
has "$T/out" "running"
expect 0 "$EV" resume tally --data-dir "$D" --quiet --message 4
same_count tally "$D/actors/tally/chain"
expect 0 "$EV" run "$A/counter.wasm" --data-dir "$D" $R --quiet --message inc
same_count counter "$D/actors/counter/chain"
has "$T/out" "running"
# A group: the supervisor's children are stopped with it, each count its chain's.
mkdir -p "$T/mods"
cp "$A/supervisor.wasm" "$A/worker.wasm" "$A/crasher.wasm" "$T/mods/"
expect 0 "$EV" run "$T/mods/supervisor.wasm" --name sup --data-dir "$D" $R --quiet \
  --message "work 5"
same_count sup "$D/actors/sup/chain"
same_count sup.worker "$D/actors/sup.worker/chain"
same_count sup.crasher "$D/actors/sup.crasher/chain"

# --- a --message dropped: exit 3 (over 1, the trap), said on stderr as `run` says it
D=$T/drop
expect 3 "$EV" run "$A/tally.wasm" --data-dir "$D" $R --quiet --message 5 --message crash \
  --message 7
has "$T/err" "evchain: a message to tally (1 bytes) was not delivered: the receiver trapped"
expect 3 "$EV" recover "$D/actors/tally/chain" --quiet --message crash --message 7
has "$T/err" "evchain: a message to tally (1 bytes) was not delivered: the receiver trapped"
same_count tally "$D/actors/tally/chain"
"$EV" log "$D/actors/tally/chain" --type message/dropped >"$T/log" 2>&1
lines "$T/log" 2 # run's, recover's
expect 3 "$EV" resume tally --data-dir "$D" --quiet --message crash --message 8
has "$T/err" "evchain: a message to tally (1 bytes) was not delivered: the receiver trapped"
"$EV" log "$D/actors/tally/chain" --type message/dropped >"$T/log" 2>&1
lines "$T/log" 3
# Delivered, all of them: 0 as before; a trap with nothing dropped: 1 as before.
expect 0 "$EV" resume tally --data-dir "$D" --quiet --message 2
expect 1 "$EV" resume tally --data-dir "$D" --quiet --message crash
for c in recover resume; do
  expect 0 "$EV" help $c
  has "$T/out" "3 a --message (or, with --serve, a message"
done

# --- a refused resume or recover writes nothing
# listing DIR: every directory, and every file with its size, sorted.
listing() {
  if [ -e "$1" ]; then find "$1" \( -type d -printf '%p/\n' \) -o -printf '%p %s\n' | sort; fi
}
# unchanged DIR: the listing of DIR is the one saved in $T/before.
unchanged() {
  listing "$1" >"$T/after"
  if cmp -s "$T/before" "$T/after"; then ok; else
    bad "$1 changed: $(diff "$T/before" "$T/after" | grep '^[<>]' | tr '\n' ' ')"
  fi
}
D=$T/src
expect 0 "$EV" run "$A/tally.wasm" --data-dir "$D" $R --quiet --message 5
expect 0 "$EV" export --bundle "$D/actors/tally/chain" -o "$T/tally.bundle"
I=$T/imp # imported: no runtime.key yet, the module compiled in its cache
expect 0 "$EV" import --bundle "$T/tally.bundle" --data-dir "$I"
[ ! -e "$I/runtime.key" ] && ok || bad "the import made a runtime key"
cp -a "$I" "$T/dmg"
# Another module (not the chain's): refused before it is compiled into the cache.
listing "$I" >"$T/before"
expect 2 "$EV" resume tally --data-dir "$I" --message 1 --module "$A/counter.wasm"
has "$T/err" "the chain was recorded with"
unchanged "$I"
expect 2 "$EV" recover "$I/actors/tally/chain" --message 1 --module "$A/counter.wasm"
unchanged "$I"
# A data directory that does not hold the actor: not made, nor given a key; one that exists
# (the chain elsewhere, its module not in that cache) is left as it was.
expect 2 "$EV" resume tally --data-dir "$T/nowhere" --message 1
[ ! -e "$T/nowhere" ] && ok || bad "resume made $T/nowhere: $(listing "$T/nowhere")"
expect 2 "$EV" resume tally --data-dir "$T/nowhere" --serve
[ ! -e "$T/nowhere" ] && ok || bad "resume --serve made $T/nowhere: $(listing "$T/nowhere")"
mkdir "$T/other"
listing "$T/other" >"$T/before"
expect 2 "$EV" recover "$I/actors/tally/chain" --data-dir "$T/other" --message 1
unchanged "$T/other"
# A damaged chain: refused, exit 1.
flip "$(ls "$T/dmg/actors/tally/chain"/seg-*.log | head -1)" 300
listing "$T/dmg" >"$T/before"
expect 1 "$EV" resume tally --data-dir "$T/dmg" --message 1
has "$T/err" "checksum"
unchanged "$T/dmg"
expect 1 "$EV" recover "$T/dmg/actors/tally/chain" --message 1
unchanged "$T/dmg"
# Refused after the replay compiled the module (its snapshot is not in the store): what it
# compiled into the cache, and the cache directory it made, are removed again.
S=$T/snap
expect 0 "$EV" run "$A/tally.wasm" --data-dir "$S" --no-checkpoints $R --quiet \
  --snapshot-every 1 --message 5 --message 6
rm -rf "$S/store/objects" "$S/cache"
listing "$S" >"$T/before"
expect 2 "$EV" recover "$S/actors/tally/chain" --from-snapshot --module "$A/tally.wasm"
has "$T/err" "snapshot"
unchanged "$S"
# Not refused: the key is made then, once.
expect 0 "$EV" resume tally --data-dir "$I" --message 1
has "$T/err" "made checkpoint key $I/runtime.key"
[ -f "$I/runtime.key" ] && ok || bad "no runtime.key after a resume that went live"

finish
