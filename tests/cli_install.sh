#!/bin/sh
# tests/cli_install.sh: `make install` gives a usable library: installed into a temporary
# prefix, a small program finds it through pkg-config (evchain.pc), builds against the
# installed headers and static library, appends, verifies, and the installed evchain
# command reads what it wrote. $1 is the evchain binary (unused: the installed one is run).
set -u
B=${EVCHAIN_BUILD:-build}
T=$(mktemp -d /tmp/evchain_cli_install.XXXXXX)
trap 'rm -rf "$T"' EXIT INT TERM
. tests/clilib.sh

expect 0 cmake --install "$B" --prefix "$T/prefix"
for f in include/evchain/evchain.h lib/libevchain.a lib/pkgconfig/evchain.pc bin/evchain; do
  [ -e "$T/prefix/$f" ] && ok || bad "not installed: $f"
done
cat >"$T/prog.c" <<'C'
#include <evchain/evchain.h>
#include <stdio.h>
int main(int argc, char **argv)
{
    ec_backend *be;
    ec_chain *c;
    ec_disk_options o = EC_DISK_OPTIONS_INIT;
    o.create = 1;
    if (argc < 2 || ec_backend_disk(&be, argv[1], &o) || ec_chain_open(&c, be, NULL))
        return 2;
    ec_event_input in = {.type = "install/test", .data = "hello", .data_len = 5};
    uint64_t seq;
    if (ec_chain_append(c, &in, &seq, NULL) || ec_chain_verify(c, NULL, NULL))
        return 1;
    ec_chain_free(c);
    printf("appended %llu\n", (unsigned long long)seq);
    return 0;
}
C
PKG_CONFIG_PATH="$T/prefix/lib/pkgconfig"
export PKG_CONFIG_PATH
flags=$(pkg-config --cflags evchain) && libs=$(pkg-config --libs evchain) && ok ||
  bad "pkg-config does not find evchain"
# What the static library needs, as shared libraries (evchain.pc's Requires.private).
slibs="$(pkg-config --libs libcrypto jansson libcbor libmicrohttpd libcurl) -lpthread -ldl -lm"
# A sanitized build's library needs the sanitizer runtime in the program too.
san=
[ -n "${EVCHAIN_SANITIZED:-}" ] && san="-fsanitize=address,undefined"
# Against the shared library...
expect 0 cc $san -o "$T/prog" "$T/prog.c" $flags $libs
LD_LIBRARY_PATH="$T/prefix/lib" expect 0 "$T/prog" "$T/chain"
has "$T/out" "appended 0"
# ... and the static one (-rdynamic: compiled actors resolve the host's symbols).
expect 0 cc $san -o "$T/prog-static" "$T/prog.c" $flags "$T/prefix/lib/libevchain.a" $slibs -rdynamic
expect 0 "$T/prog-static" "$T/chain2"
has "$T/out" "appended 0"
# The installed command reads both chains.
expect 0 "$T/prefix/bin/evchain" verify "$T/chain" "$T/chain2"
has "$T/out" "chain: ok, 1 event"
has "$T/out" "chain2: ok, 1 event"
finish
