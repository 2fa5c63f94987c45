#!/usr/bin/env bash
# Push-to-deploy benchmark: Berth vs git pull + cp -r behind nginx, and vs
# adnanh/webhook under a flood of pushes, on loopback.
#   bash bench/deploy.sh     (or: BENCH_DEPLOYS=only bash bench/run.sh)
# Settings are environment variables; see the top of bench/deploy.ts.
# Installs its tools first (bench/setup-deploy.sh), runs everything in a temp
# dir, and kills every process it started when it exits, however it exits.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=lib/work-dir.sh
source "$here/lib/work-dir.sh"
node=$(bench_node "$repo")

bash "$here/setup-deploy.sh"

bench_start berth-deploy-bench

cd "$repo"
bench_run "$node" bench/deploy.ts
