#!/usr/bin/env bash
# A flood of UDP queries for outside names whose upstream is slow: the upstream engine holds as
# many in exchange as it has places (1,024, or a quarter of the file descriptor limit), the rest
# wait for a place; a query that waited there longer than a stub resolver waits (5 s) is dropped
# and counted, not forwarded: clients have retried or given up, and working through thousands of
# stale queries kept both cores busy for minutes after the flood ended. The upstream holds every
# answer until 9 s after the first query, so the 100 queries past the places are over 5 s old
# when a place frees: the upstream sees exactly as many queries as there are places.
source "$(dirname "$0")/lib.sh"

PLACES=$(( $(ulimit -n) / 4 < 1024 ? $(ulimit -n) / 4 : 1024 ))
UPSTREAM=$(free_port)
cat >"$WORK/upstream.py" <<'PY'
"""Answers every query with A 192.0.2.77, but not before 9 s after the first query arrived;
prints how many queries it received."""
import select, socket, struct, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
first = None
count = 0
held = []
def answer(q, peer):
    end = 12
    while q[end]: end += q[end] + 1
    s.sendto(q[:2] + struct.pack("!HHHHH", 0x8180, 1, 1, 0, 0) + q[12:end + 5]
             + b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + bytes([192, 0, 2, 77]), peer)
while True:
    wait = None if first is None or not held else max(0, first + 9 - time.time())
    if select.select([s], [], [], wait)[0]:
        q, peer = s.recvfrom(4096)
        first = first or time.time()
        count += 1
        print(count, flush=True)
        held.append((q, peer))
    if first is not None and time.time() >= first + 9:
        for q, peer in held: answer(q, peer)
        held = []
PY
python3 "$WORK/upstream.py" "$UPSTREAM" >"$WORK/upstream.log" 2>&1 &
PIDS+=($!)
start_etcd
put_v3 /skydns/test/skydns/pod/1 '{"host":"10.0.0.1"}'
METRICS_PORT=$(free_port)
start_server -machines="$ETCD" -domain=skydns.test -addr=127.0.0.1:${DNS_PORT:=$(free_port)} -etcd3 \
  -nameservers=127.0.0.1:$UPSTREAM -rtimeout=20s -metrics-addr=127.0.0.1:$METRICS_PORT
eventually answers_are pod.skydns.test 10.0.0.1 || fail "first sync"
dropped() {
  curl -sf "http://127.0.0.1:$METRICS_PORT/metrics" | awk '$1 == "skydns_skydns_queries_dropped_total{transport=\"udp\"}" { print $2 }'
}
before=$(dropped)

python3 - "$DNS_PORT" "$((PLACES + 100))" >"$WORK/answers.txt" <<'PY'
import socket, struct, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
s.connect(("127.0.0.1", int(sys.argv[1])))
for i in range(int(sys.argv[2])):
    name = b"\x07q%06d" % i + b"\x07example\x03net\x00"
    s.send(struct.pack("!HHHHHH", i & 0xFFFF, 0x0100, 1, 0, 0, 0) + name + b"\x00\x01\x00\x01")
    time.sleep(0.001)
# The held answers come 9 s after the first query; none of the others ever should.
deadline = time.time() + 10
answered = 0
while time.time() < deadline:
    s.settimeout(max(0.01, deadline - time.time()))
    try:
        s.recv(4096)
        answered += 1
    except socket.timeout:
        pass
print(answered)
PY
expect_eq "$(tail -1 "$WORK/upstream.log")" "$PLACES" "queries that reached the upstream (one per place in exchange)"
# The client's socket may lose some of the burst of answers; none beyond the places can come.
answered=$(cat "$WORK/answers.txt")
[ "$answered" -ge 1 ] && [ "$answered" -le "$PLACES" ] || fail "answers to the flood: $answered, expected 1..$PLACES"
expect_eq "$(dropped)" "$((before + 100))" "stale queries dropped and counted"
expect_eq "$(short pod.skydns.test)" 10.0.0.1 "the domain after the flood"
expect_eq "$(short fresh.example.net)" 192.0.2.77 "an outside name after the flood"
kill -0 "$SERVER_PID" || fail "server died"
echo "forward backlog ok"
