#!/usr/bin/env bash
# A second server started on an address a first one already serves must fail at start
# ("address already in use", exit 2), as SkyDNS did: the listening sockets use SO_REUSEPORT (one
# per worker), and the kernel let a second process join them and split the queries between the
# two, so a server left over from a restart, or a test instance started by hand with another
# -domain, silently answered half of the clients (REFUSED for names the first one serves). A
# restart on the same address after the first exits still works (its TCP connections in
# TIME_WAIT do not block the port).
source "$(dirname "$0")/lib.sh"
start_etcd
put_v3 /skydns/test/in-use/web/1 '{"host":"10.7.0.1"}'
DNS_PORT=$(free_port)
start_server -machines="$ETCD" -domain=in-use.test -addr=127.0.0.1:$DNS_PORT -etcd3
eventually answers_are web.in-use.test 10.7.0.1 || fail "first server"
FIRST_PID=$SERVER_PID
expect_eq "$(short web.in-use.test +tcp)" 10.7.0.1 "first server over TCP"

rc=0
timeout 10 "$SKYDNS_BIN" -machines="$ETCD" -domain=other.test -addr=127.0.0.1:$DNS_PORT -etcd3 \
  >"$WORK/second.log" 2>&1 || rc=$?
expect_eq "$rc" 2 "exit code of a second server on the same address"
grep -q "127.0.0.1:$DNS_PORT: Address already in use" "$WORK/second.log" || fail "the second server does not say why: $(cat "$WORK/second.log")"
for _ in $(seq 20); do
  expect_eq "$(status web.in-use.test)" NOERROR "every query reaches the first server"
done

# The first one stops; a new one starts at once on the same address and serves.
kill "$FIRST_PID"; wait "$FIRST_PID" 2>/dev/null || true
start_server -machines="$ETCD" -domain=in-use.test -addr=127.0.0.1:$DNS_PORT -etcd3
eventually answers_are web.in-use.test 10.7.0.1 || fail "a restart on the same address"
kill -0 "$SERVER_PID" || fail "restarted server died"
echo "PASS test_addr_in_use"
