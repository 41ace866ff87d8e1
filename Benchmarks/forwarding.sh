#!/usr/bin/env bash
# forwarding.sh SERVER_BINARY [SECONDS]
# Issue 4's figures, self-contained on loopback: the latency of a cached forwarded answer (Knot
# serves the upstream zone), and authoritative queries per second with a healthy upstream and
# while outside names flood a black-holed upstream (it should not drop). The server is pinned to
# core 0 and dnsperf to core 1, as in ../shared/bench/compare.sh. Needs etcd, knot, dnsperf, dig.
set -eu
BIN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1"); SECS=${2:-5}
HERE=$(cd "$(dirname "$0")" && pwd)
"$HERE/../scripts/install-deps" dnsperf
W=$(mktemp -d); PIDS=()
trap 'for p in "${PIDS[@]}"; do kill $p 2>/dev/null || true; done; sleep 0.3; rm -rf "$W"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
python3 "$HERE/../../shared/bench/gen_dataset.py" --out "$W/ds" >/dev/null
CP=$(port); PP=$(port); EP=http://127.0.0.1:$CP
etcd --name b --data-dir "$W/etcd" --listen-client-urls $EP --advertise-client-urls $EP \
  --listen-peer-urls http://127.0.0.1:$PP --initial-advertise-peer-urls http://127.0.0.1:$PP \
  --initial-cluster b=http://127.0.0.1:$PP >"$W/etcd.log" 2>&1 & PIDS+=($!)
for _ in $(seq 50); do curl -sf $EP/health >/dev/null && break; sleep 0.1; done
python3 "$HERE/../../shared/bench/load_etcd.py" "$W/ds/records.jsonl" --endpoint $EP 2>/dev/null

KP=$(port); mkdir -p "$W/knot"
printf '$ORIGIN example.test.\n$TTL 300\n@ SOA ns admin 1 3600 600 86400 120\n@ NS ns\nns A 127.0.0.1\nwww A 192.0.2.10\n' >"$W/knot/zone.db"
"$HERE/../scripts/knot-conf" "$W/knot" example.test "127.0.0.1@$KP" 2   # the upstream: a worker per core
knotd -c "$W/knot/knot.conf" >"$W/knot.log" 2>&1 & PIDS+=($!)
HOLE=$(port)
python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", int(sys.argv[1])))
while True: s.recvfrom(4096)  # reads, never answers: a black hole
' "$HOLE" & PIDS+=($!)

S1=$(port); S2=$(port)
taskset -c 0 "$BIN" -machines=$EP -domain=domeos.sohu -addr=127.0.0.1:$S1 -etcd3 -nameservers=127.0.0.1:$KP -rcache=1000 >"$W/s1.log" 2>&1 & PIDS+=($!)
taskset -c 0 "$BIN" -machines=$EP -domain=domeos.sohu -addr=127.0.0.1:$S2 -etcd3 -nameservers=127.0.0.1:$HOLE >"$W/s2.log" 2>&1 & PIDS+=($!)
for _ in $(seq 100); do [ "$(dig +short +time=1 +tries=1 @127.0.0.1 -p $S1 www.example.test)" = 192.0.2.10 ] && break; sleep 0.1; done
for _ in $(seq 100); do grep -q "first read of etcd complete" "$W/s2.log" && break; sleep 0.1; done

echo "www.example.test A" >"$W/cached.txt"
for i in $(seq 2000); do echo "name$i.outside.example A"; done >"$W/outside.txt"
perf() { taskset -c 1 dnsperf -s 127.0.0.1 -t 2 "$@" 2>&1; }
echo "cached forwarded answer (1 outstanding):"
perf -p $S1 -d "$W/cached.txt" -l "$SECS" -c 1 -q 1 | grep -E "Average Latency|Queries per second"
echo "authoritative, healthy upstream:"
perf -p $S2 -d "$W/ds/queries.txt" -l "$SECS" -c 4 -q 200 | grep -E "Queries per second|Queries lost"
echo "authoritative, outside names flooding a black-holed upstream at 500 qps:"
perf -p $S2 -d "$W/outside.txt" -l $((SECS + 3)) -c 1 -q 500 -Q 500 >"$W/flood.txt" &
sleep 1
perf -p $S2 -d "$W/ds/queries.txt" -l "$SECS" -c 4 -q 200 | grep -E "Queries per second|Queries lost"
wait $!
