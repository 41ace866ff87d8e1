#!/usr/bin/env bash
# Forwarded queries that no upstream answers are counted, and logged at most once per 10 s: a
# client that asks for names whose upstream times out, between names it answers (which keep it
# marked up), otherwise wrote one warning line per query, at its own query rate.
source "$(dirname "$0")/lib.sh"

# Answers names whose first label starts with "now"; never the others.
start_fake_upstream upstream <<'PY'
if question[1:4] == b"now":
    s.sendto(reply_a(qid, question, [192, 0, 2, 77], 60), peer)
PY
start_etcd
put_v3 /skydns/test/skydns/pod/1 '{"host":"10.0.0.1"}'
METRICS_PORT=$(free_port)
start_server -machines="$ETCD" -domain=skydns.test -addr=127.0.0.1:${DNS_PORT:=$(free_port)} -etcd3 \
  -nameservers=127.0.0.1:$UPSTREAM_PORT -rtimeout=300ms -metrics-addr=127.0.0.1:$METRICS_PORT
eventually answers_are pod.skydns.test 10.0.0.1 || fail "first sync"
metric() { curl -sf "http://127.0.0.1:$METRICS_PORT/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }

started=$(date +%s)
python3 - "$DNS_PORT" <<'PY'
import socket, struct, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect(("127.0.0.1", int(sys.argv[1]))); s.setblocking(False)
for i in range(800):
    label = (b"now-%d" if i % 2 else b"slow-%d") % i
    s.send(struct.pack("!HHHHHH", i, 0x0100, 1, 0, 0, 0) + bytes([len(label)]) + label
           + b"\x07example\x03net\x00\x00\x01\x00\x01")
    time.sleep(0.005)
    try:
        while True: s.recv(4096)
    except BlockingIOError: pass
PY
# Every exchange has ended once its timeout has passed.
sleep 1
elapsed=$(( $(date +%s) - started ))
timeouts=$(metric "skydns_skydns_upstream_failures_total{to=\"127.0.0.1:$UPSTREAM_PORT\",reason=\"timeout\"}")
[ "${timeouts%.*}" -ge 5 ] || fail "upstream timeouts during the flood: $timeouts, expected at least 5"
lines=$(grep -c "no upstream answered" "$WORK/server.log" || true)
# One line at the first failure, then at most one per 10 s.
[ "$lines" -ge 1 ] && [ "$lines" -le $(( 2 + elapsed / 10 )) ] \
  || fail "warning lines for $timeouts timed-out queries in $elapsed s: $lines, expected 1..$(( 2 + elapsed / 10 ))"
expect_eq "$(short pod.skydns.test)" 10.0.0.1 "the domain after the flood"
kill -0 "$SERVER_PID" || fail "server died"
echo "forward failure log ok"
