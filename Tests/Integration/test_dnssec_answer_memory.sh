#!/usr/bin/env bash
# -dnssec keeps up to 4,096 signed answers per worker or TCP loop, counted by their size (2 MiB
# at most); each kept answer held on to the buffer it was written in (4 KiB on UDP, 64 KiB on
# TCP), so DO queries for distinct names grew the server by about 10 KB each instead of a few
# hundred bytes. 1,500 such queries over TCP must grow RSS by well under what they did (~15 MB).
source "$(dirname "$0")/lib.sh"
command -v dnssec-keygen >/dev/null || fail "needs dnssec-keygen (bind9-utils)"
ZONE=domeos.sohu
start_etcd
put_v3 /skydns/sohu/domeos/a/1 '{"host":"172.28.0.12","ttl":30}'
mkdir -p "$WORK/keys"
dnssec-keygen -q -K "$WORK/keys" -a ED25519 -n ZONE "$ZONE" >/dev/null
key=$(ls "$WORK"/keys/*.key); key=${key%.key}
start_server -machines="$ETCD" -domain=$ZONE -addr=127.0.0.1:${DNS_PORT:=$(free_port)} -etcd3 -dnssec="$key"
eventually answers_are a.domeos.sohu 172.28.0.12 || fail "first sync"

# COUNT DO queries for distinct names under the zone (each a signed denial) over one TCP
# connection, one at a time; prints how many were answered.
ask() {
  python3 - "$DNS_PORT" "$1" "$ZONE" <<'PY'
import os, socket, struct, sys
port, count, zone = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
zone_wire = b"".join(bytes([len(l)]) + l.encode() for l in zone.split(".")) + b"\x00"
c = socket.create_connection(("127.0.0.1", port)); c.settimeout(10)
def read(n):
    data = b""
    while len(data) < n:
        more = c.recv(n - len(data))
        if not more: raise EOFError
        data += more
    return data
answered = 0
for i in range(count):
    label = os.urandom(6).hex().encode()
    query = (struct.pack("!HHHHHH", i & 0xFFFF, 0x0100, 1, 0, 0, 1) + bytes([len(label)]) + label + zone_wire
             + b"\x00\x01\x00\x01" + b"\x00\x00\x29\x04\xd0\x00\x00\x80\x00\x00\x00")
    c.sendall(struct.pack("!H", len(query)) + query)
    reply = read(struct.unpack("!H", read(2))[0])
    answered += reply[:2] == query[:2] and reply[3] & 0x0F in (0, 3)
print(answered)
PY
}
rss() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$SERVER_PID/status"; }

expect_eq "$(ask 100)" 100 "denials of the first names"
before=$(rss)
expect_eq "$(ask 1500)" 1500 "denials of the distinct names"
grown=$(( $(rss) - before ))
[ "$grown" -lt 6000 ] || fail "RSS grew by $grown KiB over 1,500 signed answers, expected under 6,000"
dig +dnssec +time=2 +tries=1 @127.0.0.1 -p "$DNS_PORT" a.domeos.sohu | finds "RRSIG.*A 15 3" || fail "signed answer after"
echo "dnssec answer memory ok"
