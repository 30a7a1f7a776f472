#!/usr/bin/env bash
# Installs Debian's prometheus package (prometheus + promtool) and prometheus-alertmanager if
# missing: the Prometheus and Alertmanager gates' end-to-end tests and the PrometheusRule check need
# them. The Debian services are never started: the tests run their own servers on loopback.
set -euo pipefail

if command -v prometheus >/dev/null && command -v promtool >/dev/null && command -v prometheus-alertmanager >/dev/null; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-prometheus: prometheus/promtool/prometheus-alertmanager missing; run as root or: sudo apt-get install -y prometheus prometheus-alertmanager" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# policy-rc.d 101 keeps dpkg from starting the packaged service during the install.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=1
fi
trap '[ "$created_policy" = 1 ] && rm -f "$policy"' EXIT
apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager >/dev/null
command -v prometheus >/dev/null && command -v promtool >/dev/null && command -v prometheus-alertmanager >/dev/null
