#!/bin/sh
# tests/cli_output.sh: every -o of the command (export, export --bundle, prove, checkpoint,
# keygen, replay --memory-out, import) writes through what the name is: a symbolic link's
# file is replaced and the link kept, a FIFO or device is written in place and stays one (a
# rename onto /dev/null as root once made it a plain file), a dangling link or a directory is
# refused with nothing changed. $1 is the evchain binary.
set -u
EV=$1
B=${EVCHAIN_BUILD:-build}
A=$B/actors
T=$(mktemp -d /tmp/evchain_cli_output.XXXXXX)
trap 'rm -rf "$T"' EXIT INT TERM
. "$(dirname "$0")/clilib.sh"

# is_link PATH TARGET: PATH is still a symbolic link to TARGET.
is_link() {
  if [ -L "$1" ] && [ "$(readlink "$1")" = "$2" ]; then ok; else bad "$1 is no longer a link to $2"; fi
}
# is_fifo PATH
is_fifo() {
  if [ -p "$1" ]; then ok; else bad "$1 is no longer a FIFO"; fi
}
# same FILE1 FILE2: byte for byte.
same() {
  if cmp -s "$1" "$2"; then ok; else bad "$1 and $2 differ"; fi
}

C=$T/audit
expect 0 "$EV" init "$C"
expect 0 "$EV" append "$C" --type login --data alice
expect 0 "$EV" append "$C" --type badge --data B2
expect 0 "$EV" keygen example.com/out -o "$T/k.key"
expect 0 "$EV" run "$A/counter.wasm" --data-dir "$T/data" --message inc --quiet
AC=$T/data/actors/counter/chain

# outputs NAME CMD...: run CMD (its output path given as @OUT@) four ways. The reference
# run writes a plain file; each other way is compared with it.
outputs() {
  name=$1
  shift
  ref=$T/$name.ref
  run_to "$ref" "$@"
  expect 0 sh -c 'test -s "$1"' sh "$ref"

  # Through a symbolic link to a file: the file gets the output, the link stays.
  echo old >"$T/$name.real"
  ln -s "$name.real" "$T/$name.link"
  run_to "$T/$name.link" "$@"
  is_link "$T/$name.link" "$name.real"
  same "$T/$name.real" "$ref"

  # A FIFO: written in place for the reader at its other end.
  mkfifo "$T/$name.fifo"
  timeout 30 cat "$T/$name.fifo" >"$T/$name.fromfifo" &
  reader=$!
  run_to "$T/$name.fifo" "$@"
  wait $reader
  is_fifo "$T/$name.fifo"
  same "$T/$name.fromfifo" "$ref"

  # A link to /dev/null: the device is written, neither it nor the link replaced.
  ln -s /dev/null "$T/$name.null"
  run_to "$T/$name.null" "$@"
  is_link "$T/$name.null" /dev/null
  if [ -c /dev/null ]; then ok; else bad "$name: /dev/null is no longer a device"; fi

  # A dangling link, a directory: refused, nothing written, exit 2.
  ln -s "$name.missing" "$T/$name.dangling"
  run_fails "$T/$name.dangling" "$@"
  cat "$T/out" "$T/err" >"$T/both" # replay reports on stdout
  has "$T/both" "neither followed nor replaced"
  is_link "$T/$name.dangling" "$name.missing"
  if [ -e "$T/$name.missing" ]; then bad "$name: the dangling link's target was created"; else ok; fi
  mkdir "$T/$name.dir"
  run_fails "$T/$name.dir" "$@"
  if [ -z "$(ls -A "$T/$name.dir")" ]; then ok; else bad "$name: something written in the directory"; fi
}
# run_to PATH CMD...: CMD with @OUT@ replaced by PATH, expected to succeed.
run_to() {
  out=$1
  shift
  set -- $(printf '%s\n' "$@" | sed "s|@OUT@|$out|")
  expect 0 "$@"
}
run_fails() {
  out=$1
  shift
  set -- $(printf '%s\n' "$@" | sed "s|@OUT@|$out|")
  expect 2 "$@"
}

outputs json "$EV" export "$C" -o @OUT@
outputs jsonl "$EV" export "$C" --format jsonl -o @OUT@
outputs proof "$EV" prove "$C" 1 --key "$T/k.key" -o @OUT@
outputs bundle "$EV" export --bundle "$AC" -o @OUT@
outputs memory "$EV" replay "$AC" --until 10 --memory-out @OUT@
# checkpoint notes carry a timestamp: each run differs, so only that each way works.
expect 0 "$EV" checkpoint "$C" --key "$T/k.key" -o "$T/cp"
echo old >"$T/cp.real"
ln -s cp.real "$T/cp.link"
expect 0 "$EV" checkpoint "$C" --key "$T/k.key" -o "$T/cp.link"
is_link "$T/cp.link" cp.real
has "$T/cp.real" "example.com/out"

# import -o a link to an empty directory: the chain goes into that directory, the link stays.
mkdir "$T/imdir"
ln -s imdir "$T/imlink"
expect 0 "$EV" import "$T/json.ref" -o "$T/imlink"
is_link "$T/imlink" imdir
expect 0 "$EV" verify "$T/imdir"
has "$T/out" "ok, 2 events"

# keygen never replaces: a link, even a dangling one, is something already there.
ln -s k2.missing "$T/k2.key"
expect 2 "$EV" keygen example.com/out2 -o "$T/k2.key"
has "$T/err" "already exists"
is_link "$T/k2.key" k2.missing


# Output that cannot be written: a command whose work is a change has made it (exit 0, said
# on stderr: a retry on exit 2 would append twice); one whose output is its work fails (2).
expect 0 "$EV" init "$T/full"
"$EV" append "$T/full" --type t --data once >/dev/full 2>"$T/err"
got=$?
if [ "$got" -eq 0 ]; then ok; else bad "append to /dev/full: exit $got (want 0)"; fi
has "$T/err" "done (what it changed is kept), but writing its output failed"
expect 0 "$EV" log "$T/full"
if [ "$(wc -l <"$T/out")" -eq 1 ]; then ok; else bad "append to /dev/full: $(wc -l <"$T/out") events"; fi
"$EV" log "$T/full" >/dev/full 2>"$T/err"
got=$?
if [ "$got" -eq 2 ]; then ok; else bad "log to /dev/full: exit $got (want 2)"; fi
has "$T/err" "writing output"

# import gives the chain directory the mode init gives one (umask applied), not mkdtemp's 0700.
(umask 022 && "$EV" import "$T/json.ref" -o "$T/immode" >/dev/null) || bad "import immode"
if [ "$(stat -c %a "$T/immode")" = 755 ]; then ok; else bad "import mode $(stat -c %a "$T/immode")"; fi
(umask 027 && "$EV" import "$T/json.ref" -o "$T/immode2" >/dev/null) || bad "import immode2"
if [ "$(stat -c %a "$T/immode2")" = 750 ]; then ok; else bad "import mode $(stat -c %a "$T/immode2")"; fi

finish
