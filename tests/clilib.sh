# tests/clilib.sh: helpers the shell tests of the evchain command share (sourced, not run).
# Each test sets EV (the binary) and T (its temp dir), then uses expect/has/lines and ends
# with `finish`, which prints "N passed, N failed" and sets the exit status.
pass=0
fail=0

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

# expect CODE CMD...: run CMD, keep stdout in $T/out and stderr in $T/err, check the exit.
expect() {
  want=$1
  shift
  "$@" >"$T/out" 2>"$T/err"
  got=$?
  if [ "$got" -eq "$want" ]; then ok; else
    bad "exit $got (want $want): $*"
    sed 's/^/  stdout: /' "$T/out" >&2
    sed 's/^/  stderr: /' "$T/err" >&2
  fi
}
# has FILE TEXT: FILE contains TEXT (fixed string).
has() {
  if grep -qF -- "$2" "$1"; then ok; else
    bad "$1 lacks '$2'"
    sed 's/^/  got: /' "$1" >&2
  fi
}
# lines FILE N: FILE has exactly N lines.
lines() {
  n=$(wc -l <"$1" | tr -d ' ')
  if [ "$n" -eq "$2" ]; then ok; else bad "$1 has $n lines, want $2"; fi
}
# flip FILE OFFSET: invert the bits of one byte in place. Always a change: overwriting with
# a fixed byte left a byte that already was that one (a hash, a timestamp) as it was, once
# in 256 runs, and the test then saw no damage.
flip() {
  python3 -c 'import sys; p=sys.argv[1]; o=int(sys.argv[2]); b=bytearray(open(p,"rb").read()); b[o]^=0xff; open(p,"wb").write(b)' "$1" "$2"
}
# The waits below replace sleeps: a test that needs another process to have got somewhere
# waits for what shows it has (an event in its chain, a connected socket), for long enough
# that a loaded machine (the sanitized builds on two shared cores) is no reason to fail, and
# returns 1 if it never happens (the caller says what did not). The limit is in seconds of
# wall time, not a count of polls: each poll itself is slower on a loaded machine.
# wait_log SECONDS TEXT CHAIN LOGARGS...: until `evchain log CHAIN LOGARGS` prints TEXT (a
# fixed string). Reading a chain another process appends to is safe (`log -f` does it).
wait_log() {
  wl_end=$(($(date +%s) + $1))
  wl_text=$2
  shift 2
  while :; do
    "$EV" log "$@" 2>/dev/null | grep -qF -- "$wl_text" && return 0
    [ "$(date +%s)" -gt "$wl_end" ] && return 1
    sleep 0.05
  done
}
# wait_text SECONDS TEXT FILE: until FILE (say another process's stderr) contains TEXT.
wait_text() {
  wt_end=$(($(date +%s) + $1))
  until grep -qF -- "$2" "$3" 2>/dev/null; do
    [ "$(date +%s)" -gt "$wt_end" ] && return 1
    sleep 0.05
  done
}
# wait_connected SECONDS PID: until process PID holds a connected unix socket (its connect()
# has returned; the server's listening socket then holds the connection and accepts
# connections in the order they were made). /proc/net/unix: the 6th field is the state
# (03: connected), the 7th the inode that /proc/PID/fd/N names as socket:[inode].
wait_connected() {
  wc_end=$(($(date +%s) + $1))
  while :; do
    for wc_fd in /proc/"$2"/fd/*; do
      wc_t=$(readlink "$wc_fd" 2>/dev/null) || continue
      case $wc_t in
      socket:\[*\])
        wc_ino=${wc_t#socket:\[}
        wc_ino=${wc_ino%\]}
        awk -v i="$wc_ino" '$7 == i && $6 == "03" { f = 1 } END { exit !f }' /proc/net/unix &&
          return 0
        ;;
      esac
    done
    kill -0 "$2" 2>/dev/null || return 1
    [ "$(date +%s)" -gt "$wc_end" ] && return 1
    sleep 0.05
  done
}
finish() {
  echo "$pass passed, $fail failed"
  [ "$fail" -eq 0 ]
}
