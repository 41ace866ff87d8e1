#!/usr/bin/env bash
# etcd keys and values reach the log (a skipped value names its key): a key holding a newline and
# a terminal escape must not forge a log line of its own or reach the terminal. The text log
# escapes control characters (\n, \x1b), the JSON log escapes them as JSON does.
source "$(dirname "$0")/lib.sh"
start_etcd
FORGED='2026-11-30T12:00:00+0000 critical skydns: [skydns] FORGED'
put_v3 $'/skydns/test/inj/a\n'"$FORGED"$'\x1b[2J/1' 'not json'
put_v3 /skydns/test/inj/good/1 '{"host":"10.8.0.1"}'
DNS_PORT=$(free_port)
start_server -machines="$ETCD" -domain=inj.test -addr=127.0.0.1:$DNS_PORT -etcd3
eventually answers_are good.inj.test 10.8.0.1 || fail "records not served"
starts_line() { awk -v f="$FORGED" 'index($0, f) == 1 { found = 1 } END { exit !found }'; }
starts_line <"$WORK/server.log" && fail "an etcd key forged a log line"
grep -q $'\x1b' "$WORK/server.log" && fail "an ESC from etcd reached the log"
grep -qF 'skipping etcd key /skydns/test/inj/a\n2026-11-30T12:00:00+0000 critical skydns: [skydns] FORGED\x1b[2J/1' \
  "$WORK/server.log" || fail "the skipped key is not logged, escaped, on one line"
stop_server
mark=$(log_mark)
start_server -machines="$ETCD" -domain=inj.test -addr=127.0.0.1:$DNS_PORT -etcd3 -log-format=json
eventually answers_are good.inj.test 10.8.0.1 || fail "records not served (json log)"
log_since "$mark" | starts_line && fail "an etcd key forged a JSON log line"
log_since "$mark" | finds -F 'inj/a\n2026-11-30T12:00:00+0000 critical skydns: [skydns] FORGED\u001b[2J/1' \
  || fail "the skipped key is not in the JSON log, escaped"
echo "PASS test_log_injection"
