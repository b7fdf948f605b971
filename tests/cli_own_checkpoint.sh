#!/bin/sh
# tests/cli_own_checkpoint.sh: a chain directory against its own stored checkpoint
# (<chain>/checkpoints/latest). Plain `verify` of a chain cut back below it (a lost segment
# tail, an older backup restored under the newer checkpoints) or rewritten before it reports
# that (exit 1), naming the chain's own checkpoint, not "ok"; with --since both checks apply;
# a damaged latest is reported, not skipped. `checkpoint --no-store` and `prove --key` sign
# nothing that conflicts with it, as the storing `checkpoint` refuses to. With latest removed
# (or rolled back), the newest numbered checkpoint is checked (and bounds the writers) all the
# same, and a latest that disagrees with it is said. $1 is the evchain binary. Run from the
# source directory.
set -u
EV=$1
T=$(mktemp -d /tmp/evchain_cli_own_checkpoint.XXXXXX)
trap 'rm -rf "$T"' EXIT INT TERM
. tests/clilib.sh

expect 0 "$EV" keygen example.org/own -o "$T/k.key" --vkey-out "$T/k.vkey"
# fill DIR FROM TO: append events FROM..TO-1 (data "eN")
fill() {
  i=$2
  while [ "$i" -lt "$3" ]; do
    "$EV" append "$1" --type t --data "e$i" --timestamp $((i + 1)) --durability none \
      >/dev/null || bad "append $i to $1"
    i=$((i + 1))
  done
}
# no_ok: the verdict has no "ok" line
no_ok() { if grep -q ": ok, " "$T/out"; then bad "said ok: $(cat "$T/out")"; else ok; fi; }

# --- a chain with no checkpoint: verified as before, one line
D=$T/d
expect 0 "$EV" init "$D"
fill "$D" 0 6
expect 0 "$EV" verify "$D"
lines "$T/out" 1
cp -r "$D" "$T/d6" # the backup of 6 events restored below
expect 0 "$EV" checkpoint "$D" --key "$T/k.key" -o "$T/cp6"
fill "$D" 6 10
expect 0 "$EV" checkpoint "$D" --key "$T/k.key" -o "$T/cp10"

# --- consistent with its own checkpoint: ok, and said how much that is worth
expect 0 "$EV" verify "$D"
has "$T/out" "$D: ok, 10 events, head "
has "$T/out" "$D: extends its own stored checkpoint $D/checkpoints/latest (10 of 10 events; signature not checked"
has "$T/out" "an audit: --since a copy kept outside"
lines "$T/out" 2
fill "$D" 10 12
expect 0 "$EV" verify "$D"
has "$T/out" "(10 of 12 events; signature not checked"
expect 0 "$EV" verify "$D" --since "$T/cp6" --vkey "$T/k.vkey"
has "$T/out" "extends its own stored checkpoint"
has "$T/out" "extends checkpoint $T/cp6 of example.org/own (6 of 12 events"
lines "$T/out" 3

# --- an older backup restored under the newer checkpoints: truncated, exit 1
R=$T/d6
cp -r "$D/checkpoints" "$R/"
expect 1 "$EV" verify "$R"
has "$T/out" "$R: its own stored checkpoint $R/checkpoints/latest: truncated: the chain has 6 events but the checkpoint (signature not checked) covers 10: events 6 to 9 were removed"
no_ok
# --since with a checkpoint it does extend: both verdicts, exit 1, no "ok"
expect 1 "$EV" verify "$R" --since "$T/cp6" --vkey "$T/k.vkey"
has "$T/out" "its own stored checkpoint $R/checkpoints/latest: truncated"
has "$T/out" "extends checkpoint $T/cp6"
no_ok
# and with the copy kept outside: both say truncated
expect 1 "$EV" verify "$R" --since "$T/cp10" --vkey "$T/k.vkey"
has "$T/out" "its own stored checkpoint $R/checkpoints/latest: truncated"
has "$T/out" "truncated: the chain has 6 events but the checkpoint signed by example.org/own covers 10"
no_ok
# signing a conflicting checkpoint is refused, stored or not (exit 1, nothing written)
expect 1 "$EV" checkpoint "$R" --key "$T/k.key" --no-store -o "$T/x.cp"
has "$T/err" "refusing to sign: the chain has 6 events, fewer than the 10 of the last checkpoint (truncated)"
[ ! -e "$T/x.cp" ] && ok || bad "checkpoint --no-store signed a truncated chain"
[ ! -s "$T/out" ] && ok || bad "checkpoint --no-store printed a checkpoint: $(cat "$T/out")"
expect 1 "$EV" prove "$R" 2 --key "$T/k.key" -o "$T/x.proof"
has "$T/err" "refusing to sign: the chain has 6 events, fewer than the 10"
[ ! -e "$T/x.proof" ] && ok || bad "prove --key signed a truncated chain"

