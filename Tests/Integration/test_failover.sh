#!/usr/bin/env bash
# Several endpoints in -machines (issue 2: "use the next when one fails"): with a dead endpoint
# (nothing listening) listed first, the server still reads and watches the live one, for v3 and
# v2 and with detection; with an endpoint that accepts connections and never answers (a hung
# member) listed first, it gets there within seconds and reports the silent endpoint in /readyz
# and the metrics; a member that falls silent while watched is left within seconds.
source "$(dirname "$0")/lib.sh"
start_etcd
DEAD=http://127.0.0.1:$(free_port)  # a port nothing listens on
put_v3 /skydns/sohu/domeos/kafka-1-wkfa1/19d074a1 '{"host":"172.28.0.12","ttl":30}'
put_v2 /skydns/sohu/domeos/kafka-1-wkfa1/19d074a1 '{"host":"172.28.0.22","ttl":30}'

for flag in -etcd3 -etcd3=false ""; do
  # Detection with records in both keyspaces serves v2, SkyDNS's default.
  if [ "$flag" != -etcd3 ]; then put=put_v2; del=del_v2; addr=172.28.0.22; else put=put_v3; del=del_v3; addr=172.28.0.12; fi
  DNS_PORT=$(free_port)
  start_server -machines="$DEAD,$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT $flag
  eventually_for 20 answers_are kafka-1-wkfa1.domeos.sohu $addr || fail "[$flag] dead first endpoint: not served: $(status kafka-1-wkfa1.domeos.sohu)"
  expect_eq "$(short kafka-1-wkfa1.domeos.sohu A +tcp)" $addr "[$flag] over TCP"
  name=fo${flag//[^a-z0-9]/}
  $put /skydns/sohu/domeos/$name/1 '{"host":"172.28.6.1"}'
  eventually answers_are $name.domeos.sohu 172.28.6.1 || fail "[$flag] put through the second endpoint not seen"
  $del /skydns/sohu/domeos/$name/1
  eventually status_is $name.domeos.sohu NXDOMAIN || fail "[$flag] delete through the second endpoint not seen"
  stop_server
done

# The live endpoint first and the dead one second also works (nothing to fail over to).
DNS_PORT=$(free_port)
start_server -machines="$ETCD,$DEAD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT -etcd3
eventually answers_are kafka-1-wkfa1.domeos.sohu 172.28.0.12 || fail "live first endpoint: not served"
stop_server

# A hung member: accepts TCP connections, reads, never answers.
HUNG_PORT=$(free_port)
python3 - "$HUNG_PORT" <<'PY' &
import socket, sys, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(64)
held = []
def drain(c):
    try:
        while c.recv(4096): pass
    except OSError: pass
while True:
    c, _ = s.accept(); held.append(c)
    threading.Thread(target=drain, args=(c,), daemon=True).start()
PY
PIDS+=($!)
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$HUNG_PORT) 2>/dev/null && break; sleep 0.1; done
METRICS_PORT=$(free_port)
for flag in -etcd3 -etcd3=false; do
  if [ "$flag" = -etcd3 ]; then put=put_v3; addr=172.28.0.12; else put=put_v2; addr=172.28.0.22; fi
  DNS_PORT=$(free_port); METRICS_PORT=$(free_port)
  start_server -machines="http://127.0.0.1:$HUNG_PORT,$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT $flag \
    -metrics-addr=127.0.0.1:$METRICS_PORT
  eventually_for 30 answers_are kafka-1-wkfa1.domeos.sohu $addr || fail "[$flag] hung first endpoint: never failed over: $(status kafka-1-wkfa1.domeos.sohu)"
  $put /skydns/sohu/domeos/fohung$flag/1 '{"host":"172.28.6.2"}'
  eventually_for 15 answers_are fohung$flag.domeos.sohu 172.28.6.2 || fail "[$flag] hung first endpoint: put not seen"
  # The silent endpoint is reported: /readyz names it, its metric is 0 and the live one's 1.
  hung_reported() { curl -s "http://127.0.0.1:$METRICS_PORT/readyz" | finds "etcd endpoint http://127.0.0.1:$HUNG_PORT unresponsive since"; }
  eventually_for 15 hung_reported || fail "[$flag] /readyz does not report the hung endpoint: $(curl -s http://127.0.0.1:$METRICS_PORT/readyz)"
  metrics=$(curl -s "http://127.0.0.1:$METRICS_PORT/metrics")
  echo "$metrics" | finds "etcd_endpoint_up{endpoint=\"http://127.0.0.1:$HUNG_PORT\"} 0" || fail "[$flag] hung endpoint metric: $(echo "$metrics" | grep endpoint_up)"
  echo "$metrics" | finds "etcd_endpoint_up{endpoint=\"$ETCD\"} 1" || fail "[$flag] live endpoint metric: $(echo "$metrics" | grep endpoint_up)"
  stop_server
