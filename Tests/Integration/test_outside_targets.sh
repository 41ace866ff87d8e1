#!/usr/bin/env bash
# etcd's data decides what one query costs outside the server: 60 SRV records under one service
# whose hosts are 60 names outside the domain. One SRV query used to send 120 lookups upstream
# (A and AAAA per target, one after another, on a forwarder thread), so 20 such queries over a
# slow upstream held every forwarder thread for a minute and every other forwarded name timed
# out. Now one answer makes at most 8 lookups outside the domain (targets past that go without
# addresses in additional); the answer still lists all 60 SRV records, a CNAME to an outside name
# is still followed, and ordinary forwarding keeps working.
# Also: a host with a NUL byte ("10.0.0.18\u0000.evil.example") is not an address (inet_pton
# reads a C string and stopped at the NUL, serving 10.0.0.18): the key is skipped and logged.
source "$(dirname "$0")/lib.sh"
start_etcd
UP=$(free_port)
python3 "$(dirname "$0")/hostile_upstream.py" "$UP" good >>"$WORK/upstream.log" 2>&1 &
PIDS+=($!)
METRICS_PORT=$(free_port)
metric() {
  curl -sf "http://127.0.0.1:$METRICS_PORT/metrics" \
    | awk -v k="$1" 'index($0, k " ") == 1 { print int($2); found = 1 } END { if (!found) print 0 }'
}
forwards() { metric "skydns_skydns_forwarded_queries_total{to=\"127.0.0.1:$UP\"}"; }

for i in $(seq 1 60); do put_v3 "/skydns/test/ae/ext/e$i" "{\"host\":\"h$i.example.net\",\"port\":80}"; done
put_v3 /skydns/test/ae/alias/1 '{"host":"www.example.net"}'
put_v3 /skydns/test/ae/nul/1 '{"host":"10.0.0.18\u0000.evil.example"}'
put_v3 /skydns/test/ae/good/1 '{"host":"10.0.0.1"}'
DNS_PORT=$(free_port)
start_server -machines="$ETCD" -domain=ae.test -addr=127.0.0.1:$DNS_PORT -etcd3 \
  -nameservers=127.0.0.1:$UP -metrics-addr=127.0.0.1:$METRICS_PORT
eventually answers_are good.ae.test 10.0.0.1 || fail "records not served"

before=$(forwards)
srv=$(dig +tcp +time=10 +tries=1 +noall +answer @127.0.0.1 -p "$DNS_PORT" ext.ae.test SRV | grep -c 'IN[[:space:]]*SRV' || true)
expect_eq "$srv" 60 "SRV records over 60 outside targets"
sent=$(( $(forwards) - before ))
[ "$sent" -le 8 ] || fail "one SRV answer sent $sent lookups upstream (at most 8)"
[ "$sent" -ge 1 ] || fail "no glue was looked up for the first outside targets"
echo "one SRV answer over 60 outside targets: $sent upstream lookups" >&2

# Twenty more, over UDP (+ignore: no retry over TCP): each costs at most 8; the server keeps forwarding other names.
before=$(forwards)
digs=()
for _ in $(seq 20); do dig +ignore +time=5 +tries=1 @127.0.0.1 -p "$DNS_PORT" ext.ae.test SRV >/dev/null & digs+=($!); done
wait "${digs[@]}" || true
sent=$(( $(forwards) - before ))
[ "$sent" -le 160 ] || fail "20 SRV answers sent $sent lookups upstream (at most 160)"
expect_eq "$(short www.example.org)" 192.0.2.77 "a forwarded name after the SRV queries"
expect_eq "$(qn alias.ae.test | awk '{print $4, $5}' | tr '\n' ' ')" "CNAME www.example.net. A 192.0.2.77 " \
  "a CNAME to a name outside the domain is still followed"

# The NUL host: skipped, logged, never 10.0.0.18.
expect_eq "$(status nul.ae.test)" NXDOMAIN "a host with a NUL byte is not an address"
grep -qF /skydns/test/ae/nul/1 "$WORK/server.log" || fail "the key with a NUL host is not logged"
kill -0 "$SERVER_PID" || fail "server died"
echo "PASS test_outside_targets"
