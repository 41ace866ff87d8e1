#!/usr/bin/env bash
# Signals (issue 7): SIGTERM while a TCP client is mid-session (its query waiting on a slow
# upstream) answers that query, refuses new connections, and exits 0 within the drain; SIGINT does
# the same on an idle server; /readyz says "shutting down" during the drain. SIGHUP re-reads the
# nameservers of /etc/resolv.conf (a private copy bind-mounted in a mount namespace) and logs them.
source "$(dirname "$0")/lib.sh"

# A slow upstream: answers every UDP query after 1 s with A 192.0.2.55.
SLOW=$(free_port)
python3 - "$SLOW" >"$WORK/slow.log" 2>&1 <<'PY' &
import socket, struct, sys, threading, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
def answer(query, peer):
    time.sleep(1.0)
    end = 12
    while query[end] != 0:
        end += query[end] + 1
    end += 5
    header = query[:2] + struct.pack(">HHHHH", 0x8180, 1, 1, 0, 0)
    record = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + bytes([192, 0, 2, 55])
    s.sendto(header + query[12:end] + record, peer)
while True:
    query, peer = s.recvfrom(4096)
    threading.Thread(target=answer, args=(query, peer), daemon=True).start()
PY
PIDS+=($!)

start_etcd
put_v2 /skydns/sohu/domeos/kafka-1-wkfa1/19d074a1 '{"host":"172.28.0.12","ttl":30}'
METRICS_PORT=$(free_port)
DNS_PORT=$(free_port)
start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT -etcd3=false \
  -nameservers=127.0.0.1:$SLOW -rtimeout=3s -metrics-addr=127.0.0.1:$METRICS_PORT
eventually answers_are kafka-1-wkfa1.domeos.sohu 172.28.0.12 || fail "first sync"

# The client: one query answered at once, then a forwarded one that takes 1 s; it writes
# "sent" when that one is on the wire, and the script sends SIGTERM then.
python3 - "$DNS_PORT" "$WORK/sent" "$METRICS_PORT" >"$WORK/client.log" 2>&1 <<'PY' &
import socket, struct, sys, time, urllib.request, urllib.error
port, marker, metrics = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
def query(qid, name):
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\x00" + struct.pack(">HH", 1, 1)
    return struct.pack(">H", len(q)) + q
def read_reply(conn):
    def exactly(n):
        data = b""
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                raise EOFError(f"closed after {len(data)} of {n} bytes")
            data += chunk
        return data
    (length,) = struct.unpack(">H", exactly(2))
    return exactly(length)
conn = socket.create_connection(("127.0.0.1", port), timeout=10)
conn.sendall(query(1, "kafka-1-wkfa1.domeos.sohu"))
reply = read_reply(conn)
assert reply[:2] == b"\x00\x01" and reply[-4:] == bytes([172, 28, 0, 12]), reply
conn.sendall(query(2, "slow.example.org"))
open(marker, "w").write("sent")
time.sleep(0.3)  # SIGTERM has arrived by now
# New connections are refused while the server drains.
try:
    socket.create_connection(("127.0.0.1", port), timeout=2).close()
    print("NEWCONN accepted after SIGTERM")
except OSError as error:
    print(f"NEWCONN refused ({error.__class__.__name__})")
try:
    urllib.request.urlopen(f"http://127.0.0.1:{metrics}/readyz", timeout=2)
    print("READYZ 200 during drain")
except urllib.error.HTTPError as error:
    print(f"READYZ {error.code} {error.read().decode().strip()}")
except OSError as error:
    print(f"READYZ unreachable ({error})")
reply = read_reply(conn)
ok = reply[:2] == b"\x00\x02" and reply[3] & 0x0F == 0 and reply[-4:] == bytes([192, 0, 2, 55])
print("INFLIGHT answered" if ok else f"INFLIGHT wrong reply {reply.hex()}")
try:
    more = conn.recv(1)
    print("CLOSED" if more == b"" else f"CLOSED? got {more!r}")
except OSError as error:
    print(f"CLOSED ({error.__class__.__name__})")
