#!/bin/sh
# tests/cli_disk.sh: the command on chain directories: init, append (arguments, stdin, files,
# the writer lock, bad input), and reading them back with verify/log/show/export.
# Called by ctest with the evchain binary as $1.
set -u
B=$1
T=$(mktemp -d /tmp/evchain-cli-disk-XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() {
    echo "FAIL: $*"
    [ -f "$T/err" ] && sed 's/^/  stderr: /' "$T/err"
    exit 1
}
# expect CODE CMD...: run, require exit CODE
expect() {
    want=$1
    shift
    "$@" >"$T/out" 2>"$T/err"
    got=$?
    [ "$got" = "$want" ] || fail "exit $got (wanted $want): $*"
}

expect 0 "$B" init "$T/c"
grep -q "sha256" "$T/out" || fail "init names the algorithm"
expect 2 "$B" init "$T/c"
grep -q "not empty" "$T/err" || fail "init over a chain says why"
expect 2 "$B" init "$T/x" --hash md5
expect 2 "$B" init

expect 0 "$B" append "$T/c" --type audit --data hello
grep -Eq '^0 [0-9a-f]{64}$' "$T/out" || fail "append prints seq and hash: $(cat "$T/out")"
printf 'binary\000data' | "$B" append "$T/c" --type bin >"$T/out" 2>"$T/err" || fail "stdin"
grep -q '^1 ' "$T/out" || fail "second append is seq 1"
printf 'file data' >"$T/data"
expect 0 "$B" append "$T/c" --type file --data-file "$T/data" --description "from a file" \
    --timestamp 1700000000000000000
grep -q '^2 ' "$T/out" || fail "third append is seq 2"
expect 2 "$B" append "$T/c" --type x --timestamp soon
expect 2 "$B" append "$T/c" --data no-type
expect 2 "$B" append "$T/c" --type x --data a --data-file "$T/data"
expect 2 "$B" append "$T/c" --type x --data-file "$T/missing"
expect 2 "$B" append "$T/none" --type x --data y
grep -q "$T/none" "$T/err" || fail "a missing chain is named"
mkdir "$T/plain"
expect 2 "$B" append "$T/plain" --type x --data y
grep -q "not a chain directory" "$T/err" || fail "a plain directory is named as such"

# The writer lock: while another process holds it, append is refused with a clear error.
if command -v flock >/dev/null 2>&1; then
    flock "$T/c" "$B" append "$T/c" --type x --data locked >"$T/out" 2>"$T/err"
    [ $? = 2 ] || fail "append under another writer's lock must fail with 2"
    grep -q "another writer" "$T/err" || fail "the lock error says why"
    # --wait (on a chain of its own): a writer holding the chain for 1 s is waited for; one
    # held longer than the wait is refused, saying how long it waited. held: until the
    # holder has the lock.
    held() { while flock -n "$T/w" true; do sleep 0.05; done; }
    expect 0 "$B" init "$T/w"
    flock "$T/w" sleep 1 &
    holder=$!
    held
    expect 0 "$B" append "$T/w" --type x --data waited --wait 20000
    wait $holder
    # held until the refusal is in, not for a time that a slow (sanitized, loaded) start of
    # the append could outlast (the chain's folder gone: the test ended, let go too)
    flock "$T/w" sh -c 'while [ -d "$1" ] && [ ! -e "$1/release" ]; do sleep 0.05; done' \
        sh "$T" &
    holder=$!
    held
    expect 2 "$B" append "$T/w" --type x --data refused --wait 100
    grep -q "waited 100 ms" "$T/err" || fail "the lock error says how long it waited"
    touch "$T/release"
    wait $holder
    expect 2 "$B" append "$T/w" --type x --wait soon
    expect 0 "$B" verify "$T/w"
    grep -q "ok, 1 event," "$T/out" || fail "one event appended with --wait: $(cat "$T/out")"
fi

# A shell loop as an audit log; sha1 chains too.
i=3
while [ $i -lt 40 ]; do
    "$B" append "$T/c" --type loop --data "line $i" >"$T/out" 2>"$T/err" || fail "loop append $i"
    grep -q "^$i " "$T/out" || fail "loop append $i printed $(cat "$T/out")"
    i=$((i + 1))
done
expect 0 "$B" init "$T/s1" --hash sha1
expect 0 "$B" append "$T/s1" --type x --data y
grep -Eq '^0 [0-9a-f]{40}$' "$T/out" || fail "a sha1 chain prints 40 hex digits"

# The chain reads back through the other commands, streaming from the directory.
expect 0 "$B" verify "$T/c"
grep -q "40 events" "$T/out" || fail "verify counts 40 events: $(cat "$T/out")"
[ -s "$T/err" ] && fail "verify prints nothing on stderr when it is not a terminal"
expect 0 "$B" verify "$T/s1"
expect 0 "$B" log "$T/c"
[ "$(wc -l <"$T/out")" = 40 ] || fail "log lists 40 lines"
grep -q "^2 .* file from a file$" "$T/out" || fail "log shows type and description"
expect 0 "$B" show "$T/c" 2
grep -q "file data" "$T/out" || fail "show prints the data"
expect 0 "$B" export "$T/c" --format jsonl -o "$T/c.jsonl"

# import: into a new directory, refused over a non-empty one, nothing left when broken
expect 0 "$B" import "$T/c.jsonl" -o "$T/imported"
expect 0 "$B" export "$T/imported" --format jsonl -o "$T/again.jsonl"
cmp -s "$T/c.jsonl" "$T/again.jsonl" || fail "export(import(x)) == x"
expect 2 "$B" import "$T/c.jsonl" -o "$T/imported"
grep -q "not an empty directory" "$T/err" || fail "import over a chain says why"
mkdir "$T/emptydir"
expect 0 "$B" import "$T/c.jsonl" -o "$T/emptydir"
sed 's/"bGluZSAxMA=="/"bGluZSAxMQ=="/' "$T/c.jsonl" >"$T/tampered.jsonl"
cmp -s "$T/c.jsonl" "$T/tampered.jsonl" && fail "the tamper edit changed nothing"
expect 1 "$B" import "$T/tampered.jsonl" -o "$T/t"
grep -q "event 10" "$T/err" || fail "import names the bad event: $(cat "$T/err")"
[ -e "$T/t" ] && fail "a refused import leaves nothing behind"
ls "$T" | grep -q import- && fail "no temporary directory is left"
expect 2 "$B" import "$T/missing.jsonl" -o "$T/m"
expect 0 "$B" export "$T/s1" --format json -o "$T/s1.json"
expect 0 "$B" import "$T/s1.json" -o "$T/s1b"
expect 0 "$B" verify "$T/s1b"
grep -q "1 events\|1 event" "$T/out" || fail "sha1 import keeps its event"

# log -f follows a live chain across segment rolls, then stops after --to.
expect 0 "$B" init "$T/live" --segment-bytes 4096
"$B" append "$T/live" --type first --data 0 >/dev/null || fail "live append"
timeout 60 "$B" log -f "$T/live" --to 29 >"$T/follow" 2>"$T/ferr" &
fpid=$!
i=1
pad=$(printf '%0200d' 0)
while [ $i -lt 30 ]; do
    "$B" append "$T/live" --type "t$i" --data "$pad" >/dev/null || fail "live append $i"
    i=$((i + 1))
done
wait $fpid
frc=$?
[ $frc = 0 ] || fail "log -f exit $frc: $(cat "$T/ferr")"
[ "$(wc -l <"$T/follow")" = 30 ] || fail "log -f saw $(wc -l <"$T/follow") events, not 30"
tail -n 1 "$T/follow" | grep -q "^29 .* t29$" || fail "log -f ends with event 29"
expect 2 "$B" log -f "$T/c.jsonl" --to 1

# A forged record (checksums right, hash and link wrong) appended behind the follower's back
# is caught by its verifier: exit 1. (Needs python3 to recompute CRC32C.)
if command -v python3 >/dev/null 2>&1; then
    : >"$T/follow2" # (exists before the loop below counts its lines)
    timeout 60 "$B" log -f "$T/live" >"$T/follow2" 2>"$T/ferr2" &
    fpid=$!
    # behind its back: once it has printed the 30 events there (a fixed sleep let a slow
    # follower start after the forgery, and read it as part of the chain it opened)
    n=0
    while [ "$(wc -l <"$T/follow2")" -lt 30 ] && [ $n -lt 600 ]; do sleep 0.1; n=$((n + 1)); done
    [ "$(wc -l <"$T/follow2")" = 30 ] || fail "log -f printed $(wc -l <"$T/follow2") events, not 30"
    PYTHONPATH="$(dirname "$0")" python3 -B - "$T/live" <<'PY' || fail "forging"
import glob, struct, sys
from crc import crc32c, frames  # tests/crc.py
seg = sorted(glob.glob(sys.argv[1] + "/seg-*.log"))[-1]
data = open(seg, "rb").read()
o, n = list(frames(data))[-1]  # the last frame (its length without the SYNCED flag)
rec = bytearray(data[o + 12:o + 12 + n])
seq = struct.unpack(">Q", rec[10:18])[0]
rec[10:18] = struct.pack(">Q", seq + 1)  # next seq, but the parent and hash are stale
hdr = struct.pack(">II", n | 0x80000000, crc32c(rec))
open(seg, "ab").write(hdr + struct.pack(">I", crc32c(hdr)) + rec)
PY
    wait $fpid
    frc=$?
    [ $frc = 1 ] || fail "log -f on a forged record: exit $frc, wanted 1: $(cat "$T/ferr2")"
    grep -q "$T/live: event 30: " "$T/ferr2" || fail "names the event: $(cat "$T/ferr2")"
    expect 1 "$B" verify "$T/live"
fi
# A chain rewritten under the follower: its last segment cut shorter, or the directory
# deleted and created again. Either stops it with exit 1 naming the chain (it used to say
# "frame header checksum mismatch", and to wait for ever on a re-created directory).
# follow_rewritten NAME CMD: follow a copy of the sealed live chain, run CMD on it, check.
follow_rewritten() {
    rm -rf "$T/$1"
    expect 0 "$B" init "$T/$1" --segment-bytes 4096
    for k in 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19; do
        "$B" append "$T/$1" --type "t$k" --data "$pad" >/dev/null || fail "$1 append $k"
    done
    : >"$T/$1.out" # (exists before the loop below counts its lines)
    timeout 20 "$B" log -f "$T/$1" >>"$T/$1.out" 2>"$T/$1.err" &
    fpid=$!
    n=0
    while [ "$(wc -l <"$T/$1.out")" -lt 20 ] && [ $n -lt 600 ]; do sleep 0.1; n=$((n + 1)); done
    eval "$2"
    wait $fpid
    frc=$?
    [ $frc = 1 ] || fail "log -f, $1: exit $frc, wanted 1: $(cat "$T/$1.err")"
    grep -q "$T/$1: the chain was rewritten or truncated at seg-" "$T/$1.err" ||
        fail "log -f, $1: $(cat "$T/$1.err")"
}
follow_rewritten shrunk 'last=$(ls "$T/shrunk"/seg-*.log | tail -n 1); truncate -s -300 "$last"'
follow_rewritten recreated 'rm -rf "$T/recreated"; "$B" init "$T/recreated" >/dev/null;
    "$B" append "$T/recreated" --type new --data x >/dev/null'
# sealed30 DIR: a chain of 30 padded events in 4 KiB segments (the first ones sealed).
sealed30() {
    expect 0 "$B" init "$1" --segment-bytes 4096
    i=0
    while [ $i -lt 30 ]; do
        "$B" append "$1" --type t --data "$pad" >/dev/null || fail "$1: append $i"
        i=$((i + 1))
    done
}
# Damage in a sealed segment: verify (exit 1) names the seq and the byte offset.
sealed30 "$T/dmg"
seg0="$T/dmg/seg-0000000000000000.log"
# flip one byte inside the third frame's record (frames of this chain are the same size)
size=$(wc -c <"$T/dmg/seg-0000000000000000.log")
python3 -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[700]^=0xff; open(p,"wb").write(b)' "$seg0" # flipped: always a change
expect 1 "$B" verify "$T/dmg"
grep -q "byte offset" "$T/out" "$T/err" || fail "verify names the byte offset: $(cat "$T/out" "$T/err")"
[ "$(wc -c <"$seg0")" = "$size" ] || fail "nothing was cut"
# A FIFO or directory planted in a chain directory in place of one of its files: refused with
# exit 2 and a message naming it, never waited on (a FIFO's open would wait for a writer).
sealed30 "$T/fifo"
[ -f "$T/fifo/seg-0000000000000000.idx" ] || fail "a sealed segment has an index"
expect 0 "$B" keygen example.com/fifo -o "$T/fifo.key"
expect 0 "$B" checkpoint "$T/fifo" --key "$T/fifo.key"
last=$(ls "$T/fifo" | grep 'log$' | tail -n 1)
for f in EVCHAIN seg-0000000000000000.log "$last" proof/tree checkpoints/latest; do
    for kind in fifo dir; do
        rm -rf "$T/planted"
        cp -r "$T/fifo" "$T/planted"
        rm "$T/planted/$f"
        if [ $kind = fifo ]; then mkfifo "$T/planted/$f"; else mkdir "$T/planted/$f"; fi
        case $f in
        proof/tree | checkpoints/latest) cmd="prove $T/planted 3 -o $T/planted.proof" ;;
        *) cmd="verify $T/planted" ;;
        esac
        expect 2 timeout 20 "$B" $cmd
        grep -q "not a regular file\|Is a directory" "$T/err" ||
            fail "$kind for $f: $(cat "$T/err")"
    done
