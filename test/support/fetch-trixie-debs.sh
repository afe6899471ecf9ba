#!/usr/bin/env bash
# Fetch Debian trixie packages with apt into a private state dir and unpack them (no install):
#   fetch-trixie-debs.sh OUT_DIR PACKAGE...
# leaves each package's files under OUT_DIR (dpkg-deb -x). The host's apt sources, lists and
# package state are not touched: a trixie source line in a temp file, private lists and cache.
# Used for tools Debian 12 ships too old or not at all (Compose v2, buildx, qemu 10).
set -euo pipefail

out=${1:?usage: fetch-trixie-debs.sh OUT_DIR PACKAGE...}
shift
[[ $# -gt 0 ]] || { echo "fetch-trixie-debs: no package named" >&2; exit 2; }

work=$(mktemp -d /var/tmp/mpi-apt-XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/debs"
: > "$work/status"
# The mirror apt already uses (deb822 or one-line), else Debian's.
mirror=$(sed -n 's/^URIs:[[:space:]]*\(\S*\/debian\)\/\?[[:space:]]*$/\1/p; s/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\(\S*\/debian\)\/\?[[:space:]].*/\2/p' \
  /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null | head -n1 || true)
mirror=${MPI_DEBIAN_MIRROR:-${mirror:-http://deb.debian.org/debian}}
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main" > "$work/sources.list"
opts=(-o Dir::Etc::SourceList="$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
      -o Dir::State::Lists="$work/lists" -o Dir::Cache="$work/cache" -o Dir::State::status="$work/status"
      -o APT::Sandbox::User=root)
apt-get -qq "${opts[@]}" update
(cd "$work/debs" && apt-get -qq "${opts[@]}" download "$@")
mkdir -p "$out"
for deb in "$work"/debs/*.deb; do dpkg-deb -x "$deb" "$out"; done
