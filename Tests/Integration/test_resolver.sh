#!/usr/bin/env bash
# The libc resolver through the server (issue 2 acceptance): the server on port 53 of a loopback
# address 127.0.0.X, and inside a private mount namespace a resolv.conf with that nameserver, the
# kube search list and ndots:5 bind-mounted over /etc/resolv.conf; `getent hosts` of the three
# short names prints their addresses (found through the search list), getaddrinfo (A and AAAA
# sent together) works, and a name that exists nowhere fails cleanly.
source "$(dirname "$0")/lib.sh"
if ! unshare -m true 2>/dev/null; then
  echo "SKIP: unshare -m is not permitted here (needs root or CAP_SYS_ADMIN); the libc resolver check did not run"
  exit 0
fi
start_etcd
put_v2 /skydns/sohu/domeos/kafka-1-wkfa1/19d074a1 '{"host":"172.28.0.12","priority":10,"weight":10,"ttl":30}'
put_v2 /skydns/sohu/domeos/svc/default/kafka-svc-1/b56639fb '{"host":"172.16.50.1","priority":10,"weight":10,"ttl":30}'
put_v2 /skydns/sohu/domeos/bx-42-198/adc8794b '{"host":"10.16.42.198","priority":10,"weight":10,"ttl":30}'

# port53_free IP: nothing bound to UDP or TCP port 53 on that address (a bind test, so a wildcard
# listener counts too).
port53_free() {
  python3 - "$1" <<'PY'
import socket, sys
for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind)
    try:
        s.bind((sys.argv[1], 53))
    except OSError:
        sys.exit(1)
    finally:
        s.close()
PY
}
is_ours() { dig +time=1 +tries=1 +short @"$1" -p 53 version.bind TXT CH 2>/dev/null | finds skydns; }
NS=
for x in 53 54 55 56 57 58 59 60; do
  ip=127.0.0.$x
  port53_free $ip || continue
  "$SKYDNS_BIN" -machines="$ETCD" -domain=domeos.sohu -addr=$ip:53 >>"$WORK/server.log" 2>&1 &
  SERVER_PID=$!; PIDS+=("$SERVER_PID")
  for _ in $(seq 50); do
    is_ours $ip && break
    kill -0 $SERVER_PID 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 $SERVER_PID 2>/dev/null && is_ours $ip; then NS=$ip; break; fi
  kill $SERVER_PID 2>/dev/null || true; wait $SERVER_PID 2>/dev/null || true
done
[ -n "$NS" ] || fail "no free 127.0.0.53-60:53 for the server (or the server would not start there)"
DNS_PORT=53
sync_done() { [ "$(dig +time=1 +tries=1 +short @$NS kafka-1-wkfa1.domeos.sohu A)" = 172.28.0.12 ]; }
eventually sync_done || fail "first sync on $NS:53"

cat >"$WORK/resolv.conf" <<CONF
nameserver $NS
search default.svc.domeos.sohu svc.domeos.sohu domeos.sohu
options ndots:5 timeout:1 attempts:2
CONF
# nsswitch: use the system's file if its hosts line asks DNS; else a private one that does.
NSSWITCH=
if ! grep -Eq '^hosts:.*\bdns\b' /etc/nsswitch.conf 2>/dev/null; then
  { grep -v '^hosts:' /etc/nsswitch.conf 2>/dev/null || true; echo 'hosts: files dns'; } >"$WORK/nsswitch.conf"
  NSSWITCH=$WORK/nsswitch.conf
fi

results=$(WORK=$WORK NSSWITCH=$NSSWITCH unshare -m bash -c '
  set -u
  mount --make-rprivate / 2>/dev/null || true
  mount --bind "$WORK/resolv.conf" /etc/resolv.conf || { echo "MOUNTFAIL resolv.conf"; exit 0; }
  if [ -n "$NSSWITCH" ]; then mount --bind "$NSSWITCH" /etc/nsswitch.conf || { echo "MOUNTFAIL nsswitch.conf"; exit 0; }; fi
  grep -q "^search default.svc.domeos.sohu" /etc/resolv.conf || echo "MOUNTFAIL not visible"
  # A running nscd would answer from its cache instead of asking the server: hide its socket.
  if [ -d /var/run/nscd ]; then mkdir -p "$WORK/nonscd"; mount --bind "$WORK/nonscd" /var/run/nscd || true; fi
  for n in kafka-1-wkfa1 kafka-svc-1 bx-42-198 kafka-svc-1.default.svc.domeos.sohu. no-such-name-xyz; do
    out=$(getent hosts "$n"); rc=$?
    out=$(echo "$out" | head -1)
    echo "hosts|$n|$rc|$out"
  done
  for n in kafka-svc-1 kafka-1-wkfa1; do
    out=$(getent ahosts "$n" | awk "{print \$1}" | sort -u | tr "\n" " "); echo "ahosts|$n|0|$out"
  done
' 2>&1)
echo "$results"
if echo "$results" | finds '^MOUNTFAIL'; then
  fail "bind mount inside unshare -m failed: $(echo "$results" | grep MOUNTFAIL)"
fi
field() { echo "$results" | awk -F'|' -v k="$1" -v n="$2" -v f="$3" '$1 == k && $2 == n {print $f}'; }
check_host() {  # NAME ADDRESS FQDN
  local line; line=$(field hosts "$1" 4)
  expect_eq "$(field hosts "$1" 3)" 0 "getent hosts $1 exit code (output [$line])"
  expect_eq "$(echo "$line" | awk '{print $1}')" "$2" "getent hosts $1 address"
  expect_eq "$(echo "$line" | awk '{print $2}')" "$3" "getent hosts $1 canonical name"
}
check_host kafka-1-wkfa1 172.28.0.12 kafka-1-wkfa1.domeos.sohu
check_host kafka-svc-1 172.16.50.1 kafka-svc-1.default.svc.domeos.sohu
check_host bx-42-198 10.16.42.198 bx-42-198.domeos.sohu
check_host kafka-svc-1.default.svc.domeos.sohu. 172.16.50.1 kafka-svc-1.default.svc.domeos.sohu
expect_eq "$(field hosts no-such-name-xyz 3)" 2 "getent hosts of a name that exists nowhere: exit code (2 = not found)"
expect_eq "$(field ahosts kafka-svc-1 4)" "172.16.50.1 " "getaddrinfo kafka-svc-1"
expect_eq "$(field ahosts kafka-1-wkfa1 4)" "172.28.0.12 " "getaddrinfo kafka-1-wkfa1"
# The host's own resolv.conf was never touched.
grep -q "search default.svc.domeos.sohu" /etc/resolv.conf && fail "the bind mount leaked out of the namespace"
echo "resolver ok (server on $NS:53)"
