#!/bin/sh
# tests/cli_resume.sh: `evchain recover` and `evchain resume` end as `evchain run` does: the
# summary line counts what is in each chain when the command ends (its actor/stop included),
# as `evchain verify` counts it; a --message accepted and then dropped is said on stderr in
# the same words and the command exits 3. $1 is the evchain binary.
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
  has "$T/out" "3 a --message was not delivered"
done

finish
