#!/usr/bin/env bash
# forwarding.sh SERVER_BINARY [SECONDS] [ROUNDS]
# Forwarding throughput against Unbound, self-contained on loopback, in one run: Knot DNS serves
# the upstream zone (a wildcard, so every name answers), and the server and Unbound (forwarding
# everything to that Knot, one thread, its cache on) are each pinned to core 0 in turn, dnsperf
# and Knot to core 1. Two loads, ROUNDS alternating rounds each (default 3), medians:
#   cache hits:   1,000 names asked over and over (after one pass that fills both caches);
#   cache misses: names never asked before (a fresh list for every round), so every query goes
#                 upstream: the cost of an upstream exchange.
# Each figure twice: queries a second, and answers per CPU-second of the server's process (which
# the load of a shared machine moves far less).
# Then the authoritative rate while outside names flood a black-holed upstream (it should not
# drop). Use a release build. Needs etcd, knot, unbound, dnsperf, dig (scripts/install-deps dnsperf).
set -eu
BIN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1"); SECS=${2:-5}; ROUNDS=${3:-3}
HERE=$(cd "$(dirname "$0")" && pwd)
"$HERE/../scripts/install-deps" dnsperf unbound
W=$(mktemp -d); PIDS=()
trap 'for p in "${PIDS[@]}"; do kill $p 2>/dev/null || true; done; sleep 0.3; rm -rf "$W"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
CP=$(port); PP=$(port); EP=http://127.0.0.1:$CP
etcd --name b --data-dir "$W/etcd" --listen-client-urls $EP --advertise-client-urls $EP \
  --listen-peer-urls http://127.0.0.1:$PP --initial-advertise-peer-urls http://127.0.0.1:$PP \
  --initial-cluster b=http://127.0.0.1:$PP >"$W/etcd.log" 2>&1 & PIDS+=($!)
for _ in $(seq 50); do curl -sf $EP/health >/dev/null && break; sleep 0.1; done
curl -sf -X POST $EP/v3/kv/put -d '{"key":"L3NreWRucy9zb2h1L2RvbWVvcy9wb2QvMQ==","value":"eyJob3N0IjoiMTAuMC4wLjEifQ=="}' >/dev/null

KP=$(port); mkdir -p "$W/knot"
printf '$ORIGIN example.test.\n$TTL 300\n@ SOA ns admin 1 3600 600 86400 120\n@ NS ns\nns A 127.0.0.1\n* A 192.0.2.10\n' >"$W/knot/zone.db"
"$HERE/../scripts/knot-conf" "$W/knot" example.test "127.0.0.1@$KP" 1
taskset -c 1 knotd -c "$W/knot/knot.conf" >"$W/knot.log" 2>&1 & PIDS+=($!)

UP=$(port)
cat >"$W/unbound.conf" <<EOF
server:
    interface: 127.0.0.1@$UP
    port: $UP
    num-threads: 1
    so-reuseport: no
    do-ip6: no
    do-daemonize: no
    chroot: ""
    username: ""
    directory: "$W"
    pidfile: "$W/unbound.pid"
    use-syslog: no
    logfile: ""
    verbosity: 0
    access-control: 127.0.0.0/8 allow
    do-not-query-localhost: no
    module-config: "iterator"
    local-zone: "test." nodefault   # RFC 6761's test. is otherwise answered NXDOMAIN locally
    outgoing-range: 1024
    num-queries-per-thread: 1024
    msg-cache-size: 64m
    rrset-cache-size: 128m
remote-control:
    control-enable: no
forward-zone:
    name: "."
    forward-addr: 127.0.0.1@$KP
EOF
taskset -c 0 unbound -c "$W/unbound.conf" >"$W/unbound.log" 2>&1 & PIDS+=($!)
UPID=$!

SP=$(port)
taskset -c 0 "$BIN" -machines=$EP -domain=domeos.sohu -addr=127.0.0.1:$SP -etcd3 -nameservers=127.0.0.1:$KP \
  -rcache=100000 >"$W/server.log" 2>&1 & PIDS+=($!)
SPID=$!
for p in $SP $UP; do
  for _ in $(seq 100); do [ "$(dig +short +time=1 +tries=1 @127.0.0.1 -p $p warm.example.test)" = 192.0.2.10 ] && break; sleep 0.1; done
done

