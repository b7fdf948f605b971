#!/bin/sh
# tests/cli_bundle.sh: the filesystem sandbox in migration bundles (docs/FORMAT.md section 8),
# end to end: an actor's files (and empty directories) go with `export --bundle`, arrive
# byte for byte with `import --bundle`, and the actor reads them after `resume`; a sandbox
# changed from outside is not exported; hostile bundles (every digest right, so each is
# refused for its rule) are refused with nothing written. $1 is the evchain binary.
set -u
EV=$1
B=${EVCHAIN_BUILD:-build}
A=$B/actors
T=$(mktemp -d /tmp/evchain_cli_bundle.XXXXXX)
trap 'rm -rf "$T"' EXIT INT TERM
. "$(dirname "$0")/clilib.sh"
D=$T/data
F=$D/actors/files/fs

# rebundle IN OUT VERSION EXPR [FIX]: IN rewritten as OUT with format VERSION, its C, M, O
# and L entries kept (each passed through FIX, a Python function of (kind, name, data)
# giving the entry to write, when given), its sandbox entries replaced by the Python
# expression EXPR (a list of (kind, name, data), `fs` being IN's own), and every digest
# computed anew.
rebundle() {
  python3 - "$@" <<'PY'
import hashlib, os, struct, sys
src, out, version, expr = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
fix = eval(sys.argv[5]) if len(sys.argv) > 5 else (lambda k, name, data: (k, name, data))
b = open(src, 'rb').read()
keep, fs, off = [], [], 8
while off < len(b):
    k = chr(b[off]); nl = struct.unpack(">H", b[off + 1:off + 3])[0]
    name = b[off + 3:off + 3 + nl]; off += 3 + nl
    dl = struct.unpack(">Q", b[off:off + 8])[0]; data = b[off + 8:off + 8 + dl]; off += 8 + dl + 32
    if k in "FD":
        fs.append((k, name, data))
    elif k != "E":
        keep.append(fix(k, name, data))
T = os.environ["T"].encode()
def entry(k, name, data):
    return (k.encode() + struct.pack(">H", len(name)) + name + struct.pack(">Q", len(data)) +
            data + hashlib.sha256(data).digest())
body = b"EVBUNDL" + bytes([version]) + b"".join(entry(*e) for e in keep + eval(expr))
open(out, 'wb').write(body + entry("E", b"", hashlib.sha256(body).digest()))
PY
}
export T

# The files actor writes in its sandbox (a text file, and 8 random bytes); the operator adds
# a directory tree with a file and an empty directory.
expect 0 env GREETING="hello there" "$EV" run "$A/files.wasm" --data-dir "$D" --env GREETING \
  --message "write notes.txt first line" --message greet --quiet
[ -s "$F/random.bin" ] && ok || bad "the actor wrote no random.bin"
mkdir -p "$F/sub/deep" "$F/empty"
printf 'deep down\n' >"$F/sub/deep/x.txt"

# Migrated: the same tree, the same bytes, and the actor reads them in its new home.
expect 0 "$EV" export --bundle "$D/actors/files/chain" -o "$T/files.bundle"
expect 0 "$EV" import --bundle "$T/files.bundle" --data-dir "$T/other"
G=$T/other/actors/files/fs
if diff -r "$F" "$G" >/dev/null 2>&1; then ok; else bad "the sandbox differs after import"; fi
[ -d "$G/empty" ] && ok || bad "the empty directory was not carried"
cmp -s "$F/random.bin" "$G/random.bin" && ok || bad "random.bin differs"
expect 0 "$EV" resume files --data-dir "$T/other" --message "read notes.txt" \
  --message "read sub/deep/x.txt" --message "read greeting.txt" --message list \
  --message "write later.txt written after the move"
has "$T/out" "runtime/migrated"
has "$T/err" "[files] first line"
has "$T/err" "[files] deep down"
has "$T/err" "[files] hello there"
has "$T/err" "random.bin"
[ -f "$G/later.txt" ] && ok || bad "the resumed actor could not write"
# Export is deterministic: the same sandbox, the same bundle.
expect 0 "$EV" export --bundle "$D/actors/files/chain" -o "$T/again.bundle"
cmp -s "$T/files.bundle" "$T/again.bundle" && ok || bad "two exports differ"

# A sandbox changed from outside: refused by name, no bundle written.
ln -s /etc/passwd "$F/sub/link"
expect 2 "$EV" export --bundle "$D/actors/files/chain" -o "$T/no.bundle"
has "$T/err" "sub/link is a symbolic link"
rm "$F/sub/link"
mkfifo "$F/pipe"
expect 2 "$EV" export --bundle "$D/actors/files/chain" -o "$T/no.bundle"
has "$T/err" "pipe is a special file"
rm "$F/pipe"
nl=$(printf 'bad\nname')
: >"$F/$nl"
expect 2 "$EV" export --bundle "$D/actors/files/chain" -o "$T/no.bundle"
has "$T/err" "the name 'bad\\x0aname' breaks a rule"
rm "$F/$nl"
truncate -s 16777217 "$F/huge"
expect 2 "$EV" export --bundle "$D/actors/files/chain" -o "$T/no.bundle"
has "$T/err" "huge: more than 16777216 bytes"
rm "$F/huge"
[ -e "$T/no.bundle" ] && bad "a refused export wrote its bundle" || ok

# The rewriter is faithful: the bundle rewritten as it is imports; so does a version 1
# bundle (no sandbox entries), which gets an empty sandbox.
rebundle "$T/files.bundle" "$T/same.bundle" 2 'fs'
cmp -s "$T/files.bundle" "$T/same.bundle" && ok || bad "the rewriter changed the bundle"
rebundle "$T/files.bundle" "$T/v1.bundle" 1 '[]'
expect 0 "$EV" import --bundle "$T/v1.bundle" --data-dir "$T/v1"
[ -d "$T/v1/actors/files/fs" ] && ok || bad "a version 1 import has no sandbox"

