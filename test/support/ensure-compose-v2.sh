#!/usr/bin/env bash
# Compose v2 and buildx, as mailcow admins run them (`docker compose`, BuildKit): Debian
# trixie's docker-compose and docker-buildx CLI plugins, which run on this Debian 12 host.
# Fetched with apt into a private state dir (the host's apt sources are not changed), unpacked,
# and put into a private DOCKER_CONFIG's cli-plugins/ that only the container tests use.
set -euo pipefail

DEST=${MPI_DOCKER_CONFIG:-/var/tmp/mpi-docker-config}
if [[ -x "$DEST/cli-plugins/docker-compose" && -x "$DEST/cli-plugins/docker-buildx" ]]; then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "ensure-compose-v2: the container tests need the compose v2 and buildx plugins in $DEST; run as root once" >&2
  exit 1
fi

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
echo "ensure-compose-v2: fetching docker-compose and docker-buildx (Debian trixie) into $DEST" >&2
apt-get -qq "${opts[@]}" update
(cd "$work/debs" && apt-get -qq "${opts[@]}" download docker-compose docker-buildx)
mkdir -p "$work/x" "$DEST/cli-plugins"
for deb in "$work"/debs/*.deb; do dpkg-deb -x "$deb" "$work/x"; done
install -m 0755 "$work/x/usr/libexec/docker/cli-plugins/docker-compose" "$work/x/usr/libexec/docker/cli-plugins/docker-buildx" "$DEST/cli-plugins/"
DOCKER_CONFIG=$DEST /usr/bin/docker compose version >&2
