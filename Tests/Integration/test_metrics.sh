#!/usr/bin/env bash
# Operating it (issue 7): the server starts before etcd, so /readyz says 503 "not ready: waiting
# for the first read of etcd" until etcd comes up and the first read completes, then 200 with the
# record count; /healthz is 200 throughout. A known mix of queries (5 A hits, 3 NXDOMAIN, 2 AAAA
# NODATA over UDP, 1 A over TCP, 1 undecodable packet, 1 forwarded name whose upstream refuses)
# gives exactly those counts in /metrics, by type, rcode and transport, and the size and latency
# histograms count the same answers; promtool accepts the exposition, with process_* and build_info. With etcd stopped, /readyz stays 200 with "serving last good
# data". PROMETHEUS_PORT/PATH/NAMESPACE/SUBSYSTEM and -log-format=json are checked on a second
# server.
source "$(dirname "$0")/lib.sh"

METRICS_PORT=$(free_port)
M=http://127.0.0.1:$METRICS_PORT
# scrape: the metrics text; metric LINE-PREFIX: the value of the sample whose name and labels are
# exactly LINE-PREFIX ("absent" when there is none).
scrape() { curl -sf "$M/metrics" >"$WORK/metrics.txt" || fail "scrape $M/metrics"; }
metric() { awk -v k="$1" 'index($0, k " ") == 1 { print $2; found = 1 } END { if (!found) print "absent" }' "$WORK/metrics.txt"; }
# number: a Prometheus value as an integer ("5", "5.0" → 5).
number() { python3 -c 'import sys; v = sys.argv[1]; print(v if v == "absent" else int(float(v)))' "$1"; }
expect_metric() { expect_eq "$(number "$(metric "$1")")" "$2" "$1"; }
http_code() { curl -s -o "$WORK/body.txt" -w '%{http_code}' "$1"; }

# etcd's address is fixed now, but etcd starts only after the server.
ETCD_PORT=$(free_port); ETCD_PEER=$(free_port); ETCD=http://127.0.0.1:$ETCD_PORT
DNS_PORT=$(free_port)
start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT -etcd3=false \
  -metrics-addr=127.0.0.1:$METRICS_PORT -nameservers=127.0.0.1:9 -rcache=10

expect_eq "$(http_code "$M/healthz")" 200 "/healthz before etcd"
expect_eq "$(cat "$WORK/body.txt")" ok "/healthz body"
expect_eq "$(http_code "$M/readyz")" 503 "/readyz before etcd"
grep -q '^not ready: waiting for the first read of etcd' "$WORK/body.txt" || fail "/readyz body before etcd: $(cat "$WORK/body.txt")"
expect_eq "$(http_code "$M/nothing-here")" 404 "unknown path"
scrape
expect_metric 'skydns_skydns_store_synced' 0
expect_metric 'skydns_skydns_etcd_state{state="connected"}' 0

start_etcd
put_v2 /skydns/sohu/domeos/kafka-1-wkfa1/19d074a1 '{"host":"172.28.0.12","ttl":30}'
put_v2 /skydns/sohu/domeos/svc/default/kafka-svc-1/b56639fb '{"host":"172.16.50.1","ttl":30}'
put_v2 /skydns/sohu/domeos/bx-42-198/adc8794b '{"host":"10.16.42.198","ttl":30}'
ready() { [ "$(http_code "$M/readyz")" = 200 ] && grep -q '^ready: serving 3 records, etcd connected' "$WORK/body.txt"; }
eventually_for 20 ready || fail "/readyz never became ready with 3 records: $(http_code "$M/readyz") $(cat "$WORK/body.txt")"
echo "readyz: $(cat "$WORK/body.txt")"
expect_eq "$(http_code "$M/healthz")" 200 "/healthz after sync"

# Up to here the only DNS queries were start_server's version.bind probes (CH TXT). The mix, with
# one try each so that nothing is sent twice:
d() { dig +time=2 +tries=1 @127.0.0.1 -p $DNS_PORT "$@"; }
for _ in 1 2 3 4 5; do d +short kafka-1-wkfa1.domeos.sohu A | finds -x 172.28.0.12 || fail "A hit"; done
for name in nope1 nope2 nope3; do d $name.domeos.sohu A | finds 'status: NXDOMAIN' || fail "NXDOMAIN $name"; done
for _ in 1 2; do
  d bx-42-198.domeos.sohu AAAA >"$WORK/dig.txt"
  grep -q 'status: NOERROR' "$WORK/dig.txt" && grep -q 'ANSWER: 0,' "$WORK/dig.txt" || fail "AAAA NODATA: $(cat "$WORK/dig.txt")"
done
d +tcp +short kafka-svc-1.default.svc.domeos.sohu A | finds -x 172.16.50.1 || fail "A over TCP"
python3 -c 'import socket, sys; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b"\x12\x34\x01", ("127.0.0.1", int(sys.argv[1])))' $DNS_PORT
# Forwarded: the upstream (127.0.0.1:9, nothing listening) refuses, so SERVFAIL.
d www.example.org A | finds 'status: SERVFAIL' || fail "forwarded to a dead upstream: SERVFAIL expected"

