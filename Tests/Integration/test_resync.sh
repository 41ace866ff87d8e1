#!/usr/bin/env bash
# The watch falling behind etcd's history (issue 2: "then the last good data is served, whatever
# etcd does next"): the server is frozen (SIGSTOP) while etcd moves on, so when it resumes, its
# next watch starts before what etcd still remembers: v3 compacted past the watch revision, v2's
# 1000-event history overrun. It must notice, re-read, and end with exactly etcd's data:
# deletions made meanwhile gone, puts there, hidden v2 paths current, also when re-reading one of
# them fails.
source "$(dirname "$0")/lib.sh"
# A process left stopped would ignore cleanup's SIGTERM and hang its wait: continue it first.
trap 'kill -CONT "${SERVER_PID:-}" "${ETCD_PID:-}" 2>/dev/null; cleanup' EXIT

v2_many_puts() {  # v2_many_puts KEY COUNT: COUNT writes of KEY over one connection; last value 172.31.9.<COUNT%250>
  python3 - "$ETCD" "$1" "$2" <<'PY'
import http.client, sys, urllib.parse
url = urllib.parse.urlparse(sys.argv[1]); key = sys.argv[2]; n = int(sys.argv[3])
c = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
for i in range(1, n + 1):
    body = urllib.parse.urlencode({"value": '{"host":"172.31.9.%d"}' % (i % 250)})
    c.request("PUT", "/v2/keys" + key, body, {"Content-Type": "application/x-www-form-urlencoded"})
    r = c.getresponse(); r.read()
    if r.status not in (200, 201): sys.exit(f"put {i}: HTTP {r.status}")
PY
}

# --- v3: compacted while the server was frozen and etcd restarted underneath it.
start_etcd
put_v3 /skydns/sohu/domeos/keep/1 '{"host":"172.31.0.1"}'
put_v3 /skydns/sohu/domeos/doomed/1 '{"host":"172.31.0.2"}'
DNS_PORT=$(free_port)
start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT -etcd3
eventually answers_are doomed.domeos.sohu 172.31.0.2 || fail "v3: first sync"
kill -STOP "$SERVER_PID"
restart_etcd  # the server's watch connection dies while it cannot notice
put_v3 /skydns/sohu/domeos/born/1 '{"host":"172.31.0.3"}'
del_v3 /skydns/sohu/domeos/doomed/1
for i in $(seq 1 5); do put_v3 /skydns/sohu/domeos/churn/1 "{\"host\":\"172.31.1.$i\"}"; done
rev=$(ETCDCTL_API=3 etcdctl --endpoints="$ETCD" get /skydns/sohu/domeos/churn/1 -w fields | sed -n 's/^"Revision" : //p')
ETCDCTL_API=3 etcdctl --endpoints="$ETCD" compact "$rev" >/dev/null || fail "v3 compact"
kill -CONT "$SERVER_PID"
eventually_for 20 answers_are born.domeos.sohu 172.31.0.3 || fail "v3: put made before the compaction not seen: $(status born.domeos.sohu)"
eventually_for 20 status_is doomed.domeos.sohu NXDOMAIN || fail "v3: delete made before the compaction not seen (stale record served)"
eventually answers_are churn.domeos.sohu 172.31.1.5 || fail "v3: churned key not at its last value: $(short churn.domeos.sohu)"
expect_eq "$(short keep.domeos.sohu)" 172.31.0.1 "v3: untouched record"
put_v3 /skydns/sohu/domeos/after/1 '{"host":"172.31.0.4"}'
eventually answers_are after.domeos.sohu 172.31.0.4 || fail "v3: watch not resumed after the re-read"
grep -i 'compact' "$WORK/server.log" >&2 || echo "note: the server did not log a compaction (it may have re-read for another reason)" >&2
stop_server

# --- v2: more than 1000 changes while the server was frozen (v2 keeps the last 1000 events).
fresh_etcd
put_v2 /skydns/sohu/domeos/keep/1 '{"host":"172.31.0.1"}'
put_v2 /skydns/sohu/domeos/doomed/1 '{"host":"172.31.0.2"}'
put_v2 /skydns/sohu/domeos/svc/default/kafka/_tcp/_broker/abcd '{"host":"172.31.5.1","port":9092}'
DNS_PORT=$(free_port)
start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT -etcd3=false
eventually answers_are doomed.domeos.sohu 172.31.0.2 || fail "v2: first sync"
expect_eq "$(short _broker._tcp.kafka.default.svc.domeos.sohu)" 172.31.5.1 "v2: hidden name before the freeze"
kill -STOP "$SERVER_PID"
del_v2 /skydns/sohu/domeos/doomed/1
put_v2 /skydns/sohu/domeos/born/1 '{"host":"172.31.0.3"}'
put_v2 /skydns/sohu/domeos/svc/default/kafka/_tcp/_broker/abcd '{"host":"172.31.5.2","port":9092}'
v2_many_puts /skydns/sohu/domeos/churn/1 1100 || fail "v2 churn"
kill -CONT "$SERVER_PID"
eventually_for 20 answers_are born.domeos.sohu 172.31.0.3 || fail "v2: put made before the history overran not seen: $(status born.domeos.sohu)"
eventually_for 20 status_is doomed.domeos.sohu NXDOMAIN || fail "v2: delete made before the history overran not seen (stale record served)"
eventually answers_are churn.domeos.sohu 172.31.9.100 || fail "v2: churned key not at its last value: $(short churn.domeos.sohu)"
eventually answers_are _broker._tcp.kafka.default.svc.domeos.sohu 172.31.5.2 || fail "v2: hidden name not current after the re-read: $(short _broker._tcp.kafka.default.svc.domeos.sohu)"
expect_eq "$(short keep.domeos.sohu)" 172.31.0.1 "v2: untouched record"
put_v2 /skydns/sohu/domeos/after/1 '{"host":"172.31.0.4"}'
eventually answers_are after.domeos.sohu 172.31.0.4 || fail "v2: watch not resumed after the re-read"
stop_server

