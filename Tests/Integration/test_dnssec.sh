#!/usr/bin/env bash
# -dnssec with keys made by dnssec-keygen, for each of RSASHA256, ECDSAP256SHA256 and ED25519:
# BIND's delv, with the key as trust anchor, fully validates A, AAAA, SRV, TXT, SOA and DNSKEY
# answers (CNAME chains, wildcards and answers completed on a forwarder thread too), NSEC queries and the
# denials of a missing name and a missing type (compact denial; a CNAME to an outside name the
# upstream denies), while a CNAME to a name no upstream answers for is an unsigned SERVFAIL, no
# denial; Unbound with a
# stub zone to the server and the key as anchor answers with AD, and with another key as anchor
# SERVFAIL. A query without DO gets the bytes a server without -dnssec sends; an answer too big
# for the client's UDP size is cut whole and marked TC, and validates over TCP. Key files that
# cannot be used stop the start with exit code 2.
source "$(dirname "$0")/lib.sh"
command -v delv >/dev/null && command -v unbound >/dev/null && command -v dnssec-keygen >/dev/null \
  || fail "needs delv, unbound and dnssec-keygen (bind9-dnsutils, unbound, bind9-utils)"
ZONE=domeos.sohu
start_etcd
put_v3 /skydns/sohu/domeos/kafka-1-wkfa1/19d074a1 '{"host":"172.28.0.12","ttl":30}'
put_v3 /skydns/sohu/domeos/v6/1 '{"host":"fd00::12","ttl":30}'
put_v3 /skydns/sohu/domeos/svc/default/kafka-svc-1/b56639fb '{"host":"172.16.50.1","port":9092,"priority":10,"weight":10,"ttl":30}'
put_v3 /skydns/sohu/domeos/notes/1 '{"text":"hello dnssec","ttl":30}'
put_v3 /skydns/sohu/domeos/alias/1 '{"host":"kafka-1-wkfa1.domeos.sohu","ttl":30}'
# CNAMEs whose targets lie outside, completed on a forwarder thread: the upstream (Knot, serving
# example.org) denies the first and refuses the second (not its zone).
put_v3 /skydns/sohu/domeos/ext/1 '{"host":"www.example.org","ttl":30}'
put_v3 /skydns/sohu/domeos/down/1 '{"host":"www.example.net","ttl":30}'
start_zone example.org
export SKYDNS_NAMESERVERS=127.0.0.1:$KNOT_PORT
for i in $(seq 1 60); do put_v3 "/skydns/sohu/domeos/big/$i" "{\"host\":\"10.9.0.$i\",\"ttl\":30}"; done

mkdir -p "$WORK/keys"
keygen() { dnssec-keygen -q -K "$WORK/keys" -a "$1" ${2:+-b $2} -n ZONE "$ZONE"; }

# Unbound on loopback with a stub zone to our server; every other name goes to a dead loopback
# port, so it never asks the root servers.
start_unbound() {
  local anchor=$1 port
  port=$(free_port)
  cat >"$WORK/unbound.conf" <<EOF
server:
  interface: 127.0.0.1
  port: $port
  do-daemonize: no
  use-syslog: no
  logfile: "$WORK/unbound.log"
  chroot: ""
  username: ""
  directory: "$WORK"
  pidfile: ""
  do-ip6: no
  do-not-query-localhost: no
  qname-minimisation: no
  val-log-level: 2
  trust-anchor: "$anchor"
remote-control:
  control-enable: no
stub-zone:
  name: "$ZONE"
  stub-addr: 127.0.0.1@$DNS_PORT
stub-zone:
  name: "."
  stub-addr: 127.0.0.1@9
EOF
  unbound -d -c "$WORK/unbound.conf" >>"$WORK/unbound.log" 2>&1 &
  UNBOUND_PID=$!; PIDS+=("$UNBOUND_PID")
  UNBOUND_PORT=$port
  for _ in $(seq 50); do dig +time=1 +tries=1 @127.0.0.1 -p "$port" version.bind TXT CH >/dev/null 2>&1 && return 0; sleep 0.1; done
  fail "unbound did not start"
}
stop_unbound() { kill "$UNBOUND_PID" 2>/dev/null || true; wait "$UNBOUND_PID" 2>/dev/null || true; }

