#!/usr/bin/env bash
# Installs, once, Debian's tools that build the image (mmdebstrap, umoci, skopeo) and run it in the
# end-to-end test (podman with runc; crun does not work on these machines). Nothing is pulled from a
# container registry: the root filesystem comes from Debian's packages, Node from the npm registry.
set -euo pipefail

tools=(mmdebstrap umoci skopeo podman runc)
missing=()
for t in "${tools[@]}"; do command -v "$t" >/dev/null || missing+=("$t"); done
[ "${#missing[@]}" -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "image: missing ${missing[*]}; run as root or: sudo apt-get install -y ${tools[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${tools[@]}" >/dev/null
for t in "${tools[@]}"; do command -v "$t" >/dev/null; done