scrape
q='skydns_skydns_queries_total{transport='
expect_metric "${q}\"udp\",type=\"A\",rcode=\"NOERROR\"}" 5
expect_metric "${q}\"udp\",type=\"A\",rcode=\"NXDOMAIN\"}" 3
expect_metric "${q}\"udp\",type=\"AAAA\",rcode=\"NOERROR\"}" 2
expect_metric "${q}\"tcp\",type=\"A\",rcode=\"NOERROR\"}" 1
expect_metric "${q}\"udp\",type=\"A\",rcode=\"SERVFAIL\"}" 1
expect_metric "${q}\"tcp\",type=\"A\",rcode=\"NXDOMAIN\"}" absent
expect_metric 'skydns_skydns_queries_dropped_total{transport="udp"}' 1
expect_metric 'skydns_skydns_queries_dropped_total{transport="tcp"}' 0
expect_metric 'skydns_skydns_forwarded_queries_total{to="127.0.0.1:9"}' 1
expect_metric 'skydns_skydns_upstream_failures_total{to="127.0.0.1:9",reason="network"}' 1
expect_metric 'skydns_skydns_upstream_failures_total{to="127.0.0.1:9",reason="malformed"}' 0
expect_metric 'skydns_skydns_forward_servfail_total' 1
expect_metric 'skydns_skydns_cache_misses_total' 1  # looked up on the worker and again by the forwarder: counted once
expect_metric 'skydns_skydns_cache_hits_total' 0
# Every UDP answer is in the histograms once: the probes (TXT) + 5 + 3 + 2 + 1 forwarded.
probes=$(number "$(metric "${q}\"udp\",type=\"TXT\",rcode=\"NOERROR\"}")")
[ "$probes" != absent ] && [ "$probes" -ge 1 ] || fail "start_server's version.bind probes not counted: $probes"
udp_answers=$((probes + 11))
expect_metric 'skydns_skydns_request_size_bytes_count{transport="udp"}' $udp_answers
expect_metric 'skydns_skydns_response_size_bytes_count{transport="udp"}' $udp_answers
expect_metric 'skydns_skydns_answer_duration_seconds_count{transport="udp"}' $udp_answers
expect_metric 'skydns_skydns_request_size_bytes_count{transport="tcp"}' 1
expect_metric 'skydns_skydns_answer_duration_seconds_count{transport="tcp"}' 1
expect_metric 'skydns_skydns_answer_duration_seconds_bucket{transport="tcp",le="+Inf"}' 1
expect_metric 'skydns_skydns_upstream_duration_seconds_count{to="127.0.0.1:9"}' 0
# The histogram's sum is the sum of the sizes: 5 x A query for kafka-1-wkfa1 (dig adds a 12-byte
# cookie option: same size each time), checked through the mean of the TCP one.
tcp_sum=$(number "$(metric 'skydns_skydns_request_size_bytes_sum{transport="tcp"}')")
[ "$tcp_sum" -gt 40 ] && [ "$tcp_sum" -lt 120 ] || fail "TCP request size sum $tcp_sum"
expect_metric 'skydns_skydns_store_records' 3
expect_metric 'skydns_skydns_store_synced' 1
expect_metric 'skydns_skydns_etcd_state{state="connected"}' 1
expect_metric 'skydns_skydns_etcd_state{state="connecting"}' 0
# Caught up with etcd: the watch trails nothing (a scrape reads it afresh each time).
lag_is_zero() { scrape; [ "$(number "$(metric 'skydns_skydns_etcd_watch_lag_revisions')")" = 0 ]; }
eventually lag_is_zero || fail "watch lag: $(metric 'skydns_skydns_etcd_watch_lag_revisions')"
pubs=$(number "$(metric 'skydns_skydns_snapshot_publications_total')")
[ "$pubs" -ge 1 ] || fail "snapshot publications: $pubs (at least the first read)"
last=$(number "$(metric 'skydns_skydns_store_last_sync_timestamp_seconds')")
now=$(date +%s)
[ $((now - last)) -lt 120 ] && [ $((now - last)) -ge -5 ] || fail "last sync time $last is not about now ($now)"
grep -q '^# TYPE skydns_skydns_answer_duration_seconds histogram' "$WORK/metrics.txt" || fail "answer latency is not a histogram"

# Prometheus's own checker accepts the live exposition (HELP and TYPE on every family, names and
# units as its lint wants), and the standard process metrics and build info are there.
if command -v promtool >/dev/null; then
  promtool check metrics <"$WORK/metrics.txt" >"$WORK/promtool.txt" 2>&1 || fail "promtool check metrics: $(cat "$WORK/promtool.txt")"
  echo "promtool check metrics: clean"
else
  fail "promtool is needed (scripts/install-deps installs it)"
