#!/usr/bin/env bash
# API detection without -etcd3 (issue 2): a server started before kube2sky has written anything
# answers REFUSED until its first read of etcd, then finds the records kube2sky writes through v2
# afterwards; data only in v3 is detected as v3 (and logged); an empty v2 directory with records
# then appearing in v3 switches to v3; an explicit -etcd3=false never switches.
source "$(dirname "$0")/lib.sh"
SEED_A=(/skydns/sohu/domeos/kafka-1-wkfa1/19d074a1 '{"host":"172.28.0.12","priority":10,"weight":10,"ttl":30}')
SEED_B=(/skydns/sohu/domeos/svc/default/kafka-svc-1/b56639fb '{"host":"172.16.50.1","priority":10,"weight":10,"ttl":30}')
SEED_C=(/skydns/sohu/domeos/bx-42-198/adc8794b '{"host":"10.16.42.198","priority":10,"weight":10,"ttl":30}')
seeds_answered() {
  answers_are kafka-1-wkfa1.domeos.sohu 172.28.0.12 &&
  answers_are kafka-svc-1.default.svc.domeos.sohu 172.16.50.1 &&
  answers_are bx-42-198.domeos.sohu 10.16.42.198
}

# Case 1: etcd down at start (the only deterministic way to see the server before its first read):
# REFUSED for names in the domain. Then etcd comes up empty: NXDOMAIN once synced. Then the seeds
# arrive through v2, after the server chose an API.
start_etcd
stop_etcd
DNS_PORT=$(free_port)
mark=$(log_mark)
start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT
for transport in +notcp +tcp; do
  expect_eq "$(status kafka-1-wkfa1.domeos.sohu A $transport)" REFUSED "before the first read $transport"
done
start_etcd  # same ports (ETCD_PORT/ETCD_PEER kept), empty data
eventually_for 15 status_is kafka-1-wkfa1.domeos.sohu NXDOMAIN || fail "empty etcd: expected NXDOMAIN after the first read, got $(status kafka-1-wkfa1.domeos.sohu)"
put_v2 "${SEED_A[@]}"; put_v2 "${SEED_B[@]}"; put_v2 "${SEED_C[@]}"
eventually seeds_answered || fail "v2 records written after start not answered: $(short kafka-1-wkfa1.domeos.sohu) / $(status kafka-1-wkfa1.domeos.sohu)"
expect_eq "$(qn kafka-svc-1.default.svc.domeos.sohu A +tcp)" "kafka-svc-1.default.svc.domeos.sohu. 30 IN A 172.16.50.1" "service over TCP after switch"
# Once switched, later v2 changes keep arriving.
put_v2 /skydns/sohu/domeos/later/1 '{"host":"172.28.9.1"}'
eventually answers_are later.domeos.sohu 172.28.9.1 || fail "v2 put after the switch"
del_v2 /skydns/sohu/domeos/bx-42-198/adc8794b
eventually status_is bx-42-198.domeos.sohu NXDOMAIN || fail "v2 delete after the switch"
log_since "$mark" | grep -i 'switch' | finds -i 'v2' || fail "the switch to v2 was not logged"
stop_server

# Case 2: data only in v3, no -etcd3: detected as v3, and the log says so.
fresh_etcd
put_v3 "${SEED_A[@]}"; put_v3 "${SEED_B[@]}"; put_v3 "${SEED_C[@]}"
DNS_PORT=$(free_port)
mark=$(log_mark)
start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT
eventually seeds_answered || fail "v3-only data not answered"
log_since "$mark" | grep -i 'using' | finds -i 'v3' || fail "detection of v3 not logged: $(log_since "$mark" | grep -i etcd | head -5)"
log_since "$mark" | grep -i 'using' | finds -i 'v2' && fail "v2 logged as the choice for v3-only data"
put_v3 /skydns/sohu/domeos/later/1 '{"host":"172.28.9.2"}'
eventually answers_are later.domeos.sohu 172.28.9.2 || fail "v3 put after detection"
stop_server

# Case 3: an explicit -etcd3=false reads v2 only, even when v2 is empty and v3 has the records.
DNS_PORT=$(free_port)
start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT -etcd3=false
eventually status_is kafka-1-wkfa1.domeos.sohu NXDOMAIN || fail "-etcd3=false served v3 data: $(status kafka-1-wkfa1.domeos.sohu)"
sleep 2  # longer than a detection probe: a wrongful switch would have happened by now
expect_eq "$(status kafka-1-wkfa1.domeos.sohu)" NXDOMAIN "-etcd3=false still on v2"
put_v2 /skydns/sohu/domeos/v2only/1 '{"host":"172.28.9.3"}'
eventually answers_are v2only.domeos.sohu 172.28.9.3 || fail "-etcd3=false: v2 put not seen"
stop_server

# Case 4: an empty v2 directory (kube2sky created it, nothing in it yet) is chosen as v2; records
# then appearing in v3 switch the server to v3.
fresh_etcd
curl -sf -XPUT "$ETCD/v2/keys/skydns/sohu?dir=true" >/dev/null || fail "v2 mkdir"
DNS_PORT=$(free_port)
mark=$(log_mark)
start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT
eventually status_is kafka-1-wkfa1.domeos.sohu NXDOMAIN || fail "empty v2 dir: not synced"
put_v3 "${SEED_A[@]}"; put_v3 "${SEED_B[@]}"; put_v3 "${SEED_C[@]}"
eventually seeds_answered || fail "v3 records after an empty v2 directory not answered"
log_since "$mark" | grep -i 'switch' | finds -i 'v3' || fail "switch to v3 not logged"
echo "detect/switch ok"