PY
CLIENT=$!
for _ in $(seq 50); do [ -f "$WORK/sent" ] && break; sleep 0.1; done
[ -f "$WORK/sent" ] || fail "client never sent its second query: $(cat "$WORK/client.log")"
sleep 0.1  # the query is read by the server's connection thread and handed upstream
started=$(date +%s.%N)
kill -TERM "$SERVER_PID"
wait "$CLIENT" || fail "client failed: $(cat "$WORK/client.log")"
set +e; wait "$SERVER_PID"; code=$?; set -e
took=$(python3 -c "import sys; print(round($(date +%s.%N) - $started, 2))")
cat "$WORK/client.log"
grep -qx 'INFLIGHT answered' "$WORK/client.log" || fail "the in-flight TCP query was not answered"
grep -q '^NEWCONN refused' "$WORK/client.log" || fail "a new TCP connection was accepted during the drain"
grep -qx 'READYZ 503 not ready: shutting down' "$WORK/client.log" || fail "/readyz during the drain"
grep -q '^CLOSED' "$WORK/client.log" || fail "connection not closed after the drain"
expect_eq "$code" 0 "exit code after SIGTERM"
python3 -c "import sys; sys.exit(0 if $took < 4 else 1)" || fail "SIGTERM took $took s (drain is at most 2 s)"
grep -q 'received SIGTERM' "$WORK/server.log" || fail "SIGTERM not logged"
grep -q 'stopped' "$WORK/server.log" || fail "stop not logged"
echo "SIGTERM: in-flight answered, exit 0 after ${took}s"

# SIGINT on an idle server: exit 0 at once.
DNS_PORT=$(free_port)
start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT -etcd3=false
started=$(date +%s.%N)
kill -INT "$SERVER_PID"
set +e; wait "$SERVER_PID"; code=$?; set -e
took=$(python3 -c "print(round($(date +%s.%N) - $started, 2))")
expect_eq "$code" 0 "exit code after SIGINT"
python3 -c "import sys; sys.exit(0 if $took < 2 else 1)" || fail "SIGINT on an idle server took $took s"
echo "SIGINT: exit 0 after ${took}s"

# SIGHUP: with no -nameservers, the upstreams are re-read from /etc/resolv.conf. A private copy
# is bind-mounted over it in a mount namespace, and rewritten in place between the signals.
if ! unshare -m true 2>/dev/null; then
  echo "SKIP: unshare -m is not permitted here; the SIGHUP re-read of resolv.conf did not run"
  exit 0
fi
printf 'nameserver 127.0.0.71\n' >"$WORK/resolv.conf"
DNS_PORT=$(free_port)
mark=$(log_mark)
env -u SKYDNS_NAMESERVERS WORK="$WORK" BIN="$SKYDNS_BIN" ETCD="$ETCD" PORT="$DNS_PORT" unshare -m bash -c '
  mount --make-rprivate / && mount --bind "$WORK/resolv.conf" /etc/resolv.conf || exit 3
  exec "$BIN" -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$PORT -etcd3=false
' >>"$WORK/server.log" 2>&1 &
SERVER_PID=$!; PIDS+=("$SERVER_PID")
for _ in $(seq 100); do log_since "$mark" | finds 'listening on' && break; sleep 0.1; done
log_since "$mark" | finds 'upstream nameservers from /etc/resolv.conf: \["127.0.0.71:53"\]' \
  || fail "start-up upstreams from the private resolv.conf: $(log_since "$mark" | grep -i upstream)"
printf '# changed\nnameserver 127.0.0.72\nnameserver 127.0.0.73\n' >"$WORK/resolv.conf.new"
cat "$WORK/resolv.conf.new" >"$WORK/resolv.conf"  # same inode: the bind mount sees it
kill -HUP "$SERVER_PID"
reread() { log_since "$mark" | finds 'SIGHUP: upstream nameservers from /etc/resolv.conf: \["127.0.0.72:53", "127.0.0.73:53"\]'; }
eventually reread || fail "SIGHUP did not re-read resolv.conf: $(log_since "$mark" | tail -3)"
kill -0 "$SERVER_PID" || fail "server died on SIGHUP"
grep -q '127.0.0.72' /etc/resolv.conf && fail "the bind mount leaked"
echo "SIGHUP: upstreams re-read"
echo "signals ok"
