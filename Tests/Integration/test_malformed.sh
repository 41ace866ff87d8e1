#!/usr/bin/env bash
# Hostile and broken input (issue 2: "A malformed query gets FORMERR when a header can be read,
# silence otherwise; the server never crashes on input"): raw UDP datagrams that are too short,
# empty, looping, over-long, responses, and 1000 random mutations of a valid query; TCP with a
# lying length prefix, a zero length, byte-at-a-time writes and pipelined queries. Afterwards the
# server still answers correctly over UDP and TCP, and it is still the same process.
source "$(dirname "$0")/lib.sh"
start_etcd
put_v2 /skydns/sohu/domeos/kafka-1-wkfa1/19d074a1 '{"host":"172.28.0.12","priority":10,"weight":10,"ttl":30}'
DNS_PORT=$(free_port)
start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT
eventually answers_are kafka-1-wkfa1.domeos.sohu 172.28.0.12 || fail "first sync"

python3 - "$DNS_PORT" <<'PY' || fail "malformed-input checks (see above)"
import os, random, select, socket, struct, sys, time
PORT = int(sys.argv[1]); ADDR = ("127.0.0.1", PORT)
random.seed(int.from_bytes(os.urandom(4), "big"))
failures = []
def check(ok, what):
    if not ok:
        failures.append(what); print("FAILED:", what, file=sys.stderr)

def name(n):
    return b"".join(bytes([len(l)]) + l for l in n.encode().split(b".") if l) + b"\0"
def header(qid, flags=0x0100, qd=1, an=0, ns=0, ar=0):
    return struct.pack(">HHHHHH", qid, flags, qd, an, ns, ar)
def query(qid, qname="kafka-1-wkfa1.domeos.sohu", qtype=1):
    return header(qid) + name(qname) + struct.pack(">HH", qtype, 1)

def udp(packet, timeout=0.5):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    s.sendto(packet, ADDR)
    try:
        return s.recv(65535)
    except socket.timeout:
        return None
    finally:
        s.close()

def expect_silence(packet, what):
    r = udp(packet, 0.5)
    check(r is None, f"{what}: expected no reply, got {r!r:.80}")

def expect_formerr(packet, what):
    r = udp(packet, 2)
    if r is None:
        check(False, f"{what}: expected FORMERR, got no reply"); return
    check(len(r) >= 12, f"{what}: reply shorter than a header")
    if len(r) < 12: return
    rid, flags = struct.unpack(">HH", r[:4])
    check(rid == struct.unpack(">H", packet[:2])[0], f"{what}: reply ID {rid:#x} != query ID")
    check(flags & 0x8000, f"{what}: QR not set in the reply")
    check(flags & 0xF == 1, f"{what}: expected rcode 1 (FORMERR), got {flags & 0xF}")

def expect_answer(packet, what, addr=b"\xac\x1c\x00\x0c"):
    r = udp(packet, 2)
    check(r is not None and len(r) >= 12, f"{what}: no reply")
    if not r: return
    rid, flags, qd, an = struct.unpack(">HHHH", r[:8])
    check(rid == struct.unpack(">H", packet[:2])[0], f"{what}: ID mismatch")
    check(flags & 0xF == 0 and an >= 1 and addr in r, f"{what}: expected NOERROR with 172.28.0.12, got rcode {flags & 0xF}, ancount {an}")

expect_answer(query(0x1111), "baseline query")
expect_silence(os.urandom(5), "5 random bytes")
expect_silence(b"", "empty datagram")
expect_silence(header(0x2222)[:11], "11-byte header")
expect_formerr(header(0x3333, qd=0), "header only, QDCOUNT=0")
# Name at offset 12 is a pointer to offset 12: a loop.
expect_formerr(header(0x4444) + b"\xc0\x0c" + struct.pack(">HH", 1, 1), "compression pointer loop")
# Two pointers pointing at each other.
expect_formerr(header(0x4445) + b"\x01a\xc0\x0e\xc0\x0c" + struct.pack(">HH", 1, 1), "two-pointer loop")
# Pointer forward, past the end of the message.
expect_formerr(header(0x4446) + b"\xc0\xff" + struct.pack(">HH", 1, 1), "pointer past the end")
expect_formerr(header(0x5555) + b"\x40" + b"a" * 64 + b"\0" + struct.pack(">HH", 1, 1), "label length 0x40")
expect_formerr(header(0x5556) + b"\x80abc\0" + struct.pack(">HH", 1, 1), "label type bits 10")
# 5 labels of 63 bytes: a 321-byte name (limit 255).
expect_formerr(header(0x5557) + (b"\x3f" + b"a" * 63) * 5 + b"\0" + struct.pack(">HH", 1, 1), "name over 255 bytes")
expect_formerr(header(0x5558) + name("kafka-1-wkfa1.domeos.sohu")[:10], "question cut inside the name")
expect_formerr(header(0x5559) + name("kafka-1-wkfa1.domeos.sohu") + b"\x00", "question cut inside the type")
expect_silence(header(0x6666, flags=0x8180) + name("kafka-1-wkfa1.domeos.sohu") + struct.pack(">HH", 1, 1), "QR set (a response)")
expect_silence(header(0x6667, flags=0x8183, qd=0), "QR set, FORMERR-looking response")
expect_answer(query(0x7777), "query after the malformed ones")

