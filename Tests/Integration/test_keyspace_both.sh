#!/usr/bin/env bash
# Both etcd keyspaces hold records under the prefix, started as the seed starts it (no -etcd3):
# kube2sky's records in v2 and one unrelated key in v3. SkyDNS without -etcd3 read v2, so v2 is
# served; the log (a warning) and /readyz say which keyspace is served, that the other holds
# records too, and name the flag. -etcd3 serves v3; -etcd3=false serves v2 without the warning.
source "$(dirname "$0")/lib.sh"
start_etcd
put_v2 /skydns/sohu/domeos/kafka-1-wkfa1/19d074a1 '{"host":"172.28.0.12","ttl":30}'
put_v2 /skydns/sohu/domeos/svc/default/kafka-svc-1/b56639fb '{"host":"172.16.50.1","ttl":30}'
put_v3 /skydns/sohu/domeos/unrelated/1 '{"host":"10.9.9.9","ttl":30}'
readyz() { curl -s "http://127.0.0.1:$METRICS_PORT/readyz"; }

METRICS_PORT=$(free_port); DNS_PORT=$(free_port); mark=$(log_mark)
start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT -metrics-addr=127.0.0.1:$METRICS_PORT
eventually answers_are kafka-1-wkfa1.domeos.sohu 172.28.0.12 || fail "v2 record not served: $(status kafka-1-wkfa1.domeos.sohu)"
eventually answers_are kafka-svc-1.default.svc.domeos.sohu 172.16.50.1 || fail "second v2 record not served"
expect_eq "$(status unrelated.domeos.sohu)" NXDOMAIN "the v3-only key while serving v2"
line=$(log_since "$mark" | grep "both etcd keyspaces" | head -1)
[ -n "$line" ] || fail "no log line says both keyspaces hold records"
echo "$line" | finds "warning" || fail "the keyspace line is not a warning: $line"
echo "$line" | finds "serving the v2 keyspace" || fail "the log does not say v2 is served: $line"
echo "$line" | finds -- "-etcd3" || fail "the log does not name the flag: $line"
body=$(readyz)
echo "$body" | finds "^ready: .*v2 API" || fail "/readyz: $body"
echo "$body" | finds "v3 keyspace's records are NOT served" || fail "/readyz does not say v3 is left unserved: $body"
echo "$body" | finds -- "-etcd3 serves v3" || fail "/readyz does not name the flag: $body"
stop_server

# -etcd3: the v3 keyspace, no warning.
DNS_PORT=$(free_port); METRICS_PORT=$(free_port); mark=$(log_mark)
start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT -metrics-addr=127.0.0.1:$METRICS_PORT -etcd3
eventually answers_are unrelated.domeos.sohu 10.9.9.9 || fail "-etcd3: v3 record not served"
expect_eq "$(status kafka-1-wkfa1.domeos.sohu)" NXDOMAIN "-etcd3: a v2-only record"
log_since "$mark" | finds "both etcd keyspaces" && fail "-etcd3: warned about keyspaces although the flag chose"
readyz | finds "NOT served" && fail "-etcd3: /readyz warns: $(readyz)"
stop_server

# -etcd3=false: v2, no warning.
DNS_PORT=$(free_port); METRICS_PORT=$(free_port); mark=$(log_mark)
start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT -metrics-addr=127.0.0.1:$METRICS_PORT -etcd3=false
eventually answers_are kafka-1-wkfa1.domeos.sohu 172.28.0.12 || fail "-etcd3=false: v2 record not served"
log_since "$mark" | finds "both etcd keyspaces" && fail "-etcd3=false: warned although the flag chose"
stop_server

# Only v3 holds records (v2 served but its directory empty): v3, as before.
del_v2 /skydns "?recursive=true"
DNS_PORT=$(free_port); METRICS_PORT=$(free_port); mark=$(log_mark)
start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT -metrics-addr=127.0.0.1:$METRICS_PORT
eventually answers_are unrelated.domeos.sohu 10.9.9.9 || fail "v3 only: not served"
log_since "$mark" | finds "using the v3 API" || fail "v3 only: detection not logged"
echo "keyspace both ok"
