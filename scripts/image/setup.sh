#!/usr/bin/env bash
# What `npm run test:image` needs on a Debian machine: the Docker engine
# (started here when it is not running) and Compose, debootstrap for the
# stand-in base image, and QEMU user emulation for arm64. Needs root.
set -euo pipefail
missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
# The guide's `docker compose`: Debian 12 packages Compose 1 as docker-compose.
docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
command -v qemu-aarch64-static >/dev/null 2>&1 || missing+=(qemu-user-static)
command -v update-binfmts >/dev/null 2>&1 || missing+=(binfmt-support)
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "Installing: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! docker info >/dev/null 2>&1; then
  echo "Starting dockerd (log: /tmp/berth-dockerd.log)" >&2
  nohup dockerd >/tmp/berth-dockerd.log 2>&1 &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { echo "dockerd did not start; see /tmp/berth-dockerd.log" >&2; exit 1; }
fi
bash "$(dirname "$0")/qemu.sh"
