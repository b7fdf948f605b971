#!/bin/sh
# tests/cli_checkpoint.sh: `evchain checkpoint` on a chain directory stores what it signs,
# or says that it did not and exits non-zero: beside another writer (refused, or waited for
# with --wait MS as `append` does), on a chain that can be read but not written (another
# user's); --no-store signs without storing, explicitly; a stored checkpoint is not replaced
# by a different one of the same size unless --replace; a chain rewritten below its last
# checkpoint is refused as that, not as a tree file to rebuild. $1 is the evchain binary.
# Run from the source directory.
set -u
EV=$1
T=$(mktemp -d /tmp/evchain_cli_checkpoint.XXXXXX)
trap 'rm -rf "$T"' EXIT INT TERM
. tests/clilib.sh

expect 0 "$EV" keygen example.org/store -o "$T/k.key" --vkey-out "$T/k.vkey"
expect 0 "$EV" keygen example.org/other -o "$T/o.key" --vkey-out "$T/o.vkey"
D=$T/d
expect 0 "$EV" init "$D"
for i in 1 2 3; do
  "$EV" append "$D" --type t --data "e$i" --timestamp $i >/dev/null || bad "append $i"
done
# size FILE: the tree size a checkpoint covers (its second line)
size() { sed -n 2p "$1"; }

# --- another writer holds the chain: nothing signed, exit 2, unless waited for or --no-store
if command -v flock >/dev/null 2>&1; then
  # hold NAME: hold the chain's writer lock (as a writer does) until $T/NAME exists (or the
  # test's folder is gone), in the background; held: until the holder has the lock. Released
  # by the test, not after a time, which a slow (sanitized) build could outlast.
  hold() {
    flock "$D" sh -c 'while [ -d "$1" ] && [ ! -e "$1/$2" ]; do sleep 0.05; done' sh "$T" "$1" &
    holder=$!
  }
  held() { while flock -n "$D" true; do sleep 0.05; done; }
  hold release1
  held
  expect 2 "$EV" checkpoint "$D" --key "$T/k.key" -o "$T/cp_locked"
  has "$T/err" "another writer has this chain open: no checkpoint signed or stored"
  has "$T/err" "--wait MS"
  [ ! -e "$D/checkpoints/latest" ] && ok || bad "a checkpoint was stored beside a writer"
  [ ! -e "$T/cp_locked" ] && ok || bad "a checkpoint not stored was written to -o"
  expect 2 "$EV" checkpoint "$D" --key "$T/k.key" --wait 100
  has "$T/err" "another writer has this chain open (waited 100 ms)"
  expect 0 "$EV" checkpoint "$D" --key "$T/k.key" --no-store -o "$T/cp_nostore"
  has "$T/err" "not stored (--no-store)"
  [ "$(size "$T/cp_nostore")" = 3 ] && ok || bad "--no-store signed $(size "$T/cp_nostore")"
  [ ! -e "$D/checkpoints" ] && ok || bad "--no-store made $D/checkpoints"
  touch "$T/release1"
  wait $holder
  # a writer holding the chain for 1 s more is waited for, and the checkpoint stored
  hold release2
  held
  (sleep 1 && touch "$T/release2") &
  expect 0 "$EV" checkpoint "$D" --key "$T/k.key" --wait 20000 -o "$T/cp3"
  has "$T/err" "stored in $D/checkpoints"
  wait $holder
  cmp -s "$T/cp3" "$D/checkpoints/latest" && ok || bad "--wait: checkpoint not stored"
  expect 0 "$EV" verify "$D" --since "$T/cp_nostore" --vkey "$T/k.vkey"
else
  echo "cli_checkpoint: skipped the writer-lock checks (no flock)"
  expect 0 "$EV" checkpoint "$D" --key "$T/k.key" -o "$T/cp3"
