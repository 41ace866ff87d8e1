#!/usr/bin/env bash
# etcd replaced under the server at the same address, its history going backwards (an issue-5
# "never wrong" scenario; SkyDNS, asking etcd on every query, always followed it): v3 restored from
# an earlier `etcdctl snapshot` (the documented disaster recovery; its revision is lower than the
# one the server has applied), and v2 recreated empty (its index starts again at 1). The server
# must end up serving what the new etcd holds, and follow its changes; a watch waiting for a
# revision the new etcd has not reached would miss every change until it got there.
source "$(dirname "$0")/lib.sh"
# Each case runs in a subshell so that both report; a subshell stops its own processes.
stop_mine() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
rc=0

# --- v3: restore from a snapshot.
(
trap stop_mine EXIT
mkdir -p "$WORK/v3"; WORK=$WORK/v3
start_etcd
put_v3 /skydns/sohu/domeos/kafka-1-wkfa1/19d074a1 '{"host":"172.28.0.12","ttl":30}'
put_v3 /skydns/sohu/domeos/bx-42-198/adc8794b '{"host":"10.16.42.198","ttl":30}'
ETCDCTL_API=3 etcdctl --endpoints="$ETCD" snapshot save "$WORK/snap.db" >/dev/null 2>&1 || fail "snapshot save"
DNS_PORT=$(free_port)
start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT -etcd3
eventually answers_are bx-42-198.domeos.sohu 10.16.42.198 || fail "v3: first sync"
# Changes after the snapshot, which the restore will undo.
put_v3 /skydns/sohu/domeos/later/1 '{"host":"172.28.7.1"}'
del_v3 /skydns/sohu/domeos/bx-42-198/adc8794b
for i in 1 2 3 4 5; do put_v3 /skydns/sohu/domeos/churn/1 "{\"host\":\"172.28.7.$((i + 10))\"}"; done
eventually answers_are later.domeos.sohu 172.28.7.1 || fail "v3: change after the snapshot"
eventually status_is bx-42-198.domeos.sohu NXDOMAIN || fail "v3: delete after the snapshot"
stop_etcd
rm -rf "$WORK/etcd"
ETCDCTL_API=3 etcdctl snapshot restore "$WORK/snap.db" --data-dir "$WORK/etcd" --name it \
  --initial-cluster "it=http://127.0.0.1:$ETCD_PEER" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER" >/dev/null 2>&1 || fail "snapshot restore"
start_etcd
put_v3 /skydns/sohu/domeos/restored/1 '{"host":"172.28.7.2"}'
eventually_for 20 answers_are restored.domeos.sohu 172.28.7.2 || fail "v3 restored from a snapshot: a put to the restored etcd is never seen ($(status restored.domeos.sohu))"
eventually_for 20 answers_are bx-42-198.domeos.sohu 10.16.42.198 || fail "v3 restored from a snapshot: a record the restored etcd holds is not served ($(status bx-42-198.domeos.sohu))"
eventually_for 20 status_is later.domeos.sohu NXDOMAIN || fail "v3 restored from a snapshot: a record the restored etcd lacks is still served"
echo "v3 restore ok"
) || rc=1

# --- v2: etcd recreated empty.
(
trap stop_mine EXIT
mkdir -p "$WORK/v2"; WORK=$WORK/v2
start_etcd
put_v2 /skydns/sohu/domeos/old/1 '{"host":"172.28.8.1"}'
for i in $(seq 1 20); do put_v2 /skydns/sohu/domeos/churn/1 "{\"host\":\"172.28.8.$((i + 10))\"}"; done
DNS_PORT=$(free_port)
start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT -etcd3=false
eventually answers_are old.domeos.sohu 172.28.8.1 || fail "v2: first sync"
stop_etcd
rm -rf "$WORK/etcd"
start_etcd  # same ports, nothing in it: its index starts again
put_v2 /skydns/sohu/domeos/new/1 '{"host":"172.28.8.2"}'
eventually_for 20 answers_are new.domeos.sohu 172.28.8.2 || fail "v2 recreated empty: a put to the new etcd is never seen ($(status new.domeos.sohu))"
eventually_for 20 status_is old.domeos.sohu NXDOMAIN || fail "v2 recreated empty: a record the new etcd lacks is still served"
echo "v2 recreate ok"
) || rc=1
[ "$rc" -eq 0 ] || exit 1
echo "etcd replaced ok"
