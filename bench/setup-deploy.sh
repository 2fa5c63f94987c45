#!/usr/bin/env bash
# Installs what the deploy benchmark needs: git, nginx (serves "the
# traditional script"'s web root) and adnanh/webhook (Debian package
# `webhook`, the traditional webhook receiver). Installs only what is
# missing, and keeps the packages' own services stopped: the benchmark starts
# its own instances on loopback ports with configs in a temp dir.
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
  SUDO=sudo
else
  SUDO=
fi

need=()
command -v git >/dev/null 2>&1 || need+=(git)
command -v nginx >/dev/null 2>&1 || need+=(nginx)
command -v webhook >/dev/null 2>&1 || need+=(webhook)

if ((${#need[@]} == 0)); then
  echo "bench/setup-deploy: git, nginx, webhook already installed"
  exit 0
fi

echo "bench/setup-deploy: installing ${need[*]}"

lists=/var/lib/apt/lists
if [[ -z $(find "$lists" -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -n1) ]]; then
  $SUDO apt-get update -qq
fi

# Keep invoke-rc.d from starting the nginx and webhook services on install
# (an existing policy file is left alone).
policy=/usr/sbin/policy-rc.d
made_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod 755 "$policy"
  made_policy=1
fi
cleanup() { if ((made_policy)); then $SUDO rm -f "$policy"; fi; }
trap cleanup EXIT

$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null

for svc in nginx webhook; do
  if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
    $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true
  fi
done
if [[ -s /run/nginx.pid ]] && kill -0 "$(cat /run/nginx.pid)" 2>/dev/null; then
  $SUDO nginx -s quit >/dev/null 2>&1 || true
fi

for tool in git nginx webhook; do
  command -v "$tool" >/dev/null 2>&1 || { echo "bench/setup-deploy: $tool is still missing" >&2; exit 1; }
done
echo "bench/setup-deploy: done"
