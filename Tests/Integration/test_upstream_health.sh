#!/usr/bin/env bash
# An upstream that stops answering is passed over for a few seconds (one probe a second) instead
# of costing every forwarded query a full timeout: with a black hole and a healthy Knot as
# upstreams, almost every query goes straight to Knot; with only the black hole, queries get
# SERVFAIL and the hole sees about one probe a second, not one query each.
source "$(dirname "$0")/lib.sh"

start_zone example.test 'www IN A 192.0.2.10'

# A black hole that counts what it receives (one line per datagram).
HOLE=$(free_port)
python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", int(sys.argv[1])))
with open(sys.argv[2], "a", buffering=1) as log:
    while True:
        s.recvfrom(4096); log.write("q\n")
' "$HOLE" "$WORK/hole.log" & PIDS+=($!)
touch "$WORK/hole.log"
hole_count() { wc -l <"$WORK/hole.log"; }

start_etcd
put_v2 /skydns/sohu/domeos/pod/1 '{"host":"172.28.0.1"}'
DNS_PORT=$(free_port)
start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT -etcd3=false \
  -nameservers=127.0.0.1:$HOLE,127.0.0.1:$KNOT_PORT -rtimeout=1s

# 20 different names (no cache: -rcache is 0), rotating over both upstreams.
started=$(date +%s)
for i in $(seq 20); do
  expect_eq "$(dig +time=5 +tries=1 @127.0.0.1 -p $DNS_PORT "n$i.example.test" | sed -n 's/.*status: \([A-Z]*\).*/\1/p')" \
    NXDOMAIN "n$i.example.test through the healthy upstream"
done
elapsed=$(( $(date +%s) - started + 1 ))
sent=$(hole_count)
# Without passing it over, rotation alone would send about 10 of the 20 to the hole (each a 1 s
# timeout). Passed over, it gets the first query and one more each time its 5 s are up; probes
# only happen when no healthy upstream is left.
[ "$sent" -le $((2 + elapsed / 5)) ] || fail "the black hole got $sent queries in ${elapsed}s (expected 1, and 1 more per 5 s)"
grep -q "upstream 127.0.0.1:$HOLE is not answering" "$WORK/server.log" || fail "the dead upstream was not logged"

# Only the black hole: SERVFAIL, and the hole sees about a probe a second.
DNS_PORT2=$(free_port)
"$SKYDNS_BIN" -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT2 -nameservers=127.0.0.1:$HOLE \
  -rtimeout=1s >>"$WORK/server2.log" 2>&1 &
PIDS+=($!)
eventually answer_at_is $DNS_PORT2 pod.domeos.sohu 172.28.0.1 || fail "second server"
before=$(hole_count); started=$(date +%s)
for i in $(seq 20); do
  expect_eq "$(dig +time=5 +tries=1 @127.0.0.1 -p $DNS_PORT2 "m$i.example.test" | sed -n 's/.*status: \([A-Z]*\).*/\1/p')" \
    SERVFAIL "m$i.example.test with every upstream down"
done
elapsed=$(( $(date +%s) - started + 1 ))
sent=$(( $(hole_count) - before ))
# Without passing it over, all 20 would reach the hole, 1 s each; passed over, a probe costs 1 s
# and comes at most once a second, so at most half the elapsed seconds (plus the first failure).
[ "$sent" -le $((2 + elapsed / 2)) ] || fail "the black hole got $sent of 20 queries in ${elapsed}s (expected a probe a second at most)"
# The domain is answered throughout.
expect_eq "$(dig +short @127.0.0.1 -p $DNS_PORT2 pod.domeos.sohu)" 172.28.0.1 "authoritative answer"
echo "upstream health ok"
