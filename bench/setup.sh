#!/usr/bin/env bash
# Installs what the serving benchmark needs: nginx, Caddy, wrk, openssl and,
# where the archive has it, h2load (nghttp2-client) for the HTTP/2 row.
# Safe to run again: it installs only what is missing and never leaves the
# distribution's own nginx/caddy services running (the benchmark starts its
# own instances on high ports with configs and pid files in a temp dir).
set -euo pipefail

# shellcheck source=lib/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"

need=()
command -v nginx >/dev/null 2>&1 || need+=(nginx)
command -v caddy >/dev/null 2>&1 || need+=(caddy)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v h2load >/dev/null 2>&1 || need+=(nghttp2-client)

if ((${#need[@]} == 0)); then
  echo "bench/setup: nginx, caddy, wrk, openssl, h2load already installed"
  exit 0
fi

echo "bench/setup: installing ${need[*]}"

bench_apt_prepare

# h2load is optional: install it separately so its absence fails nothing.
core=()
for p in "${need[@]}"; do [[ $p == nghttp2-client ]] || core+=("$p"); done
if ((${#core[@]} > 0)); then
  bench_apt_install "${core[@]}"
fi
if [[ " ${need[*]} " == *" nghttp2-client "* ]]; then
  if apt-cache show nghttp2-client >/dev/null 2>&1; then
    bench_apt_install nghttp2-client ||
      echo "bench/setup: nghttp2-client failed to install; the HTTP/2 row will be skipped"
  else
    echo "bench/setup: nghttp2-client not in the archive; the HTTP/2 row will be skipped"
  fi
fi

bench_stop_services nginx caddy

for tool in nginx caddy wrk openssl; do
  command -v "$tool" >/dev/null 2>&1 || { echo "bench/setup: $tool is still missing" >&2; exit 1; }
done
echo "bench/setup: done"
