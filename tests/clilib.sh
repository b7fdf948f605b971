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
finish() {
  echo "$pass passed, $fail failed"
  [ "$fail" -eq 0 ]
}