fi
expect_eq "$(grep -c '^# HELP ' "$WORK/metrics.txt")" "$(grep -c '^# TYPE ' "$WORK/metrics.txt")" "HELP lines = TYPE lines"
expect_metric 'skydns_skydns_build_info{version="0.1.0"}' 1
pid=$SERVER_PID
expect_metric 'process_max_fds' "$(awk '/Max open files/ { print $4 }' /proc/$pid/limits)"
fds=$(number "$(metric process_open_fds)")
[ "$fds" -ge 5 ] && [ "$fds" -le $(( $(ls /proc/$pid/fd | wc -l) + 5 )) ] || fail "process_open_fds $fds"
rss=$(number "$(metric process_resident_memory_bytes)")
[ "$rss" -gt 1000000 ] || fail "process_resident_memory_bytes $rss"
start=$(number "$(metric process_start_time_seconds)")
[ $((now - start)) -ge 0 ] && [ $((now - start)) -lt 300 ] || fail "process_start_time_seconds $start is not the server's start ($now)"
metric process_cpu_seconds_total | finds -E '^[0-9.]+$' || fail "process_cpu_seconds_total: $(metric process_cpu_seconds_total)"

# A second scrape adds nothing by itself (deltas are handed on once).
scrape
expect_metric "${q}\"udp\",type=\"A\",rcode=\"NOERROR\"}" 5
expect_metric 'skydns_skydns_request_size_bytes_count{transport="tcp"}' 1

# A bad record is counted.
put_v2 /skydns/sohu/domeos/broken/1 'not json'
rejected_is() { scrape; [ "$(number "$(metric 'skydns_skydns_store_rejected_records_total')")" = 1 ]; }
eventually rejected_is || fail "rejected record not counted: $(metric skydns_skydns_store_rejected_records_total)"
pubs2=$(number "$(metric 'skydns_skydns_snapshot_publications_total')")
[ "$pubs2" -gt "$pubs" ] || fail "a watched change did not count a snapshot publication ($pubs -> $pubs2)"

# etcd gone: still ready, serving the last good data, and the reason says so.
stop_etcd
last_good() { [ "$(http_code "$M/readyz")" = 200 ] && grep -q '^ready: serving last good data (3 records), etcd unreachable since' "$WORK/body.txt"; }
eventually_for 15 last_good || fail "/readyz with etcd down: $(http_code "$M/readyz") $(cat "$WORK/body.txt")"
echo "readyz: $(cat "$WORK/body.txt")"
scrape
expect_metric 'skydns_skydns_etcd_state{state="disconnected"}' 1
expect_metric 'skydns_skydns_etcd_state{state="connected"}' 0
answers_are kafka-1-wkfa1.domeos.sohu 172.28.0.12 || fail "answers while etcd is down"
stop_server

# SkyDNS's environment variables, and JSON logs.
PORT2=$(free_port); DNS_PORT=$(free_port)
mark=$(log_mark)
PROMETHEUS_PORT=$PORT2 PROMETHEUS_PATH=/prom PROMETHEUS_NAMESPACE=dns PROMETHEUS_SUBSYSTEM=sky \
  start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT -etcd3=false -log-format=json
short kafka-1-wkfa1.domeos.sohu >/dev/null  # REFUSED: etcd is down and was never read
curl -sf "http://127.0.0.1:$PORT2/prom" >"$WORK/metrics.txt" || fail "PROMETHEUS_PORT/PROMETHEUS_PATH: no /prom on 127.0.0.1:$PORT2"
grep -q '^dns_sky_queries_total{transport="udp",type="A",rcode="REFUSED"} 1' "$WORK/metrics.txt" \
  || fail "PROMETHEUS_NAMESPACE/SUBSYSTEM: $(grep queries_total "$WORK/metrics.txt")"
grep -q '^skydns_' "$WORK/metrics.txt" && fail "default namespace used despite PROMETHEUS_NAMESPACE"
expect_eq "$(http_code "http://127.0.0.1:$PORT2/metrics")" 404 "/metrics with PROMETHEUS_PATH=/prom"
log_since "$mark" >"$WORK/json.log"
python3 - "$WORK/json.log" <<'PY' || fail "-log-format=json: not one JSON object per line"
import json, sys
lines = [l for l in open(sys.argv[1]) if l.strip()]
assert lines, "no log lines"
for line in lines:
    event = json.loads(line)
    for key in ("timestamp", "level", "label", "message"):
        assert key in event, (key, line)
assert any("starting:" in json.loads(l)["message"] and "log-format=json" in json.loads(l)["message"] for l in lines), "no start-up line with the settings"
print(f"json log: {len(lines)} lines ok")
PY
grep -q 'not supported yet' "$WORK/json.log" && fail "metrics/log flags still reported as not supported"

# A metrics address that is taken stops the start-up with a clear error.
DNS_PORT=$(free_port)
"$SKYDNS_BIN" -machines="$ETCD" -addr=127.0.0.1:$DNS_PORT -metrics-addr=127.0.0.1:$PORT2 >"$WORK/taken.log" 2>&1 && fail "started with a metrics address in use"
grep -q "cannot serve metrics on 127.0.0.1:$PORT2" "$WORK/taken.log" || fail "metrics address in use: $(cat "$WORK/taken.log")"
echo "metrics ok"
