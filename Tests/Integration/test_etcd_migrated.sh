#!/usr/bin/env bash
# Without -etcd3 the keyspace is detected; an etcd replaced under the server by one whose records
# are in the other keyspace is detected again. The way sites leave the v2 API: kube2sky's v2 data
# moved to v3 on an etcd that no longer serves v2 (3.6 removed it), at the same address. The
# server kept reading v2 (404 there) and served the old etcd's names for ever, /readyz saying
# "etcd unreachable" although etcd was up. Then the other way: v3 records replaced by an etcd
# holding them in v2 only.
source "$(dirname "$0")/lib.sh"
METRICS_PORT=$(free_port)
start_etcd
put_v2 /skydns/test/mig/old/1 '{"host":"10.12.0.1"}'
DNS_PORT=$(free_port)
start_server -machines="$ETCD" -domain=mig.test -addr=127.0.0.1:$DNS_PORT -metrics-addr=127.0.0.1:$METRICS_PORT
eventually answers_are old.mig.test 10.12.0.1 || fail "v2 records before the move"

# The same address, a new etcd without the v2 API, the records in v3.
stop_etcd; rm -rf "$WORK/etcd"; start_etcd false
put_v3 /skydns/test/mig/new/1 '{"host":"10.12.0.2"}'
eventually_for 40 answers_are new.mig.test 10.12.0.2 || fail "v3 records after the move to an etcd without v2: $(status new.mig.test)"
eventually status_is old.mig.test NXDOMAIN || fail "a name only the old etcd held is still served"
curl -s "http://127.0.0.1:$METRICS_PORT/readyz" | finds "etcd connected (v3 API)" \
  || fail "/readyz after the move: $(curl -s "http://127.0.0.1:$METRICS_PORT/readyz")"
put_v3 /skydns/test/mig/later/1 '{"host":"10.12.0.3"}'
eventually answers_are later.mig.test 10.12.0.3 || fail "changes after the move are not followed"

# And back: an etcd with the v2 API whose records are in v2 only.
stop_etcd; rm -rf "$WORK/etcd"; start_etcd true
put_v2 /skydns/test/mig/back/1 '{"host":"10.12.0.4"}'
eventually_for 40 answers_are back.mig.test 10.12.0.4 || fail "v2 records after moving back: $(status back.mig.test)"
eventually status_is new.mig.test NXDOMAIN || fail "a name only the v3 etcd held is still served"
kill -0 "$SERVER_PID" || fail "server died"
echo "PASS test_etcd_migrated"