# Hostile bundles: refused for the rule, and nothing at all is written.
hostile() { # hostile NAME VERSION EXPR MESSAGE
  rebundle "$T/files.bundle" "$T/$1.bundle" "$2" "$3"
  expect 2 "$EV" import --bundle "$T/$1.bundle" --data-dir "$T/h-$1"
  has "$T/err" "$4"
  [ -e "$T/h-$1" ] && bad "$1: a refused bundle wrote $(find "$T/h-$1" | head -3)" || ok
}
hostile dotdot 2 'fs + [("F", b"sub/../../../escape", b"out")]' "a '..' component"
hostile absolute 2 'fs + [("F", T + b"/absolute", b"out")]' "an absolute name"
hostile duplicate 2 'fs + [("F", b"sub/deep/x.txt", b"again")]' "a duplicate name"
hostile file-and-dir 2 'fs + [("D", b"sub/deep/x.txt", b"")]' "a duplicate name"
hostile under-file 2 'fs + [("F", b"sub/deep/x.txt/y", b"")]' \
  "its directory 'sub/deep/x.txt' is a file"
hostile no-parent 2 'fs + [("F", b"zz/y", b"")]' "its directory 'zz' is not listed before it"
hostile order 2 '[fs[0], fs[2], fs[1]] + fs[3:]' "out of order: after 'notes.txt'"
hostile control 2 'fs + [("F", b"zz\x1b[2J", b"")]' "a control character"
hostile oversized 2 'fs + [("F", b"zz", b"x" * (16 * 1024 * 1024 + 1))]' \
  "a file of more than 16777216 bytes"
hostile in-version-1 1 'fs' "in a version 1 bundle"
[ -e "$T/escape" ] || [ -e "$T/absolute" ] && bad "a file was written outside" || ok

# An auditor verifies a bundle as it is, without importing it: the same events and head as
# the chain it came from, consistent with that chain's signed checkpoint; a changed byte
# (digest mismatch) or a changed event with every digest recomputed is a broken chain (1),
# a malformed bundle unreadable input (2).
expect 0 "$EV" verify "$D/actors/files/chain"
src_ok=$(sed -n 's/^[^:]*: \(ok, .*\)$/\1/p' "$T/out")
expect 0 "$EV" verify "$T/files.bundle"
has "$T/out" "$T/files.bundle: $src_ok"
expect 0 "$EV" verify "$T/files.bundle" --since "$D/actors/files/chain/checkpoints/latest" \
  --vkey "$D/runtime.vkey" --origin evchain-runtime/files
has "$T/out" "extends checkpoint $D/actors/files/chain/checkpoints/latest of evchain-runtime/files"
# The checkpoint signs the chain only: the verdict says so. A sandbox file changed with
# every digest recomputed still "extends" it (nothing signed covers the file), and the
# verdict must not let that read as a statement about the file.
has "$T/out" "; the checkpoint covers only the chain: the bundle's module, objects, labels and sandbox files match its own digests, which are not signed"
rebundle "$T/files.bundle" "$T/resandboxed.bundle" 2 \
  '[(k, n, b"changed\n" if n == b"sub/deep/x.txt" else d) for k, n, d in fs]'
expect 0 "$EV" verify "$T/resandboxed.bundle" --since \
  "$D/actors/files/chain/checkpoints/latest" --vkey "$D/runtime.vkey"
has "$T/out" "the checkpoint covers only the chain"
# a chain directory's verdict has no such words (the checkpoint covers all it checks)
expect 0 "$EV" verify "$D/actors/files/chain" --since \
  "$D/actors/files/chain/checkpoints/latest" --vkey "$D/runtime.vkey"
if grep -q "covers only" "$T/out"; then bad "a chain's verdict speaks of a bundle"; else ok; fi
# and a checkpoint of another actor is refused under --origin
expect 0 "$EV" run "$A/counter.wasm" --data-dir "$D" --message inc --quiet
expect 1 "$EV" verify "$T/files.bundle" --since "$D/actors/counter/chain/checkpoints/latest" \
  --vkey "$D/runtime.vkey" --origin evchain-runtime/files
has "$T/out" "origin is 'evchain-runtime/counter', not 'evchain-runtime/files'"
cp "$T/files.bundle" "$T/flipped.bundle"
flip "$T/flipped.bundle" 300
expect 1 "$EV" verify "$T/flipped.bundle"
has "$T/out" "digest mismatch"
# one byte in the middle of the chain's records (some event's content), digests recomputed
rebundle "$T/files.bundle" "$T/forged.bundle" 2 fs \
  'lambda k, n, d: (k, n, d[:len(d) // 2] + bytes([d[len(d) // 2] ^ 1]) + d[len(d) // 2 + 1:]) if k == "C" else (k, n, d)'
expect 1 "$EV" verify "$T/forged.bundle"
has "$T/out" "chain record"
expect 2 "$EV" verify "$T/no-such.bundle"

# The chain entry named for another actor than its actor/start: every reader refuses it.
rebundle "$T/files.bundle" "$T/renamed.bundle" 2 fs \
  'lambda k, n, d: (k, b"other" if k == "C" else n, d)'
expect 2 "$EV" verify "$T/renamed.bundle"
has "$T/err" "the chain entry 'other' is not that actor's chain"
expect 2 "$EV" import --bundle "$T/renamed.bundle" --data-dir "$T/renamed"
has "$T/err" "is not that actor's chain"
[ -d "$T/renamed/actors/other" ] && bad "a refused bundle left an actor" || ok
finish
