#!/usr/bin/env bash
# An etcd without the v2 API (etcd 3.6 removed it; 3.4/3.5 default to it off): detection must
# not stall on v2's 404s. Empty at start: synced (NXDOMAIN, not REFUSED forever), and v3 records
# written afterwards are answered; with data present: detected as v3; -etcd3=false against such
# an etcd never serves stale or made-up data and the server keeps running.
source "$(dirname "$0")/lib.sh"
start_etcd_nov2
curl -s -o /dev/null -w '%{http_code}' "$ETCD/v2/keys/" | finds '^404$' || fail "premise: this etcd still serves v2"

DNS_PORT=$(free_port)
start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT
eventually status_is kafka-1-wkfa1.domeos.sohu NXDOMAIN || fail "empty v3-only etcd: never synced: $(status kafka-1-wkfa1.domeos.sohu)"
put_v3 /skydns/sohu/domeos/kafka-1-wkfa1/19d074a1 '{"host":"172.28.0.12","ttl":30}'
eventually answers_are kafka-1-wkfa1.domeos.sohu 172.28.0.12 || fail "v3 put after start not seen"
expect_eq "$(short kafka-1-wkfa1.domeos.sohu A +tcp)" 172.28.0.12 "over TCP"
del_v3 /skydns/sohu/domeos/kafka-1-wkfa1/19d074a1
eventually status_is kafka-1-wkfa1.domeos.sohu NXDOMAIN || fail "v3 delete not seen"
kill -0 "$SERVER_PID" || fail "server died"
stop_server

put_v3 /skydns/sohu/domeos/bx-42-198/adc8794b '{"host":"10.16.42.198","ttl":30}'
DNS_PORT=$(free_port)
mark=$(log_mark)
start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT
eventually answers_are bx-42-198.domeos.sohu 10.16.42.198 || fail "v3 data with v2 off: not served"
log_since "$mark" | grep -i 'using' | finds -i 'v3' || fail "v3 choice not logged"
stop_server

# -etcd3=false against an etcd without v2: nothing to serve; it must not crash or answer v3 data.
DNS_PORT=$(free_port)
start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT -etcd3=false
sleep 2
kill -0 "$SERVER_PID" || fail "-etcd3=false against a v2-less etcd: server exited"
st=$(status bx-42-198.domeos.sohu)
[ "$st" = REFUSED ] || [ "$st" = NXDOMAIN ] || [ "$st" = SERVFAIL ] || fail "-etcd3=false against a v2-less etcd: expected no data (REFUSED/NXDOMAIN/SERVFAIL), got $st [$(short bx-42-198.domeos.sohu)]"
echo "v3-only etcd ok"