fi
expect 2 "$EV" checkpoint "$D" --key "$T/k.key" --wait soon
has "$T/err" "--wait: 'soon' is not milliseconds"
expect 2 "$EV" checkpoint "$D" --key "$T/k.key" --wait 5 --no-store
has "$T/err" "exclusive"
# --no-store with the chain free: signed, printed, the directory untouched
"$EV" append "$D" --type t --data e4 --timestamp 4 >/dev/null || bad "append 4"
ls -l --time-style=+%s.%N "$D/proof" "$D/checkpoints" >"$T/before"
expect 0 "$EV" checkpoint "$D" --key "$T/k.key" --no-store
[ "$(sed -n 2p "$T/out")" = 4 ] && ok || bad "--no-store printed $(sed -n 2p "$T/out")"
ls -l --time-style=+%s.%N "$D/proof" "$D/checkpoints" >"$T/after"
cmp -s "$T/before" "$T/after" && ok || bad "--no-store changed the tree or the checkpoints"
[ "$(size "$D/checkpoints/latest")" = 3 ] && ok || bad "latest moved with --no-store"
# a file chain has nowhere to store: --no-store changes nothing there
"$EV" export "$D" --format jsonl -o "$T/d.jsonl" 2>/dev/null || bad "export"
expect 0 "$EV" checkpoint "$T/d.jsonl" --key "$T/k.key" --no-store
expect 0 "$EV" help checkpoint
has "$T/out" "--wait MS"
has "$T/out" "--no-store"

# --- one size, one stored checkpoint: NNN.checkpoint and latest are one file (hard links);
# another key's checkpoint of the same size does not replace it silently (an auditor holding
# it would find it gone, or signed by a key they do not trust), nor one of another origin
S=$T/s
expect 0 "$EV" init "$S"
"$EV" append "$S" --type a --data 1 --timestamp 1 >/dev/null || bad "append s"
expect 0 "$EV" checkpoint "$S" --key "$T/k.key" -o "$T/s1"
N1=$S/checkpoints/00000000000000000001.checkpoint
expect 0 "$EV" checkpoint "$S" --key "$T/k.key" # the same checkpoint again: nothing changes
cmp -s "$T/s1" "$N1" && ok || bad "the same checkpoint rewritten differently"
expect 2 "$EV" checkpoint "$S" --key "$T/o.key" -o "$T/s1other"
has "$T/err" "$N1: another checkpoint of 1 event is stored there (signed by example.org/store, this one by example.org/other): not replaced (nothing stored; --replace replaces it)"
[ ! -e "$T/s1other" ] && ok || bad "a refused checkpoint was written to -o"
cmp -s "$T/s1" "$N1" && cmp -s "$T/s1" "$S/checkpoints/latest" && ok ||
  bad "another key's checkpoint replaced the stored one"
expect 0 "$EV" verify "$S" --since "$N1" --vkey "$T/k.vkey"
# another origin: with latest gone the numbered file still names the chain's origin
rm "$S/checkpoints/latest"
expect 2 "$EV" checkpoint "$S" --key "$T/k.key" --origin example.org/renamed
has "$T/err" "its checkpoints have origin 'example.org/store' ($N1): a chain keeps its origin"
[ ! -e "$S/checkpoints/latest" ] && ok || bad "a refused checkpoint made latest"
ln "$N1" "$S/checkpoints/latest"
expect 2 "$EV" checkpoint "$S" --key "$T/o.key" --replace --no-store
has "$T/err" "exclusive"
# --replace: explicitly, both names now the other key's
expect 0 "$EV" checkpoint "$S" --key "$T/o.key" --replace -o "$T/s1other"
cmp -s "$T/s1other" "$N1" && cmp -s "$T/s1other" "$S/checkpoints/latest" && ok ||
  bad "--replace did not store the new checkpoint"
expect 0 "$EV" verify "$S" --since "$S/checkpoints/latest" --vkey "$T/o.vkey"
has "$T/out" "extends checkpoint $S/checkpoints/latest of example.org/store"
# a larger size with another key is a new checkpoint, not a replacement
"$EV" append "$S" --type a --data 2 --timestamp 2 >/dev/null || bad "append s 2"
expect 0 "$EV" checkpoint "$S" --key "$T/k.key"
expect 0 "$EV" help checkpoint
has "$T/out" "--replace"

