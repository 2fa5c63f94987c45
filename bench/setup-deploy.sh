#!/usr/bin/env bash
# Installs what the deploy benchmark needs: git, nginx (serves "the
# traditional script"'s web root) and adnanh/webhook (Debian package
# `webhook`, the traditional webhook receiver). Installs only what is
# missing, and keeps the packages' own services stopped: the benchmark starts
# its own instances on loopback ports with configs in a temp dir.
set -euo pipefail

# shellcheck source=lib/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"

need=()
command -v git >/dev/null 2>&1 || need+=(git)
command -v nginx >/dev/null 2>&1 || need+=(nginx)
command -v webhook >/dev/null 2>&1 || need+=(webhook)

if ((${#need[@]} == 0)); then
  echo "bench/setup-deploy: git, nginx, webhook already installed"
  exit 0
fi

echo "bench/setup-deploy: installing ${need[*]}"

bench_apt_prepare

bench_apt_install "${need[@]}"

bench_stop_services nginx webhook

for tool in git nginx webhook; do
  command -v "$tool" >/dev/null 2>&1 || { echo "bench/setup-deploy: $tool is still missing" >&2; exit 1; }
done
echo "bench/setup-deploy: done"
