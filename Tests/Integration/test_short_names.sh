#!/usr/bin/env bash
# A short name that exists nowhere is "not found" at once, for glibc and musl alike: with the
# seed's resolv.conf (three search domains, options ndots:5) bind-mounted over /etc/resolv.conf,
# getaddrinfo("no-such-svc") tries each search candidate (NXDOMAIN), then "no-such-svc." itself,
# which has fewer labels than -ndots and so is not forwarded: NXDOMAIN (not SERVFAIL, which musl
# waits out and turns into EAI_AGAIN), without an SOA. Existing short names still resolve, and
# the same program gives the same results built against glibc and musl.
source "$(dirname "$0")/lib.sh"
if ! unshare -m true 2>/dev/null; then
  echo "SKIP: unshare -m is not permitted here (needs root or CAP_SYS_ADMIN); the libc check did not run"
  exit 0
fi
command -v musl-gcc >/dev/null || fail "musl-gcc not installed (scripts/install-deps: musl-tools)"
gcc -O1 -o "$WORK/gai-glibc" "$(dirname "$0")/gai.c" || fail "gcc"
musl-gcc -static -O1 -o "$WORK/gai-musl" "$(dirname "$0")/gai.c" || fail "musl-gcc"
start_etcd
put_v2 /skydns/sohu/domeos/svc/default/kafka-svc-1/b56639fb '{"host":"172.16.50.1"}'

# The server on port 53 of a free loopback address (resolv.conf cannot name a port).
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
NS=
for x in 61 62 63 64 65 66 67 68; do
  port53_free 127.0.0.$x || continue
  "$SKYDNS_BIN" -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.$x:53 -etcd3=false >>"$WORK/server.log" 2>&1 &
  SERVER_PID=$!; PIDS+=("$SERVER_PID")
  for _ in $(seq 50); do
    dig +time=1 +tries=1 +short @127.0.0.$x version.bind TXT CH 2>/dev/null | finds skydns && { NS=127.0.0.$x; break; }
    kill -0 $SERVER_PID 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$NS" ] && break
  kill $SERVER_PID 2>/dev/null || true; wait $SERVER_PID 2>/dev/null || true
done
[ -n "$NS" ] || fail "no free 127.0.0.61-68:53 for the server"
synced() { [ "$(dig +time=1 +tries=1 +short @$NS kafka-svc-1.default.svc.domeos.sohu)" = 172.16.50.1 ]; }
eventually synced || fail "first sync on $NS:53"

# On the wire: the bare short name is NXDOMAIN, no SOA (not cached), RA set, AA not.
dig +time=2 +tries=1 @$NS no-such-svc. A >"$WORK/dig.txt"
grep -q 'status: NXDOMAIN' "$WORK/dig.txt" || fail "no-such-svc.: $(grep status "$WORK/dig.txt")"
grep -q 'flags: qr rd ra;' "$WORK/dig.txt" || fail "no-such-svc. flags: $(grep flags "$WORK/dig.txt")"
grep -q 'AUTHORITY: 0' "$WORK/dig.txt" || fail "no-such-svc.: an SOA makes it cacheable"
# The root is forwarded (to the dead upstream lib.sh names: SERVFAIL), never denied.
expect_eq "$(dig +time=5 +tries=1 @$NS . NS | sed -n 's/.*status: \([A-Z]*\).*/\1/p')" SERVFAIL "the root"

cat >"$WORK/resolv.conf" <<CONF
nameserver $NS
search default.svc.domeos.sohu svc.domeos.sohu domeos.sohu
options ndots:5
CONF
results=$(WORK=$WORK unshare -m bash -c '
  mount --make-rprivate / 2>/dev/null || true
  mount --bind "$WORK/resolv.conf" /etc/resolv.conf || { echo "MOUNTFAIL"; exit 0; }
  if [ -d /var/run/nscd ]; then mkdir -p "$WORK/nonscd"; mount --bind "$WORK/nonscd" /var/run/nscd || true; fi
  for libc in glibc musl; do
    for name in no-such-svc kafka-svc-1; do echo "$libc|$name|$("$WORK/gai-$libc" "$name")"; done
  done
  getent hosts no-such-svc; echo "getent|no-such-svc|$?"
' 2>&1)
echo "$results"
grep -q MOUNTFAIL <<<"$results" && fail "bind mount inside unshare -m failed"
field() { echo "$results" | awk -F'|' -v a="$1" -v b="$2" '$1 == a && $2 == b {print $3}'; }
for libc in glibc musl; do
  expect_eq "$(field $libc no-such-svc)" EAI_NONAME "$libc getaddrinfo(no-such-svc)"
  expect_eq "$(field $libc kafka-svc-1)" 172.16.50.1 "$libc getaddrinfo(kafka-svc-1)"
done
expect_eq "$(field getent no-such-svc)" 2 "getent hosts no-such-svc (2 = not found)"
echo "short names ok"
