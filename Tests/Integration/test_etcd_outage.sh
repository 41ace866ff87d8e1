#!/usr/bin/env bash
# etcd going away does not stop the answers (issue 2): with the records served, etcd is stopped;
# known names keep resolving over UDP and TCP, missing names stay NXDOMAIN (not REFUSED or
# SERVFAIL); etcd comes back with the same data dir and ports; a put and a delete made after that
# are picked up without a restart. Once through v2 (-etcd3=false), once through v3 (-etcd3).
source "$(dirname "$0")/lib.sh"

outage_case() {  # outage_case v2|v3
  local api=$1 put del flag
  if [ "$api" = v2 ]; then put=put_v2; del=del_v2; flag=-etcd3=false; else put=put_v3; del=del_v3; flag=-etcd3; fi
  $put /skydns/sohu/domeos/kafka-1-wkfa1/19d074a1 '{"host":"172.28.0.12","priority":10,"weight":10,"ttl":30}'
  $put /skydns/sohu/domeos/svc/default/kafka-svc-1/b56639fb '{"host":"172.16.50.1","priority":10,"weight":10,"ttl":30}'
  $put /skydns/sohu/domeos/bx-42-198/adc8794b '{"host":"10.16.42.198","priority":10,"weight":10,"ttl":30}'
  DNS_PORT=$(free_port)
  start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT $flag
  eventually answers_are bx-42-198.domeos.sohu 10.16.42.198 || fail "$api: first sync"

  stop_etcd
  curl -s -m 1 "$ETCD/health" >/dev/null && fail "$api: etcd still up"
  # Several rounds over a few seconds, so the server's reconnect attempts happen in between.
  for round in 1 2 3 4 5 6; do
    for transport in +notcp +tcp; do
      expect_eq "$(qn kafka-1-wkfa1.domeos.sohu A $transport)" "kafka-1-wkfa1.domeos.sohu. 30 IN A 172.28.0.12" "$api: pod while etcd is down (round $round $transport)"
      expect_eq "$(short kafka-svc-1.default.svc.domeos.sohu A $transport)" 172.16.50.1 "$api: service while etcd is down (round $round $transport)"
      expect_eq "$(short bx-42-198.domeos.sohu A $transport)" 10.16.42.198 "$api: node while etcd is down (round $round $transport)"
      expect_eq "$(status nope.domeos.sohu A $transport)" NXDOMAIN "$api: missing name while etcd is down (round $round $transport)"
    done
    sleep 0.5
  done

  start_etcd  # ETCD_PORT/ETCD_PEER are still set: same ports, same data dir
  expect_eq "$(short kafka-1-wkfa1.domeos.sohu)" 172.28.0.12 "$api: served right after etcd came back"
  $put /skydns/sohu/domeos/after-outage/1 '{"host":"172.28.5.1","ttl":30}'
  $del /skydns/sohu/domeos/bx-42-198/adc8794b
  # The client may be in its back-off (up to 5 s) when etcd returns, hence the longer deadline.
  eventually_for 20 answers_are after-outage.domeos.sohu 172.28.5.1 || fail "$api: put after etcd restart not seen"
  eventually_for 20 status_is bx-42-198.domeos.sohu NXDOMAIN || fail "$api: delete after etcd restart not seen"
  # And the watch keeps working after the reconnect.
  $put /skydns/sohu/domeos/after-outage/2 '{"host":"172.28.5.2","ttl":30}'
  eventually answers_are after-outage.domeos.sohu "172.28.5.1 172.28.5.2" || fail "$api: second put after etcd restart not seen"
  expect_eq "$(short kafka-svc-1.default.svc.domeos.sohu A +tcp)" 172.16.50.1 "$api: untouched record after restart"
  stop_server
}

start_etcd
outage_case v2
fresh_etcd
outage_case v3
echo "etcd outage ok"
