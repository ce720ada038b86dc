#!/usr/bin/env bash
# Installs the Debian packages sfha's build, tests and lab need (Debian 12). Idempotent: installs only what is missing.
set -euo pipefail

packages=(
  corosync libcmap-dev libquorum-dev libvotequorum-dev libcfg-dev libcpg-dev libcorosync-common-dev libqb-dev
  pkg-config iproute2 nftables iputils-arping iputils-ping wireguard-tools wireguard-go util-linux procps curl python3
)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages: ${missing[*]} — run as root (or: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The Debian package enables corosync under systemd where systemd runs; sfha's lab starts its own instances, so a
# stray host corosync (none runs here without systemd) is left alone.
command -v swift >/dev/null || { echo "install-deps: swift is not on PATH (expected /opt/swift/usr/bin)" >&2; exit 1; }
