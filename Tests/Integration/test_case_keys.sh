#!/usr/bin/env bash
# etcd keys that differ only in case (…/svc/Web/1 and …/svc/web/1) are one DNS name: what is
# served follows etcd's contents, not the order of events. Deleting one serves the other; the
# lower-case key wins while both exist (SkyDNS looked up the lower-cased name); v3 and v2.
source "$(dirname "$0")/lib.sh"
start_etcd
check() {
  local api=$1 put=$2 del=$3 p=$4
  $put "$p/sohu/domeos/svc/Web/1" '{"host":"10.7.0.1"}'
  $put "$p/sohu/domeos/svc/web/1" '{"host":"10.7.0.2"}'
  eventually answers_are web.svc.domeos.sohu 10.7.0.2 || fail "$api: lower case not preferred: $(short web.svc.domeos.sohu)"
  $put "$p/sohu/domeos/svc/Web/1" '{"host":"10.7.0.3"}'   # a later change to the other case
  sleep 0.3
  expect_eq "$(short web.svc.domeos.sohu)" 10.7.0.2 "$api: served depends on event order"
  $del "$p/sohu/domeos/svc/web/1"
  eventually answers_are web.svc.domeos.sohu 10.7.0.3 || fail "$api: deleting web/1 lost Web/1: $(status web.svc.domeos.sohu)"
  $del "$p/sohu/domeos/svc/Web/1"
  eventually status_is web.svc.domeos.sohu NXDOMAIN || fail "$api: both deleted, still served"
}
DNS_PORT=$(free_port)
start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT -etcd3
check v3 put_v3 del_v3 /skydns
stop_server
DNS_PORT=$(free_port)
start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT -etcd3=false -path-prefix=v2dns
check v2 put_v2 del_v2 /v2dns
# A v2 directory delete of one case keeps the other case's records.
put_v2 /v2dns/sohu/domeos/svc/Db/1 '{"host":"10.7.1.1"}'
put_v2 /v2dns/sohu/domeos/svc/db/2 '{"host":"10.7.1.2"}'
eventually answers_are db.svc.domeos.sohu "10.7.1.1 10.7.1.2" || fail "v2: both cases of db not served: $(short db.svc.domeos.sohu)"
del_v2 /v2dns/sohu/domeos/svc/Db "?recursive=true"
eventually answers_are db.svc.domeos.sohu 10.7.1.2 || fail "v2: deleting directory Db lost db/2: $(short db.svc.domeos.sohu)"
echo "case keys ok"
