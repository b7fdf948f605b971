#!/bin/sh
# tests/cli_args.sh: what every command does with its arguments, the same way (parse.c):
# '-' is standard input wherever one input file is read (once per command line, under the
# same size limit as a named file), "--" ends the options, a single-valued option given
# twice is refused; and two audit findings beside them: the segment size's maximum, and the
# exit code 3 of a serving runtime whose `evchain send` message was dropped. $1 is the
# evchain binary.
set -u
EV=$1
B=${EVCHAIN_BUILD:-build}
A=$B/actors
CACHE=$B/actor-cache
T=$(mktemp -d /tmp/evchain_cli_args.XXXXXX)
SERVER=
cleanup() {
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT INT TERM
. tests/clilib.sh

C=$T/c
expect 0 "$EV" init "$C"
expect 0 "$EV" append "$C" --type t --data one
expect 0 "$EV" append "$C" --type t --data two
expect 0 "$EV" export "$C" -o "$T/c.json"
expect 0 "$EV" init --hash sha1 "$T/s1"
expect 0 "$EV" append "$T/s1" --type t --data x
expect 0 "$EV" export "$T/s1" -o "$T/s1.jsonl" --format jsonl
expect 0 "$EV" keygen test.example/k -o "$T/k" --vkey-out "$T/k.vkey"
expect 0 "$EV" checkpoint "$C" --key "$T/k" --no-store -o "$T/c.cp"
expect 0 "$EV" prove "$C" 1 --checkpoint "$T/c.cp" -o "$T/p1"

# --- 1. '-' reads standard input: import (from a pipe, which it copies to read again for
# each hash algorithm it tries: the SHA-1 chain is the second try; and redirected), the
# proof, the event, the checkpoint, the keys
cat "$T/c.json" | "$EV" import - -o "$T/in1" >"$T/out" 2>"$T/err"
[ $? -eq 0 ] && ok || { bad "import - from a pipe"; cat "$T/err" >&2; }
expect 0 "$EV" diff "$C" "$T/in1"
cat "$T/s1.jsonl" | "$EV" import - -o "$T/in2" >"$T/out" 2>"$T/err"
[ $? -eq 0 ] && ok || { bad "import - of a SHA-1 chain from a pipe"; cat "$T/err" >&2; }
expect 0 "$EV" diff "$T/s1" "$T/in2"
ls "$T" | grep -q stdin- && bad "import - left its copy of standard input" || ok
expect 0 "$EV" import - -o "$T/in3" <"$T/s1.jsonl"
expect 0 "$EV" verify "$T/in3"
# a broken file from standard input is refused as the same file by name is
sed 's/"one"/"One"/; s/b25l/T25l/' "$T/c.json" >"$T/broken.json"
expect 1 "$EV" import "$T/broken.json" -o "$T/in4"
expect 1 "$EV" import - -o "$T/in5" <"$T/broken.json"
[ ! -e "$T/in5" ] && ok || bad "a refused import - left its directory"
# import - stopped by a signal while it copies a pipe that stays open (SIGTERM, SIGINT): exit
# 128 + the signal, said so, and nothing left (no DIR, no copy of standard input, which is
# an unlinked file beside DIR).
# copied PID DIR: the size of the copy of standard input the import PID holds open (an
# unlinked DIR.stdin-XXXXXX), nothing until it has made one.
copied() {
  for cp_fd in /proc/"$1"/fd/*; do
    case $(readlink "$cp_fd" 2>/dev/null) in
    "$2".stdin-*) stat -L -c %s "$cp_fd" 2>/dev/null && return ;;
    esac
  done
}
# stopped_import SIG PID DIR [CHILD]: PID (an import to DIR) exits within 60 s of SIG (killed
# then: it waited for the pipe), with 128 + SIG, saying so; nothing is left at DIR or beside
# it. CHILD: the child of this shell whose exit is the import's (strace), when not PID.
stopped_import() {
  kill -"$1" "$2"
  si_end=$(($(date +%s) + 60))
  while kill -0 "$2" 2>/dev/null && [ "$(date +%s)" -le $si_end ]; do sleep 0.05; done
  if kill -0 "$2" 2>/dev/null; then
    bad "import - still running 60 s after SIG$1 (it waits for the pipe)"
    kill -9 "$2"
  fi
  wait "${4:-$2}"
  si_code=$?
  case $1 in INT) si_want=130 ;; TERM) si_want=143 ;; esac
  [ $si_code -eq $si_want ] && ok || bad "import - stopped by SIG$1: exit $si_code, want $si_want"
  has "$T/err" "stopped by SIG$1 (signal $((si_want - 128))) while reading standard input"
  has "$T/err" "nothing was written to $3"
  if ls -d "$3"* >/dev/null 2>&1; then bad "SIG$1 left $(ls -d "$3"*)"; else ok; fi
}
size=$(wc -c <"$T/c.json")
for sig in TERM INT; do
  rm -f "$T/fifo"
  mkfifo "$T/fifo"
  (cat "$T/c.json"; exec sleep 120) >"$T/fifo" & # the chain, then the pipe stays open
  feeder=$!
  "$EV" import - -o "$T/ks" <"$T/fifo" >"$T/out" 2>"$T/err" &
  imp=$!
  # the signal once the import has copied what was sent (it then waits in a read)
  end=$(($(date +%s) + 60))
  while [ "$(copied $imp "$T/ks")" != "$size" ] && [ "$(date +%s)" -le $end ]; do sleep 0.05; done
  [ "$(copied $imp "$T/ks")" = "$size" ] && ok || bad "import - never copied the $size bytes sent"
  stopped_import $sig $imp "$T/ks"
  kill $feeder 2>/dev/null
  wait $feeder 2>/dev/null
done
# The same signal just before the copy's first read, when the handler is installed but the
# copy not begun: strace holds the import in the unlink of its copy's name (5 s) while the
# signal comes. The handler used to learn which descriptor to cut only once the copy began:
# the signal then only set a flag, and the copy waited in a read of the pipe for ever.
if strace -f -o /dev/null -e trace=none true 2>/dev/null; then
  rm -f "$T/fifo" "$T/trace"
  mkfifo "$T/fifo"
  (exec sleep 120) >"$T/fifo" &
  feeder=$!
  # (LeakSanitizer cannot run under ptrace: a sanitized build's leak check is off here)
  ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
    strace -f -o "$T/trace" -e trace=unlink -e inject=unlink:delay_exit=5000000 \
    "$EV" import - -o "$T/ks" <"$T/fifo" >"$T/out" 2>"$T/err" &
  st=$!
  wait_text 60 'ks.stdin-' "$T/trace" || bad "import - never made its copy of standard input"
  imp=$(sed -n 's/^\([0-9]*\)  *unlink(.*ks\.stdin-.*/\1/p' "$T/trace" | head -n 1)
  if [ -n "$imp" ]; then
    stopped_import TERM "$imp" "$T/ks" $st
  else
    bad "no unlink of the copy in strace's output"
    cat "$T/trace" >&2
  fi
  kill $feeder 2>/dev/null
  wait $feeder 2>/dev/null
else
  echo "strace(1) cannot run here: import - stopped before its copy begins is not tested"
fi
expect 0 "$EV" export - <"$T/c.json"
has "$T/out" '"hash_alg":"sha256"'
expect 0 "$EV" verify-proof - --vkey "$T/k.vkey" <"$T/p1"
has "$T/out" "valid: event 1"
expect 0 "$EV" verify-proof "$T/p1" --vkey - <"$T/k.vkey"
expect 0 "$EV" verify-proof "$T/p1" --event - --vkey "$T/k.vkey" <"$T/c.json"
has "$T/out" "valid: event 1"
expect 1 "$EV" verify-proof "$T/p1" --event - --vkey "$T/k.vkey" <"$T/broken.json"
expect 0 "$EV" verify "$C" --since - --vkey "$T/k.vkey" <"$T/c.cp"
has "$T/out" "extends checkpoint"
expect 0 "$EV" prove "$C" 0 --checkpoint - -o "$T/p0" <"$T/c.cp"
expect 0 "$EV" verify-proof "$T/p0" --vkey "$T/k.vkey"
expect 0 "$EV" checkpoint "$C" --key - --no-store <"$T/k"
# An empty standard input is said to be one, with the option it was given for (it was the
# parser's complaint about an empty text: "--event -: neither an event record nor a
# readable chain file", "no verifier key in it", "does not start with 'PRIVATE+KEY+'")
expect 2 "$EV" verify-proof "$T/p1" --event - --vkey "$T/k.vkey" </dev/null
has "$T/err" "evchain verify-proof: --event -: standard input was empty (expected the event)"
lines "$T/err" 1
expect 2 "$EV" verify-proof - --vkey "$T/k.vkey" </dev/null
has "$T/err" "evchain verify-proof: the proof (-): standard input was empty"
expect 2 "$EV" verify-proof "$T/p1" --vkey - </dev/null
has "$T/err" "evchain verify-proof: --vkey -: standard input was empty (expected the verifier key)"
expect 2 "$EV" verify "$C" --since - --vkey "$T/k.vkey" </dev/null
has "$T/err" "evchain verify: --since -: standard input was empty (expected the checkpoint)"
expect 2 "$EV" prove "$C" 0 --checkpoint - -o "$T/p0e" </dev/null
has "$T/err" "evchain prove: --checkpoint -: standard input was empty (expected the checkpoint)"
[ ! -e "$T/p0e" ] && ok || bad "prove with an empty --checkpoint - wrote its output"
expect 2 "$EV" checkpoint "$C" --key - --no-store </dev/null
has "$T/err" "evchain checkpoint: --key -: standard input was empty (expected the key file)"
# a named empty file keeps its own message (its name says where)
: >"$T/empty"
expect 2 "$EV" verify-proof "$T/p1" --event "$T/empty" --vkey "$T/k.vkey"
has "$T/err" "--event $T/empty: neither an event record nor a readable chain file"
# the same size limit as a named file: a key file over 64 KiB
python3 -c 'import sys; sys.stdout.write("#" * 70000 + "\n")' >"$T/bigkey"
expect 2 "$EV" verify-proof "$T/p1" --vkey - <"$T/bigkey"
has "$T/err" "larger than 65536 bytes"
# standard input is read once: a second '-' is refused before anything is read
expect 2 "$EV" verify-proof - --vkey - <"$T/p1"
has "$T/err" "standard input ('-') given twice"
expect 2 "$EV" verify - - <"$T/c.json"
has "$T/err" "given twice"
expect 2 "$EV" diff - - <"$T/c.json"
has "$T/err" "given twice"
expect 2 "$EV" prove - 0 --checkpoint - -o "$T/p9" <"$T/c.cp"
has "$T/err" "given twice"
# --since - is read for each chain: one chain at a time
expect 2 "$EV" verify "$C" "$C" --since - --vkey "$T/k.vkey" <"$T/c.cp"
has "$T/err" "one chain at a time"

# --- 2. "--" ends the options, for every command: a chain named -x
X=./-x
cd "$T" || exit 1
EVA=$EV
case $EV in /*) ;; *) EVA=$OLDPWD/$EV ;; esac
expect 0 "$EVA" init -- -x
expect 0 "$EVA" append --type t --data d -- -x
expect 0 "$EVA" verify -- -x
has "$T/out" "-x: ok, 1 event"
expect 0 "$EVA" log -- -x
lines "$T/out" 1
expect 0 "$EVA" show -- -x 0
expect 0 "$EVA" export -o x.json -- -x
expect 0 "$EVA" diff -- -x "$X"
expect 0 "$EVA" checkpoint --key k --no-store -- -x
expect 0 "$EVA" prove --key k -o px -- -x 0
expect 0 "$EVA" verify-proof --vkey k.vkey -- px
expect 0 "$EVA" import -o -y -- x.json
expect 0 "$EVA" verify -- -y
# after "--", --help is an operand (a file of that name), not a request for help
expect 2 "$EVA" verify -- --help
# without "--", -x stays an unknown option
expect 2 "$EVA" verify -x
has "$T/err" "unknown option '-x'"
expect 2 "$EVA" show -x 0
has "$T/err" "unknown option"
cd "$OLDPWD" || exit 1

# --- 3. a single-valued option given twice is refused; repeatable ones add up
expect 2 "$EV" verify "$C" --since "$T/c.cp" --since "$T/c.cp" --vkey "$T/k.vkey"
has "$T/err" "option --since given twice"
expect 2 "$EV" verify "$C" --since="$T/c.cp" --since "$T/c.cp" --vkey "$T/k.vkey"
has "$T/err" "option --since given twice"
expect 0 "$EV" verify "$C" --since "$T/c.cp" --vkey "$T/k.vkey" --vkey "$T/k.vkey"
expect 2 "$EV" checkpoint "$C" --key "$T/k" --key "$T/k" --no-store
has "$T/err" "option --key given twice"
n_before=$("$EV" log "$C" | wc -l)
expect 2 "$EV" append "$C" --type t --data x --durability always --durability none
has "$T/err" "option --durability given twice"
expect 2 "$EV" append "$C" --type a --type b --data x
has "$T/err" "option --type given twice"
n_after=$("$EV" log "$C" | wc -l)
[ "$n_before" -eq "$n_after" ] && ok || bad "a refused append appended"
expect 2 "$EV" export "$C" -o "$T/e1.json" --output "$T/e2.json"
has "$T/err" "given twice"
[ ! -e "$T/e1.json" ] && [ ! -e "$T/e2.json" ] && ok || bad "a refused export wrote"
expect 2 "$EV" log "$C" --from 0 --from 1
has "$T/err" "option --from given twice"
expect 2 "$EV" run "$A/counter.wasm" --data-dir "$T/rd" --durability always --durability none
has "$T/err" "option --durability given twice"
[ ! -e "$T/rd" ] && ok || bad "a refused run made its data directory"

# --- 4. the segment size's maximum: 2^31 bytes (the index's 4-byte offsets)
expect 0 "$EV" init "$T/seg1" --segment-bytes 2147483648
expect 2 "$EV" init "$T/seg2" --segment-bytes 2147483649
has "$T/err" "2147483648"
[ ! -e "$T/seg2" ] && ok || bad "a refused init made its directory"
expect 2 "$EV" init "$T/seg3" --segment-bytes 5000000000
has "$T/err" "maximum"
expect 2 "$EV" init "$T/segp/a/b" --segment-bytes 5000000000
[ ! -e "$T/segp" ] && ok || bad "a refused init made the parents of its directory"
expect 2 "$EV" import "$T/c.json" -o "$T/seg4" --segment-bytes 4294967296
has "$T/err" "maximum, 2147483648 bytes"
"$EV" help init >"$T/out"
has "$T/out" "2147483648"

# --- 5. a serving runtime exits 3 when a message `evchain send` was answered ok for is
# dropped (kv has no ec_handle_message), and its help says so
if [ -f "$A/kv.wasm" ]; then
  D=$T/serve
  "$EV" run "$A/kv.wasm" --data-dir "$D" --cache "$CACHE" --quiet --serve --no-checkpoints \
    >"$T/serve.out" 2>"$T/serve.err" &
  SERVER=$!
  i=0
  while [ ! -S "$D/run.sock" ] && [ $i -lt 600 ]; do
    sleep 0.1
    i=$((i + 1))
  done
  expect 0 "$EV" send --data-dir "$D" kv hello
  expect 0 "$EV" send --data-dir "$D" --stop
  wait "$SERVER"
  rc=$?
  SERVER=
  [ "$rc" -eq 3 ] && ok || bad "serving run after a dropped send: exit $rc, want 3"
  has "$T/serve.err" "has no ec_handle_message"
else
  bad "$A/kv.wasm missing"
fi
for c in run recover resume; do
  "$EV" help $c >"$T/out"
  has "$T/out" "\`evchain send\` was answered \`ok\` for"
done

finish
