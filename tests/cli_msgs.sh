#!/bin/sh
# tests/cli_msgs.sh: `evchain run` accounts for every message and spawn (docs/ABI.md sections
# 2, 6, 7): messages accepted and then not delivered are recorded (message/dropped) and, when
# given on the command line, said on stderr with exit 3; a failed spawn leaves no child, nor
# anything in the data directory; a send abandoned by a recovery is not delivered; the
# runtime-wide caps refuse, recorded.
# $1 is the evchain binary.
set -u
EV=$1
B=${EVCHAIN_BUILD:-build}
A=$B/actors
T=$(mktemp -d /tmp/evchain_cli_msgs.XXXXXX)
trap 'rm -rf "$T"' EXIT INT TERM
. "$(dirname "$0")/clilib.sh"
R="--no-checkpoints --durability none"

# The crasher traps on the first message: the other two are not lost without a word.
D=$T/crash
expect 3 "$EV" run "$A/crasher.wasm" --data-dir "$D" $R --message crash --message abort \
  --message crash
has "$T/err" "a message to crasher (5 bytes) was not delivered: the receiver trapped"
"$EV" log "$D/actors/crasher/chain" --type message/dropped >"$T/log" 2>&1
lines "$T/log" 2
expect 0 "$EV" replay "$D/actors/crasher/chain"
has "$T/out" "identical: 9 events"

# The supervisor sends work to its worker, then stops it before it is delivered: the
# worker's chain records the drop before its actor/stop, and the link checks.
D=$T/sup
mkdir -p "$T/mods"
cp "$A/supervisor.wasm" "$A/worker.wasm" "$A/crasher.wasm" "$T/mods/"
expect 0 "$EV" run "$T/mods/supervisor.wasm" --data-dir "$D" $R --quiet --message "work 5" \
  --message "stop worker"
"$EV" log "$D/actors/supervisor.worker/chain" >"$T/log" 2>&1
has "$T/log" "3 "
tail -2 "$T/log" | cut -d' ' -f4 >"$T/tail"
has "$T/tail" "message/dropped"
expect 0 "$EV" verify --links "$D"
has "$T/out" "links: ok"

# A module whose ec_init spawns itself until calls nest too deep: the refused child is not
# left listed and "running", and nothing of it is left in the data directory (its chain, made
# before its ec_init was refused, is removed again), so that its name can be started there.
D=$T/nest
expect 0 "$EV" run "$A/relay.wasm" --data-dir "$D" $R --args nest
has "$T/err" "spawn -6"
deepest=$(sed -n 's/^\[\(.*\)\] spawn -6$/\1/p' "$T/err") # the one whose spawn was refused
has "$T/out" "$deepest " # listed: its own spawn went through
refused=$deepest.kid
if grep -qF "$refused " "$T/out"; then bad "$refused is still listed"; else ok; fi
[ ! -e "$D/actors/$refused" ] && ok || bad "the refused spawn left $D/actors/$refused"
"$EV" log "$D/actors/$deepest/chain" --type supervisor/spawn.result --json >"$T/log" 2>&1
has "$T/log" "nested deeper" # the refusal is in the parent's chain
expect 0 "$EV" verify --links "$D"
expect 0 "$EV" run "$A/relay.wasm" --name "$refused" --data-dir "$D" $R
has "$T/out" "$refused "

# A sends to b, then traps; recovered, its send is in the abandoned line: b never handles it.
D=$T/rec
cp "$A/relay.wasm" "$T/mods/"
printf '{"actors":[{"id":"a","module":"relay.wasm"},{"id":"b","module":"relay.wasm"}],"messages":[{"to":"a","body":"sendtrap b"}]}' \
  >"$T/mods/st.json"
expect 0 "$EV" run --manifest "$T/mods/st.json" --data-dir "$D" $R --recover 2
"$EV" log "$D/actors/b/chain" --type 'wasm/call' >"$T/log" 2>&1
lines "$T/log" 1
"$EV" log "$D/actors/b/chain" --type 'message/dropped' --json >"$T/log" 2>&1
has "$T/log" "abandoned"
expect 0 "$EV" verify --links "$D"

# The caps: a message whose body alone is over --max-queued-bytes is refused (exit 2, said
# on stderr; more messages than fit together are delivered in turn, not refused); memory for
# two relays of 16 MiB, not three.
expect 2 "$EV" run "$A/relay.wasm" --data-dir "$T/caps" $R --max-queued-bytes 4 \
  --message 12345678
has "$T/err" "max_queued_bytes"
expect 0 "$EV" run "$A/relay.wasm" --data-dir "$T/caps1" $R --max-queued-bytes 20 \
  --message 12345678 --message abcdefgh --message ABCDEFGH
has "$T/err" "ABCDEFGH"
expect 2 "$EV" run "$A/relay.wasm" --data-dir "$T/caps2" $R --max-queued-bytes 0
# --max-queue N: messages waiting, all actors together. With 1, the relay's second message
# to itself in one call finds the queue full (EBUSY, recorded); 0 is refused (exit 2).
expect 0 "$EV" run "$A/relay.wasm" --data-dir "$T/capsq" $R --max-queue 1 \
  --message "send2 relay x"
"$EV" log "$T/capsq/actors/relay/chain" --type message/send.result --json >"$T/log" 2>&1
has "$T/log" '"ret":0'
has "$T/log" '"ret":-5'
has "$T/log" "the queue is full"
expect 2 "$EV" run "$A/relay.wasm" --data-dir "$T/capsq0" $R --max-queue 0
has "$T/err" "--max-queue: '0' is not 1..4294967295"
[ ! -e "$T/capsq0" ] && ok || bad "a refused run left $T/capsq0 behind"
expect 0 "$EV" run "$A/relay.wasm" --data-dir "$T/caps3" $R --max-memory 40 --args nest
has "$T/err" "spawn -5"
"$EV" log "$T/caps3/actors/relay.kid/chain" --type supervisor/spawn.result --json >"$T/log" 2>&1
has "$T/log" "max_memory"
if [ -e "$T/caps3/actors/relay.kid.kid" ]; then bad "a refused spawn left a directory"; else ok; fi
expect 0 "$EV" help run
has "$T/out" "--max-queued-bytes"
has "$T/out" "--max-queue N"
finish
