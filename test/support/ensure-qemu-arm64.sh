#!/usr/bin/env bash
# qemu for the emulated arm64 image test (test/integration/container-arm64.emulated.ts):
# Debian trixie's statically linked qemu-aarch64 (10.x), fetched like the Compose plugins into
# a private directory. Debian 12's qemu-user-static (7.2) is not enough: the arm64 Bun aborts
# under it as soon as it runs JavaScript (measured: `bun -e ...` panics, abort() called).
# Registering it with binfmt_misc is the test's own job (test/support/qemu.ts), undone after.
set -euo pipefail

DEST=${MPI_QEMU_DIR:-/var/tmp/mpi-qemu}
if [[ -x "$DEST/qemu-aarch64" ]]; then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "ensure-qemu-arm64: the arm64 image test needs qemu-aarch64 in $DEST; run as root once" >&2
  exit 1
fi

echo "ensure-qemu-arm64: fetching qemu-user (Debian trixie) into $DEST" >&2
unpacked=$(mktemp -d /var/tmp/mpi-qemu-deb-XXXXXX)
trap 'rm -rf "$unpacked"' EXIT
bash "$(dirname "$0")/fetch-trixie-debs.sh" "$unpacked" qemu-user
mkdir -p "$DEST"
install -m 0755 "$unpacked/usr/bin/qemu-aarch64" "$DEST/qemu-aarch64"
"$DEST/qemu-aarch64" --version | head -n1 >&2
