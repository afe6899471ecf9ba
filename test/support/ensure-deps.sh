#!/usr/bin/env bash
# Installs what the test suite drives for real (Debian packages), when it is missing.
# Run by `npm test` (pretest) and by .ci/run; needs root only when something is missing.
# It installs and the suite then runs MariaDB, Postfix and a Docker engine as root: use a
# throwaway machine or VM, never the mail host.
set -euo pipefail

# command -> Debian package that provides it
declare -A needed=(
  [postmap]=postfix
  [/usr/lib/postfix/postfix-mysql.so]=postfix-mysql
  [/usr/lib/postfix/postfix-pcre.so]=postfix-pcre
  [openssl]=openssl
  [gnutls-cli]=gnutls-bin
  [posttls-finger]=postfix
  [mariadbd]=mariadb-server
  [mariadb-admin]=mariadb-client
  [dig]=bind9-dnsutils
  [dnsmasq]=dnsmasq-base
  [unshare]=util-linux
  [setpriv]=util-linux
  [ip]=iproute2
  [pgrep]=procps
  [dockerd]=docker.io
  [docker-compose]=docker-compose
  [debootstrap]=debootstrap
  [curl]=curl
  [strace]=strace
  [jq]=jq
  [docker-registry]=docker-registry
)

# Another apt/dpkg (unattended-upgrades on a new VM) may hold the lock: wait for it, bounded.
APT_LOCK_WAIT=${MPI_APT_LOCK_WAIT:-600}
apt_get() {
  apt-get -o DPkg::Lock::Timeout="$APT_LOCK_WAIT" "$@"
}

missing=()
for tool in "${!needed[@]}"; do
  if [[ "$tool" == /* ]]; then
    [[ -e "$tool" ]] || missing+=("${needed[$tool]}")
  else
    command -v "$tool" >/dev/null 2>&1 || [[ -x "/usr/sbin/$tool" ]] || missing+=("${needed[$tool]}")
  fi
done

if [[ ${#missing[@]} -gt 0 ]]; then
  packages=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
  if [[ $(id -u) -ne 0 ]]; then
    echo "ensure-deps: the tests need these Debian packages: $packages- run as root or install them with apt-get" >&2
    exit 1
  fi
  echo "ensure-deps: installing $packages(waiting up to ${APT_LOCK_WAIT}s for another apt/dpkg to finish)" >&2
  export DEBIAN_FRONTEND=noninteractive
  # Postfix must not configure or start a system instance: the tests run their own.
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt_get update -qq
  # shellcheck disable=SC2086
  apt_get install -y -qq --no-install-recommends $packages >/dev/null
  # Debian starts a registry on :5000 for all interfaces; the tests start their own on loopback.
  if [[ " $packages" == *" docker-registry "* ]] && command -v systemctl >/dev/null 2>&1; then
    systemctl disable --now docker-registry >/dev/null 2>&1 || true
  fi
fi

bash "$(dirname "$0")/ensure-compose-v2.sh"
