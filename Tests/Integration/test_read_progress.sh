#!/usr/bin/env bash
# Progress of a long first read (30,000 keys, v3 and v2): the log shows keys read, the rate and,
# for v3, etcd's total, at most every 2 s, and /readyz shows the same while the read runs. etcd is
# reached through a proxy that passes its answers at about 2 MB/s, so that the read lasts seconds.
source "$(dirname "$0")/lib.sh"
start_etcd
N=30000
python3 - "$ETCD" "$N" <<'PY' || fail "loading etcd"
import base64, http.client, json, sys, threading, urllib.parse
url = urllib.parse.urlsplit(sys.argv[1]); n = int(sys.argv[2])
b64 = lambda s: base64.b64encode(s.encode()).decode()
def v3(lo, hi):
    c = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    for i in range(lo, hi, 128):
        ops = [{"requestPut": {"key": b64(f"/skydns/sohu/domeos/p3-{j}/1"), "value": b64('{"host":"10.50.%d.%d"}' % (j // 250, j % 250 + 1))}}
               for j in range(i, min(i + 128, hi))]
        c.request("POST", "/v3/kv/txn", json.dumps({"success": ops}), {"Content-Type": "application/json"})
        r = c.getresponse(); r.read(); assert r.status == 200, r.status
def v2(lo, hi):
    c = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    for j in range(lo, hi):
        body = urllib.parse.urlencode({"value": '{"host":"10.51.%d.%d"}' % (j // 250, j % 250 + 1)})
        c.request("PUT", f"/v2/keys/v2dns/sohu/domeos/p2-{j}/1", body, {"Content-Type": "application/x-www-form-urlencoded"})
        r = c.getresponse(); r.read(); assert r.status in (200, 201), r.status
threads = [threading.Thread(target=v3, args=(i * n // 4, (i + 1) * n // 4)) for i in range(4)]
threads += [threading.Thread(target=v2, args=(i * n // 8, (i + 1) * n // 8)) for i in range(8)]
for t in threads: t.start()
for t in threads: t.join()
PY

PROXY_PORT=$(free_port)
python3 - "$PROXY_PORT" "$ETCD_PORT" <<'PY' &
import socket, sys, threading, time
listen = socket.socket(); listen.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listen.bind(("127.0.0.1", int(sys.argv[1]))); listen.listen(64)
def pipe(a, b, rate):
    try:
        while True:
            data = a.recv(16384)
            if not data: break
            b.sendall(data)
            if rate: time.sleep(len(data) / rate)
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
    threading.Thread(target=pipe, args=(c, u, 0), daemon=True).start()
    threading.Thread(target=pipe, args=(u, c, 2_000_000), daemon=True).start()
PY
PIDS+=($!)
for _ in $(seq 50); do curl -sf -m 1 "http://127.0.0.1:$PROXY_PORT/health" >/dev/null && break; sleep 0.1; done

for api in v3 v2; do
  if [ $api = v3 ]; then args=(-etcd3); name=p3-29999; addr=10.50.119.250; else args=(-etcd3=false -path-prefix=v2dns); name=p2-29999; addr=10.51.119.250; fi
  DNS_PORT=$(free_port); METRICS_PORT=$(free_port); mark=$(log_mark)
  start_server -machines="http://127.0.0.1:$PROXY_PORT" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT \
    -metrics-addr=127.0.0.1:$METRICS_PORT "${args[@]}"
  # The first page (10,000 keys) or the first chunks: progress with something read.
  seen=""
  for _ in $(seq 300); do
    body=$(curl -s "http://127.0.0.1:$METRICS_PORT/readyz" || true)
    case "$body" in
      *"first read of /"*": 0 "*) ;;
      *"first read of /"*) seen=$body; break ;;
      ready:*) break ;;
    esac
    sleep 0.05
  done
  [ -n "$seen" ] || fail "$api: /readyz never showed the read's progress (last: $body)"
  echo "$seen" | finds "^not ready: waiting for the first read" || fail "$api: /readyz during the read: $seen"
  if [ $api = v3 ]; then
    echo "$seen" | finds -E "[0-9]+ of $N keys, [0-9]+ keys/s" || fail "v3: /readyz progress: $seen"
  else
    echo "$seen" | finds -E "[0-9]+ nodes \([0-9]+ KiB\) received, [0-9]+ nodes/s" || fail "v2: /readyz progress: $seen"
  fi
  eventually_for 60 answers_are $name.domeos.sohu $addr || fail "$api: last key not served"
  completed() { log_since "$mark" | finds -E "first read of /[a-z0-9]+ \($api\) complete: $N keys in [0-9.]+ s \([0-9]+ keys/s\)"; }
  eventually_for 60 completed || fail "$api: completion line: $(log_since "$mark" | grep 'first read of')"
  log=$(log_since "$mark")
  lines=$(echo "$log" | grep -c "etcd: first read of /.* ($api): " || true)
  [ "$lines" -ge 1 ] || fail "$api: no progress line in the log"
  if [ $api = v3 ]; then
    echo "$log" | finds -E "first read of /skydns \(v3\): [0-9]+ of $N keys, [0-9]+ keys/s" || fail "v3: progress line: $(echo "$log" | grep 'first read of')"
  fi
  # Bounded rate: the read lasts a few seconds, and lines come at most every 2 s.
  secs=$(echo "$log" | grep "etcd: first read of /.* ($api): " | sed 's/^[^T]*T\([0-9:]*\).*/\1/' | awk -F: '{print $1*3600+$2*60+$3}')
  prev=""; for s in $secs; do [ -z "$prev" ] || [ $((s - prev)) -ge 1 ] || fail "$api: progress lines closer than the bound: $secs"; prev=$s; done
  curl -s "http://127.0.0.1:$METRICS_PORT/readyz" | finds "first read of" && fail "$api: /readyz still shows progress after the read"
  stop_server
done
echo "read progress ok"
