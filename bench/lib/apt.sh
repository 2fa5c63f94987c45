# Sourced by bench/setup.sh and bench/setup-deploy.sh: install Debian
# packages without letting them start their own services, since each
# benchmark runs its own instances on loopback ports.

if [[ $(id -u) -ne 0 ]]; then
  SUDO=sudo
else
  SUDO=
fi

# Refreshes the package lists when they are missing or older than a day, and
# puts a temporary policy-rc.d in place so invoke-rc.d starts no service
# during installs. An existing policy file is left as it is.
bench_apt_prepare() {
  local lists=/var/lib/apt/lists
  if [[ -z $(find "$lists" -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -n1) ]]; then
    $SUDO apt-get update -qq
  fi
  bench_policy=/usr/sbin/policy-rc.d
  bench_made_policy=0
  if [[ ! -e $bench_policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$bench_policy" >/dev/null
    $SUDO chmod 755 "$bench_policy"
    bench_made_policy=1
  fi
  trap 'if ((bench_made_policy)); then $SUDO rm -f "$bench_policy"; fi' EXIT
}

bench_apt_install() {
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Whatever the packages did, keeps their system services out of the way.
bench_stop_services() {
  local svc
  for svc in "$@"; do
    if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
      $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true
    fi
  done
  if [[ -s /run/nginx.pid ]] && kill -0 "$(cat /run/nginx.pid)" 2>/dev/null; then
    $SUDO nginx -s quit >/dev/null 2>&1 || true
  fi
}
