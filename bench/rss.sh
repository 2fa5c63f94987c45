#!/usr/bin/env bash
# Idle memory of `berth serve` with workers = "auto": RSS and PSS of each
# process (supervisor, control plane, serving workers) and of the whole tree.
#   npm run bench:rss        (or: bash bench/rss.sh)
# Settings are environment variables; see the top of bench/idle-rss.ts.
# Runs in a temp dir and kills every process it started when it exits,
# however it exits. Needs only openssl (the self-signed certificate).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=lib/work-dir.sh
source "$here/lib/work-dir.sh"
node=$(bench_node "$repo")

command -v openssl >/dev/null 2>&1 || { echo "bench:rss: openssl is missing (bash bench/setup.sh installs it)" >&2; exit 1; }

bench_start berth-rss-bench

cd "$repo"
bench_run "$node" bench/idle-rss.ts
