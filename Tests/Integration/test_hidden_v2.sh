#!/usr/bin/env bash
# kube2sky's named-port records under `_`-labels, which etcd v2 hides from recursive reads and
# recursive watches (issue 2): the first query for such a name fetches the exact path and is
# answered (NXDOMAIN there would be the bug SkyDNS users would hit), over UDP and TCP; changes
# to the value arrive; a missing `_` name is NXDOMAIN, and one created later appears.
source "$(dirname "$0")/lib.sh"
# A process left stopped would ignore cleanup's SIGTERM and hang its wait: continue it first.
trap 'kill -CONT "${SERVER_PID:-}" "${ETCD_PID:-}" 2>/dev/null; cleanup' EXIT
start_etcd
put_v2 /skydns/sohu/domeos/svc/default/kafka/b56639fb '{"host":"172.16.50.8","priority":10,"weight":10,"ttl":30}'
put_v2 /skydns/sohu/domeos/svc/default/kafka/_tcp/_broker/abcd '{"host":"172.16.50.9","port":9092}'
# etcd itself hides it: the recursive listing kube2sky's readers get does not show _tcp.
curl -sf "$ETCD/v2/keys/skydns/sohu/domeos/svc/default/kafka?recursive=true" | finds '_tcp' && fail "etcd shows hidden keys; the test premise is wrong"
DNS_PORT=$(free_port)
start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT
eventually answers_are kafka.default.svc.domeos.sohu 172.16.50.8 || fail "first sync"

NAME=_broker._tcp.kafka.default.svc.domeos.sohu
# The very first query: may wait for the fetch, must not be NXDOMAIN.
first=$(dig +time=3 +tries=1 @127.0.0.1 -p $DNS_PORT $NAME A)
grep -q 'status: NOERROR' <<<"$first" || fail "first query for a hidden name: expected NOERROR, got $(echo "$first" | sed -n 's/.*status: \([A-Z]*\).*/\1/p')"
grep -q "^$NAME.*IN.*A.*172.16.50.9" <<<"$first" || fail "first query for a hidden name: no 172.16.50.9 in [$first]"
for transport in +notcp +tcp +notcp; do
  expect_eq "$(short $NAME A $transport)" 172.16.50.9 "hidden name $transport"
  expect_eq "$(status $NAME A $transport)" NOERROR "hidden name rcode $transport"
done
expect_eq "$(short _BROKER._tcp.Kafka.default.svc.domeos.sohu)" 172.16.50.9 "hidden name, other casing"
# A TCP-first fetch for a second hidden name.
put_v2 /skydns/sohu/domeos/svc/default/kafka/_udp/_metrics/ef01 '{"host":"172.16.50.10","port":9999}'
expect_eq "$(short _metrics._udp.kafka.default.svc.domeos.sohu A +tcp)" 172.16.50.10 "hidden name first asked over TCP"

# A change through v2 (the recursive watch never reports it; the server must watch the path).
put_v2 /skydns/sohu/domeos/svc/default/kafka/_tcp/_broker/abcd '{"host":"172.16.50.19","port":9092}'
eventually answers_are $NAME 172.16.50.19 || fail "hidden value change not seen: $(short $NAME)"
# kube2sky updates by deleting the subtree and rewriting it.
del_v2 /skydns/sohu/domeos/svc/default/kafka/_tcp/_broker '?recursive=true'
eventually status_is $NAME NXDOMAIN || fail "hidden subtree delete not seen: $(status $NAME)"
put_v2 /skydns/sohu/domeos/svc/default/kafka/_tcp/_broker/abce '{"host":"172.16.50.29","port":9092}'
eventually_for 15 answers_are $NAME 172.16.50.29 || fail "hidden subtree rewrite not seen: $(status $NAME)"
# The visible record beside it is untouched. (Whether the service name's directory answer also
# lists the fetched hidden records is left open: SkyDNS on v2 never did, v3 has no hidden keys.)
short kafka.default.svc.domeos.sohu | finds -x 172.16.50.8 || fail "service record beside hidden ones lost"

# Missing hidden names: NXDOMAIN, several times (the negative memory must not turn into REFUSED
# or SERVFAIL); one created afterwards appears once that memory has lapsed.
MISSING=_x._y.kafka.default.svc.domeos.sohu
for transport in +notcp +tcp +notcp; do
  expect_eq "$(status $MISSING A $transport)" NXDOMAIN "missing hidden name $transport"
done
dig @127.0.0.1 -p $DNS_PORT $MISSING | finds 'IN	SOA' || fail "missing hidden name without SOA"
put_v2 /skydns/sohu/domeos/svc/default/kafka/_y/_x/1 '{"host":"172.16.50.30"}'
eventually_for 15 answers_are $MISSING 172.16.50.30 || fail "hidden name created after an NXDOMAIN never appears: $(status $MISSING)"

# Last (etcd faults; the checks above report first): a hidden name that exists in etcd, asked for
# the first time while etcd does not answer (frozen with SIGSTOP: a slow or partitioned member),
# must not be NXDOMAIN: that authoritative denial is cached by resolvers for the SOA minimum,
# for a service port that exists. Not knowing is SERVFAIL (or no answer).
put_v2 /skydns/sohu/domeos/svc/default/kafka/_tcp/_admin/ab01 '{"host":"172.16.50.40","port":9093}'
ADMIN=_admin._tcp.kafka.default.svc.domeos.sohu
kill -STOP "$ETCD_PID"
frozen_udp=$(status $ADMIN A +notcp || true)
frozen_tcp=$(status $ADMIN A +tcp || true)
kill -CONT "$ETCD_PID"
eventually_for 15 answers_are $ADMIN 172.16.50.40 || fail "hidden name after etcd thawed: $(status $ADMIN)"
[ "$frozen_udp" != NXDOMAIN ] || fail "hidden name that exists, first asked while etcd is unresponsive, over UDP: got NXDOMAIN (expected SERVFAIL or no reply)"
[ "$frozen_tcp" != NXDOMAIN ] || fail "hidden name that exists, first asked while etcd is unresponsive, over TCP: got NXDOMAIN (expected SERVFAIL or no reply)"
echo "hidden v2 ok"