# --- a lost segment tail (small segments, the last one cut to half: read as a torn write,
# which a missing sealed segment is not)
S=$T/s
expect 0 "$EV" init "$S" --segment-bytes 4096
i=0
while [ $i -lt 60 ]; do
  "$EV" append "$S" --type t --data "event $i, padded to fill the small segments quickly" \
    --timestamp $((i + 1)) --durability none >/dev/null || bad "append s $i"
  i=$((i + 1))
done
expect 0 "$EV" checkpoint "$S" --key "$T/k.key"
last=$(ls "$S"/seg-*.log | tail -1)
[ "$last" != "$(ls "$S"/seg-*.log | head -1)" ] && ok || bad "one segment only"
truncate -s $(($(stat -c %s "$last") / 2)) "$last"
expect 1 "$EV" verify "$S"
has "$T/out" "$S: its own stored checkpoint $S/checkpoints/latest: truncated: the chain has"
has "$T/out" "but the checkpoint (signature not checked) covers 60"
no_ok

# --- rewritten before its checkpoint (cut to 6 and extended with other events): forked
F=$T/fork
expect 0 "$EV" export "$D" --format jsonl -o "$T/d.jsonl"
head -7 "$T/d.jsonl" >"$T/d6.jsonl"
expect 0 "$EV" import "$T/d6.jsonl" -o "$F"
for i in 6 7 8 9 10 11; do
  "$EV" append "$F" --type t --data "g$i" >/dev/null || bad "append g$i"
done
cp -r "$D/checkpoints" "$F/"
expect 1 "$EV" verify "$F"
has "$T/out" "$F: its own stored checkpoint $F/checkpoints/latest: forked: the chain's first 10 events are not the ones of the checkpoint (signature not checked): events before seq 10 were rewritten"
no_ok
expect 1 "$EV" verify "$F" --since "$T/cp10" --vkey "$T/k.vkey"
has "$T/out" "its own stored checkpoint $F/checkpoints/latest: forked"
has "$T/out" "forked: the chain's first 10 events are not the ones signed by example.org/own"
no_ok
expect 1 "$EV" checkpoint "$F" --key "$T/k.key" --no-store -o "$T/x.cp"
has "$T/err" "refusing to sign: the chain's first 10 events are not the ones the last checkpoint signed (another root): the chain was rewritten since"
[ ! -e "$T/x.cp" ] && ok || bad "checkpoint --no-store signed a fork"
expect 1 "$EV" prove "$F" 11 --key "$T/k.key" -o "$T/x.proof"
has "$T/err" "the chain was rewritten since"
[ ! -e "$T/x.proof" ] && ok || bad "prove --key signed a fork"
# the storing path refuses the same (it always did)
expect 1 "$EV" checkpoint "$F" --key "$T/k.key"
has "$T/err" "the chain was rewritten since"

# --- a consistent chain: --no-store and prove --key still sign (the chain grew since)
expect 0 "$EV" checkpoint "$D" --key "$T/k.key" --no-store -o "$T/d12.cp"
[ "$(sed -n 2p "$T/d12.cp")" = 12 ] && ok || bad "--no-store signed $(sed -n 2p "$T/d12.cp")"
expect 0 "$EV" prove "$D" 11 --key "$T/k.key" -o "$T/d11.proof"
expect 0 "$EV" verify-proof "$T/d11.proof" --vkey "$T/k.vkey"
[ "$(sed -n 2p "$D/checkpoints/latest")" = 10 ] && ok || bad "latest moved without storing"

# --- a damaged latest: reported (exit 1), not taken as no checkpoint
cp "$D/checkpoints/latest" "$T/latest.saved"
printf 'example.org/own\nten\nnot a root\n\n' >"$T/bad"
rm "$D/checkpoints/latest" && cp "$T/bad" "$D/checkpoints/latest"
expect 1 "$EV" verify "$D"
has "$T/out" "$D: its own stored checkpoint $D/checkpoints/latest is damaged ("
has "$T/out" "the chain could not be checked against it"
no_ok
# a FIFO planted there: refused at once (exit 2), never waited on
rm "$D/checkpoints/latest"
if mkfifo "$D/checkpoints/latest" 2>/dev/null; then
  expect 2 timeout 20 "$EV" verify "$D"
  has "$T/err" "not a regular file"
  rm "$D/checkpoints/latest"
fi
cp "$T/latest.saved" "$D/checkpoints/latest"
expect 0 "$EV" verify "$D"

