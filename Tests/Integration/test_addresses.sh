#!/usr/bin/env bash
# A and AAAA from IP hosts and the directory semantics (issue 2 item 3; semantics "Keys and
# names", "Answers by type", "TTLs"): IPv6 hosts answer AAAA and make A a NODATA; a mixed
# directory splits by family; deep directories answer every record below at any depth; a record
# id is itself a name; identical records under different keys are answered once; several
# records share the smallest TTL; the domain given with a final dot works the same.
source "$(dirname "$0")/lib.sh"
start_etcd
put_v2 /skydns/sohu/domeos/v6/1 '{"host":"fd00::1","ttl":30}'
put_v2 /skydns/sohu/domeos/mixed/a '{"host":"10.0.0.1","ttl":30}'
put_v2 /skydns/sohu/domeos/mixed/b '{"host":"fd00::2","ttl":30}'
put_v2 /skydns/sohu/domeos/deep/x/y/z/1 '{"host":"10.0.1.1","ttl":30}'
put_v2 /skydns/sohu/domeos/deep/x/2 '{"host":"10.0.1.2","ttl":30}'
put_v2 /skydns/sohu/domeos/deep/3 '{"host":"10.0.1.3","ttl":30}'
put_v2 /skydns/sohu/domeos/dup/a '{"host":"10.0.2.1","ttl":30}'
put_v2 /skydns/sohu/domeos/dup/b '{"host":"10.0.2.1","ttl":30}'
put_v2 /skydns/sohu/domeos/ttlmix/a '{"host":"10.0.3.1","ttl":30}'
put_v2 /skydns/sohu/domeos/ttlmix/b '{"host":"10.0.3.2","ttl":100}'
put_v2 /skydns/sohu/domeos/ttlmix/c '{"host":"10.0.3.3"}'
put_v2 /skydns/sohu/domeos/kafka-1-wkfa1/19d074a1 '{"host":"172.28.0.12","ttl":30}'
DNS_PORT=$(free_port)
start_server -machines="$ETCD" -domain=domeos.sohu. -addr=127.0.0.1:$DNS_PORT
eventually answers_are kafka-1-wkfa1.domeos.sohu 172.28.0.12 || fail "first sync"

for transport in +notcp +tcp; do
  expect_eq "$(qn v6.domeos.sohu AAAA $transport)" "v6.domeos.sohu. 30 IN AAAA fd00::1" "AAAA $transport"
  expect_eq "$(status v6.domeos.sohu A $transport)" NOERROR "A of an IPv6-only name: rcode $transport"
  expect_eq "$(q v6.domeos.sohu A $transport)" "" "A of an IPv6-only name: no answers $transport"
  dig @127.0.0.1 -p $DNS_PORT v6.domeos.sohu A $transport | finds 'IN	SOA' || fail "A of an IPv6-only name: no SOA $transport"
  expect_eq "$(short mixed.domeos.sohu A $transport)" 10.0.0.1 "mixed directory, A $transport"
  expect_eq "$(short mixed.domeos.sohu AAAA $transport)" fd00::2 "mixed directory, AAAA $transport"
done
expect_eq "$(short deep.domeos.sohu)" "$(printf '10.0.1.1\n10.0.1.2\n10.0.1.3')" "deep directory, top"
expect_eq "$(short x.deep.domeos.sohu)" "$(printf '10.0.1.1\n10.0.1.2')" "deep directory, middle"
expect_eq "$(short z.y.x.deep.domeos.sohu)" 10.0.1.1 "deep directory, bottom"
expect_eq "$(short 1.z.y.x.deep.domeos.sohu)" 10.0.1.1 "a record id as a name"
expect_eq "$(short 19d074a1.kafka-1-wkfa1.domeos.sohu)" 172.28.0.12 "kube2sky's record id as a name"
expect_eq "$(status y.deep.domeos.sohu)" NXDOMAIN "a label that exists only deeper"
expect_eq "$(status w.x.deep.domeos.sohu)" NXDOMAIN "a sibling that does not exist"
expect_eq "$(short dup.domeos.sohu)" 10.0.2.1 "identical records answered once"
# Several records: all with min(-ttl, the smallest record TTL) = 30.
expect_eq "$(q ttlmix.domeos.sohu | awk '{print $2}' | sort -u)" 30 "TTLs of a multi-record answer"
expect_eq "$(q ttlmix.domeos.sohu | wc -l)" 3 "records of a multi-record answer"
# A whole directory goes when its last record goes; the parent stays while others remain.
del_v2 /skydns/sohu/domeos/deep/x/y/z/1
eventually status_is z.y.x.deep.domeos.sohu NXDOMAIN || fail "emptied directory still answers"
expect_eq "$(short x.deep.domeos.sohu)" 10.0.1.2 "parent after a child's delete"
echo "addresses ok"
