#!/usr/bin/env bash
# dnssec.sh BIN [SECS] [NAMES]: the cost of -dnssec, on loopback, in one run.
#   NAMES (default 2,000) A records in etcd v3 and in a zone file; the server with an
#   ECDSAP256SHA256 key, Knot DNS with mod-onlinesign (its default policy: ECDSAP256SHA256), each
#   pinned to core 0, dnsperf (-c 4 -q 200) to core 1. Per round, in turn: the server unsigned
#   (queries without DO), the server signed (dnsperf -D, after a warm-up run that fills the
#   signature cache), Knot unsigned, Knot signed. Three rounds, medians, ratios.
# Needs etcd, knot, dnsperf, dnssec-keygen (scripts/install-deps installs them when missing).
set -euo pipefail
BIN=$(realpath "$1"); SECS=${2:-5}; NAMES=${3:-2000}
HERE=$(cd "$(dirname "$0")" && pwd)
"$HERE/../scripts/install-deps" dnsperf >/dev/null
W=$(mktemp -d); PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT
say() { echo "== $*" >&2; }
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ZONE=domeos.sohu

# The data: NAMES pods, as records.jsonl for etcd_bulk.py, a zone file for Knot, the query list.
python3 - "$W" "$NAMES" "$ZONE" <<'PY'
import json, sys
w, n, zone = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(f"{w}/records.jsonl", "w") as records, open(f"{w}/zone.db", "w") as db, open(f"{w}/queries", "w") as q:
    db.write(f"$ORIGIN {zone}.\n@ 3600 IN SOA ns.dns.{zone}. hostmaster.{zone}. 1 28800 7200 604800 60\n"
             f"@ 3600 IN NS ns.dns.{zone}.\nns.dns 3600 IN A 127.0.0.1\n")
    for i in range(n):
        name, ip = f"pod-{i}", f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"
        records.write(json.dumps({"key": f"/skydns/{'/'.join(reversed(zone.split('.')))}/{name}/x",
                                  "value": json.dumps({"host": ip, "ttl": 30})}) + "\n")
        db.write(f"{name} 30 IN A {ip}\n")
        q.write(f"{name}.{zone} A\n")
PY

cp=$(port); pp=$(port); EP=http://127.0.0.1:$cp
etcd --name bench --data-dir "$W/etcd" --listen-client-urls "$EP" --advertise-client-urls "$EP" \
  --listen-peer-urls "http://127.0.0.1:$pp" --initial-advertise-peer-urls "http://127.0.0.1:$pp" \
  --initial-cluster "bench=http://127.0.0.1:$pp" >"$W/etcd.log" 2>&1 & PIDS+=($!)
for _ in $(seq 100); do curl -sf "$EP/health" >/dev/null && break; sleep 0.1; done
python3 "$HERE/etcd_bulk.py" "$W/records.jsonl" --endpoint "$EP" >/dev/null

key=$W/$(dnssec-keygen -q -K "$W" -a ECDSAP256SHA256 -n ZONE $ZONE)
SP=$(port)
taskset -c 0 "$BIN" -machines="$EP" -domain=$ZONE -addr="127.0.0.1:$SP" -etcd3 -dnssec="$key" \
  -nameservers=127.0.0.1:9 >"$W/server.log" 2>&1 & PIDS+=($!)

KP=$(port); mkdir -p "$W/knot"; cp "$W/zone.db" "$W/knot/zone.db"
# As scripts/knot-conf, plus the module that signs on line.
cat >"$W/knot/knot.conf" <<CONF
server:
    rundir: "$W/knot"
    listen: 127.0.0.1@$KP
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
database:
    storage: "$W/knot"
zone:
  - domain: $ZONE
    file: "$W/knot/zone.db"
    storage: "$W/knot"
    zonefile-sync: -1
    journal-content: none
    module: mod-onlinesign
log:
  - target: stderr
    any: error
CONF
taskset -c 0 knotd -c "$W/knot/knot.conf" >"$W/knot.log" 2>&1 & PIDS+=($!)

last=$(tail -1 "$W/queries" | cut -d' ' -f1)
for _ in $(seq 300); do
  [ "$(dig +short +time=1 +tries=1 @127.0.0.1 -p "$SP" "$last" A)" != "" ] \
    && [ "$(dig +short +time=1 +tries=1 @127.0.0.1 -p "$KP" "$last" A)" != "" ] && break
  sleep 0.2
done
dig +dnssec +time=1 @127.0.0.1 -p "$KP" "$last" A | grep -q RRSIG || { cat "$W/knot.log" >&2; echo "knot does not sign" >&2; exit 1; }
dig +dnssec +time=1 @127.0.0.1 -p "$SP" "$last" A | grep -q RRSIG || { echo "the server does not sign" >&2; exit 1; }

perf() {
  local port=$1; shift
  taskset -c 1 dnsperf -s 127.0.0.1 -p "$port" -d "$W/queries" -l "$SECS" -c 4 -q 200 -t 2 "$@" 2>&1 \
    | tee -a "$W/dnsperf.log" | sed -n 's/.*Queries per second: *\([0-9.]*\).*/\1/p'
}
median() { printf '%s\n' "$@" | sort -g | sed -n "$((($# + 1) / 2))p"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

say "warm-up: every name signed once by each server"
perf "$SP" -D >/dev/null; perf "$KP" -D >/dev/null
su=(); ss=(); ku=(); ks=()
for i in 1 2 3; do
  su+=("$(perf "$SP")"); ss+=("$(perf "$SP" -D)"); ku+=("$(perf "$KP")"); ks+=("$(perf "$KP" -D)")
  say "round $i: server unsigned ${su[-1]}, signed ${ss[-1]}; knot unsigned ${ku[-1]}, signed ${ks[-1]} qps"
done
SU=$(median "${su[@]}"); SS=$(median "${ss[@]}"); KU=$(median "${ku[@]}"); KS=$(median "${ks[@]}")
echo "==== -dnssec, $NAMES names, one core each (taskset -c 0), dnsperf -c 4 -q 200 on core 1, $SECS s runs, medians of 3 ===="
echo "server: unsigned $SU qps, signed (DO, warm cache) $SS qps: signed/unsigned $(ratio "$SS" "$SU")"
echo "knot (mod-onlinesign): unsigned $KU qps, signed $KS qps: signed/unsigned $(ratio "$KS" "$KU")"
echo "signed, server/knot: $(ratio "$SS" "$KS"); unsigned, server/knot: $(ratio "$SU" "$KU")"
grep -h 'Queries lost' "$W/dnsperf.log" | sort | uniq -c | sort -rn | head -3
