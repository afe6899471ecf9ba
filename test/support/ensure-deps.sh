#!/usr/bin/env bash
# Installs what the test suite drives for real (Debian packages), when it is missing.
# Run by `npm test` (pretest) and by .ci/run; needs root only when something is missing.
set -euo pipefail

# command -> Debian package that provides it
declare -A needed=(
  [postmap]=postfix
  [/usr/lib/postfix/postfix-mysql.so]=postfix-mysql
  [/usr/lib/postfix/postfix-pcre.so]=postfix-pcre
  [openssl]=openssl
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
)

missing=()
for tool in "${!needed[@]}"; do
  if [[ "$tool" == /* ]]; then
    [[ -e "$tool" ]] || missing+=("${needed[$tool]}")
  else
    command -v "$tool" >/dev/null 2>&1 || [[ -x "/usr/sbin/$tool" ]] || missing+=("${needed[$tool]}")
  fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

packages=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
if [[ $(id -u) -ne 0 ]]; then
  echo "ensure-deps: the tests need these Debian packages: $packages- run as root or install them with apt-get" >&2
  exit 1
fi
echo "ensure-deps: installing $packages" >&2
export DEBIAN_FRONTEND=noninteractive
# Postfix must not configure or start a system instance: the tests run their own.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $packages >/dev/null
