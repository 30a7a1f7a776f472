#!/usr/bin/env bash
# Installs, once, Debian's tools that build the image (mmdebstrap, umoci, skopeo) and that the
# end-to-end tests use: podman with runc runs it (crun does not work on these machines), and
# docker-registry (distribution) on loopback receives a push; gpg signs the chart's provenance
# in make release and its test. Nothing is pulled from a container
# registry: the root filesystem comes from Debian's packages, Node from the npm registry.
set -euo pipefail

tools=(mmdebstrap umoci skopeo podman runc docker-registry gpg gpg-agent)
missing=()
for t in "${tools[@]}"; do command -v "$t" >/dev/null || missing+=("$t"); done
[ "${#missing[@]}" -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "image: missing ${missing[*]}; run as root or: sudo apt-get install -y ${tools[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# policy-rc.d 101 keeps dpkg from starting docker-registry's packaged service during the install.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=1
fi
trap 'if [ "$created_policy" = 1 ]; then rm -f "$policy"; fi' EXIT
apt-get install -y -qq --no-install-recommends "${tools[@]}" >/dev/null
for t in "${tools[@]}"; do command -v "$t" >/dev/null; done