# A query without DO gets byte for byte what a server without -dnssec sends.
compare_without_do() {
  python3 - "$PLAIN_PORT" "$DNS_PORT" "$ZONE" <<'EOF' || fail "answers without DO differ"
import socket, struct, sys
plain, signed, zone = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def query(port, name, qtype, edns):
    wire = b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"
    packet = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 1 if edns else 0) + wire + struct.pack(">HH", qtype, 1)
    if edns:
        packet += b"\0" + struct.pack(">HHIH", 41, 1232, 0, 0)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
    s.sendto(packet, ("127.0.0.1", port))
    return s.recv(65535)
# The SOA serial is each server's own (its start time): compare the rest.
serials = [query(port, zone, 6, False)[-20:-16] for port in (plain, signed)]
for name, qtype in [("kafka-1-wkfa1." + zone, 1), ("nope." + zone, 1), ("kafka-svc-1.default.svc." + zone, 33),
                    (zone, 6), (zone, 48), ("big." + zone, 1), ("notes." + zone, 16)]:
    for edns in (False, True):
        a, b = query(plain, name, qtype, edns), query(signed, name, qtype, edns).replace(serials[1], serials[0])
        if qtype == 1 and name.startswith("big"):
            a, b = a[:12], b[:12]   # round robin rotates the order between two servers
        assert a == b, (name, qtype, edns, a, b)
EOF
}

# Key files that cannot be used stop the start: exit code 2, the problem named.
refused_key() {
  local rc=0
  timeout 20 "$SKYDNS_BIN" -machines="$ETCD" -domain=$ZONE -addr=127.0.0.1:$(free_port) -etcd3 -dnssec="$1" \
    >"$WORK/refused.log" 2>&1 || rc=$?
  expect_eq "$rc" 2 "exit code for $2"
  grep -q -- "$2" "$WORK/refused.log" || fail "no '$2' in: $(cat "$WORK/refused.log")"
}
refused_key "$WORK/keys/Knothere" "-dnssec: cannot read $WORK/keys/Knothere.key"
good=$WORK/keys/$(keygen ED25519)
other_zone=$WORK/keys/$(dnssec-keygen -q -K "$WORK/keys" -a ED25519 -n ZONE other.zone)
refused_key "$other_zone" "the key is for other.zone., not the served domain"
cp "$good.key" "$WORK/keys/Kbroken.key"
sed 's#^PrivateKey: .*#PrivateKey: DSSF3o0s0f+ElWzj9E/Osxw8hLpk55chkmx0LYN5WiY=#' "$good.private" >"$WORK/keys/Kbroken.private"
refused_key "$WORK/keys/Kbroken" "Kbroken.private is not the private half"

PLAIN_PORT=$(free_port)
DNS_PORT=$PLAIN_PORT
start_server -machines="$ETCD" -domain=$ZONE -addr=127.0.0.1:$PLAIN_PORT -etcd3
eventually answers_are kafka-1-wkfa1.$ZONE 172.28.0.12 || fail "first sync"

