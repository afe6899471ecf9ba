#!/usr/bin/env bash
# Runs a command as if on a machine whose Postfix is installed AND configured (Debian's stock
# main.cf, a set-up spool, /etc/aliases), to show the suite does not depend on the host's
# Postfix: `bash test/support/configured-postfix-host.sh bun test --timeout 20000 FILE`.
# Everything happens in a private mount namespace: /etc is an overlay and /var/spool/postfix,
# /var/lib/postfix are tmpfs copies thrown away with it; the real host is never changed.
# Needs root (the suite does anyway).
set -euo pipefail

if [[ $# -eq 0 ]]; then
  echo "usage: $0 COMMAND [ARG...]" >&2
  exit 2
fi

scratch=$(mktemp -d /tmp/mpi-configured-host-XXXXXX)
trap 'rm -rf "$scratch"' EXIT

# Not exec'ed: the trap removes the scratch dir once the namespace (and its mounts) is gone.
# shellcheck disable=SC2016
unshare --mount --propagation private bash -c '
  set -euo pipefail
  scratch=$1; shift
  mkdir -p "$scratch/etc-upper" "$scratch/etc-work"
  mount -t overlay overlay -o "lowerdir=/etc,upperdir=$scratch/etc-upper,workdir=$scratch/etc-work" /etc
  for dir in /var/spool/postfix /var/lib/postfix; do
    mkdir -p "$scratch$dir"
    cp -a "$dir/." "$scratch$dir/"
    mount -t tmpfs -o mode=0755 tmpfs "$dir"
    cp -a "$scratch$dir/." "$dir/"
  done
  cp /usr/share/postfix/main.cf.debian /etc/postfix/main.cf
  postconf -e "myhostname = host.configured.test" "mydestination = localhost" "inet_interfaces = loopback-only"
  printf "postmaster: root\n" >/etc/aliases
  newaliases
  postfix set-permissions >/dev/null
  postfix check
  echo "configured-postfix-host: /etc/postfix/main.cf present, spool set up (public $(stat -c %a /var/spool/postfix/public))" >&2
  exec "$@"
' configured-postfix-host "$scratch" "$@"
