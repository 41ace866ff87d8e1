#!/usr/bin/env bash
# Queries that wait (an upstream, a CNAME leaving the domain, a hidden etcd v2 key) are answered
# through their reply writer from the one parse, alike over UDP and over one pipelined TCP
# connection: the client's ID and casing, RA on every reply (the hidden-key path once lost it),
# FORMERR for a query whose OPT options do not tile the record, SERVFAIL with -no-rec's REFUSED
# kept apart, and a connection that goes on being served after its slow queries.
source "$(dirname "$0")/lib.sh"

start_zone example.test 'www IN A 192.0.2.10'

start_etcd
put_v2 /skydns/sohu/domeos/pod/1 '{"host":"172.28.0.1"}'
put_v2 /skydns/sohu/domeos/out/1 '{"host":"www.example.test"}'
put_v2 /skydns/sohu/domeos/svc/kafka/_tcp/_broker/abcd '{"host":"172.16.50.9","port":9092}'
DNS_PORT=$(free_port)
start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT -etcd3=false \
  -nameservers=127.0.0.1:$KNOT_PORT -rtimeout=2s
eventually status_is pod.domeos.sohu NOERROR || fail "server not synced"

python3 - "$DNS_PORT" <<'PY' || fail "slow-path replies"
import socket, struct, sys
port = int(sys.argv[1])

def name(text):
    return b"".join(bytes([len(l)]) + l.encode() for l in text.rstrip(".").split(".")) + b"\0"

def query(qid, qname, qtype, opt=None):
    packet = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 1 if opt is not None else 0) + name(qname) + struct.pack(">HH", qtype, 1)
    if opt is not None:
        packet += b"\0" + struct.pack(">HHIH", 41, 1232, 0, len(opt)) + opt
    return packet

def parse(reply):
    qid, flags, qd, an = struct.unpack(">HHHH", reply[:8])
    offset = 12
    labels = []
    while reply[offset]:
        labels.append(reply[offset + 1:offset + 1 + reply[offset]].decode())
        offset += 1 + reply[offset]
    return qid, flags, an, ".".join(labels), reply

# ID -> (query, expected rcode, whether an answer record is expected, echoed name)
cases = {
    0x1001: (query(0x1001, "WWW.Example.test", 1), 0, True, "WWW.Example.test"),             # forwarded
    0x1002: (query(0x1002, "Out.domeos.sohu", 1), 0, True, "Out.domeos.sohu"),               # CNAME leaves the domain
    0x1003: (query(0x1003, "_broker._tcp.kafka.svc.domeos.sohu", 33), 0, True, "_broker._tcp.kafka.svc.domeos.sohu"),  # hidden key
    # An option claiming 200 bytes in an 8-byte OPT record: FORMERR, never forwarded.
    0x1004: (query(0x1004, "www.example.test", 1, opt=struct.pack(">HH", 10, 200) + b"\1" * 4), 1, False, "www.example.test"),
    0x1005: (query(0x1005, "pod.domeos.sohu", 1), 0, True, "pod.domeos.sohu"),               # fast path, after the others
}
failed = []

def check(transport, reply):
    qid, flags, an, echoed, raw = parse(reply)
    if qid not in cases:
        failed.append(f"{transport}: reply with unknown id {qid:#x}"); return
    _, rcode, answered, expected_name = cases[qid]
    if flags & 0xF != rcode: failed.append(f"{transport} {qid:#x}: rcode {flags & 0xF}, expected {rcode}")
    if not flags & 0x0080: failed.append(f"{transport} {qid:#x}: RA not set")
    if (an > 0) != answered: failed.append(f"{transport} {qid:#x}: {an} answers")
    if echoed != expected_name: failed.append(f"{transport} {qid:#x}: question {echoed}, expected {expected_name}")

for qid, (packet, *_ ) in cases.items():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(5)
    s.sendto(packet, ("127.0.0.1", port))
    check("udp", s.recv(4096)); s.close()

# Every query on one TCP connection at once; the replies may come in any order (RFC 7766 §7).
t = socket.create_connection(("127.0.0.1", port), timeout=10)
t.sendall(b"".join(struct.pack(">H", len(p)) + p for p, *_ in cases.values()))
buffer, seen = b"", set()
while len(seen) < len(cases):
    chunk = t.recv(65536)
    if not chunk: failed.append("tcp: connection closed early"); break
    buffer += chunk
    while len(buffer) >= 2 and len(buffer) >= 2 + struct.unpack(">H", buffer[:2])[0]:
        length = struct.unpack(">H", buffer[:2])[0]
        reply, buffer = buffer[2:2 + length], buffer[2 + length:]
        seen.add(struct.unpack(">H", reply[:2])[0]); check("tcp", reply)
# The connection still serves after its slow queries.
t.sendall(struct.pack(">H", len(cases[0x1005][0])) + cases[0x1005][0])
length = struct.unpack(">H", t.recv(2))[0]
check("tcp again", t.recv(length))
t.close()
for line in failed: print(line)
sys.exit(1 if failed else 0)
PY

# With -no-rec the same queries are refused or completed without upstreams, and RA is clear.
stop_server
DNS_PORT=$(free_port)
start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT -etcd3=false -no-rec
eventually status_is pod.domeos.sohu NOERROR || fail "no-rec server not synced"
expect_eq "$(status www.example.test A)" REFUSED "-no-rec, outside name"
dig +time=2 +tries=1 @127.0.0.1 -p "$DNS_PORT" _broker._tcp.kafka.svc.domeos.sohu SRV | finds "flags: qr aa rd;" \
  || fail "-no-rec hidden key: AA without RA expected"
echo "PASS"
