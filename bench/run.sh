#!/usr/bin/env bash
# Static serving benchmark: Berth vs nginx vs Caddy on loopback.
#   npm run bench            (or: bash bench/run.sh)
# Settings are environment variables; see the top of bench/serving.ts.
# Installs its tools first (bench/setup.sh), runs everything in a temp dir,
# and kills every server it started when it exits, however it exits.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
node="$repo/node_modules/.bin/node"
if [[ ! -x $node ]]; then
  echo "bench: $node not found; run npm ci first" >&2
  exit 1
fi

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

BENCH_TMP=$(mktemp -d /tmp/berth-bench-XXXXXX)
export BENCH_TMP

# Signals a process and its descendants (children first), found through /proc.
kill_tree() {
  local p=$1 sig=$2 c
  for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do kill_tree "$c" "$sig"; done
  kill -"$sig" "$p" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  # serving.ts kills its children itself; this catches anything left if it
  # was killed hard. Only the pids this run recorded are touched.
  local f pid
  for f in "$BENCH_TMP"/*.pid; do
    [[ -e $f ]] || continue
    pid=$(cat "$f" 2>/dev/null || true)
    if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
      kill_tree "$pid" TERM
      sleep 1
      kill_tree "$pid" KILL
    fi
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
  # Let serving.ts stop its servers itself first; cleanup() follows on exit.
  if [[ -n $child ]]; then kill -TERM "$child" 2>/dev/null || true; wait "$child" 2>/dev/null || true; fi
  exit 130
}
trap cleanup EXIT
trap on_signal INT TERM HUP

cd "$repo"
# In the background and waited for, so a signal to this script is handled at
# once instead of after the whole benchmark.
"$node" bench/serving.ts &
child=$!
wait "$child"

if [[ ${BENCH_DEPLOYS:-0} == 1 ]]; then
  bash "$here/deploy.sh" &
  child=$!
  wait "$child"
fi
