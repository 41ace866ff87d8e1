#!/usr/bin/env bash
# The end-to-end network test of issue 7, in network namespaces this script creates (all traffic
# stays between them, on 10.99.0.0/24):
#   node  10.99.0.1 on a bridge: etcd on its own loopback, swift-skydns on 0.0.0.0:53 as the
#         hostNetwork manifest runs it, metrics and probes on 10.99.0.1:9153
#   pod   10.99.0.2: resolv.conf = nameserver 10.99.0.1, the seed's search list, ndots:5
#         (`ip netns exec` bind-mounts /etc/netns/<pod>/resolv.conf over /etc/resolv.conf)
#   up    10.99.0.3: Knot serving example.test, the node's upstream for outside names
# In the pod, `getent hosts` and `dig` resolve the pod, service and node names through the search
# list, and www.example.test through skydns and Knot; /readyz answers over the network.
# Needs root for `ip netns add`; skips (exit 0) where that is not permitted.
source "$(dirname "$0")/lib.sh"
command -v ip >/dev/null || { echo "SKIP: iproute2 (ip) not installed"; exit 0; }
command -v knotd >/dev/null || fail "knotd not installed (scripts/install-deps knot)"

TAG=sky$$
NODE=$TAG-node; POD=$TAG-pod; UP=$TAG-up
if ! ip netns add "$NODE" 2>"$WORK/netns.err"; then
  echo "SKIP: ip netns add is not permitted here ($(cat "$WORK/netns.err")); the network-namespace test did not run"
  exit 0
