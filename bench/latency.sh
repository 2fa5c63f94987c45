#!/usr/bin/env bash
# Request latency while the control plane deploys a 20,000-file site, against
# the same load with no deploy, on loopback.
#   npm run bench:latency    (or: bash bench/latency.sh)
# Settings are environment variables; see the top of bench/deploy-latency.ts.
# Installs git first when missing (the only tool it needs besides Node), runs
# in a temp dir, and kills every process it started when it exits, however
# it exits.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=lib/work-dir.sh
source "$here/lib/work-dir.sh"
node=$(bench_node "$repo")

if ! command -v git >/dev/null 2>&1; then
  (
    # shellcheck source=lib/apt.sh
    source "$here/lib/apt.sh"
    bench_apt_prepare
    bench_apt_install git
  )
fi

bench_start berth-latency-bench

cd "$repo"
bench_run "$node" bench/deploy-latency.ts
