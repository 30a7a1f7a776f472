#!/usr/bin/env bash
# Installs, once, Debian's tools for the testbed's real node (testbed/src/realnode): qemu (TCG; no
# KVM needed), mmdebstrap (the guest's root filesystem from Debian's packages), socat (relays the
# guest's connections to the host's loopback), e2fsprogs (mkfs.ext4 -d makes the disk images).
set -euo pipefail

tools=(qemu-system-x86_64 mmdebstrap socat mkfs.ext4)
packages=(qemu-system-x86 mmdebstrap socat e2fsprogs)
missing=()
for t in "${tools[@]}"; do command -v "$t" >/dev/null || missing+=("$t"); done
[ "${#missing[@]}" -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "realnode: missing ${missing[*]}; run as root or: sudo apt-get install -y ${packages[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
for t in "${tools[@]}"; do
  command -v "$t" >/dev/null || { echo "realnode: $t still missing after apt-get install ${packages[*]}" >&2; exit 1; }
done
