#!/usr/bin/env bash
# Wildcard binds: with -addr=0.0.0.0:53 (the hostNetwork deployment) a UDP reply leaves from the
# address the query reached, so that a query to 127.0.0.7 is answered from 127.0.0.7 (a reply from
# 127.0.0.1 is dropped by dig, glibc and musl alike). Checked with dig (an answer from the store
# and a forwarded one, which is sent later by another thread), glibc's getent and a musl program
# through a resolv.conf naming 127.0.0.7; then the same with -addr=[::]:53 for fd00::7 (IPv6) and
# 127.0.0.7 (IPv4 through the dual-stack socket), and -addr=:53, which binds [::]:53 too.
# Runs in network and mount namespaces of its own: a wildcard bind there covers only that
# namespace's loopback, and the resolv.conf is bind-mounted there.
if [ -z "${SKYDNS_IN_NETNS:-}" ]; then
  if ! unshare -n -m true 2>/dev/null; then
    echo "SKIP: unshare -n -m is not permitted here (needs root or CAP_SYS_ADMIN); the wildcard checks did not run"
    exit 0
  fi
  exec env SKYDNS_IN_NETNS=1 unshare -n -m bash "$0" "$@"
fi
ip link set lo up
mount --make-rprivate / 2>/dev/null || true
source "$(dirname "$0")/lib.sh"
command -v musl-gcc >/dev/null || fail "musl-gcc missing (Debian package musl-tools)"

start_etcd
put_v2 /skydns/sohu/domeos/kafka-1-wkfa1/19d074a1 '{"host":"172.28.0.12","ttl":30}'

# An upstream for names outside the domain: every A query gets 192.0.2.55.
start_fake_upstream upstream <<'PY'
s.sendto(reply_a(qid, question, [192, 0, 2, 55], 60), peer)
PY
UPSTREAM=$UPSTREAM_PORT

cat >"$WORK/gai.c" <<'C'
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv) {
    struct addrinfo hints, *result;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_DGRAM;
    int rc = getaddrinfo(argv[1], NULL, &hints, &result);
    if (rc != 0) { printf("error %d %s\n", rc, gai_strerror(rc)); return 1; }
    char text[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &((struct sockaddr_in *)result->ai_addr)->sin_addr, text, sizeof text);
    printf("%s\n", text);
    return 0;
}
C
musl-gcc -static -O1 -o "$WORK/gai-musl" "$WORK/gai.c" || fail "musl-gcc"

# through NAMESERVER: glibc's getent and the musl program with a resolv.conf naming NAMESERVER.
through() {
  printf 'nameserver %s\noptions timeout:1 attempts:2\n' "$1" >"$WORK/resolv.conf"
  mount --bind "$WORK/resolv.conf" /etc/resolv.conf || fail "bind mount of resolv.conf"
  expect_eq "$(getent hosts kafka-1-wkfa1.domeos.sohu | awk '{ print $1 }')" 172.28.0.12 "glibc getent via $1"
  expect_eq "$("$WORK/gai-musl" kafka-1-wkfa1.domeos.sohu)" 172.28.0.12 "musl getaddrinfo via $1"
  umount /etc/resolv.conf
}

# at ADDRESS NAME [dig options]: the answer's addresses when asked at ADDRESS:53 (dig accepts a
# reply only from that address).
at() { dig +time=2 +tries=1 +short @"$1" -p 53 "$2" A "${@:3}" | tr '\n' ' ' | sed 's/ $//'; }

DNS_PORT=53
start_server -machines="$ETCD" -domain=domeos.sohu -addr=0.0.0.0:53 -etcd3=false -nameservers=127.0.0.1:$UPSTREAM
eventually answers_are kafka-1-wkfa1.domeos.sohu 172.28.0.12 || fail "first sync"
for address in 127.0.0.7 127.0.0.1 127.1.2.3; do
  expect_eq "$(at $address kafka-1-wkfa1.domeos.sohu)" 172.28.0.12 "UDP answer at $address (0.0.0.0 bind)"
