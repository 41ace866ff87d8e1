#!/usr/bin/env bash
# etcd v2 and a flood of queries for random names with a `_` label (each a hidden path the server
# must fetch from etcd): the server keeps answering ordinary names, names that exist nowhere cost
# no watch (no thread), the paths remembered stay within their bound, the parked queries too
# (past them, SERVFAIL at once, counted), resident memory and threads stay put, and the flood is
# logged once, not per name. A real hidden name still answers and is the one watched.
source "$(dirname "$0")/lib.sh"
start_etcd
put_v2 /skydns/sohu/domeos/pod/1 '{"host":"172.28.0.1"}'
put_v2 /skydns/sohu/domeos/svc/default/kafka/_tcp/_broker/abcd '{"host":"172.16.50.9","port":9092}'
METRICS_PORT=$(free_port)
start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:${DNS_PORT:=$(free_port)} -etcd3=false \
  -metrics-addr=127.0.0.1:$METRICS_PORT
eventually answers_are pod.domeos.sohu 172.28.0.1 || fail "first sync"
expect_eq "$(short _broker._tcp.kafka.default.svc.domeos.sohu)" 172.16.50.9 "a real hidden name"
metric() {
  curl -sf "http://127.0.0.1:$METRICS_PORT/metrics" \
    | awk -v k="$1" 'index($0, k " ") == 1 { print int($2); found = 1 } END { if (!found) print "absent" }'
}
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$SERVER_PID/status"; }
threads() { ls "/proc/$SERVER_PID/task" | wc -l; }
# Warm the paths the flood takes once (first allocations), then measure.
flood() {  # COUNT SECONDS SEED
  python3 - "$DNS_PORT" "$@" <<'PY'
import random, socket, struct, sys, time
port, count, seconds, seed = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
rng = random.Random(seed)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect(("127.0.0.1", port))
s.setblocking(False)
def label(text): return bytes([len(text)]) + text.encode()
start = time.time()
for i in range(count):
    name = label("_p%08x" % rng.getrandbits(32)) + label("_tcp") + label("s%08x" % rng.getrandbits(32)) \
        + label("domeos") + label("sohu") + b"\0"
    s.send(struct.pack("!HHHHHH", i & 0xFFFF, 0x0100, 1, 0, 0, 0) + name + b"\x00\x21\x00\x01")
    while True:
        try: s.recv(4096)
        except BlockingIOError: break
    lag = start + seconds * (i + 1) / count - time.time()
    if lag > 0: time.sleep(lag)
PY
}
flood 3000 1 1
sleep 1
rss_before=$(rss_kib); threads_before=$(threads)
mark=$(log_mark)
flood 20000 6 2 &
FLOOD=$!
# Ordinary names keep answering during the flood (a datagram may be lost under it: dig retries).
for i in 1 2 3 4 5; do
  dig +time=1 +tries=3 +short @127.0.0.1 -p "$DNS_PORT" pod.domeos.sohu | finds -x 172.28.0.1 \
    || fail "an ordinary name during the flood ($i)"
  sleep 0.5
done
wait $FLOOD
sleep 1
rss_after=$(rss_kib); threads_after=$(threads)
echo "RSS ${rss_before} -> ${rss_after} KiB, threads ${threads_before} -> ${threads_after}"
expect_eq "$(metric skydns_skydns_hidden_key_watches)" 1 "watches: only the real hidden path"
paths=$(metric skydns_skydns_hidden_key_paths)
[ "$paths" -le 4097 ] || fail "hidden paths remembered: $paths, bound 4096 (+1 real)"
[ "$threads_after" -le $((threads_before + 2)) ] || fail "threads grew: $threads_before -> $threads_after"
# 23,000 names would be some tens of MB if each were kept (or watched); the bound keeps it flat.
[ $((rss_after - rss_before)) -lt 20480 ] || fail "RSS grew by $((rss_after - rss_before)) KiB"
lines=$(log_since "$mark" | grep -c "hidden" || true)
[ "$lines" -le 2 ] || fail "the flood logged $lines lines about hidden keys"
expect_eq "$(short _broker._tcp.kafka.default.svc.domeos.sohu)" 172.16.50.9 "the real hidden name after the flood"
expect_eq "$(status _nope._tcp.kafka.default.svc.domeos.sohu)" NXDOMAIN "a missing hidden name after the flood"
kill -0 "$SERVER_PID" || fail "server died"
echo "hidden flood ok (queue full: $(metric skydns_skydns_hidden_key_queue_full_total))"