# --- checkpoints/latest removed, the numbered checkpoints left: the newest numbered one is
# checked instead, and named (it was skipped: "ok"). `cp -r` copies latest as a file of its
# own, no longer a second name of the numbered one: these copies can disagree.
N6=00000000000000000006.checkpoint
N10=00000000000000000010.checkpoint
L=$T/nolatest
cp -r "$D" "$L"
rm "$L/checkpoints/latest"
expect 0 "$EV" verify "$L"
has "$T/out" "$L: ok, 12 events, head "
has "$T/out" "$L: extends its own stored checkpoint $L/checkpoints/$N10 (10 of 12 events; signature not checked"
has "$T/out" "$L: note: $L/checkpoints/latest is missing: checked against the newest numbered checkpoint instead"
lines "$T/out" 3
# the older backup restored under them: truncated, as against latest
RL=$T/d6nolatest
cp -r "$R" "$RL"
rm "$RL/checkpoints/latest"
expect 1 "$EV" verify "$RL"
has "$T/out" "$RL: its own stored checkpoint $RL/checkpoints/$N10: truncated: the chain has 6 events but the checkpoint (signature not checked) covers 10"
has "$T/out" "$RL: note: $RL/checkpoints/latest is missing"
has "$T/out" "$RL: if this chain was restored on purpose from an older copy, \`evchain checkpoint $RL --set-aside\` sets its checkpoints aside (kept, not deleted)"
no_ok
# and the writers keep to it as to latest: nothing appended, nothing signed
expect 1 "$EV" append "$RL" --type t --data x
has "$T/err" "the chain must keep 10 events (a signed checkpoint covers them) but holds 6"
expect 1 "$EV" checkpoint "$RL" --key "$T/k.key" --no-store -o "$T/x.cp"
has "$T/err" "refusing to sign: the chain has 6 events, fewer than the 10 of the last checkpoint"
[ ! -e "$T/x.cp" ] && ok || bad "checkpoint --no-store signed below the numbered checkpoint"
expect 1 "$EV" verify "$RL"
has "$T/out" "the chain has 6 events"

# --- latest rolled back to the older checkpoint (a second name of 6): the newest numbered
# one still binds, and the disagreement is said
RB=$T/rolledback
cp -r "$R" "$RB"
rm "$RB/checkpoints/latest"
ln "$RB/checkpoints/$N6" "$RB/checkpoints/latest"
expect 1 "$EV" verify "$RB"
has "$T/out" "$RB: its own stored checkpoint $RB/checkpoints/$N10: truncated: the chain has 6 events"
has "$T/out" "$RB: note: $RB/checkpoints/latest (6 events) is not a second name of the newest numbered checkpoint $RB/checkpoints/$N10 (10 events), as it should be"
no_ok
# the same disagreement with a chain that extends both (a crash between storing 10 and
# linking latest): checked against both, a note, ok
W=$T/window
cp -r "$D" "$W"
rm "$W/checkpoints/latest"
cp "$W/checkpoints/$N6" "$W/checkpoints/latest"
expect 0 "$EV" verify "$W"
has "$T/out" "$W: extends its own stored checkpoint $W/checkpoints/latest (6 of 12 events"
has "$T/out" "$W: extends its own stored checkpoint $W/checkpoints/$N10 (10 of 12 events"
has "$T/out" "$W: note: $W/checkpoints/latest (6 events) is not a second name of the newest numbered checkpoint"
lines "$T/out" 4

# --- latest and the newest numbered one of the same size with different roots: one of them
# was replaced; broken (exit 1) whichever the chain extends
G=$T/g
expect 0 "$EV" import "$T/d6.jsonl" -o "$G"
for i in 6 7 8 9; do
  "$EV" append "$G" --type t --data "h$i" >/dev/null || bad "append h$i"
done
expect 0 "$EV" checkpoint "$G" --key "$T/k.key" -o "$T/g10.cp"
rm "$G/checkpoints/$N10"
cp "$D/checkpoints/$N10" "$G/checkpoints/$N10"
expect 1 "$EV" verify "$G"
has "$T/out" "$G: its own stored checkpoint $G/checkpoints/$N10: forked"
has "$T/out" "$G: its own stored checkpoints disagree: $G/checkpoints/latest and $G/checkpoints/$N10 both cover 10 events, with different roots"
no_ok

# --- a newest numbered checkpoint that is damaged (latest a copy that is sound): reported,
# exit 1, as a damaged latest is; one whose name and text give two sizes too
DN=$T/damaged_numbered
cp -r "$D" "$DN"
printf 'example.org/own\nten\nnot a root\n\n' >"$DN/checkpoints/$N10"
expect 1 "$EV" verify "$DN"
has "$T/out" "$DN: its own stored checkpoint $DN/checkpoints/$N10 is damaged (checkpoint: line 2"
no_ok
cp "$D/checkpoints/$N10" "$DN/checkpoints/$N10"
cp "$D/checkpoints/$N6" "$DN/checkpoints/00000000000000000011.checkpoint"
expect 1 "$EV" verify "$DN"
has "$T/out" "$DN: its own stored checkpoint $DN/checkpoints/00000000000000000011.checkpoint is damaged (its name says 11 events, its text 6)"
no_ok
rm "$DN/checkpoints/00000000000000000011.checkpoint"
expect 0 "$EV" verify "$DN"
# a FIFO planted as the newest numbered one: refused at once (exit 2), never waited on
if mkfifo "$DN/checkpoints/00000000000000000020.checkpoint" 2>/dev/null; then
  expect 2 timeout 20 "$EV" verify "$DN"
  has "$T/err" "not a regular file"
fi

expect 0 "$EV" help verify
has "$T/out" "its own stored checkpoint"
has "$T/out" "newest numbered"
finish
