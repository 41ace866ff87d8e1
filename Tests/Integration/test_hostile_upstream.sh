#!/usr/bin/env bash
# Replies from upstreams are untrusted: an upstream (Tests/Integration/hostile_upstream.py) that
# answers a 65 KB TXT record, counts beyond its records and a compression pointer past the end.
# The big answer, relayed or from the -rcache, reaches a UDP client advertising EDNS 65535 fitted
# to the server's 4,096-byte UDP limit with TC (never an overflowing datagram), whole over TCP;
# a malformed reply is a counted failure (`reason="malformed"`, per upstream `to`) and the next
# upstream answers; queries past the forwarding queue get SERVFAIL at once and are counted in
# skydns_skydns_forward_queue_full_total; the domain keeps being answered throughout.
source "$(dirname "$0")/lib.sh"

HOSTILE=$(free_port); GOOD=$(free_port)
python3 "$(dirname "$0")/hostile_upstream.py" "$HOSTILE" >>"$WORK/hostile.log" 2>&1 &
PIDS+=($!)
python3 "$(dirname "$0")/hostile_upstream.py" "$GOOD" good >>"$WORK/good.log" 2>&1 &
PIDS+=($!)
start_etcd
put_v3 /skydns/sohu/domeos/pod/1 '{"host":"172.28.0.1"}'
put_v3 /skydns/sohu/domeos/out/1 '{"host":"inject.hostile.test"}'
METRICS_PORT=$(free_port)
start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:${DNS_PORT:=$(free_port)} -etcd3 \
  -nameservers=127.0.0.1:$HOSTILE,127.0.0.1:$GOOD -ns-rotate=false -rtimeout=10s -rcache=100 \
  -metrics-addr=127.0.0.1:$METRICS_PORT
eventually answers_are pod.domeos.sohu 172.28.0.1 || fail "first sync"
metric() {
  curl -sf "http://127.0.0.1:$METRICS_PORT/metrics" \
    | awk -v k="$1" 'index($0, k " ") == 1 { print int($2); found = 1 } END { if (!found) print "absent" }'
}
# size_and_flags ARGS...: "<bytes received> <flags>" of one dig exchange.
size_and_flags() {
  dig +time=3 +tries=1 @127.0.0.1 -p "$DNS_PORT" "$@" >"$WORK/dig.txt" || true
  echo "$(sed -n 's/.*MSG SIZE  rcvd: \([0-9]*\).*/\1/p' "$WORK/dig.txt") $(sed -n 's/.*flags: \([a-z ]*\);.*/\1/p' "$WORK/dig.txt")"
}

# The 65 KB answer: relayed (the first time), then from the cache, to a client asking for 65535
# bytes over UDP: at most 4,096 bytes, TC set, so the client comes back over TCP.
for round in relayed cached; do
  read -r size flags <<<"$(size_and_flags big.hostile.test TXT +bufsize=65535 +ignore)"
  [ -n "$size" ] || fail "$round big TXT over UDP: no answer"
  [ "$size" -le 4096 ] || fail "$round big TXT over UDP: $size bytes"
  case " $flags " in *" tc "*) ;; *) fail "$round big TXT over UDP: no TC ($flags)";; esac
done
expect_eq "$(dig +time=3 +tries=1 @127.0.0.1 -p "$DNS_PORT" big.hostile.test TXT +tcp +noall +answer | grep -c TXT)" 1 \
  "big TXT over TCP"
read -r size flags <<<"$(size_and_flags big.hostile.test TXT +noedns +ignore)"
[ -n "$size" ] && [ "$size" -le 512 ] || fail "big TXT without EDNS: ${size:-no answer} bytes"
[ "$(metric 'skydns_skydns_cache_hits_total')" -ge 2 ] || fail "the big answer was not served from the cache"

# An answer from the store completed upstream takes only what answers the name it asked: the
# record the upstream adds for one of our own names is not passed on.
expect_eq "$(short out.domeos.sohu)" "192.0.2.77
inject.hostile.test." "a CNAME out of the domain, completed"
q out.domeos.sohu | finds '6\.6\.6\.6' && fail "a record injected by the upstream was passed on"

# Malformed replies from the first upstream: counted, and the second upstream answers. (The
# first is then passed over for a while, so each name is asked of it after a pause.)
for name in count pointer; do
  before=$(metric "skydns_skydns_upstream_failures_total{to=\"127.0.0.1:$HOSTILE\",reason=\"malformed\"}")
  expect_eq "$(short "$name.hostile.test")" 192.0.2.77 "$name: the next upstream's answer"
  expect_eq "$(metric "skydns_skydns_upstream_failures_total{to=\"127.0.0.1:$HOSTILE\",reason=\"malformed\"}")" \
    $((before + 1)) "$name: malformed reply counted"
  sleep 5.2
done
[ "$(metric "skydns_skydns_forwarded_queries_total{to=\"127.0.0.1:$GOOD\"}")" -ge 2 ] || fail "good upstream not asked"
expect_eq "$(short pod.domeos.sohu)" 172.28.0.1 "the domain after hostile replies"
# The root has fewer labels than -ndots but is forwarded (resolvers probe upstreams with it).
expect_eq "$(status . NS)" NOERROR "the root, forwarded"

# The forwarding queue: 6,000 queries for a name no upstream answers (each waits -rtimeout,
# 10 s), paced so that the kernel keeps them (a slow build too), within seconds; past the
# queue's 4,096, SERVFAIL at once (before any upstream timed out), counted.
python3 - "$DNS_PORT" >"$WORK/flood.txt" <<'PY'
import socket, struct, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect(("127.0.0.1", int(sys.argv[1])))
s.setblocking(False)
servfail = 0
def drain():
    global servfail
    while True:
        try:
            reply = s.recv(4096)
        except BlockingIOError:
            return
        servfail += reply[3] & 0x0F == 2
for i in range(6000):
    name = b"\x06silent" + bytes([7]) + b"q%06d" % i + b"\x07hostile\x04test\x00"
    s.send(struct.pack("!HHHHHH", i, 0x0100, 1, 0, 0, 0) + name + b"\x00\x01\x00\x01")
    if i % 50 == 49:
        drain()
        time.sleep(0.01)
deadline = time.time() + 0.5
while time.time() < deadline:
    drain()
    time.sleep(0.01)
print(servfail)
PY
full=$(metric 'skydns_skydns_forward_queue_full_total')
# At most 6,000 less the 4,096 queued and those in exchange (1,024, or a quarter of the file
# descriptor limit): 880 (fewer when the kernel dropped some of the flood: a slow build, a busy
# machine).
places=$(( $(ulimit -n) / 4 < 1024 ? $(ulimit -n) / 4 : 1024 ))
most=$((6000 - 4096 - places))
[ "$full" != absent ] && [ "$full" -ge 1 ] && [ "$full" -le "$most" ] || fail "queue full counted $full, expected 1..$most"
expect_eq "$(cat "$WORK/flood.txt")" "$full" "SERVFAIL at once for each query refused"
expect_eq "$(short pod.domeos.sohu)" 172.28.0.1 "the domain during a forwarding flood"
kill -0 "$SERVER_PID" || fail "server died"
echo "hostile upstream ok"
