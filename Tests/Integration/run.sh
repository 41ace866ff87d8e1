#!/usr/bin/env bash
# Runs each Tests/Integration/test_*.sh against the server binary given as $1 and prints
# "integration: N passed, N failed". Each script sources lib.sh, starts its own etcd and server on
# free loopback ports, and exits non-zero on the first failed check.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export SKYDNS_BIN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
passed=0; failed=0; failures=()
for script in "$here"/test_*.sh; do
  name=$(basename "$script" .sh)
  log=$(mktemp)
  if timeout 300 bash "$script" >"$log" 2>&1; then
    passed=$((passed + 1)); echo "ok   $name"
  else
    failed=$((failed + 1)); failures+=("$name"); echo "FAIL $name"; sed 's/^/    /' "$log"
  fi
  rm -f "$log"
done
echo "integration: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
