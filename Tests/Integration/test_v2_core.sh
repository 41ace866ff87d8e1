#!/usr/bin/env bash
# The core acceptance through the etcd v2 API, with the server started as the old manifests start
# SkyDNS: the three seed records answer over UDP and TCP with TTL 30 and AA; missing names are
# NXDOMAIN and missing types NODATA, both with the SOA; puts and deletes show without a restart.
source "$(dirname "$0")/lib.sh"
start_etcd
put_v2 /skydns/sohu/domeos/kafka-1-wkfa1/19d074a1 '{"host":"172.28.0.12","priority":10,"weight":10,"ttl":30}'
put_v2 /skydns/sohu/domeos/svc/default/kafka-svc-1/b56639fb '{"host":"172.16.50.1","priority":10,"weight":10,"ttl":30}'
put_v2 /skydns/sohu/domeos/bx-42-198/adc8794b '{"host":"10.16.42.198","priority":10,"weight":10,"ttl":30}'
DNS_PORT=$(free_port)
start_server --machines="$ETCD" --domain=domeos.sohu --addr=127.0.0.1:$DNS_PORT
eventually answers_are kafka-1-wkfa1.domeos.sohu 172.28.0.12 || fail "first sync"

for transport in +notcp +tcp; do
  expect_eq "$(q kafka-1-wkfa1.domeos.sohu A $transport)" $'kafka-1-wkfa1.domeos.sohu. 30\tIN\tA\t172.28.0.12' "pod $transport"
  expect_eq "$(short kafka-svc-1.default.svc.domeos.sohu A $transport)" 172.16.50.1 "service $transport"
  expect_eq "$(short bx-42-198.domeos.sohu A $transport)" 10.16.42.198 "node $transport"
  dig @127.0.0.1 -p $DNS_PORT kafka-1-wkfa1.domeos.sohu $transport | finds 'flags: qr aa' || fail "aa not set $transport"
done

# The client's casing comes back in the question and the answer.
dig @127.0.0.1 -p $DNS_PORT KAFKA-1-wkfa1.DomeOS.sohu | finds '^KAFKA-1-wkfa1.DomeOS.sohu.' || fail "casing not echoed"

expect_eq "$(status nope.domeos.sohu)" NXDOMAIN "missing name"
dig @127.0.0.1 -p $DNS_PORT nope.domeos.sohu | grep -A1 'AUTHORITY SECTION' | finds 'SOA.*ns.dns.domeos.sohu. hostmaster.domeos.sohu.' || fail "NXDOMAIN without SOA"
expect_eq "$(status kafka-1-wkfa1.domeos.sohu AAAA)" NOERROR "AAAA rcode"
expect_eq "$(q kafka-1-wkfa1.domeos.sohu AAAA)" "" "AAAA answers"
dig @127.0.0.1 -p $DNS_PORT kafka-1-wkfa1.domeos.sohu AAAA | finds 'IN	SOA' || fail "NODATA without SOA"
# A prefix of a label is not a match (SkyDNS's v3 backend got this wrong).
expect_eq "$(status kafka-1.domeos.sohu)" NXDOMAIN "label prefix"

put_v2 /skydns/sohu/domeos/new-pod/1 '{"host":"172.28.1.1","ttl":30}'
eventually answers_are new-pod.domeos.sohu 172.28.1.1 || fail "put not seen"
del_v2 /skydns/sohu/domeos/new-pod/1
eventually status_is new-pod.domeos.sohu NXDOMAIN || fail "delete not seen"
put_v2 /skydns/sohu/domeos/gone/a '{"host":"172.28.2.1"}'
put_v2 /skydns/sohu/domeos/gone/b '{"host":"172.28.2.2"}'
eventually answers_are gone.domeos.sohu "172.28.2.1 172.28.2.2" || fail "directory"
del_v2 /skydns/sohu/domeos/gone '?recursive=true'
eventually status_is gone.domeos.sohu NXDOMAIN || fail "directory delete not seen"

# A broken value is skipped and logged; the rest is still served.
put_v2 /skydns/sohu/domeos/broken/1 'not json'
eventually grep -q 'broken/1' "$WORK/server.log" || fail "bad value not logged"
expect_eq "$(short kafka-1-wkfa1.domeos.sohu)" 172.28.0.12 "serving after bad value"
echo "v2 core ok"
