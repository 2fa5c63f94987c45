#!/usr/bin/env bash
# Certificate benchmark: Berth vs Caddy vs certbot, each getting a certificate
# for a new name from the same local Pebble CA with real HTTP-01 validation.
#   bash bench/acme.sh
# Settings are environment variables; see the top of bench/acme.ts.
# Installs its tools first (bench/setup-acme.sh), runs everything in a temp
# dir, and kills every process it started when it exits, however it exits.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=lib/work-dir.sh
source "$here/lib/work-dir.sh"
node=$(bench_node "$repo")

bash "$here/setup-acme.sh"

bench_start berth-acme-bench

cd "$repo"
bench_run "$node" bench/acme.ts
