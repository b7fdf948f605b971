#!/bin/sh
# Installs the Debian 12 packages evchain needs, only when one is missing.
# Idempotent and silent when everything is present (make test / make run call it first).
set -e
PKGS="build-essential cmake pkg-config libssl-dev libjansson-dev libcbor-dev \
libsqlite3-dev clang-14 lld-14 libclang-rt-14-dev wabt binaryen \
libmicrohttpd-dev libcurl4-openssl-dev curl"
missing=""
for p in $PKGS; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing="$missing $p"
  fi
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
