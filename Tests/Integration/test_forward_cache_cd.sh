#!/usr/bin/env bash
# The response cache keeps a checking-disabled (CD) reply apart from a checked one (RFC 4035
# §3.2.2, §4.7): an upstream that validates DNSSEC answers a CD query with data it would have
# refused, so one client setting CD must not hand that data to clients who did not.
source "$(dirname "$0")/lib.sh"

start_fake_upstream upstream <<'PY'
cd = flags & 0x0010 != 0
# CD: the data a validating resolver would have answered SERVFAIL for.
print("query cd=%d" % cd, flush=True)
s.sendto(reply_a(qid, question, [203, 0, 113, 66] if cd else [192, 0, 2, 1], 300, 0x8180 | (flags & 0x0010)), peer)
PY
UP=$UPSTREAM_PORT

start_etcd
DNS_PORT=$(free_port)
start_server -machines="$ETCD" -domain=skydns.test -addr=127.0.0.1:$DNS_PORT -nameservers=127.0.0.1:$UP -rcache=100

expect_eq "$(short signed.example.net A +cd)" 203.0.113.66 "a CD query gets the upstream's CD answer"
expect_eq "$(short signed.example.net A)" 192.0.2.1 "a query without CD after a CD one"
expect_eq "$(short signed.example.net A +cd)" 203.0.113.66 "CD again"
expect_eq "$(short signed.example.net A)" 192.0.2.1 "without CD again"
# Each kind was cached: the upstream was asked once per kind.
expect_eq "$(grep -c '^query' "$WORK/upstream.log")" 2 "queries that reached the upstream"
echo "forward cache CD ok"
