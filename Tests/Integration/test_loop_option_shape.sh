#!/usr/bin/env bash
# A client's own forwarding-loop option (code 65012) whose length is not a whole number of 4-byte
# server IDs must not shift the IDs the servers append after it: two servers forwarding to each
# other still see the query come back after one forward each, not after the eight hops that end
# any chain. A misaligned list hid each server's own ID from it, so one such query cost four
# forwards each (and a client could make every loop eight times as dear).
source "$(dirname "$0")/lib.sh"
start_etcd
put_v3 /skydns/sohu/domeos/pod/1 '{"host":"172.28.0.1"}'
metric() {
  curl -sf "http://127.0.0.1:$1/metrics" \
    | awk -v k="$2" 'index($0, k " ") == 1 { print int($2); found = 1 } END { if (!found) print "0" }'
}
A=$(free_port); B=$(free_port); A_M=$(free_port); B_M=$(free_port)
DNS_PORT=$A start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$A -etcd3 -nameservers=127.0.0.1:$B \
  -metrics-addr=127.0.0.1:$A_M
DNS_PORT=$B start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$B -etcd3 -nameservers=127.0.0.1:$A \
  -metrics-addr=127.0.0.1:$B_M
forwards() { echo "$(metric $A_M "skydns_skydns_forwarded_queries_total{to=\"127.0.0.1:$B\"}")" \
  "$(metric $B_M "skydns_skydns_forwarded_queries_total{to=\"127.0.0.1:$A\"}")"; }
# One byte: not a whole ID. One forward by each server, as without the client's option (the
# loop is found at once; after it each passes the other over, so only the first query counts).
got=$(dig +time=5 +tries=1 @127.0.0.1 -p $A w1.example.test +ednsopt=65012:ab | sed -n 's/.*status: \([A-Z]*\).*/\1/p')
expect_eq "$got" SERVFAIL "a one-byte loop option through A and B"
expect_eq "$(forwards)" "1 1" "forwards by A and B for a query with a one-byte loop option"
echo "loop option shape ok"
