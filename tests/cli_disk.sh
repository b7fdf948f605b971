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

# The chain reads back through the other commands, when they are built in.
if "$B" help verify >/dev/null 2>&1; then
    expect 0 "$B" verify "$T/c"
    expect 0 "$B" verify "$T/s1"
fi
echo "cli_disk: ok"
