#!/usr/bin/env bash
# Static serving benchmark: Berth vs nginx vs Caddy on loopback.
#   npm run bench            (or: bash bench/run.sh)
# Settings are environment variables; see the top of bench/serving.ts.
# Installs its tools first (bench/setup.sh), runs everything in a temp dir,
# and kills every server it started when it exits, however it exits.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=lib/work-dir.sh
source "$here/lib/work-dir.sh"
node=$(bench_node "$repo")

# BENCH_DEPLOYS=only runs the push-to-deploy benchmark (bench/deploy.sh)
# instead of this one; BENCH_DEPLOYS=1 runs it after this one.
case ${BENCH_DEPLOYS:-0} in
  only) exec bash "$here/deploy.sh" ;;
  0 | 1) ;;
  *)
    echo "bench: BENCH_DEPLOYS=$BENCH_DEPLOYS: use 0, 1 or only" >&2
    exit 2
    ;;
esac

bash "$here/setup.sh"

bench_start berth-bench

cd "$repo"
bench_run "$node" bench/serving.ts

if [[ ${BENCH_DEPLOYS:-0} == 1 ]]; then
  bench_run bash "$here/deploy.sh"
fi