done
# A planted index is only a cache: the segment is read without it.
rm -rf "$T/planted"
cp -r "$T/fifo" "$T/planted"
rm "$T/planted/seg-0000000000000000.idx"
mkfifo "$T/planted/seg-0000000000000000.idx"
expect 0 timeout 20 "$B" verify "$T/planted"

# A full disk under --durability none: the event is not written, so append must not print
# `seq hash` nor exit 0 (it used to: the frame was written only by the close, unchecked).
# Needs a small tmpfs (root); skipped with a message when mounting is not possible.
mkdir "$T/full"
if mount -t tmpfs -o size=256k tmpfs "$T/full" 2>/dev/null; then
    trap 'umount "$T/full" 2>/dev/null; rm -rf "$T"' EXIT
    expect 0 "$B" init "$T/full/c"
    expect 0 "$B" append "$T/full/c" --type a --data x
    dd if=/dev/zero of="$T/full/fill" bs=4k 2>/dev/null
    head -c 6000 /dev/zero | tr '\0' a >"$T/d6000"
    for d in none batch always; do
        expect 2 "$B" append "$T/full/c" --type b --data-file "$T/d6000" --durability $d
        [ -s "$T/out" ] && fail "--durability $d on a full disk printed $(cat "$T/out")"
        grep -q "No space left" "$T/err" || fail "--durability $d: the error says why"
    done
    expect 0 "$B" verify "$T/full/c"
    grep -q "ok, 1 event" "$T/out" || fail "the full disk's chain: $(cat "$T/out")"
    umount "$T/full"
else
    echo "cli_disk: skipped the full-disk check (cannot mount a tmpfs here)"
fi

echo "cli_disk: ok"
