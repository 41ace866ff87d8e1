#!/usr/bin/env bash
# etcd wiped and restarted at the same address with the same flags (so the same cluster ID, and
# here the same raft term), repopulated past the server's last revision before the server
# reconnects: a new history the cluster ID and revision cannot reveal. The server must serve what
# the new etcd holds (every new name; no name only the old etcd had) and follow its changes. The
# new etcd is filled on another client port while the server retries the old one, then moved to
# the old address. v3, then v2.
source "$(dirname "$0")/lib.sh"
stop_mine() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
rc=0
# wipe_and_fill PUT PREFIX: the same etcd flags, empty data, 40 new names written on a side port,
# then moved back to the address the server uses.
wipe_and_fill() {
  local put=$1 p=$2 port=$ETCD_PORT
  stop_etcd; rm -rf "$WORK/etcd"
  ETCD_PORT=$(free_port); start_etcd
  for i in $(seq 1 40); do $put "$p/sohu/domeos/new-$i/1" "{\"host\":\"10.40.0.$i\"}"; done
  stop_etcd; ETCD_PORT=$port; start_etcd
}
all_new_served() {
  for i in $(seq 1 40); do [ "$(short new-$i.domeos.sohu)" = "10.40.0.$i" ] || return 1; done
}
missing() { for i in $(seq 1 40); do [ "$(short new-$i.domeos.sohu)" = "10.40.0.$i" ] || echo -n "new-$i "; done; }

for api in v3 v2; do
(
trap stop_mine EXIT
mkdir -p "$WORK/$api"; WORK=$WORK/$api
if [ $api = v3 ]; then put=put_v3; flag=-etcd3; else put=put_v2; flag=-etcd3=false; fi
start_etcd
# As many keys as the new etcd will hold at our last revision, so that only their history differs.
for i in 1 2 3 4 5; do $put /skydns/sohu/domeos/old-$i/1 "{\"host\":\"10.41.0.$i\"}"; done
DNS_PORT=$(free_port); mark=$(log_mark)
start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT $flag
eventually answers_are old-5.domeos.sohu 10.41.0.5 || fail "$api: first sync"
wipe_and_fill $put /skydns
eventually_for 20 all_new_served || fail "$api: new names not served after the wipe: $(missing)"
eventually_for 5 status_is old-1.domeos.sohu NXDOMAIN || fail "$api: a name only the old etcd held is still served"
expect_eq "$(status old-5.domeos.sohu)" NXDOMAIN "$api: old-5"
$put /skydns/sohu/domeos/after/1 '{"host":"10.42.0.1"}'
eventually answers_are after.domeos.sohu 10.42.0.1 || fail "$api: a change after the wipe not followed"
log_since "$mark" | finds -E "history does not continue ours|re-reading /skydns" || fail "$api: the new history is not logged"
echo "$api wiped ok"
) || rc=1
done

# A plain reconnect to the same etcd (restarted, data kept) must not re-read the v3 prefix.
(
trap stop_mine EXIT
mkdir -p "$WORK/same"; WORK=$WORK/same
start_etcd
for i in 1 2 3; do put_v3 /skydns/sohu/domeos/keep-$i/1 "{\"host\":\"10.43.0.$i\"}"; done
DNS_PORT=$(free_port); mark=$(log_mark)
start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT -etcd3
eventually answers_are keep-3.domeos.sohu 10.43.0.3 || fail "same: first sync"
del_v3 /skydns/sohu/domeos/keep-1/1
eventually status_is keep-1.domeos.sohu NXDOMAIN || fail "same: delete"
restart_etcd
put_v3 /skydns/sohu/domeos/keep-4/1 '{"host":"10.43.0.4"}'
eventually_for 20 answers_are keep-4.domeos.sohu 10.43.0.4 || fail "same: change after the restart"
log_since "$mark" | finds "history does not continue" && fail "same etcd restarted: taken for a new history"
echo "same etcd ok"
) || rc=1
[ "$rc" -eq 0 ] || exit 1
echo "etcd wiped ok"