for i in $(seq 1000); do echo "hit$i.example.test A"; done >"$W/hits.txt"
# Enough fresh names for 100,000 misses a second; each round and server gets its own.
names() { python3 -c 'import sys; p=sys.argv[1]; n=int(sys.argv[2]); sys.stdout.write("".join(f"{p}-{i}.example.test A\n" for i in range(n)))' "$1" $((SECS * 100000)); }
# perf PID ARGS...: "<qps> <answers per CPU-second of PID>" of one dnsperf run; the second figure
# holds on a shared, noisy machine, where the first moves with whatever else runs.
cpu() { awk '{ print $14 + $15 }' /proc/$1/stat; }
perf() {
  local pid=$1; shift
  local before; before=$(cpu "$pid")
  taskset -c 1 dnsperf -s 127.0.0.1 -t 2 -c 4 -q 200 "$@" >"$W/one.log" 2>&1
  cat "$W/one.log" >>"$W/perf.log"
  python3 - "$W/one.log" "$before" "$(cpu "$pid")" "$(getconf CLK_TCK)" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
qps = float(re.search(r"Queries per second:\s*([0-9.]+)", text).group(1))
done = int(re.search(r"Queries completed:\s*([0-9]+)", text).group(1))
cpu = (float(sys.argv[3]) - float(sys.argv[2])) / float(sys.argv[4])
print(f"{qps:.0f} {done / cpu if cpu > 0 else 0:.0f}")
PY
}
perf $SPID -p $SP -d "$W/hits.txt" -n 1 >/dev/null; perf $UPID -p $UP -d "$W/hits.txt" -n 1 >/dev/null  # fills both caches
HS=(); HU=(); MS=(); MU=()
for round in $(seq "$ROUNDS"); do
  HS+=("$(perf $SPID -p $SP -d "$W/hits.txt" -l "$SECS")"); HU+=("$(perf $UPID -p $UP -d "$W/hits.txt" -l "$SECS")")
  names "s$round" >"$W/miss-s.txt"; names "u$round" >"$W/miss-u.txt"
  MS+=("$(perf $SPID -p $SP -d "$W/miss-s.txt" -l "$SECS")"); MU+=("$(perf $UPID -p $UP -d "$W/miss-u.txt" -l "$SECS")")
done
grep -E "Response codes" "$W/perf.log" | sed -E 's/ [0-9]+ \(/ (/g' | sort | uniq -c  # every answer should be NOERROR
python3 - "$ROUNDS" "${HS[@]}" "${HU[@]}" "${MS[@]}" "${MU[@]}" <<'PY'
import statistics, sys
n = int(sys.argv[1]); runs = [tuple(float(x) for x in (a or "0 0").split()) for a in sys.argv[2:]]
hs, hu, ms, mu = (runs[i * n:(i + 1) * n] for i in range(4))
for label, s, u in (("cache hits", hs, hu), ("cache misses", ms, mu)):
    for k, unit in ((0, "qps"), (1, "answers/CPU-s")):
        a, b = statistics.median(r[k] for r in s), statistics.median(r[k] for r in u)
        print(f"{label:13} {unit:14} server {a:8.0f}, unbound {b:8.0f}, ratio {a / b if b else 0:.2f}"
              f"  (rounds: server {' '.join(f'{r[k]:.0f}' for r in s)}; unbound {' '.join(f'{r[k]:.0f}' for r in u)})")
PY

# The domain's own names while outside names flood a black-holed upstream.
HOLE=$(port)
python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", int(sys.argv[1])))
while True: s.recvfrom(4096)  # reads, never answers: a black hole
' "$HOLE" & PIDS+=($!)
S2=$(port)
taskset -c 0 "$BIN" -machines=$EP -domain=domeos.sohu -addr=127.0.0.1:$S2 -etcd3 -nameservers=127.0.0.1:$HOLE >"$W/s2.log" 2>&1 & PIDS+=($!)
for _ in $(seq 100); do [ "$(dig +short +time=1 +tries=1 @127.0.0.1 -p $S2 pod.domeos.sohu)" = 10.0.0.1 ] && break; sleep 0.1; done
for i in $(seq 2000); do echo "name$i.outside.example A"; done >"$W/outside.txt"
echo "pod.domeos.sohu A" >"$W/own.txt"
taskset -c 1 dnsperf -s 127.0.0.1 -p $S2 -d "$W/outside.txt" -l $((SECS + 3)) -c 1 -q 500 -Q 500 -t 2 >"$W/flood.txt" 2>&1 &
sleep 1
echo "authoritative while outside names flood a black-holed upstream at 500 qps:"
taskset -c 1 dnsperf -s 127.0.0.1 -p $S2 -d "$W/own.txt" -l "$SECS" -c 4 -q 200 -t 2 2>&1 | grep -E "Queries per second|Queries lost"
wait $!
