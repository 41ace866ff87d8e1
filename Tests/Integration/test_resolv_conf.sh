#!/usr/bin/env bash
# Upstreams from /etc/resolv.conf (no -nameservers), read as glibc and musl read it: a link-local
# nameserver with its %zone (fe80::53%va) is used, an address ends at `;` or `#` (a comment) and
# CR is a blank (a file edited on Windows); an entry that is no address (an unknown interface
# after %, `[]`, nothing before a comment) is logged by name and never becomes 0.0.0.0. SIGHUP
# re-reads the file. Runs in a network namespace of its own (the upstreams listen on port 53
# there); the server alone gets the resolv.conf, bind-mounted in a mount namespace of its own (dig
# refuses to start with such a file).
if [ -z "${SKYDNS_IN_NETNS:-}" ]; then
  if ! unshare -n -m true 2>/dev/null; then
    echo "SKIP: unshare -n -m is not permitted here (needs root or CAP_SYS_ADMIN); the resolv.conf checks did not run"
    exit 0
  fi
  exec env SKYDNS_IN_NETNS=1 unshare -n bash "$0" "$@"
fi
ip link set lo up
source "$(dirname "$0")/lib.sh"
unset SKYDNS_NAMESERVERS

# A link-local address on one end of a veth pair (nodad: usable at once).
ip link add va type veth peer name vb
ip link set va up; ip link set vb up
ip -6 addr add fe80::53/64 dev va nodad

# Two upstreams on port 53: IPv6 (fe80::53) answers every A query with 192.0.2.6, 127.0.0.2 with
# 192.0.2.2, so the answer says which upstream the server used.
python3 - >"$WORK/upstream.log" 2>&1 <<'PY' &
import select, socket, struct
v6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
v6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
v6.bind(("::", 53))
v4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
v4.bind(("127.0.0.2", 53))
answer = {v6: 6, v4: 2}
while True:
    for s in select.select([v6, v4], [], [])[0]:
        query, peer = s.recvfrom(4096)
        end = 12
        while query[end] != 0:
            end += query[end] + 1
        end += 5
        header = query[:2] + struct.pack(">HHHHH", 0x8180, 1, 1, 0, 0)
        record = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + bytes([192, 0, 2, answer[s]])
        s.sendto(header + query[12:end] + record, peer)
PY
PIDS+=($!)

start_etcd
put_v2 /skydns/sohu/domeos/kafka-1-wkfa1/19d074a1 '{"host":"172.28.0.12","ttl":30}'
printf 'search domeos.sohu\nnameserver fe80::53%%va\nnameserver fe80::53%%nosuch0\noptions ndots:5\n' >"$WORK/resolv.conf"
cat >"$WORK/skydns" <<SH
#!/usr/bin/env bash
exec unshare -m bash -c 'mount --make-rprivate / && mount --bind "$WORK/resolv.conf" /etc/resolv.conf && exec "\$0" "\$@"' "$SKYDNS_BIN" "\$@"
SH
chmod +x "$WORK/skydns"
REAL_SKYDNS_BIN=$SKYDNS_BIN
SKYDNS_BIN=$WORK/skydns
DNS_PORT=$(free_port)
start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT -etcd3=false
eventually answers_are kafka-1-wkfa1.domeos.sohu 172.28.0.12 || fail "first sync"
expect_eq "$(short www.example.test)" 192.0.2.6 "forwarded to the link-local nameserver fe80::53%va"
grep -q 'nameserver "fe80::53%nosuch0" is not an IP address' "$WORK/server.log" || fail "unknown zone not logged"

# Rewritten in place (the server's bind mount keeps the inode), then SIGHUP.
printf 'nameserver 127.0.0.2;office\r\nnameserver []\nnameserver #x\n' >"$WORK/resolv.conf"
kill -HUP "$SERVER_PID"
eventually answers_are www.example.test 192.0.2.2 || fail "after SIGHUP: $(short www.example.test)"
grep -q 'SIGHUP: upstream nameservers from /etc/resolv.conf: \["127.0.0.2:53"\]' "$WORK/server.log" \
  || fail "SIGHUP upstreams: $(grep SIGHUP "$WORK/server.log")"
grep -q 'nameserver "\[\]" is not an IP address' "$WORK/server.log" || fail "[] not logged"
grep -q 'nameserver "#x" is not an IP address' "$WORK/server.log" || fail "an empty address not logged"
expect_eq "$(short kafka-1-wkfa1.domeos.sohu)" 172.28.0.12 "the domain after SIGHUP"
stop_server

# The same zones in -nameservers: a known interface forwards there, an unknown one is exit 2.
SKYDNS_BIN=$REAL_SKYDNS_BIN
DNS_PORT=$(free_port)
start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT -etcd3=false -nameservers='[fe80::53%va]:53'
expect_eq "$(short www.example.test)" 192.0.2.6 "forwarded to -nameservers=[fe80::53%va]:53"
stop_server
set +e
"$SKYDNS_BIN" -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT -nameservers='[fe80::53%nosuch0]:53' >"$WORK/bad.log" 2>&1
code=$?
set -e
expect_eq "$code" 2 "exit code of -nameservers with an unknown zone"
grep -q 'invalid address "\[fe80::53%nosuch0\]:53"' "$WORK/bad.log" || fail "unknown zone: $(tail -1 "$WORK/bad.log")"
echo "resolv.conf ok"
