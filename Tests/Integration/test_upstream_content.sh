#!/usr/bin/env bash
# What an upstream or a client can put into forwarded traffic, beyond malformed bytes
# (test_hostile_upstream covers those): an upstream that adds records for other owners (one in
# our own domain) to its answer for a CNAME target; TTLs with the top bit set (RFC 2181 §8:
# zero); replies of 64 KiB for every name a client makes up, against -rcache's memory; a client
# whose query carries thousands of additional records (not relayed upstream) or a 64 KiB chain of
# compression pointers (FORMERR, not minutes of CPU), and replies whose names defeat a naive
# compression search. The domain keeps being answered throughout.
source "$(dirname "$0")/lib.sh"

UPSTREAM=$(free_port)
cat >"$WORK/upstream.py" <<'PY'
"""Answers by the question's first label: inject (the A asked, plus kafka.skydns.test A 6.6.6.6),
near (64 KB of records with near-identical 255-byte names), hugettl (TTL 2^32-1), echo (TXT: the query's length and ARCOUNT as received), big* (TC over UDP,
a 64 KB TXT over TCP); anything else A 192.0.2.77."""
import socket, struct, sys, threading
PORT = int(sys.argv[1])
def answer(q, tcp):
    end = 12
    while q[end]: end += q[end] + 1
    question = q[12:end + 5]
    label = question[1:1 + question[0]].lower()
    hdr = lambda an, flags=0x8180: q[:2] + struct.pack("!HHHHH", flags, 1, an, 0, 0)
    rr = lambda rtype, ttl, data: b"\xc0\x0c" + struct.pack("!HHIH", rtype, 1, ttl, len(data)) + data
    if label == b"inject":
        other = b"\x05kafka\x06skydns\x04test\x00" + struct.pack("!HHIH", 1, 1, 60, 4) + bytes([6, 6, 6, 6])
        return hdr(3) + question + other + rr(1, 60, bytes([1, 2, 3, 4])) + rr(16, 60, b"\x03xyz")
    if label == b"near":
        # 4,800 records named by 255-byte names that share all but the last label with the
        # first two: each needed 256 long comparisons per label to compress.
        long = lambda last: b"\x01a" * 126 + b"\x01" + last + b"\x00"
        fixed = struct.pack("!HHIH", 16, 1, 60, 2) + b"\x01x"
        body = question + long(b"c") + fixed + long(b"d") + fixed
        repeated = 12 + len(body)
        body += long(b"b") + fixed
        count = 3
        while len(body) + 26 < 65000:
            body += struct.pack("!H", 0xC000 | repeated) + fixed
            count += 1
        return hdr(count) + body if tcp else hdr(0, 0x8380) + question
    if label == b"hugettl":
        return hdr(1) + question + rr(1, 0xFFFFFFFF, bytes([1, 2, 3, 4]))
    if label == b"echo":
        text = b"len=%d arcount=%d" % (len(q), struct.unpack("!H", q[10:12])[0])
        return hdr(1) + question + rr(16, 60, bytes([len(text)]) + text)
    if label.startswith(b"big"):
        if not tcp:
            return hdr(0, 0x8380) + question
        strings = b"".join(b"\xff" + b"x" * 255 for _ in range(250))
        return hdr(1) + question + rr(16, 300, strings)
    return hdr(1) + question + rr(1, 60, bytes([192, 0, 2, 77]))
def serve_udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", PORT))
    while True:
        q, peer = s.recvfrom(65535)
        s.sendto(answer(q, False), peer)
def serve_conn(c):
    with c:
        while True:
            head = c.recv(2, socket.MSG_WAITALL)
            if len(head) < 2: return
            q = c.recv(struct.unpack("!H", head)[0], socket.MSG_WAITALL)
            r = answer(q, True)
            c.sendall(struct.pack("!H", len(r)) + r)
def serve_tcp():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", PORT))
    s.listen(64)
    while True:
        threading.Thread(target=serve_conn, args=(s.accept()[0],), daemon=True).start()
threading.Thread(target=serve_tcp, daemon=True).start()
serve_udp()
PY
python3 "$WORK/upstream.py" "$UPSTREAM" >>"$WORK/upstream.log" 2>&1 &
PIDS+=($!)
start_etcd
put_v3 /skydns/test/skydns/kafka/1 '{"host":"10.0.0.1"}'
put_v3 /skydns/test/skydns/reg/1 '{"host":"inject.example.net"}'
METRICS_PORT=$(free_port)
start_server -machines="$ETCD" -domain=skydns.test -addr=127.0.0.1:${DNS_PORT:=$(free_port)} -etcd3 \
  -nameservers=127.0.0.1:$UPSTREAM -rcache=20 -metrics-addr=127.0.0.1:$METRICS_PORT
eventually answers_are kafka.skydns.test 10.0.0.1 || fail "first sync"
metric() {
  curl -sf "http://127.0.0.1:$METRICS_PORT/metrics" \
    | awk -v k="$1" 'index($0, k " ") == 1 { print int($2); found = 1 } END { if (!found) print "absent" }'
}

# A CNAME from the store to an outside name: only the upstream's records for that name and type
# complete it; its A record for kafka.skydns.test (ours) and its TXT are not passed on.
expect_eq "$(qn reg.skydns.test A | awk '{print $1, $4, $5}' | tr '\n' ' ')" \
  "inject.example.net. A 1.2.3.4 reg.skydns.test. CNAME inject.example.net. " "CNAME completed from the upstream"
