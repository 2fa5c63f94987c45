#!/usr/bin/env bash
# Installs what the serving benchmark needs: nginx, Caddy, wrk, openssl and,
# where the archive has it, h2load (nghttp2-client) for the HTTP/2 row.
# Safe to run again: it installs only what is missing and never leaves the
# distribution's own nginx/caddy services running (the benchmark starts its
# own instances on high ports with configs and pid files in a temp dir).
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
  SUDO=sudo
else
  SUDO=
fi

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

# Refresh the package lists only when they are missing or older than a day.
lists=/var/lib/apt/lists
if [[ -z $(find "$lists" -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -n1) ]]; then
  $SUDO apt-get update -qq
fi

# A temporary policy-rc.d tells invoke-rc.d not to start the services that
# the nginx and caddy packages would otherwise start on install. An existing
# policy file is left as it is.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod 755 "$policy"
  made_policy=1
fi
cleanup() { if ((made_policy)); then $SUDO rm -f "$policy"; fi; }
trap cleanup EXIT

# h2load is optional: install it separately so its absence fails nothing.
core=()
for p in "${need[@]}"; do [[ $p == nghttp2-client ]] || core+=("$p"); done
if ((${#core[@]} > 0)); then
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${core[@]}" >/dev/null
fi
if [[ " ${need[*]} " == *" nghttp2-client "* ]]; then
  if apt-cache show nghttp2-client >/dev/null 2>&1; then
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nghttp2-client >/dev/null ||
      echo "bench/setup: nghttp2-client failed to install; the HTTP/2 row will be skipped"
  else
    echo "bench/setup: nghttp2-client not in the archive; the HTTP/2 row will be skipped"
  fi
fi

# Whatever the packages did, keep their system services out of the way.
for svc in nginx caddy; do
  if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
    $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true
  fi
done
if [[ -s /run/nginx.pid ]] && kill -0 "$(cat /run/nginx.pid)" 2>/dev/null; then
  $SUDO nginx -s quit >/dev/null 2>&1 || true
fi

for tool in nginx caddy wrk openssl; do
  command -v "$tool" >/dev/null 2>&1 || { echo "bench/setup: $tool is still missing" >&2; exit 1; }
done
echo "bench/setup: done"
