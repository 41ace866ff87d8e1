#!/usr/bin/env bash
# While the first read of a large keyspace streams in, an address query for a name the read has
# not reached yet is answered from that name's own keys in etcd (as SkyDNS answered every query),
# not refused; a name whose records point elsewhere (a CNAME) is refused until the read is done;
# a name with no keys is NXDOMAIN, and one with too many keys below it (the apex) waits for the
# read. 100,000 keys make the read last long enough to see it.
source "$(dirname "$0")/lib.sh"
start_etcd
python3 - "$ETCD" <<'PY' || fail "loading etcd"
import base64, http.client, json, sys, urllib.parse
u = urllib.parse.urlparse(sys.argv[1]); c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
b64 = lambda s: base64.b64encode(s.encode()).decode()
def put_all(pairs):
    c.request("POST", "/v3/kv/txn", json.dumps({"success": [{"requestPut": {"key": b64(k), "value": b64(v)}} for k, v in pairs]}))
    r = c.getresponse(); r.read()
    if r.status != 200: raise SystemExit(f"txn: HTTP {r.status}")
pods = [(f"/skydns/sohu/domeos/pod-{i:06d}/x", json.dumps({"host": f"10.{i // 65536}.{i // 256 % 256}.{i % 256}"})) for i in range(100000)]
for i in range(0, len(pods), 128): put_all(pods[i:i + 128])  # etcd takes 128 operations a transaction
# Last in key order: the read reaches them last.
put_all([("/skydns/sohu/domeos/zz-last/x", json.dumps({"host": "172.30.0.1"})),
         ("/skydns/sohu/domeos/zz-alias/x", json.dumps({"host": "zz-last.domeos.sohu"}))])
PY
DNS_PORT=$(free_port)
start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT -etcd3

python3 - "$DNS_PORT" "$WORK/server.log" <<'PY' || fail "first-read answers (see above)"
import random, socket, struct, sys, time
port, log = int(sys.argv[1]), sys.argv[2]
def ask(name, tcp=False):
    qid = random.randrange(65536)
    packet = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + b"".join(
        bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0" + struct.pack(">HH", 1, 1)
    if tcp:
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
        s.sendall(struct.pack(">H", len(packet)) + packet)
        data = b""
        while len(data) < 2 or len(data) < 2 + struct.unpack(">H", data[:2])[0]:
            chunk = s.recv(4096)
            if not chunk: raise RuntimeError("TCP connection closed")
            data += chunk
        data = data[2:]; s.close()
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
        s.sendto(packet, ("127.0.0.1", port))
        data = s.recv(4096); s.close()
    assert data[:2] == struct.pack(">H", qid), "reply to another query"
    rcode, answers = data[3] & 0xF, struct.unpack(">H", data[6:8])[0]
    return rcode, data[-4:] if answers else b"", answers
def read_done(): return "first read of etcd complete" in open(log).read()
seen = {"zz-last": [], "zz-alias": [], "zz-nothere": [], "zz-last over TCP": [], "the apex": []}
early = False
while True:
    done = read_done()
    for name in seen:
        qname = "domeos.sohu" if name == "the apex" else name.split()[0] + ".domeos.sohu"
        rcode, rdata, count = ask(qname, tcp=name.endswith("TCP"))
        seen[name].append((done, rcode, rdata, count))
        if name == "zz-last" and not done and rcode == 0: early = True
    if done: break
    time.sleep(0.01)
errors = []
before = [r for r in seen["zz-last"] if not r[0]]
print(f"zz-last before the read completed: {len(before)} answers, rcodes {sorted({r[1] for r in before})}")
if not before: errors.append("the read completed before any query: the test proves nothing (make it bigger)")
if not early: errors.append("zz-last was never answered before the read completed")
for name in ("zz-last", "zz-last over TCP"):
    if any(r[1] != 0 or r[2] != bytes([172, 30, 0, 1]) for r in seen[name]):
        errors.append(f"{name}: a wrong answer {[r for r in seen[name] if r[1] != 0][:3]}")
# The store is synced a moment before the log says so: a whole answer (CNAME and A) may come
# before the line, but never a partial one, and never a denial.
alias = seen["zz-alias"]
if any(r[1] not in (0, 5) or (r[1] == 0 and r[3] != 2) for r in alias) or not any(r[1] == 5 for r in alias):
    errors.append(f"zz-alias: expected REFUSED, then CNAME and A: {sorted({(r[0], r[1], r[3]) for r in alias})}")
if any(r[1] not in (3, 5) for r in seen["zz-nothere"]) or not any(r[1] == 3 for r in seen["zz-nothere"]):
    errors.append(f"zz-nothere: expected NXDOMAIN: {sorted({(r[0], r[1]) for r in seen['zz-nothere']})}")
apex = seen["the apex"]
if any(r[1] not in (0, 5) for r in apex) or not any(r[1] == 5 for r in apex if not r[0]):
    errors.append(f"the apex (100,000 keys below): expected REFUSED until the read completed: {sorted({(r[0], r[1]) for r in apex})}")
for e in errors: print("FAIL:", e)
sys.exit(1 if errors else 0)
PY
eventually status_is zz-alias.domeos.sohu NOERROR || fail "CNAME after the read"
answers_are zz-alias.domeos.sohu "172.30.0.1 zz-last.domeos.sohu." || fail "CNAME answer after the read: $(short zz-alias.domeos.sohu)"
echo "first read ok"