done

# A member that goes silent while it is being watched (a stopped process behind a proxy): the
# watch gets no byte and no error, yet the change written through the other endpoint is served
# within seconds, not after the watch's idle timeout.
PROXY_PORT=$(free_port)
python3 - "$PROXY_PORT" "$ETCD_PORT" <<'PY' &
import socket, sys, threading
listen = socket.socket(); listen.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listen.bind(("127.0.0.1", int(sys.argv[1]))); listen.listen(64)
def pipe(a, b):
    try:
        while True:
            data = a.recv(65536)
            if not data: break
            b.sendall(data)
    except OSError: pass
    for s in (a, b):
        try: s.shutdown(socket.SHUT_RDWR)
        except OSError: pass
while True:
    c, _ = listen.accept()
    try:
        u = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
    except OSError:  # etcd already stopped at the end of the test
        c.close(); continue
    threading.Thread(target=pipe, args=(c, u), daemon=True).start()
    threading.Thread(target=pipe, args=(u, c), daemon=True).start()
PY
PROXY_PID=$!; PIDS+=($PROXY_PID)
for _ in $(seq 50); do curl -sf -m 1 "http://127.0.0.1:$PROXY_PORT/health" >/dev/null && break; sleep 0.1; done
DNS_PORT=$(free_port); METRICS_PORT=$(free_port); mark=$(log_mark)
start_server -machines="http://127.0.0.1:$PROXY_PORT,$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT -etcd3 \
  -metrics-addr=127.0.0.1:$METRICS_PORT
eventually_for 10 answers_are kafka-1-wkfa1.domeos.sohu 172.28.0.12 || fail "silent member: first read"
log_since "$mark" | finds "connected to http://127.0.0.1:$PROXY_PORT" || fail "silent member: not watching through the proxy first"
kill -STOP $PROXY_PID
put_v3 /skydns/sohu/domeos/fosilent/1 '{"host":"172.28.6.3"}'
eventually_for 15 answers_are fosilent.domeos.sohu 172.28.6.3 || fail "silent member: the change through the live endpoint not served"
log_since "$mark" | finds "is silent" || fail "silent member: not logged"
kill -CONT $PROXY_PID
# An endpoint that answers every request with an endless body, listed first: every answer is
# cut at a bound (a one-key read at 4 MiB, a health probe at 4 KiB), the server fails over and
# its memory stays small.
FLOOD_PORT=$(free_port)
python3 - "$FLOOD_PORT" <<'PY' &
import socket, sys, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(64)
chunk = b'{"header":{"revision":"1"},"kvs":[' + b'x' * 65536
def flood(c):
    try:
        c.recv(65536)
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n")
        while True: c.sendall(chunk)
    except OSError: pass
while True:
    c, _ = s.accept()
    threading.Thread(target=flood, args=(c,), daemon=True).start()
PY
PIDS+=($!)
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$FLOOD_PORT) 2>/dev/null && break; sleep 0.1; done
DNS_PORT=$(free_port)
start_server -machines="http://127.0.0.1:$FLOOD_PORT,$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT -etcd3
eventually_for 30 answers_are kafka-1-wkfa1.domeos.sohu 172.28.0.12 || fail "flooding first endpoint: never failed over"
sleep 5  # health probes of the flooding endpoint go on
rss=$(awk '/VmRSS/ {print $2}' /proc/$SERVER_PID/status)
[ "$rss" -lt 204800 ] || fail "flooding first endpoint: resident memory ${rss} KiB"
stop_server
echo "failover ok"