# --- v2: a hidden path whose re-read fails (etcd answers 503 once, through a proxy): the whole
# re-read is retried, so the path's records are still served, although the path did not change.
fresh_etcd
put_v2 /skydns/sohu/domeos/churn/1 '{"host":"172.31.9.1"}'
put_v2 /skydns/sohu/domeos/svc/default/kafka/_tcp/_broker/abcd '{"host":"172.31.5.1","port":9092}'
PROXY_PORT=$(free_port)
python3 - "$PROXY_PORT" "$ETCD_PORT" "$WORK/fail-hidden" <<'PY' &
import http.client, http.server, os, sys
port, etcd, flag = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
class Relay(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def relay(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if ("/_tcp" in self.path and "recursive=true" in self.path and "wait=true" not in self.path
                and (os.path.exists(flag) or os.path.exists(flag + "-always"))):
            if os.path.exists(flag): os.remove(flag)
            else: open(flag + "-hit", "w").close()
            out = b'{"errorCode":300,"message":"Raft Internal Error"}'
            self.send_response(503); self.send_header("Content-Length", str(len(out))); self.end_headers()
            self.wfile.write(out); return
        upstream = http.client.HTTPConnection("127.0.0.1", etcd, timeout=600)
        headers = {k: v for k, v in self.headers.items() if k.lower() in ("content-type", "authorization")}
        upstream.request(self.command, self.path, body, headers)
        reply = upstream.getresponse(); out = reply.read()
        self.send_response(reply.status)
        for k, v in reply.getheaders():
            if k.lower() not in ("content-length", "transfer-encoding", "connection", "date"): self.send_header(k, v)
        self.send_header("Content-Length", str(len(out))); self.end_headers(); self.wfile.write(out)
    do_GET = do_PUT = do_POST = do_DELETE = relay
http.server.ThreadingHTTPServer(("127.0.0.1", port), Relay).serve_forever()
PY
PIDS+=($!)
for _ in $(seq 50); do curl -sf -m 1 "http://127.0.0.1:$PROXY_PORT/version" >/dev/null && break; sleep 0.1; done
DNS_PORT=$(free_port)
start_server -machines="http://127.0.0.1:$PROXY_PORT" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT -etcd3=false
eventually answers_are churn.domeos.sohu 172.31.9.1 || fail "v2 via proxy: first sync"
expect_eq "$(short _broker._tcp.kafka.default.svc.domeos.sohu)" 172.31.5.1 "v2 via proxy: hidden name before the freeze"
kill -STOP "$SERVER_PID"
v2_many_puts /skydns/sohu/domeos/churn/1 1100 || fail "v2 churn (proxy)"
touch "$WORK/fail-hidden"
kill -CONT "$SERVER_PID"
eventually_for 20 answers_are churn.domeos.sohu 172.31.9.100 || fail "v2 via proxy: no re-read after the history overran"
[ ! -e "$WORK/fail-hidden" ] || fail "v2 via proxy: the hidden path was not re-read (no failure injected)"
eventually answers_are _broker._tcp.kafka.default.svc.domeos.sohu 172.31.5.1 \
  || fail "v2: a hidden path whose re-read failed lost its records: $(status _broker._tcp.kafka.default.svc.domeos.sohu)"

# --- v2: a hidden path whose re-read always fails (503 every time) is left out after a few
# retries: until the re-read is delivered no update is applied, so it must not hold back the rest.
kill -STOP "$SERVER_PID"
v2_many_puts /skydns/sohu/domeos/churn/1 1200 || fail "v2 churn (proxy, always failing)"
touch "$WORK/fail-hidden-always"
kill -CONT "$SERVER_PID"
eventually_for 30 answers_are churn.domeos.sohu 172.31.9.200 \
  || fail "v2: a hidden path that always fails to re-read held back every update: $(short churn.domeos.sohu)"
[ -e "$WORK/fail-hidden-hit" ] || fail "v2 via proxy: the hidden path was not re-read (no failure injected)"
echo "resync ok"
