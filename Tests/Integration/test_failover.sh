#!/usr/bin/env bash
# Several endpoints in -machines (issue 2: "use the next when one fails"): with a dead endpoint
# (nothing listening) listed first, the server still reads and watches the live one, for v3 and
# v2 and with detection; with an endpoint that accepts connections and never answers (a hung
# member) listed first, it still gets there.
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
DNS_PORT=$(free_port)
start_server -machines="http://127.0.0.1:$HUNG_PORT,$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT -etcd3
eventually_for 30 answers_are kafka-1-wkfa1.domeos.sohu 172.28.0.12 || fail "hung first endpoint: never failed over: $(status kafka-1-wkfa1.domeos.sohu)"
put_v3 /skydns/sohu/domeos/fohung/1 '{"host":"172.28.6.2"}'
eventually_for 30 answers_are fohung.domeos.sohu 172.28.6.2 || fail "hung first endpoint: put not seen"
echo "failover ok"