# 1000 random mutations of a valid query (half of them with EDNS0), each on its own socket so every reply can be matched to
# the datagram that caused it: a reply must carry that datagram's ID and QR, and a datagram with
# QR set must get none.
base_plain = query(0x0000)
# The same query with an EDNS0 OPT record (size 4096, DO set, one cookie option): EDNS parsing gets
# mutated too.
base_edns = header(0, ar=1) + name("kafka-1-wkfa1.domeos.sohu") + struct.pack(">HH", 1, 1) \
    + b"\0" + struct.pack(">HHIH", 41, 4096, 0x8000, 12) + struct.pack(">HH", 10, 8) + os.urandom(8)
expect_answer(b"\xcc\xcc" + base_edns[2:], "the unmutated EDNS0 query")
socks = []
for i in range(1000):
    p = bytearray(base_edns if i % 2 else base_plain)
    for _ in range(random.randint(1, 6)):
        op = random.random()
        if op < 0.5 and p: p[random.randrange(len(p))] = random.randrange(256)
        elif op < 0.7 and p:
            k = random.randrange(len(p)); del p[k:k + random.randint(1, 8)]
        elif op < 0.85: p[random.randrange(len(p) + 1):0] = os.urandom(random.randint(1, 8))
        else: p = p[:random.randrange(len(p) + 1)]
    if len(p) >= 2: p[0:2] = struct.pack(">H", i)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.setblocking(False)
    s.sendto(bytes(p), ADDR); socks.append((s, bytes(p)))
    if i % 100 == 99: time.sleep(0.02)
deadline = time.time() + 3
replies = 0
pending = {s: p for s, p in socks}
while pending and time.time() < deadline:
    ready, _, _ = select.select(list(pending), [], [], 0.2)
    for s in ready:
        p = pending.pop(s)
        r = s.recv(65535); replies += 1
        check(len(p) >= 12, f"mutation {p.hex()}: reply to a datagram without a full header")
        check(len(r) >= 12 and r[:2] == p[:2], f"mutation {p.hex()}: reply ID differs")
        check(len(r) >= 3 and r[2] & 0x80, f"mutation {p.hex()}: reply without QR")
        check(len(p) < 3 or not p[2] & 0x80, f"mutation {p.hex()}: a datagram with QR set was answered")
        check(len(r) <= 65535, "reply size")
for s, _ in socks: s.close()
print(f"mutations: 1000 sent, {replies} answered", file=sys.stderr)
expect_answer(query(0x8888), "query after the mutations")

# TCP.
def tcp_connect():
    s = socket.create_connection(ADDR, timeout=3); return s
def tcp_read(s):
    hdr = b""
    while len(hdr) < 2:
        c = s.recv(2 - len(hdr))
        if not c: return None
        hdr += c
    n = struct.unpack(">H", hdr)[0]; body = b""
    while len(body) < n:
        c = s.recv(n - len(body))
        if not c: return None
        body += c
    return body
# A length prefix of 300 followed by 10 bytes, then close.
s = tcp_connect(); s.sendall(struct.pack(">H", 300) + os.urandom(10)); s.close()
# A zero length prefix.
s = tcp_connect(); s.sendall(b"\0\0")
try:
    s.settimeout(2); r = s.recv(100)
except (socket.timeout, ConnectionResetError): r = b""
s.close()
# Half a length prefix, then close.
s = tcp_connect(); s.sendall(b"\x01"); s.close()
# A valid query written one byte at a time.
q = query(0x9999); s = tcp_connect()
for b in struct.pack(">H", len(q)) + q:
    s.sendall(bytes([b])); time.sleep(0.002)
r = tcp_read(s); s.close()
check(r is not None and r[:2] == b"\x99\x99" and b"\xac\x1c\x00\x0c" in r, "TCP query written byte by byte")
# Three queries pipelined on one connection, one of them malformed (FORMERR) in the middle.
s = tcp_connect()
bad = header(0xAAAB) + b"\xc0\x0c" + struct.pack(">HH", 1, 1)
s.sendall(b"".join(struct.pack(">H", len(m)) + m for m in (query(0xAAAA), bad, query(0xAAAC))))
got = {}
for _ in range(3):
    r = tcp_read(s)
    if r is None: break
    got[r[:2]] = r
s.close()
check(b"\xaa\xaa" in got and b"\xac\x1c\x00\x0c" in got[b"\xaa\xaa"], "TCP pipelined query 1")
check(b"\xaa\xab" in got and got[b"\xaa\xab"][3] & 0xF == 1, "TCP pipelined malformed query: FORMERR")
check(b"\xaa\xac" in got and b"\xac\x1c\x00\x0c" in got[b"\xaa\xac"], "TCP pipelined query 3")
# A TCP connection with a header-less message.
s = tcp_connect(); s.sendall(struct.pack(">H", 5) + os.urandom(5))
try:
    s.settimeout(2); r = s.recv(100)
except (socket.timeout, ConnectionResetError): r = b""
s.close()
check(not r, f"TCP 5-byte message: expected no reply, got {r!r:.40}")
expect_answer(query(0xBBBB), "UDP query after the TCP abuse")
sys.exit(1 if failures else 0)
PY

kill -0 "$SERVER_PID" 2>/dev/null || fail "server process died"
for transport in +notcp +tcp; do
  expect_eq "$(qn kafka-1-wkfa1.domeos.sohu A $transport)" "kafka-1-wkfa1.domeos.sohu. 30 IN A 172.28.0.12" "after the abuse $transport"
  expect_eq "$(status nope.domeos.sohu A $transport)" NXDOMAIN "NXDOMAIN after the abuse $transport"
done
echo "malformed ok"