fi
netns_cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for ns in "$NODE" "$POD" "$UP"; do ip netns del "$ns" 2>/dev/null || true; rm -rf "/etc/netns/$ns"; done
  rm -rf "$WORK"
}
trap netns_cleanup EXIT
ip netns add "$POD"
ip netns add "$UP"
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# The wiring: a bridge in the node namespace, a veth pair from it into each of the others.
in_ns "$NODE" ip link add br0 type bridge
in_ns "$NODE" ip addr add 10.99.0.1/24 dev br0
in_ns "$NODE" ip link set br0 up
for peer in "$POD:10.99.0.2" "$UP:10.99.0.3"; do
  ns=${peer%%:*}; addr=${peer#*:}; side=v${addr##*.}
  in_ns "$NODE" ip link add "$side" type veth peer name eth0 netns "$ns"
  in_ns "$NODE" ip link set "$side" master br0 up
  in_ns "$ns" ip addr add "$addr/24" dev eth0
  in_ns "$ns" ip link set eth0 up
done
for ns in "$NODE" "$POD" "$UP"; do in_ns "$ns" ip link set lo up; done
reach() { in_ns "$POD" ping -c1 -W1 10.99.0.1 >/dev/null 2>&1 && in_ns "$NODE" ping -c1 -W1 10.99.0.3 >/dev/null 2>&1; }
if command -v ping >/dev/null; then eventually reach || fail "namespaces cannot reach each other"; fi

# The upstream: Knot in its namespace.
mkdir -p "$WORK/knot"
cat >"$WORK/knot/zone.db" <<'ZONE'
$ORIGIN example.test.
$TTL 300
@ IN SOA ns.example.test. admin.example.test. 1 3600 600 86400 120
@ IN NS ns.example.test.
ns IN A 10.99.0.3
www IN A 192.0.2.10
ZONE
"$(dirname "$0")/../../scripts/knot-conf" "$WORK/knot" example.test 10.99.0.3@53
# `ip netns exec` execs the program, so $! is Knot itself (through the in_ns function it would be
# a subshell, and killing that left Knot running after the test).
ip netns exec "$UP" knotd -c "$WORK/knot/knot.conf" >>"$WORK/knot.log" 2>&1 &
PIDS+=($!)
knot_up() { in_ns "$NODE" dig +short +time=1 +tries=1 @10.99.0.3 example.test SOA | finds .; }
eventually knot_up || fail "knot in $UP did not answer from $NODE: $(cat "$WORK/knot.log")"

# The node: etcd on its own loopback (not reachable from the host's), and skydns on port 53.
ETCD=http://127.0.0.1:2379
ip netns exec "$NODE" etcd --name node --data-dir "$WORK/etcd" --listen-client-urls "$ETCD" --advertise-client-urls "$ETCD" \
  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
  --initial-cluster node=http://127.0.0.1:2380 --enable-v2=true >>"$WORK/etcd.log" 2>&1 &
PIDS+=($!)
etcd_up() { in_ns "$NODE" curl -sf "$ETCD/health" >/dev/null; }
eventually etcd_up || fail "etcd in $NODE did not start"
put() { in_ns "$NODE" curl -sf -XPUT "$ETCD/v2/keys$1" --data-urlencode "value=$2" >/dev/null || fail "put $1"; }
put /skydns/sohu/domeos/kafka-1-wkfa1/19d074a1 '{"host":"172.28.0.12","priority":10,"weight":10,"ttl":30}'
put /skydns/sohu/domeos/svc/default/kafka-svc-1/b56639fb '{"host":"172.16.50.1","priority":10,"weight":10,"ttl":30}'
put /skydns/sohu/domeos/bx-42-198/adc8794b '{"host":"10.16.42.198","priority":10,"weight":10,"ttl":30}'

# As the hostNetwork manifest runs it: 0.0.0.0:53, ETCD_MACHINES from the environment.
env -u SKYDNS_NAMESERVERS ETCD_MACHINES=$ETCD SKYDNS_DOMAIN=domeos.sohu ip netns exec "$NODE" \
  "$SKYDNS_BIN" -addr=0.0.0.0:53 -metrics-addr=10.99.0.1:9153 -nameservers=10.99.0.3:53 -log-format=json \
  >>"$WORK/server.log" 2>&1 &
SERVER_PID=$!; PIDS+=("$SERVER_PID")
ready() { in_ns "$POD" curl -sf http://10.99.0.1:9153/readyz | finds '^ready: serving 3 records'; }
eventually_for 15 ready || fail "skydns in $NODE never ready (seen from $POD): $(in_ns "$POD" curl -s http://10.99.0.1:9153/readyz)"
echo "readyz from the pod: $(in_ns "$POD" curl -s http://10.99.0.1:9153/readyz)"

# The pod's resolver configuration, as kubelet writes it.
mkdir -p "/etc/netns/$POD"
cat >"/etc/netns/$POD/resolv.conf" <<'CONF'
nameserver 10.99.0.1
search default.svc.domeos.sohu svc.domeos.sohu domeos.sohu
options ndots:5 timeout:2 attempts:2
CONF
if ! grep -Eq '^hosts:.*\bdns\b' /etc/nsswitch.conf 2>/dev/null; then
  { grep -v '^hosts:' /etc/nsswitch.conf 2>/dev/null || true; echo 'hosts: files dns'; } >"/etc/netns/$POD/nsswitch.conf"
fi
in_ns "$POD" grep -q '^nameserver 10.99.0.1' /etc/resolv.conf || fail "ip netns exec did not bind-mount the pod's resolv.conf"
grep -q '^nameserver 10.99.0.1' /etc/resolv.conf && fail "the pod's resolv.conf leaked to the host"

check_host() {  # NAME ADDRESS CANONICAL
  local out; out=$(in_ns "$POD" getent hosts "$1" | head -1) || fail "getent hosts $1 in the pod: not found"
  expect_eq "$(echo "$out" | awk '{print $1}')" "$2" "getent hosts $1: address"
  expect_eq "$(echo "$out" | awk '{print $2}')" "$3" "getent hosts $1: name"
  echo "pod: getent hosts $1 -> $out"
}
check_host kafka-1-wkfa1 172.28.0.12 kafka-1-wkfa1.domeos.sohu          # a pod, through the search list
check_host kafka-svc-1 172.16.50.1 kafka-svc-1.default.svc.domeos.sohu  # a service
check_host bx-42-198 10.16.42.198 bx-42-198.domeos.sohu                 # a node
check_host www.example.test 192.0.2.10 www.example.test                 # outside: skydns -> Knot
set +e; in_ns "$POD" getent hosts no-such-name-xyz >/dev/null; code=$?; set -e
expect_eq "$code" 2 "getent hosts of a name that exists nowhere"

# dig in the pod, with the pod's resolv.conf (+search) and straight at the node.
expect_eq "$(in_ns "$POD" dig +search +short kafka-svc-1 A)" 172.16.50.1 "dig +search kafka-svc-1"
expect_eq "$(in_ns "$POD" dig +search +short kafka-1-wkfa1 A)" 172.28.0.12 "dig +search kafka-1-wkfa1"
expect_eq "$(in_ns "$POD" dig +short @10.99.0.1 bx-42-198.domeos.sohu A)" 10.16.42.198 "dig @node bx-42-198"
expect_eq "$(in_ns "$POD" dig +short +tcp @10.99.0.1 kafka-svc-1.default.svc.domeos.sohu A)" 172.16.50.1 "dig +tcp @node"
out=$(in_ns "$POD" dig @10.99.0.1 www.example.test A)
echo "$out" | finds 'www.example.test.	.*IN	A	192.0.2.10' || fail "dig @node www.example.test: $out"
echo "$out" | finds 'flags: qr rd ra;' || fail "forwarded answer flags (no aa, ra set): $out"
expect_eq "$(in_ns "$POD" dig +short @10.99.0.1 kafka-1-wkfa1.domeos.sohu SRV | awk '{print $4}')" 19d074a1.kafka-1-wkfa1.domeos.sohu. "SRV target (the record's own name, as SkyDNS)"

# What the node counted, scraped from the pod.
in_ns "$POD" curl -sf http://10.99.0.1:9153/metrics >"$WORK/metrics.txt" || fail "scrape from the pod"
grep -Eq '^skydns_skydns_forwarded_queries_total\{to="[0-9.]+:[0-9]+"\} [1-9]' "$WORK/metrics.txt" \
  || fail "no forwarded queries counted"
grep -Eq '^skydns_skydns_upstream_duration_seconds_count\{to="[0-9.]+:[0-9]+"\} [1-9]' "$WORK/metrics.txt" \
  || fail "no upstream latency recorded"
grep -Eq '^skydns_skydns_queries_total\{transport="udp",type="A",rcode="NXDOMAIN"\} [1-9]' "$WORK/metrics.txt" \
  || fail "the search list's misses (NXDOMAIN) not counted"
echo "netns ok"
