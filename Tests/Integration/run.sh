#!/usr/bin/env bash
# Runs Tests/Integration/test_*.sh (or only the NAMEs given) against the server binary given as $1
# and prints each verdict with the script's wall time, the slowest five, and
# "integration: N passed, N failed". Each script sources lib.sh, starts its own etcd and server on
# free loopback ports (or in namespaces of its own), and exits non-zero on the first failed check,
# so scripts are independent: INTEGRATION_JOBS of them (default 2) run at once, since most of a
# script's time is spent waiting on etcd and the server rather than computing. Each may take
# INTEGRATION_TIMEOUT seconds (default 300); INTEGRATION_LABEL names the summary line.
#   run.sh BINARY [NAME...]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export SKYDNS_BIN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
shift
jobs=${INTEGRATION_JOBS:-2}
limit=${INTEGRATION_TIMEOUT:-300}
results=$(mktemp -d); trap 'rm -rf "$results"' EXIT
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for script in "$here"/test_*.sh; do names+=("$(basename "$script" .sh)"); done
fi
# run_one NAME: runs one script, leaving its log, its verdict and its seconds in $results.
run_one() {
  local name=$1 start=$SECONDS
  if timeout "$limit" bash "$here/$name.sh" >"$results/$name.log" 2>&1; then
    echo ok >"$results/$name.verdict"; echo "ok   $name ($((SECONDS - start)) s)"
  else
    echo FAIL >"$results/$name.verdict"; echo "FAIL $name ($((SECONDS - start)) s)"; sed 's/^/    /' "$results/$name.log"
  fi
  echo "$((SECONDS - start)) $name" >"$results/$name.seconds"
}
running=0
for name in "${names[@]}"; do
  if [ "$running" -ge "$jobs" ]; then wait -n; running=$((running - 1)); fi
  run_one "$name" &
  running=$((running + 1))
done
wait
echo "slowest: $(cat "$results"/*.seconds | sort -rn | head -5 | awk '{printf "%s %s s, ", $2, $1}' | sed 's/, $//')"
passed=$(grep -lx ok "$results"/*.verdict | wc -l)
failed=$(grep -lx FAIL "$results"/*.verdict | wc -l)
echo "${INTEGRATION_LABEL:-integration}: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