expect_eq "$(short kafka.skydns.test)" 10.0.0.1 "our own name after an upstream named it"

# TTL 2^32-1 from an upstream: relayed as 0 (and so not cached).
expect_eq "$(ttl_of hugettl.example.net)" 0 "TTL with the top bit set"

# A client's query with 3,000 additional records (and EDNS) for an outside name: the upstream
# gets the question and our OPT only.
python3 - "$DNS_PORT" >"$WORK/echo.txt" <<'PY'
import socket, struct, sys
name = b"\x04echo\x07example\x03net\x00"
junk = b"\x00" + struct.pack("!HHIH", 0xFF00, 1, 0, 0)
opt = b"\x00" + struct.pack("!HHIH", 41, 4096, 0, 0)
q = struct.pack("!HHHHHH", 7, 0x0100, 1, 0, 0, 3001) + name + struct.pack("!HH", 16, 1) + junk * 3000 + opt
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(20)
s.sendall(struct.pack("!H", len(q)) + q)
r = s.recv(2, socket.MSG_WAITALL)
r = s.recv(struct.unpack("!H", r)[0], socket.MSG_WAITALL)
i = r.find(b"len=")
print(r[i:i + r[i - 1]].decode() if i > 0 else "rcode %d" % (r[3] & 15))
PY
expect_eq "$(cat "$WORK/echo.txt")" "len=53 arcount=1" "what reached the upstream"

# A 64 KiB query whose additional records are named through a chain of 16,000 compression
# pointers, over TCP, twice on one connection: FORMERR for each (every pointer followed used to
# cost minutes of CPU per query), then the domain is answered at once.
python3 - "$DNS_PORT" >"$WORK/chain.txt" <<'PY'
import socket, struct, sys
m = bytearray(struct.pack("!HHHHHH", 9, 0x0100, 1, 0, 0, 0) + b"\x01x\x07example\x03net\x00" + struct.pack("!HH", 1, 1))
start = len(m) + 11
chain = b"".join(struct.pack("!H", 0xC000 | (12 if i == 0 else start + 2 * i - 2)) for i in range(16000))
m += b"\x00" + struct.pack("!HHIH", 0xFF00, 1, 0, len(chain)) + chain
records = 1
while len(m) + 12 <= 65535:
    m += struct.pack("!H", 0xC000 | (start + 2 * 15999)) + struct.pack("!HHIH", 0xFF00, 1, 0, 0)
    records += 1
m[10:12] = struct.pack("!H", records)
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(120)
s.sendall((struct.pack("!H", len(m)) + m) * 2)
for _ in range(2):
    r = s.recv(2, socket.MSG_WAITALL)
    r = s.recv(struct.unpack("!H", r)[0], socket.MSG_WAITALL)
    print(r[3] & 15)
PY
expect_eq "$(tr '\n' ' ' <"$WORK/chain.txt")" "1 1 " "rcodes for the pointer-chain queries"

# Bytes after a query's last record are no part of it: FORMERR, forwarded or not (a forwarded
# one was relayed); without them both are answered.
python3 - "$DNS_PORT" >"$WORK/trailing.txt" <<'PY'
import socket, struct, sys
for name in (b"\x05other\x07example\x03net\x00", b"\x05kafka\x06skydns\x04test\x00"):
    q = struct.pack("!HHHHHH", 11, 0x0100, 1, 0, 0, 0) + name + struct.pack("!HH", 1, 1)
    for extra in (b"", b"\x00\x00\x00"):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(10)
        s.sendto(q + extra, ("127.0.0.1", int(sys.argv[1])))
        print(s.recv(4096)[3] & 15)
PY
expect_eq "$(tr '\n' ' ' <"$WORK/trailing.txt")" "0 1 0 1 " "rcodes for queries with and without trailing bytes"
expect_eq "$(short kafka.skydns.test)" 10.0.0.1 "the domain after the pointer chains"

# An upstream's 64 KB reply whose 4,800 records carry 255-byte names that differ from two
# earlier ones only in the last label: relayed over TCP (each name compared with the stored
# suffixes of its length and hash only; comparing with all took minutes of CPU per reply).
expect_eq "$(dig +time=30 +tries=1 +tcp @127.0.0.1 -p "$DNS_PORT" near.example.net TXT | sed -n 's/.*ANSWER: \([0-9]*\).*/\1/p')" \
  245 "records relayed from the near-identical names reply (as many as 64 KiB holds)"
expect_eq "$(short kafka.skydns.test)" 10.0.0.1 "the domain after the near-identical names"

# -rcache=20 holds at most 20 KiB of replies: 30 names answered with 64 KB each (over TCP, after
# TC) are relayed whole but not kept; a small answer still is.
before=$(metric skydns_skydns_cache_entries)
for i in $(seq 30); do
  expect_eq "$(dig +time=5 +tries=1 +tcp @127.0.0.1 -p "$DNS_PORT" "big$i.example.net" TXT +noall +answer | grep -c TXT)" 1 "big$i"
done
expect_eq "$(metric skydns_skydns_cache_entries)" "$before" "64 KB replies kept in a 20-entry cache"
expect_eq "$(short small.example.net)" 192.0.2.77 "a small outside name"
expect_eq "$(metric skydns_skydns_cache_entries)" "$((before + 1))" "a small reply kept"
kill -0 "$SERVER_PID" || fail "server died"
echo "upstream content ok"
