#!/usr/bin/env bash
# A connection closed to make room at the TCP cap, whose client left its replies unread in the
# kernel (a small receive window, never read), is reset: closed with a FIN, the FIN would queue
# behind the replies and never reach the client, and the kernel would keep them (an orphan in
# FIN-WAIT-1 probing a shut window) while the client never learns it was closed. The cap is made
# small with the open-files limit; the non-reader is the idlest connection, and as many new
# clients as the cap displace every idle one, whichever event loop holds it.
source "$(dirname "$0")/lib.sh"
start_etcd
put_v2 /skydns/sohu/domeos/kafka-1-wkfa1/19d074a1 '{"host":"172.28.0.12","ttl":30}'
DNS_PORT=$(free_port)
prlimit --nofile=96 "$SKYDNS_BIN" -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT -etcd3=false \
  >>"$WORK/server.log" 2>&1 &
SERVER_PID=$!; PIDS+=("$SERVER_PID")
eventually answers_are kafka-1-wkfa1.domeos.sohu 172.28.0.12 || fail "first sync with 96 fds"
CAP=$(sed -n 's/.*at most \([0-9]*\) TCP connections: the open-files limit (96).*/\1/p' "$WORK/server.log")
[ -n "$CAP" ] && [ "$CAP" -le 60 ] || fail "the TCP cap under 96 fds not said (or above 60): [$CAP]"

python3 - "$DNS_PORT" "$CAP" <<'PY' || fail "an evicted non-reader (see above)"
import socket, struct, subprocess, sys, time
port, cap = int(sys.argv[1]), int(sys.argv[2])
def query(qid):
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + b"\x0dkafka-1-wkfa1\x06domeos\x04sohu\x00\x00\x01\x00\x01"
    return struct.pack(">H", len(q)) + q
def state(s): return s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]  # 1 established, 7 closed
def connect(source): return socket.create_connection(("127.0.0.1", port), timeout=3, source_address=(source, 0))
# 300 answers (about 17 KB) fit in the server's send queue and the client's small window: the
# server has sent them all, so the connection counts as idle.
reader = socket.socket(); reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
reader.bind(("127.0.0.9", 0)); reader.settimeout(3); reader.connect(("127.0.0.1", port))
reader.sendall(b"".join(query(i) for i in range(300)))
time.sleep(0.3)
idle = [connect("127.0.0.2") for _ in range(cap - 1)]
time.sleep(1.5)
new = [connect("127.0.0.3") for _ in range(cap)]
time.sleep(1)
queued = subprocess.run(["ss", "-tnH", "state", "fin-wait-1", f"( sport = :{port} )"], capture_output=True, text=True).stdout
stuck = [l.split() for l in queued.splitlines() if l.split() and int(l.split()[1]) > 0]
print(f"cap {cap}: the non-reader's TCP state {state(reader)}; server sockets in FIN-WAIT-1 with replies queued: {len(stuck)}",
      file=sys.stderr)
ok = state(reader) == 7 and not stuck
if not ok: print("FAILED: the evicted non-reader was not reset", file=sys.stderr)
for c in idle + new: c.close()
time.sleep(0.3)
s = connect("127.0.0.1"); s.sendall(query(7)); r = s.recv(4096)
if r[2:4] != struct.pack(">H", 7): ok = False; print("FAILED: a new client after the evictions", file=sys.stderr)
sys.exit(0 if ok else 1)
PY
kill -0 "$SERVER_PID" 2>/dev/null || fail "server died"
echo "tcp evicted unread ok"
