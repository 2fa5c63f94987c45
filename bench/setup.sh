#!/usr/bin/env bash
# Installs what the serving benchmark needs: nginx, Caddy, wrk, openssl,
# taskset (util-linux) and, where the archive has them, h2load
# (nghttp2-client) for the HTTP/2 rows and nginx's brotli_static module
# (libnginx-mod-http-brotli-static) for the compressed row.
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
command -v taskset >/dev/null 2>&1 || need+=(util-linux)
command -v h2load >/dev/null 2>&1 || need+=(nghttp2-client)
brotli_module=/usr/lib/nginx/modules/ngx_http_brotli_static_module.so
[[ -e $brotli_module ]] || need+=(libnginx-mod-http-brotli-static)

if ((${#need[@]} == 0)); then
  echo "bench/setup: nginx, caddy, wrk, openssl, taskset, h2load, nginx brotli_static already installed"
  exit 0
fi

echo "bench/setup: installing ${need[*]}"

bench_apt_prepare

# h2load and the brotli module are optional: installed separately so their
# absence fails nothing (the report says what was missing).
optional=(nghttp2-client libnginx-mod-http-brotli-static)
core=()
for p in "${need[@]}"; do [[ " ${optional[*]} " == *" $p "* ]] || core+=("$p"); done
if ((${#core[@]} > 0)); then
  bench_apt_install "${core[@]}"
fi
for p in "${optional[@]}"; do
  [[ " ${need[*]} " == *" $p "* ]] || continue
  if apt-cache show "$p" >/dev/null 2>&1; then
    bench_apt_install "$p" || echo "bench/setup: $p failed to install; the benchmark goes on without it"
  else
    echo "bench/setup: $p is not in the archive; the benchmark goes on without it"
  fi
done

bench_stop_services nginx caddy

for tool in nginx caddy wrk openssl taskset; do
  command -v "$tool" >/dev/null 2>&1 || { echo "bench/setup: $tool is still missing" >&2; exit 1; }
done
echo "bench/setup: done"
