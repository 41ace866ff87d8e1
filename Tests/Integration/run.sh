#!/usr/bin/env bash
# Runs each Tests/Integration/test_*.sh against the server binary given as $1 and prints
# "integration: N passed, N failed". Each script sources lib.sh, starts its own etcd and server on
# free loopback ports (or in namespaces of its own), and exits non-zero on the first failed check,
# so scripts are independent: INTEGRATION_JOBS of them (default 2) run at once, since most of a
# script's time is spent waiting on etcd and the server rather than computing.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export SKYDNS_BIN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
jobs=${INTEGRATION_JOBS:-2}
results=$(mktemp -d); trap 'rm -rf "$results"' EXIT
# run_one NAME: runs one script, leaving its log and its verdict in $results.
run_one() {
  local name=$1
  if timeout 300 bash "$here/$name.sh" >"$results/$name.log" 2>&1; then
    echo ok >"$results/$name.verdict"; echo "ok   $name"
  else
    echo FAIL >"$results/$name.verdict"; echo "FAIL $name"; sed 's/^/    /' "$results/$name.log"
  fi
}
running=0
for script in "$here"/test_*.sh; do
  if [ "$running" -ge "$jobs" ]; then wait -n; running=$((running - 1)); fi
  run_one "$(basename "$script" .sh)" &
  running=$((running + 1))
done
wait
passed=$(grep -lx ok "$results"/*.verdict | wc -l)
failed=$(grep -lx FAIL "$results"/*.verdict | wc -l)
echo "integration: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
