#!/usr/bin/env bash
# Answers are a function of etcd's contents, not of which names were asked first: with etcd v2,
# kube2sky's named-port keys under `_` labels (hidden from v2 listings, fetched when a query names
# them) answer their own names only, never the service above them, a wildcard or the apex. The
# same kube2sky data with v3 (nothing hidden) gives a headless service its addresses, rotating,
# without CNAMEs beside them. A missing short name is left to other owners' scripts.
source "$(dirname "$0")/lib.sh"
start_etcd
D=domeos.sohu
S=/skydns/sohu/domeos/svc/default
for put in put_v2 put_v3; do
  $put $S/kafka-svc-1/b56639fb '{"host":"172.16.50.1"}'
  $put $S/kafka-svc-1/_tcp/_kafka/3a6f2c1e '{"host":"kafka-svc-1.default.svc.domeos.sohu","port":9092}'
  $put $S/web/h1 '{"host":"10.1.0.1"}'
  $put $S/web/h2 '{"host":"10.1.0.2"}'
  $put $S/web/_tcp/_http/h1 '{"host":"h1.web.default.svc.domeos.sohu","port":8080}'
  $put $S/web/_tcp/_http/h2 '{"host":"h2.web.default.svc.domeos.sohu","port":8080}'
done

# Every answer of the names above the hidden keys, as one text.
snapshot() {
  for name in kafka-svc-1.default.svc default.svc svc "" "*.default.svc" web.default.svc; do
    for type in A SRV CNAME; do
      echo "== $name $type $(status "$name${name:+.}$D" $type)"
      q "$name${name:+.}$D" $type
    done
  done
}

# etcd v2, chosen by the flag, then detected (both keyspaces hold the records: v2, as SkyDNS).
for api in -etcd3=false ""; do
  DNS_PORT=$(free_port)
  start_server -machines="$ETCD" -domain=$D -addr=127.0.0.1:$DNS_PORT $api -round-robin=false
  eventually answers_are kafka-svc-1.default.svc.$D 172.16.50.1 || fail "first sync (v2 $api)"
  before=$(snapshot)
  expect_eq "$(q kafka-svc-1.default.svc.$D SRV | wc -l)" 1 "v2 $api: the service's SRV before any hidden name is asked"
  # The hidden names answer (fetched from etcd on demand).
  expect_eq "$(qn _kafka._tcp.kafka-svc-1.default.svc.$D SRV)" \
    "_kafka._tcp.kafka-svc-1.default.svc.$D. 3600 IN SRV 10 100 9092 kafka-svc-1.default.svc.$D." "v2 $api: hidden SRV"
  expect_eq "$(short _http._tcp.web.default.svc.$D SRV | wc -l)" 2 "v2 $api: headless named port"
  after=$(snapshot)
  [ "$before" = "$after" ] || fail "v2 $api: answers changed after hidden names were asked: $(diff <(echo "$before") <(echo "$after"))"
  echo "$after" | awk '$4 == "CNAME"' | finds . && fail "v2 $api: a CNAME above the hidden keys: $after"
  stop_server
done

# etcd v3: nothing is hidden; a headless service still answers only its addresses.
DNS_PORT=$(free_port)
start_server -machines="$ETCD" -domain=$D -addr=127.0.0.1:$DNS_PORT -etcd3
eventually answers_are web.default.svc.$D "10.1.0.1 10.1.0.2" || fail "first sync (v3): $(q web.default.svc.$D)"
firsts=""
for _ in 1 2 3 4 5 6; do
  answer=$(dig +time=2 +tries=1 +noall +answer @127.0.0.1 -p "$DNS_PORT" web.default.svc.$D A)
  echo "$answer" | finds CNAME && fail "v3: CNAME beside the headless service's addresses: $answer"
  expect_eq "$(echo "$answer" | wc -l)" 2 "v3: headless service answer lines"
  firsts="$firsts$(echo "$answer" | head -1 | awk '{print $5}')\n"
done
expect_eq "$(printf "$firsts" | sort -u | wc -l)" 2 "v3: round robin over the headless service's addresses"
expect_eq "$(q web.default.svc.$D CNAME)" "" "v3: no CNAME for a name with addresses"
expect_eq "$(status web.default.svc.$D CNAME)" NOERROR "v3: CNAME query for a name with addresses"
echo "answers history ok"
