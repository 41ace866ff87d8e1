#!/usr/bin/env bash
# scrape_cost.sh SERVER_BINARY [SCRAPES] [QUERIES]
# What a Prometheus scrape costs idle and after QUERIES (default 1,000,000) answered queries:
# the target is "within 2x of an idle scrape, plus 20 ms". A scrape only sums the counting blocks,
# so its cost should not move with the query count. The server (release build) serves a few
# names from etcd v3 on loopback; dnsperf sends a mix of types and rcodes (NOERROR, NODATA,
# NXDOMAIN, an outside name refused by -no-rec) so every family has series. SCRAPES (default 50)
# curl scrapes are timed each time; the median and the slowest are printed, with both counts
# read back from the scrape. Needs etcd, etcdctl, dnsperf, curl, python3.
set -eu
[ $# -ge 1 ] || { echo "usage: $0 SERVER_BINARY [SCRAPES] [QUERIES]" >&2; exit 2; }
BIN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1"); SCRAPES=${2:-50}; QUERIES=${3:-1000000}
[ -x "$BIN" ] || { echo "not an executable: $BIN" >&2; exit 2; }
W=$(mktemp -d); PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 0.3; rm -rf "$W"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

CP=$(port); PP=$(port); EP=http://127.0.0.1:$CP
etcd --name b --data-dir "$W/etcd" --listen-client-urls "$EP" --advertise-client-urls "$EP" \
  --listen-peer-urls "http://127.0.0.1:$PP" --initial-advertise-peer-urls "http://127.0.0.1:$PP" \
  --initial-cluster "b=http://127.0.0.1:$PP" >"$W/etcd.log" 2>&1 & PIDS+=($!)
for _ in $(seq 100); do curl -sf "$EP/health" >/dev/null && break; sleep 0.1; done
for i in $(seq 20); do
  ETCDCTL_API=3 etcdctl --endpoints="$EP" put "/skydns/sohu/domeos/host$i" \
    "{\"host\":\"10.0.0.$i\",\"port\":80,\"text\":\"t$i\"}" >/dev/null
done

# A free port can be taken by someone else before the server binds it: up to three tries.
for _ in 1 2 3; do
  SP=$(port); MP=$(port)
  "$BIN" -machines="$EP" -domain=domeos.sohu -addr="127.0.0.1:$SP" -etcd3 -no-rec -metrics-addr="127.0.0.1:$MP" \
    >"$W/server.log" 2>&1 & SPID=$!; PIDS+=($SPID)
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$MP/readyz" >/dev/null && break
    kill -0 "$SPID" 2>/dev/null || break
    sleep 0.1
  done
  curl -sf "http://127.0.0.1:$MP/readyz" >/dev/null && break
done
curl -sf "http://127.0.0.1:$MP/readyz" >/dev/null || { echo "server not ready: $(cat "$W/server.log")" >&2; exit 1; }

for i in $(seq 20); do
  printf 'host%s.domeos.sohu A\nhost%s.domeos.sohu AAAA\nhost%s.domeos.sohu TXT\nnone%s.domeos.sohu A\n' "$i" "$i" "$i" "$i"
  printf 'domeos.sohu SRV\nname%s.outside.example A\n' "$i"
done >"$W/queries.txt"   # 120 lines

# scrapes LABEL: times SCRAPES scrapes; prints the median and slowest in ms and the query count.
scrapes() {
  local times
  times=$(for _ in $(seq "$SCRAPES"); do
    curl -s -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$MP/metrics"
  done | sort -n)
  local median slowest counted
  median=$(echo "$times" | sed -n "$(( (SCRAPES + 1) / 2 ))p"); slowest=$(echo "$times" | tail -1)
  counted=$(curl -s "http://127.0.0.1:$MP/metrics" | awk '/^skydns_skydns_queries_total/ { n += $2 } END { printf "%d", n }')
  printf '%s: %s scrapes, median %.2f ms, slowest %.2f ms (%s queries counted, %s bytes)\n' "$1" "$SCRAPES" \
    "$(echo "$median * 1000" | bc -l)" "$(echo "$slowest * 1000" | bc -l)" "$counted" \
    "$(curl -s "http://127.0.0.1:$MP/metrics" | wc -c)"
  LAST_MEDIAN=$median
}

scrapes idle; IDLE=$LAST_MEDIAN
dnsperf -s 127.0.0.1 -p "$SP" -d "$W/queries.txt" -n $(( (QUERIES + 119) / 120 )) -c 4 -q 200 -t 2 2>&1 \
  | grep -E "Queries (sent|completed|lost)|Queries per second" | sed 's/^ */  dnsperf: /'
scrapes "after $QUERIES"; BUSY=$LAST_MEDIAN
if [ "$(echo "$BUSY <= 2 * $IDLE + 0.020" | bc -l)" = 1 ]; then
  echo "target met: $BUSY s <= 2 x $IDLE s + 20 ms"
else
  echo "target MISSED: $BUSY s > 2 x $IDLE s + 20 ms"; exit 1
fi