# --- a fork: the chain cut below its checkpoint (10 events -> 6) and extended again (12).
# The refusal says the chain was rewritten, which a rebuild of its tree cannot undo, and
# does not advise one; --rebuild gives the same answer.
F=$T/f
expect 0 "$EV" init "$F"
for i in 0 1 2 3 4 5 6 7 8 9; do
  "$EV" append "$F" --type t --data "f$i" --timestamp $((i + 1)) >/dev/null || bad "append f$i"
done
expect 0 "$EV" checkpoint "$F" --key "$T/k.key" -o "$T/f10"
expect 0 "$EV" export "$F" --format jsonl -o "$T/f.jsonl"
head -7 "$T/f.jsonl" >"$T/f6.jsonl"
expect 0 "$EV" import "$T/f6.jsonl" -o "$T/fork"
# Extended before the checkpoint is copied in: a writer refuses to extend a chain shorter
# than its own signed checkpoint (the fork is made the way someone rewriting it would).
for i in 6 7 8 9 10 11; do
  "$EV" append "$T/fork" --type t --data "g$i" >/dev/null || bad "append g$i"
done
cp -r "$F/checkpoints" "$F/proof" "$T/fork/"
for rb in "" --rebuild; do
  expect 1 "$EV" checkpoint "$T/fork" --key "$T/k.key" $rb
  has "$T/err" "refusing to sign: the chain's first 10 events are not the ones the last checkpoint signed (another root): the chain was rewritten since"
  has "$T/err" "rebuilding its tree cannot undo"
  if grep -q "rebuild it" "$T/err"; then bad "a rebuild advised for a fork ($rb)"; else ok; fi
done
expect 1 "$EV" verify "$T/fork" --since "$T/f10" --vkey "$T/k.vkey"
has "$T/out" "forked"
# verify --since of the chain cut and not extended (6 events of the 10 signed): the rest
# could not be checked, which says nothing of them being intact
expect 1 "$EV" verify "$T/f6.jsonl" --since "$T/f10" --vkey "$T/k.vkey"
has "$T/out" "events 6 to 9 were removed; the 6 events left could not be checked against the checkpoint"
head -2 "$T/f.jsonl" >"$T/f1.jsonl"
expect 1 "$EV" verify "$T/f1.jsonl" --since "$T/f10" --vkey "$T/k.vkey"
has "$T/out" "events 1 to 9 were removed; the event left could not be checked"

# --- a chain that can be read but not written (another user's): said so, exit 2, nothing
# signed; --no-store signs it. As root, the commands run as user nobody (setpriv); else the
# chain is made read-only.
R=$T/r
expect 0 "$EV" init "$R"
"$EV" append "$R" --type t --data r --timestamp 1 >/dev/null || bad "append r"
cp "$T/k.key" "$T/nk.key"
chmod 644 "$T/nk.key" # the copy read by nobody; the test's own key stays 0600
RUN=
if [ "$(id -u)" = 0 ]; then
  chmod 755 "$T"
  if command -v setpriv >/dev/null 2>&1 &&
    setpriv --reuid=65534 --regid=65534 --clear-groups "$EV" verify "$R" >/dev/null 2>&1; then
    RUN="setpriv --reuid=65534 --regid=65534 --clear-groups"
  fi
else
  chmod -R a-w "$R"
  RUN=env
fi
if [ -n "$RUN" ]; then
  expect 2 $RUN "$EV" checkpoint "$R" --key "$T/nk.key"
  has "$T/err" "$R: the chain can be read but not written ("
  has "$T/err" "no checkpoint signed or stored (--no-store signs one without storing it)"
  if grep -q "cannot read chain" "$T/err"; then bad "a readable chain reported unreadable"; else ok; fi
  [ ! -s "$T/out" ] && ok || bad "a checkpoint printed although refused"
  expect 0 $RUN "$EV" checkpoint "$R" --key "$T/nk.key" --no-store
  [ "$(sed -n 2p "$T/out")" = 1 ] && ok || bad "--no-store on a read-only chain"
  [ ! -e "$R/checkpoints" ] && ok || bad "checkpoints stored in a read-only chain"
  chmod -R u+w "$R"
else
  echo "cli_checkpoint: skipped the read-only chain (no setpriv for user nobody)"
fi

finish
