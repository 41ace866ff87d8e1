#!/usr/bin/env bash
# Answers stay right while etcd changes underneath (issue 2: readers never block on a writer and
# read published snapshots): a steady stream of UDP and TCP queries runs while a writer rewrites
# one name many times through atomic v3 transactions (delete the record, put its replacement: a
# kube2sky-style rewrite done in one revision) and puts/deletes unrelated keys. Every answer for
# a stable name is right, and the rewritten name is never NXDOMAIN, since etcd never lacked it.
source "$(dirname "$0")/lib.sh"
start_etcd
put_v3 /skydns/sohu/domeos/stable/1 '{"host":"172.29.0.1"}'
put_v3 /skydns/sohu/domeos/swap/a '{"host":"172.29.1.1"}'
DNS_PORT=$(free_port)
start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT -etcd3
eventually answers_are swap.domeos.sohu 172.29.1.1 || fail "first sync"

python3 - "$ETCD" "$DNS_PORT" <<'PY' || fail "churn checks (see above)"
import base64, http.client, json, socket, struct, sys, threading, urllib.parse
etcd = urllib.parse.urlparse(sys.argv[1]); ADDR = ("127.0.0.1", int(sys.argv[2]))
b64 = lambda s: base64.b64encode(s.encode()).decode()
P = "/skydns/sohu/domeos/"
done = threading.Event(); errors = []

def writer():
    try:
        c = http.client.HTTPConnection(etcd.hostname, etcd.port, timeout=10)
        def post(path, body):
            c.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
            r = c.getresponse(); data = r.read()
            if r.status != 200: raise RuntimeError(f"{path}: HTTP {r.status} {data[:200]!r}")
        cur = "a"
        for i in range(300):
            nxt = "b" if cur == "a" else "a"
            post("/v3/kv/txn", {"success": [
                {"requestDeleteRange": {"key": b64(P + "swap/" + cur)}},
                {"requestPut": {"key": b64(P + "swap/" + nxt), "value": b64('{"host":"172.29.1.%d"}' % (i % 250 + 1))}}]})
            cur = nxt
            post("/v3/kv/put", {"key": b64(P + "noise/%d/x" % (i % 20)), "value": b64('{"host":"172.29.2.%d"}' % (i % 250))})
            if i % 3 == 0:
                post("/v3/kv/deleterange", {"key": b64(P + "noise/%d/x" % ((i + 10) % 20))})
    except Exception as e:
        errors.append(f"writer: {e}")
    finally:
        done.set()

def query(qid, name):
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0" + struct.pack(">HH", 1, 1)
    return q

def rcode_and_addrs(r):
    flags, qd, an = struct.unpack(">HHH", r[2:8])
    return flags & 0xF, an

udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); udp.settimeout(2)
tcp = socket.create_connection(ADDR, timeout=5)
def ask_tcp(q):
    tcp.sendall(struct.pack(">H", len(q)) + q)
    def read(n):
        b = b""
        while len(b) < n:
            c = tcp.recv(n - len(b))
            if not c: raise RuntimeError("TCP connection closed by the server")
            b += c
        return b
    return read(struct.unpack(">H", read(2))[0])

t = threading.Thread(target=writer); t.start()
n = 0; swap_bad = {}; stable_bad = 0; lost = 0
while not done.is_set() or n < 200:
    for name, transport in (("swap.domeos.sohu", "udp"), ("stable.domeos.sohu", "udp"), ("swap.domeos.sohu", "tcp"), ("stable.domeos.sohu", "tcp")):
        n += 1; qid = n & 0xFFFF; q = query(qid, name)
        try:
            if transport == "udp":
                udp.sendto(q, ADDR)
                r = udp.recv(4096)
                while r[:2] != q[:2]: r = udp.recv(4096)  # a late reply to an earlier query
            else:
                r = ask_tcp(q)
        except socket.timeout:
            lost += 1; continue
        rc, an = rcode_and_addrs(r)
        if name.startswith("stable"):
            if rc != 0 or an != 1 or b"\xac\x1d\x00\x01" not in r: stable_bad += 1
        elif rc != 0 or an < 1:
            swap_bad[rc] = swap_bad.get(rc, 0) + 1
t.join()
print(f"churn: {n} queries, swap bad by rcode {swap_bad}, stable bad {stable_bad}, lost {lost}", file=sys.stderr)
ok = True
if errors: print("FAILED:", errors, file=sys.stderr); ok = False
if stable_bad: print(f"FAILED: {stable_bad} wrong answers for a name that never changed", file=sys.stderr); ok = False
if swap_bad: print(f"FAILED: the atomically rewritten name was answered without a record {sum(swap_bad.values())} times (rcodes {swap_bad}); etcd always had one", file=sys.stderr); ok = False
if lost: print(f"FAILED: {lost} queries got no reply within 2 s", file=sys.stderr); ok = False
sys.exit(0 if ok else 1)
PY
# After the churn: exactly etcd's final state.
final=$(ETCDCTL_API=3 etcdctl --endpoints="$ETCD" get --prefix /skydns/sohu/domeos/swap/ --print-value-only | sed -n 's/.*"host":"\([0-9.]*\)".*/\1/p')
eventually answers_are swap.domeos.sohu "$final" || fail "final state: expected [$final], got [$(short swap.domeos.sohu)]"
expect_eq "$(short stable.domeos.sohu A +tcp)" 172.29.0.1 "stable after the churn"
echo "churn ok"
