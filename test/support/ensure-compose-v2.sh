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

echo "ensure-compose-v2: fetching docker-compose and docker-buildx (Debian trixie) into $DEST" >&2
unpacked=$(mktemp -d /var/tmp/mpi-compose-XXXXXX)
trap 'rm -rf "$unpacked"' EXIT
bash "$(dirname "$0")/fetch-trixie-debs.sh" "$unpacked" docker-compose docker-buildx
mkdir -p "$DEST/cli-plugins"
install -m 0755 "$unpacked/usr/libexec/docker/cli-plugins/docker-compose" "$unpacked/usr/libexec/docker/cli-plugins/docker-buildx" "$DEST/cli-plugins/"
DOCKER_CONFIG=$DEST /usr/bin/docker compose version >&2
