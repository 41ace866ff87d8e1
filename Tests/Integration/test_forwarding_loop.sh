#!/usr/bin/env bash
# Forwarding loops are found and not followed: a server whose -nameservers (or resolv.conf)
# names itself drops that upstream at start (saying why) and answers outside names SERVFAIL at once; two servers
# forwarding to each other see the query come back (the mark every forwarded query carries), so
# one outside query costs one forward each, not a storm, and each logs the loop with the fix;
# with a real upstream after the looping one (the seed's resolv.conf: the cluster DNS first, the
# real upstream second) the query is answered.
source "$(dirname "$0")/lib.sh"

GOOD=$(free_port)
python3 "$(dirname "$0")/hostile_upstream.py" "$GOOD" good >>"$WORK/good.log" 2>&1 &
PIDS+=($!)
start_etcd
put_v3 /skydns/sohu/domeos/pod/1 '{"host":"172.28.0.1"}'
metric() {
  curl -sf "http://127.0.0.1:$1/metrics" \
    | awk -v k="$2" 'index($0, k " ") == 1 { print int($2); found = 1 } END { if (!found) print "absent" }'
}
status_at() { dig +time=3 +tries=1 @127.0.0.1 -p "$1" "$2" | sed -n 's/.*status: \([A-Z]*\).*/\1/p'; }

# Itself, by its own address and through a wildcard bind.
SELF=$(free_port); SELF_M=$(free_port)
mark=$(log_mark)
DNS_PORT=$SELF start_server -machines="$ETCD" -domain=domeos.sohu -addr=0.0.0.0:$SELF -etcd3 \
  -nameservers=127.0.0.1:$SELF,127.0.0.9:$SELF -metrics-addr=127.0.0.1:$SELF_M
expect_eq "$(status_at $SELF www.example.test)" SERVFAIL "server naming itself"
expect_eq "$(log_since "$mark" | grep -c "not forwarding to 127.0.0.[19]:$SELF: it is this server's own address")" 2 \
  "each own address dropped with a reason"
expect_eq "$(metric $SELF_M "skydns_skydns_forwarded_queries_total{to=\"127.0.0.1:$SELF\"}")" absent "forwards to itself"
stop_server

# The node's resolv.conf naming the node itself (the hostNetwork case), with no -nameservers:
# the server reads its own address there, drops it and says why.
if unshare -m true 2>/dev/null; then
  RESOLV_SELF=
  for x in 69 70 71 72; do
    python3 -c "import socket,sys; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(('127.0.0.$x',53))" 2>/dev/null \
      && { RESOLV_SELF=127.0.0.$x; break; }
  done
  [ -n "$RESOLV_SELF" ] || fail "no free 127.0.0.69-72:53"
  printf 'nameserver %s\n' "$RESOLV_SELF" >"$WORK/resolv.conf"
  mark=$(log_mark)
  WORK=$WORK RESOLV_SELF=$RESOLV_SELF ETCD=$ETCD SKYDNS_BIN=$SKYDNS_BIN unshare -m bash -c '
    mount --make-rprivate / 2>/dev/null || true
    mount --bind "$WORK/resolv.conf" /etc/resolv.conf
    exec env -u SKYDNS_NAMESERVERS "$SKYDNS_BIN" -machines="$ETCD" -domain=domeos.sohu -addr=$RESOLV_SELF:53 -etcd3
  ' >>"$WORK/server.log" 2>&1 &
  SELF_PID=$!; PIDS+=("$SELF_PID")
  for _ in $(seq 50); do dig +time=1 +tries=1 +short @$RESOLV_SELF version.bind TXT CH 2>/dev/null | finds skydns && break; sleep 0.1; done
  expect_eq "$(dig +time=3 +tries=1 @$RESOLV_SELF www.example.test | sed -n 's/.*status: \([A-Z]*\).*/\1/p')" SERVFAIL \
    "resolv.conf naming the server itself"
  expect_eq "$(log_since "$mark" | grep -c "not forwarding to $RESOLV_SELF:53: it is this server's own address")" 1 \
    "its own address in resolv.conf dropped with a reason"
  expect_eq "$(log_since "$mark" | grep -c "every upstream is this server itself")" 1 "no upstream left, said"
  kill "$SELF_PID"; wait "$SELF_PID" 2>/dev/null || true
else
  echo "SKIP (resolv.conf part): unshare -m is not permitted here"
fi

# Two servers forwarding to each other.
A=$(free_port); B=$(free_port); A_M=$(free_port); B_M=$(free_port)
mark=$(log_mark)
DNS_PORT=$A start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$A -etcd3 -nameservers=127.0.0.1:$B \
  -metrics-addr=127.0.0.1:$A_M
DNS_PORT=$B start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$B -etcd3 -nameservers=127.0.0.1:$A \
  -metrics-addr=127.0.0.1:$B_M
expect_eq "$(status_at $A www.example.test)" SERVFAIL "A and B forwarding to each other"
expect_eq "$(metric $A_M "skydns_skydns_forwarded_queries_total{to=\"127.0.0.1:$B\"}")" 1 "A's forwards for one query"
expect_eq "$(metric $B_M "skydns_skydns_forwarded_queries_total{to=\"127.0.0.1:$A\"}")" 1 "B's forwards for one query"
expect_eq "$(metric $A_M "skydns_skydns_upstream_failures_total{to=\"127.0.0.1:$B\",reason=\"loop\"}")" 1 "A saw the loop"
expect_eq "$(metric $B_M "skydns_skydns_upstream_failures_total{to=\"127.0.0.1:$A\",reason=\"loop\"}")" 1 "B saw the loop"
[ "$(log_since "$mark" | grep -c "forwarding loop: .*dnsPolicy: Default")" -ge 1 ] || fail "the loop is logged with the fix"
# The domain is answered all along.
expect_eq "$(dig +short @127.0.0.1 -p $B pod.domeos.sohu)" 172.28.0.1 "B's domain"

# The looping upstream first, a real one second: answered through the second.
C=$(free_port)
DNS_PORT=$C start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$C -etcd3 \
  -nameservers=127.0.0.1:$A,127.0.0.1:$GOOD -ns-rotate=false
# C -> A -> B -> A: looped; A's SERVFAIL says so, C goes on to the real upstream.
expect_eq "$(dig +time=3 +tries=1 +short @127.0.0.1 -p $C www.example.test)" 192.0.2.77 "past a looping upstream"
echo "forwarding loop ok"