done
expect_eq "$(at 127.0.0.7 www.example.org)" 192.0.2.55 "forwarded UDP answer at 127.0.0.7"
expect_eq "$(at 127.0.0.7 kafka-1-wkfa1.domeos.sohu +tcp)" 172.28.0.12 "TCP answer at 127.0.0.7"
through 127.0.0.7
echo "0.0.0.0: dig, glibc and musl answered at 127.0.0.7"
stop_server

if [ -e /proc/net/if_inet6 ] && ip -6 addr add fd00::7/128 dev lo 2>/dev/null; then
  # DAD does not run on loopback, but give the address a moment to be usable.
  for _ in $(seq 20); do ip -6 addr show dev lo | finds 'fd00::7.*tentative' || break; sleep 0.1; done
  start_server -machines="$ETCD" -domain=domeos.sohu '-addr=[::]:53' -etcd3=false -nameservers=127.0.0.1:$UPSTREAM
  eventually answers_are kafka-1-wkfa1.domeos.sohu 172.28.0.12 || fail "first sync ([::] bind)"
  for address in fd00::7 ::1 127.0.0.7; do
    expect_eq "$(at $address kafka-1-wkfa1.domeos.sohu)" 172.28.0.12 "UDP answer at $address ([::] bind)"
  done
  expect_eq "$(at fd00::7 www.example.org)" 192.0.2.55 "forwarded UDP answer at fd00::7"
  printf 'nameserver fd00::7\noptions timeout:1 attempts:2\n' >"$WORK/resolv.conf"
  mount --bind "$WORK/resolv.conf" /etc/resolv.conf || fail "bind mount of resolv.conf"
  expect_eq "$(getent hosts kafka-1-wkfa1.domeos.sohu | awk '{ print $1 }')" 172.28.0.12 "glibc getent via fd00::7"
  expect_eq "$("$WORK/gai-musl" kafka-1-wkfa1.domeos.sohu)" 172.28.0.12 "musl getaddrinfo via fd00::7"
  umount /etc/resolv.conf
  through 127.0.0.7
  echo "[::]: dig, glibc and musl answered at fd00::7, ::1 and 127.0.0.7"
  stop_server
  # every_address_answers WHAT: a server with -addr=:53 answers at fd00::7 and 127.0.0.7, UDP and
  # TCP, and so does its -metrics-addr=:9153.
  every_address_answers() {
    start_server -machines="$ETCD" -domain=domeos.sohu -addr=:53 -etcd3=false -nameservers=127.0.0.1:$UPSTREAM \
      -metrics-addr=:9153
    eventually answers_are kafka-1-wkfa1.domeos.sohu 172.28.0.12 || fail "first sync ($1)"
    for address in fd00::7 127.0.0.7; do
      expect_eq "$(at $address kafka-1-wkfa1.domeos.sohu)" 172.28.0.12 "UDP answer at $address ($1)"
      expect_eq "$(at $address kafka-1-wkfa1.domeos.sohu +tcp)" 172.28.0.12 "TCP answer at $address ($1)"
    done
    expect_eq "$(curl -s -m 5 -o /dev/null -w '%{http_code}' 'http://[fd00::7]:9153/healthz')" 200 "metrics at fd00::7 ($1)"
    expect_eq "$(curl -s -m 5 -o /dev/null -w '%{http_code}' http://127.0.0.7:9153/healthz)" 200 "metrics at 127.0.0.7 ($1)"
    stop_server
  }
  # `-addr=:53` is every address, IPv6 included, as SkyDNS's Go listener bound it.
  every_address_answers ":53 bind"
  # A host whose IPv6 sockets default to IPv6-only (net.ipv6.bindv6only=1): [::] still takes IPv4.
  if sysctl -qw net.ipv6.bindv6only=1 2>/dev/null; then
    every_address_answers ":53, bindv6only=1"
    sysctl -qw net.ipv6.bindv6only=0
  else
    echo "net.ipv6.bindv6only cannot be set here: the IPv6-only default check did not run"
  fi
else
  echo "no IPv6 on loopback here: the [::] checks did not run"
fi
echo "wildcard ok"
