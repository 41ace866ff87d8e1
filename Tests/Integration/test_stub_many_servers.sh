#!/usr/bin/env bash
# A stub zone whose servers (from etcd) never answer: a forwarded query asks them one after
# another, a timeout each, and held its place in exchange until it had asked them all (12 s
# here, hours with the thousands of servers a stub tree may list), so that a burst of such
# queries kept every place from other forwarded queries long after it ended. A further server
# is asked only while the query is younger than 5 s (when stub resolvers have retried or given
# up): with a 1 s timeout, at most 6 of the 12.
source "$(dirname "$0")/lib.sh"

python3 - >"$WORK/silent.log" 2>&1 <<'PY' &
"""12 UDP servers that never answer; prints each port once bound, then "asked PORT" per query."""
import select, socket
socks = []
for _ in range(12):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); socks.append(s)
    print("bound", s.getsockname()[1], flush=True)
while True:
    for s in select.select(socks, [], [])[0]:
        s.recvfrom(4096)
        print("asked", s.getsockname()[1], flush=True)
PY
PIDS+=($!)
all_bound() { [ "$(grep -c '^bound ' "$WORK/silent.log")" = 12 ]; }
eventually_for 30 all_bound || fail "silent servers did not start"
start_etcd
put_v3 /skydns/test/skydns/pod/1 '{"host":"10.0.0.1"}'
i=0
for port in $(sed -n 's/^bound //p' "$WORK/silent.log"); do
  i=$((i + 1))
  put_v3 "/skydns/test/skydns/dns/stub/example/stub/s$i" "{\"host\":\"127.0.0.1\",\"port\":$port}"
done
start_server -machines="$ETCD" -domain=skydns.test -addr=127.0.0.1:${DNS_PORT:=$(free_port)} -etcd3 -stubzones \
  -rtimeout=1s
eventually answers_are pod.skydns.test 10.0.0.1 || fail "first sync"

# One query, waiting for its answer as long as the old behaviour took (12 s and more).
expect_eq "$(dig +time=30 +tries=1 @127.0.0.1 -p "$DNS_PORT" www.stub.example A | sed -n 's/.*status: \([A-Z]*\).*/\1/p')" \
  SERVFAIL "the stub zone's query"
asked=$(grep -c '^asked ' "$WORK/silent.log" || true)
[ "$asked" -ge 1 ] && [ "$asked" -le 6 ] || fail "stub servers asked for one query: $asked, expected 1..6"
expect_eq "$(short pod.skydns.test)" 10.0.0.1 "the domain"
kill -0 "$SERVER_PID" || fail "server died"
echo "stub many servers ok"
