#!/usr/bin/env bash
# -domain=. serves every name from etcd (bare names such as private-registry.local): answers
# carry AA, a name etcd does not hold is NXDOMAIN under the root's SOA and is not forwarded; only
# a CNAME target etcd does not hold is looked up upstream. And with a normal domain, PTR records
# from etcd are answered as SkyDNS answers them (no AA), a missing one is forwarded.
source "$(dirname "$0")/lib.sh"
# The upstream: Knot serving a root zone with the outside names the tests need.
cat >"$WORK/root.zone" <<'ZONE'
$ORIGIN .
$TTL 300
@ IN SOA ns.upstream. admin.upstream. 1 3600 600 86400 120
@ IN NS ns.upstream.
ns.upstream. IN A 127.0.0.1
lb.example.net. IN A 192.0.2.10
10.2.0.192.in-addr.arpa. IN PTR lb.example.net.
127.0.0.10.in-addr.arpa. IN PTR upstream-says.example.net.
ZONE
start_knot . "$WORK/root.zone"
start_etcd
put_v3 /skydns/local/private-registry/x '{"host":"10.7.0.1"}'
put_v3 /skydns/local/mirror/x '{"host":"lb.example.net"}'
put_v3 /skydns/arpa/in-addr/10/0/0/127 '{"host":"reverse.domeos.sohu"}'
put_v3 /skydns/sohu/domeos/pod/x '{"host":"10.0.0.127"}'

# flags NAME [TYPE]: dig's flags line.
flags() { dig +time=2 +tries=1 @127.0.0.1 -p "$DNS_PORT" "$@" | sed -n 's/.*flags: \([a-z ]*\);.*/\1/p'; }

DNS_PORT=$(free_port)
start_server -machines="$ETCD" -domain=. -addr=127.0.0.1:$DNS_PORT -nameservers=127.0.0.1:$KNOT_PORT
eventually answers_are private-registry.local 10.7.0.1 || fail "-domain=.: bare name: $(q private-registry.local)"
flags private-registry.local | finds -w aa || fail "-domain=.: answer without AA"
expect_eq "$(qn mirror.local)" "$(printf 'lb.example.net. 300 IN A 192.0.2.10\nmirror.local. 300 IN CNAME lb.example.net.' | sort)" \
  "-domain=.: CNAME to a name etcd does not hold, completed upstream"
# Not forwarded: the upstream knows lb.example.net, but every name is ours.
expect_eq "$(status lb.example.net)" NXDOMAIN "-domain=.: a name etcd does not hold"
flags lb.example.net | finds -w aa || fail "-domain=.: NXDOMAIN without AA"
dig +time=2 +tries=1 @127.0.0.1 -p "$DNS_PORT" lb.example.net | finds -E '^\.[[:space:]]+60[[:space:]]+IN[[:space:]]+SOA[[:space:]]+ns\.dns\. hostmaster\.' \
  || fail "-domain=.: NXDOMAIN without the root's SOA: $(dig @127.0.0.1 -p "$DNS_PORT" lb.example.net)"
expect_eq "$(short -x 10.0.0.127 PTR)" "reverse.domeos.sohu." "-domain=.: PTR from etcd"
expect_eq "$(status 10.2.0.192.in-addr.arpa PTR)" NXDOMAIN "-domain=.: a PTR etcd does not hold"
stop_server

DNS_PORT=$(free_port)
start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT -nameservers=127.0.0.1:$KNOT_PORT
eventually answers_are pod.domeos.sohu 10.0.0.127 || fail "first sync: $(q pod.domeos.sohu)"
expect_eq "$(short 127.0.0.10.in-addr.arpa PTR)" "reverse.domeos.sohu." "PTR from etcd"
f=$(flags 127.0.0.10.in-addr.arpa PTR)
echo "$f" | finds -w aa && fail "PTR from etcd with AA ($f): we hold no SOA for reverse zones"
echo "$f" | finds -w ra || fail "PTR from etcd without RA ($f)"
expect_eq "$(short 10.2.0.192.in-addr.arpa PTR)" "lb.example.net." "a PTR etcd does not hold is forwarded"
expect_eq "$(status 99.2.0.192.in-addr.arpa PTR)" NXDOMAIN "a missing PTR: the upstream's NXDOMAIN"
dig +time=2 +tries=1 @127.0.0.1 -p "$DNS_PORT" 99.2.0.192.in-addr.arpa PTR | finds 'ns.upstream.' \
  || fail "a missing PTR: the denial is the upstream's, not ours"
echo "root domain and reverse ok"
