#!/bin/sh
# tests/cli_hostile_text.sh: what the command prints of bytes it does not control. Event
# fields with C0/C1 controls, DEL, CR, bidirectional controls or newlines are escaped or
# indented in log, show and diff, so they cannot drive the terminal or forge output lines;
# error messages escape what they quote (file content, arguments); diff compares every field
# (a tampered parent hash too) and says when a chain is broken; verify's parent-link message
# shows whole hashes. $1 is the evchain binary; run from the source directory.
set -u
EV=$1
T=$(mktemp -d /tmp/evchain_cli_hostile.XXXXXX)
trap 'rm -rf "$T"' EXIT INT TERM
. tests/clilib.sh # expect, has, lines, finish
LC_ALL=C
export LC_ALL

# raw FILE BYTES(printf format) WHAT: FILE must not contain BYTES raw.
raw() {
  if grep -qF -- "$(printf "$2")" "$1"; then
    bad "$1 holds $3 raw"
    od -c "$1" | sed 's/^/  got: /' >&2
  else ok; fi
}
# count FILE REGEX N: exactly N lines of FILE match REGEX.
count() {
  n=$(grep -c -- "$2" "$1")
  if [ "$n" -eq "$3" ]; then ok; else bad "$1: $n lines match '$2', want $3"; sed 's/^/  got: /' "$1" >&2; fi
}

C1CSI='\302\233'
C1OSC='\302\235'
RLO='\342\200\256'
LRI='\342\201\246'
LS='\342\200\250'

"$EV" init "$T/h" >/dev/null
# 0: text data that tries to forge the next field lines
printf 'ok\nseq:         0\nhash: (forged)\n' >"$T/d0"
"$EV" append "$T/h" --type t --data-file "$T/d0" --timestamp 5 >/dev/null
# 1: C1 and bidi controls in type and description, CR and DEL in the description
"$EV" append "$T/h" --type "$(printf "a${C1CSI}b${RLO}c")" \
  --description "$(printf "d${C1OSC}e\r\177${LS}")" --data x --timestamp 6 >/dev/null
# 2..5: data with C1, CR, DEL, a bidi isolate: no longer text, so a hex dump
for d in "x${C1CSI}2J" 'cr\rhere' 'del\177' "bidi${LRI}x"; do
  printf "$d" >"$T/d"
  "$EV" append "$T/h" --type t --data-file "$T/d" --timestamp 7 >/dev/null
done
cp -r "$T/h" "$T/h2"

# --- log: type and description escaped, one line per event
expect 0 "$EV" log "$T/h"
lines "$T/out" 6
has "$T/out" 'a\xc2\x9bb\xe2\x80\xaec d\xc2\x9de\x0d\x7f\xe2\x80\xa8'
for b in "$C1CSI" "$C1OSC" "$RLO" "$LS" '\r' '\177'; do raw "$T/out" "$b" "log: $b"; done
# --json: the same strings, C1/bidi/separators as \uXXXX (still the same JSON)
expect 0 "$EV" log "$T/h" --json
has "$T/out" '"event_type":"a\u009bb\u202ec"'
has "$T/out" '\u2028'
for b in "$C1CSI" "$C1OSC" "$RLO" "$LS"; do raw "$T/out" "$b" "log --json: $b"; done

# --- show: continuation lines of text data indented; no forged field line
expect 0 "$EV" show "$T/h" 0
count "$T/out" '^seq:' 1
count "$T/out" '^hash:' 1
has "$T/out" '  seq:         0'
has "$T/out" '  hash: (forged)'
expect 0 "$EV" show "$T/h" 1
has "$T/out" 'type:        a\xc2\x9bb\xe2\x80\xaec'
has "$T/out" 'description: d\xc2\x9de\x0d\x7f\xe2\x80\xa8'
for s in 1 2 3 4 5; do
  expect 0 "$EV" show "$T/h" $s
  for b in "$C1CSI" "$C1OSC" "$RLO" "$LRI" "$LS" '\r' '\177'; do raw "$T/out" "$b" "show $s: $b"; done
