#!/usr/bin/env bash
# /skydns/config is read at start from the first endpoint of -machines that answers. With a hung
# member (accepts connections, never answers) listed first, the read spent its whole 5 s on it,
# never asked the healthy second endpoint, and the server ran on the flags' settings for its whole
# life: here {"ttl":45} ignored, a record without a TTL answering 3600 (and with "domain" in the
# key, the wrong domain served). Each endpoint now gets its share of the time; the key is applied.
source "$(dirname "$0")/lib.sh"
start_etcd
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

put_v3 /skydns/config '{"ttl":45}'
put_v3 /skydns/test/hung/web/1 '{"host":"10.6.0.1"}'
for flag in -etcd3 ""; do   # with -etcd3, and with detection (v2 asked first, then v3)
  DNS_PORT=$(free_port)
  # shellcheck disable=SC2086
  start_server -machines="http://127.0.0.1:$HUNG_PORT,$ETCD" -domain=hung.test -addr=127.0.0.1:$DNS_PORT $flag
  eventually_for 30 answers_are web.hung.test 10.6.0.1 || fail "[$flag] not served past the hung endpoint"
  expect_eq "$(ttl_of web.hung.test)" 45 "[$flag] TTL from /skydns/config read past the hung first endpoint"
  stop_server
done
echo "PASS test_config_hung_endpoint"
