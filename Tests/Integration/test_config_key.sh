#!/usr/bin/env bash
# SkyDNS's /skydns/config key, read before serving and applied over the flags (SkyDNS unmarshalled
# it over the flag values): {"ttl":45,"min_ttl":20} makes a record without a TTL answer 45 and the
# SOA minimum 20, even against -ttl; dns_addr moves the listener; an invalid or unknown field is
# logged by name and the rest still applies, at start and when the key changes while running; v2
# too; any read_timeout forwards without a crash.
source "$(dirname "$0")/lib.sh"
start_etcd
put_v3 /skydns/config '{"ttl":45,"min_ttl":20,"bogus":1,"ndot":-1,"priority":0}'
put_v3 /skydns/sohu/domeos/nottl/1 '{"host":"10.1.0.1"}'
put_v3 /skydns/sohu/domeos/withttl/1 '{"host":"10.1.0.2","ttl":30}'
DNS_PORT=$(free_port); mark=$(log_mark)
start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT -etcd3 -ttl=99 -min-ttl=7
eventually answers_are nottl.domeos.sohu 10.1.0.1 || fail "record not served"
expect_eq "$(ttl_of nottl.domeos.sohu)" 45 "TTL of a record without one (key ttl over -ttl=99)"
expect_eq "$(ttl_of withttl.domeos.sohu)" 30 "a record's own TTL"
soa=$(short domeos.sohu SOA)
expect_eq "$(echo "$soa" | awk '{print $7}')" 20 "SOA minimum (key min_ttl over -min-ttl=7): $soa"
neg=$(dig +time=2 +tries=1 +noall +authority @127.0.0.1 -p "$DNS_PORT" missing.domeos.sohu A | awk '{print $2}')
[ "$neg" -le 20 ] || fail "negative answer TTL $neg above min_ttl 20"
log=$(log_since "$mark")
echo "$log" | finds 'field "bogus" is not a SkyDNS setting' || fail "unknown field not logged"
echo "$log" | finds 'etcd config field ndot: must not be negative.*field ndot ignored' || fail "invalid field not logged"
echo "$log" | finds 'field priority is 0, which SkyDNS treated as unset' || fail "zero field not logged"
echo "$log" | finds 'ttl=45 min-ttl=20' || fail "effective settings not logged"
stop_server

# dns_addr from the key moves the listener; a key changed while running is logged as taking
# effect at the next start (the TTL stays).
put_v3 /skydns/config "{\"dns_addr\":\"127.0.0.1:$(( DNS_PORT ))\",\"ttl\":45}"
other=$(free_port); mark=$(log_mark)
start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$other -etcd3
eventually answers_are nottl.domeos.sohu 10.1.0.1 || fail "dns_addr from the key: not listening there"
dig +time=1 +tries=1 @127.0.0.1 -p "$other" nottl.domeos.sohu >/dev/null 2>&1 && fail "still listening on -addr although dns_addr was set"
put_v3 /skydns/config "{\"dns_addr\":\"127.0.0.1:$(( DNS_PORT ))\",\"ttl\":50}"
eventually_for 5 bash -c "tail -c +$(( mark + 1 )) '$WORK/server.log' | grep -q 'take effect at the next start'" || fail "a live change of the key not logged"
expect_eq "$(ttl_of nottl.domeos.sohu)" 45 "TTL after a live change (applies at the next start)"
stop_server

# A key with one invalid field (ttl as a string) changed while running: its nameservers still
# apply at once, field by field as at start (the whole change was ignored).
start_fake_upstream live <<'PY'
s.sendto(reply_a(qid, question, [192, 0, 2, 77], 60), peer)
PY
put_v3 /skydns/config '{"ttl":"45","nameservers":["127.0.0.1:9"]}'
DNS_PORT=$(free_port)
start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT -etcd3
eventually answers_are nottl.domeos.sohu 10.1.0.1 || fail "bad ttl in the key: record not served"
put_v3 /skydns/config "{\"ttl\":\"45\",\"nameservers\":[\"127.0.0.1:$UPSTREAM_PORT\"]}"
eventually answers_are www.example.org 192.0.2.77 || fail "live nameservers beside an invalid ttl: $(status www.example.org)"
stop_server

# v2, and a key that is not JSON: logged, flags used.
put_v2 /skydns/config '{"ttl":46,"min_ttl":21}'
put_v2 /skydns/sohu/domeos/v2nottl/1 '{"host":"10.1.0.3"}'
DNS_PORT=$(free_port)
start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT -etcd3=false
eventually answers_are v2nottl.domeos.sohu 10.1.0.3 || fail "v2: record not served"
expect_eq "$(ttl_of v2nottl.domeos.sohu)" 46 "v2: TTL from the key"
expect_eq "$(short domeos.sohu SOA | awk '{print $7}')" 21 "v2: SOA minimum from the key"
stop_server
put_v2 /skydns/config 'not json'
DNS_PORT=$(free_port); mark=$(log_mark)
start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT -etcd3=false -ttl=77
eventually answers_are v2nottl.domeos.sohu 10.1.0.3 || fail "v2, bad key: record not served"
expect_eq "$(ttl_of v2nottl.domeos.sohu)" 77 "v2, bad key: the flag's TTL"
log_since "$mark" | finds "ignoring /skydns/config (v2): invalid etcd config" || fail "bad key not logged"
stop_server

# A read_timeout longer than poll's 24.8 days (any positive Go duration is valid) and the largest
# one: the forwarder still asks its upstream (a closed port here: SERVFAIL at once) and lives on.
for timeout in '"1000h"' 9223372036854775807; do
  put_v3 /skydns/config "{\"read_timeout\":$timeout}"
  DNS_PORT=$(free_port); mark=$(log_mark)
  start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT -etcd3
  eventually answers_are nottl.domeos.sohu 10.1.0.1 || fail "read_timeout $timeout: record not served"
  log_since "$mark" | finds "rtimeout=$( [ "$timeout" = '"1000h"' ] && echo 1000h0m0s || echo 2562047h47m16.854775807s)" \
    || fail "read_timeout $timeout: effective setting not logged as Go prints it"
  expect_eq "$(status www.example.org)" SERVFAIL "read_timeout $timeout: outside name, closed upstream"
  kill -0 "$SERVER_PID" || fail "read_timeout $timeout: the server died forwarding"
  stop_server
done
echo "config key ok"
