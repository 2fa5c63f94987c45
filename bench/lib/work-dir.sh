# Sourced by bench/run.sh, bench/deploy.sh and bench/acme.sh: the project's
# Node, a temp work dir for one run, and the clean-up that kills every
# process the run recorded, however the run ends (normal exit, failure,
# Ctrl-C, SIGTERM).

# Prints the path of the project's own Node 24 (node_modules/.bin/node
# under the repository $1), or says to run npm ci and fails.
bench_node() {
  local node="$1/node_modules/.bin/node"
  if [[ ! -x $node ]]; then
    echo "bench: $node not found; run npm ci first" >&2
    return 1
  fi
  echo "$node"
}

# Signals a process and its descendants (children first), found through /proc.
kill_tree() {
  local p=$1 sig=$2 c
  for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do kill_tree "$c" "$sig"; done
  kill -"$sig" "$p" 2>/dev/null || true
}

bench_cleanup() {
  local rc=$?
  # The benchmark stops its servers itself; this catches anything left if it
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

bench_child=
bench_on_signal() {
  # Let the benchmark stop its servers itself first; bench_cleanup follows on exit.
  if [[ -n $bench_child ]]; then kill -TERM "$bench_child" 2>/dev/null || true; wait "$bench_child" 2>/dev/null || true; fi
  exit 130
}

# Makes the work dir (exported as BENCH_TMP) and installs the traps.
bench_start() {
  BENCH_TMP=$(mktemp -d "/tmp/$1-XXXXXX")
  export BENCH_TMP
  trap bench_cleanup EXIT
  trap bench_on_signal INT TERM HUP
}

# Runs a command in the background and waits for it, so a signal to the
# script is handled at once instead of after the whole benchmark.
bench_run() {
  "$@" &
  bench_child=$!
  wait "$bench_child"
}