for algorithm in RSASHA256 ECDSAP256SHA256 ED25519; do
  base=$WORK/keys/$(keygen $algorithm $([ $algorithm = RSASHA256 ] && echo 2048))
  other=$WORK/keys/$(keygen $algorithm $([ $algorithm = RSASHA256 ] && echo 2048))
  DNS_PORT=$(free_port)
  start_server -machines="$ETCD" -domain=$ZONE -addr=127.0.0.1:$DNS_PORT -etcd3 -dnssec="$base"
  eventually answers_are kafka-1-wkfa1.$ZONE 172.28.0.12 || fail "$algorithm: first sync"
  key=$(grep -v '^;' "$base.key" | awk '{print $4, $5, $6; for (i = 7; i <= NF; i++) printf "%s", $i; print ""}' | paste -sd' ')
  read -r flags proto alg material <<<"$key"
  echo "trust-anchors { $ZONE. static-key $flags $proto $alg \"$material\"; };" >"$WORK/anchors"
  validated() { delv @127.0.0.1 -p "$DNS_PORT" -a "$WORK/anchors" +root=$ZONE "$@" 2>&1; }
  for check in "kafka-1-wkfa1.$ZONE A" "v6.$ZONE AAAA" "kafka-svc-1.default.svc.$ZONE SRV" "notes.$ZONE TXT" \
               "$ZONE SOA" "$ZONE DNSKEY" "big.$ZONE A" "alias.$ZONE A" "*.svc.$ZONE SRV" "$ZONE NSEC" \
               "notes.$ZONE NSEC"; do
    # shellcheck disable=SC2086
    out=$(validated $check)
    grep -q '^; fully validated' <<<"$out" || fail "$algorithm: delv $check: $out"
  done
  for check in "nope.$ZONE A" "kafka-1-wkfa1.$ZONE AAAA" "deep.nope.$ZONE TXT" "$ZONE MX" "ext.$ZONE A"; do
    # shellcheck disable=SC2086
    out=$(validated $check)
    grep -q '^; negative response, fully validated' <<<"$out" || fail "$algorithm: delv $check: $out"
  done

  # The RRSIG names the key and the domain; the denial is NOERROR with an NSEC at the name.
  dig +dnssec +noall +answer @127.0.0.1 -p "$DNS_PORT" kafka-1-wkfa1.$ZONE | finds "RRSIG	A $alg 3 30 .* $ZONE\\." \
    || fail "$algorithm: no RRSIG for the A record"
  expect_eq "$(status nope.$ZONE A +dnssec)" NOERROR "$algorithm: compact denial rcode"
  dig +dnssec +noall +authority @127.0.0.1 -p "$DNS_PORT" nope.$ZONE | finds "NSEC	\\\\000.nope.$ZONE. RRSIG NSEC TYPE128" \
    || fail "$algorithm: no NXNAME NSEC"
  # No upstream answered for the CNAME's target: unknown, not denied.
  dig +dnssec @127.0.0.1 -p "$DNS_PORT" down.$ZONE A | finds 'status: SERVFAIL' || fail "$algorithm: down.$ZONE not SERVFAIL"
  dig +dnssec +noall +authority @127.0.0.1 -p "$DNS_PORT" down.$ZONE A | finds NSEC && fail "$algorithm: a denial for down.$ZONE"
  # Without DO: NXDOMAIN as before, no signatures.
  expect_eq "$(status nope.$ZONE A)" NXDOMAIN "$algorithm: NXDOMAIN without DO"
  # 60 addresses and a signature do not fit 512 bytes: cut whole, TC set.
  dig +dnssec +bufsize=512 +ignore @127.0.0.1 -p "$DNS_PORT" big.$ZONE | finds 'flags: qr aa tc' || fail "$algorithm: no TC"
  expect_eq "$(dig +dnssec +bufsize=512 +ignore +noall +answer @127.0.0.1 -p "$DNS_PORT" big.$ZONE | wc -l)" 0 "$algorithm: partial RRset"

  start_unbound "$(grep -v '^;' "$base.key" | sed 's/ IN / /')"
  # A missing name of 254 bytes: its NSEC must cover only it. Ending at the apex, it covered the
  # rest of the zone, and Unbound (aggressive NSEC, RFC 8198) then denied names that exist.
  long="$(printf 'a%.0s' $(seq 63))"
  long="$long.$long.$long.$(printf '\\001%.0s' $(seq 48)).$ZONE"
  expect_eq "$(dig +time=3 +tries=1 @127.0.0.1 -p "$UNBOUND_PORT" "$long" A | grep -o 'status: [A-Z]*')" "status: NOERROR" \
    "$algorithm: unbound on a 254-byte missing name"
  expect_eq "$(dig +time=3 +tries=1 +short @127.0.0.1 -p "$UNBOUND_PORT" notes.$ZONE TXT)" '"hello dnssec"' \
    "$algorithm: unbound after the NSEC of a 254-byte name"
  # A `*` label is not counted in the RRSIG's labels (RFC 4034 §3.1.3): Unbound refuses it counted.
  for check in "kafka-1-wkfa1.$ZONE A" "kafka-svc-1.default.svc.$ZONE SRV" "nope.$ZONE A" "v6.$ZONE A" \
               "*.svc.$ZONE SRV" "*.default.svc.$ZONE SRV" "$ZONE NSEC"; do
    # shellcheck disable=SC2086
    dig +time=3 +tries=1 @127.0.0.1 -p "$UNBOUND_PORT" $check | finds 'flags: qr rd ra ad' \
      || fail "$algorithm: unbound gave no AD for $check: $(tail -5 "$WORK/unbound.log")"
  done
  stop_unbound
  start_unbound "$(grep -v '^;' "$other.key" | sed 's/ IN / /')"
  expect_eq "$(dig +time=3 +tries=1 @127.0.0.1 -p "$UNBOUND_PORT" kafka-1-wkfa1.$ZONE A | grep -o 'status: [A-Z]*')" \
    "status: SERVFAIL" "$algorithm: unbound with another key as anchor"
  stop_unbound
  compare_without_do
  stop_server
done

