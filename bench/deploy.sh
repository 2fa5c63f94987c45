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
node="$repo/node_modules/.bin/node"
if [[ ! -x $node ]]; then
  echo "bench: $node not found; run npm ci first" >&2
  exit 1
fi

bash "$here/setup-deploy.sh"

BENCH_TMP=$(mktemp -d /tmp/berth-deploy-bench-XXXXXX)
export BENCH_TMP

# Signals a process and its descendants (children first), found through /proc.
kill_tree() {
  local p=$1 sig=$2 c
  for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do kill_tree "$c" "$sig"; done
  kill -"$sig" "$p" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  # deploy.ts stops its children itself; this catches anything left if it was
  # killed hard. Only the pids this run recorded are touched.
  local f pid
  for f in "$BENCH_TMP"/*.pid; do
    [[ -e $f ]] || continue
    pid=$(cat "$f" 2>/dev/null || true)
    if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
      kill_tree "$pid" TERM
      sleep 1
      kill_tree "$pid" KILL
    fi
    # webhook runs in a process group of its own (its pid is the group id):
    # whatever it started and is left goes with the group.
    if [[ $(basename "$f") == webhook* && $pid =~ ^[0-9]+$ ]]; then kill -KILL -- -"$pid" 2>/dev/null || true; fi
  done
  if [[ ${BENCH_KEEP_TMP:-0} == 1 ]]; then
    echo "bench: work dir kept: $BENCH_TMP"
  else
    rm -rf "$BENCH_TMP"
  fi
  exit "$rc"
}
child=
on_signal() {
  if [[ -n $child ]]; then kill -TERM "$child" 2>/dev/null || true; wait "$child" 2>/dev/null || true; fi
  exit 130
}
trap cleanup EXIT
trap on_signal INT TERM HUP

cd "$repo"
"$node" bench/deploy.ts &
child=$!
wait "$child"
