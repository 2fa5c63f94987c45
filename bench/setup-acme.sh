#!/usr/bin/env bash
# Installs what the certificate benchmark needs: Pebble (Let's Encrypt's test
# CA, with pebble-challtestsrv), Caddy and certbot.
# Safe to run again: it installs only what is missing and never leaves the
# distribution's own caddy service or certbot's renewal timer running (the
# benchmark starts its own instances with their state in a temp dir).
set -euo pipefail

# shellcheck source=lib/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"

need=()
command -v pebble >/dev/null 2>&1 || need+=(pebble)
command -v pebble-challtestsrv >/dev/null 2>&1 || need+=(pebble)
command -v caddy >/dev/null 2>&1 || need+=(caddy)
command -v certbot >/dev/null 2>&1 || need+=(certbot)
command -v dpkg-query >/dev/null 2>&1 || { echo "bench/setup-acme: needs a Debian-based system (dpkg-query)" >&2; exit 1; }

if ((${#need[@]} == 0)); then
  echo "bench/setup-acme: pebble, caddy, certbot already installed"
  exit 0
fi

# pebble and pebble-challtestsrv come from the same package.
mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
echo "bench/setup-acme: installing ${need[*]}"

bench_apt_prepare
bench_apt_install "${need[@]}"
# certbot's timer would renew from /etc/letsencrypt on its own schedule; the
# benchmark keeps its certificates elsewhere and wants no renewals running.
bench_stop_services caddy certbot.timer

for tool in pebble pebble-challtestsrv caddy certbot; do
  command -v "$tool" >/dev/null 2>&1 || { echo "bench/setup-acme: $tool is still missing" >&2; exit 1; }
done
echo "bench/setup-acme: done"