done
expect 0 "$EV" show "$T/h" 3
has "$T/out" 'hex:'
has "$T/out" '63 72 0d 68 65 72 65'
expect 0 "$EV" show "$T/h" 4
has "$T/out" '64 65 6c 7f'

# --- diff: a tampered parent hash is a difference, and the tampered chain is broken.
# Flip a bit in byte 14 of event 3's parent hash (record offset 26 + 14 = 40): the record's
# stored hash stays the same, the link no longer does. Whole hashes in the message: the two
# differ in their 29th hex digit.
python3 tests/crc.py "$T/h2/seg-0000000000000000.log" 3 40
expect 1 "$EV" verify "$T/h2"
has "$T/out" 'event 3: parent link broken: parent '
p3=$("$EV" log "$T/h" --json --from 2 --to 2 | sed 's/.*"hash":"\([0-9a-f]*\)".*/\1/')
has "$T/out" ", previous event is $p3"
expect 1 "$EV" diff "$T/h" "$T/h2"
has "$T/out" "broken: $T/h2: event 3: parent link broken"
has "$T/out" 'first difference at seq 3'
count "$T/out" '^  parent:' 2
expect 1 "$EV" diff "$T/h2" "$T/h2"
has "$T/out" "broken: $T/h2: event 3"
has "$T/out" 'identical: 6 events'
expect 0 "$EV" diff "$T/h" "$T/h"
has "$T/out" 'identical: 6 events'
# diff shows events as show does (indented by two more): the forged lines stay data
"$EV" init "$T/g" >/dev/null
"$EV" append "$T/g" --type t --data-file "$T/d0" --timestamp 4 >/dev/null
expect 1 "$EV" diff "$T/g" "$T/h"
has "$T/out" 'first difference at seq 0'
count "$T/out" '^  seq:' 2
count "$T/out" '^  hash:' 2
has "$T/out" '    hash: (forged)'
printf 'x\302\233y\n' >"$T/d"
"$EV" init "$T/k" >/dev/null
"$EV" append "$T/k" --type "$(printf "t${C1CSI}")" --data-file "$T/d" --timestamp 6 >/dev/null
expect 1 "$EV" diff "$T/k" "$T/h"
has "$T/out" 'type:        t\xc2\x9b'
for b in "$C1CSI" "$RLO" "$LS" '\r' '\177'; do raw "$T/out" "$b" "diff: $b"; done

# --- error messages escape what they quote: file content, arguments
printf '{"evchain":1,"hash_alg":"\\u001b[2J","events":[]}' >"$T/esc.json"
expect 2 "$EV" verify "$T/esc.json"
raw "$T/err" '\033' "verify error: ESC"
has "$T/err" '\x1b[2J'
expect 2 "$EV" "$(printf 'x\033[31m')"
raw "$T/err" '\033' "unknown command: ESC"
has "$T/err" "no command 'x\\x1b[31m'"
expect 2 "$EV" verify "$(printf -- "--a${C1CSI}b")"
raw "$T/err" "$C1CSI" "unknown option: CSI"
has "$T/err" "'--a\\xc2\\x9bb'"
expect 2 "$EV" log "$T/h" --from "$(printf "1${RLO}2")"
raw "$T/err" "$RLO" "--from: RLO"
has "$T/err" '1\xe2\x80\xae2'
expect 2 "$EV" show "$T/h" "$(printf 'a\nb')"
lines "$T/err" 1
# ordinary UTF-8 stays as it is
expect 2 "$EV" log "$T/h" --from "$(printf 'caf\303\251')"
has "$T/err" "$(printf "'caf\303\251'")"

# --- small messages: --timestamp 0, export to a full disk
expect 2 "$EV" append "$T/h" --type t --data x --timestamp 0
has "$T/err" '0 is not allowed'
if [ -w /dev/full ]; then
  "$EV" export "$T/h" >/dev/full 2>"$T/err"
  lines "$T/err" 1
fi

finish
