#!/usr/bin/env bash
# The cost of [metrics] on the serving path: Berth with metrics on and off,
# row by row, back to back (see bench/metrics-cost.ts for the settings).
#   bash bench/metrics-cost.sh
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=lib/work-dir.sh
source "$here/lib/work-dir.sh"
node=$(bench_node "$repo")

bash "$here/setup.sh"

bench_start berth-metrics-cost

cd "$repo"
bench_run "$node" bench/metrics-cost.ts
