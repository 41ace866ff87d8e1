#!/usr/bin/env bash
# Username/password auth to etcd (issue 5, "Secure etcd"), against a real etcd 3.4:
# - v3: auth enabled (root user with the root role); skydns -etcd3 -username/-password logs in for
#   a token (/v3/auth/authenticate), answers and sees changes; with the credentials in
#   ETCD_USERNAME/ETCD_PASSWORD too; etcd's simple tokens are short-lived here
#   (--auth-token-ttl=2) and lost when etcd restarts, so the server must log in again and still
#   see changes made after a restart; with a wrong password (or none) it never syncs (REFUSED) and
#   logs an authentication error.
# - v2: etcd 3.4 still has the v2 auth API (separate from v3's): a root user, auth enabled, the
#   guest role's access revoked; skydns -etcd3=false sends basic auth; same checks.
source "$(dirname "$0")/lib.sh"

ETCD_PORT=$(free_port); ETCD_PEER=$(free_port)
ETCD=http://127.0.0.1:$ETCD_PORT
start_auth_etcd() {
  etcd --name it --data-dir "$WORK/etcd" --listen-client-urls "$ETCD" --advertise-client-urls "$ETCD" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER" \
    --initial-cluster "it=http://127.0.0.1:$ETCD_PEER" --enable-v2=true --auth-token-ttl=2 >>"$WORK/etcd.log" 2>&1 &
  ETCD_PID=$!; PIDS+=("$ETCD_PID")
  for _ in $(seq 100); do curl -sf "$ETCD/health" >/dev/null && return 0; sleep 0.1; done
  fail "etcd did not start"
}
start_auth_etcd

ctl() { ETCDCTL_API=3 etcdctl --endpoints="$ETCD" "$@"; }
ctl user add root:rootpw >/dev/null || fail "etcdctl user add"
ctl user grant-role root root >/dev/null || fail "etcdctl grant-role"
ctl auth enable >/dev/null || fail "etcdctl auth enable"
ctl put /skydns/probe x >/dev/null 2>&1 && fail "v3 auth is not on (a put without a user worked)"
put_v3() { ctl --user root:rootpw put "$1" "$2" >/dev/null || fail "v3 put $1"; }
del_v3() { ctl --user root:rootpw del "$1" >/dev/null || fail "v3 delete $1"; }

curl -sf -XPUT "$ETCD/v2/auth/users/root" -d '{"user":"root","password":"v2rootpw"}' >/dev/null || fail "v2 user add"
curl -sf -XPUT "$ETCD/v2/auth/enable" >/dev/null || fail "v2 auth enable"
# v2's guest role may read and write everything until that is revoked.
curl -sf -u root:v2rootpw -XPUT "$ETCD/v2/auth/roles/guest" \
  -d '{"role":"guest","revoke":{"kv":{"read":["/*"],"write":["/*"]}}}' >/dev/null || fail "v2 revoke guest"
curl -sf "$ETCD/v2/keys/?recursive=true" >/dev/null && fail "v2 auth is not on (an anonymous read worked)"
put_v2() { curl -sf -u root:v2rootpw -XPUT "$ETCD/v2/keys$1" --data-urlencode "value=$2" >/dev/null || fail "v2 put $1"; }
del_v2() { curl -sf -u root:v2rootpw -XDELETE "$ETCD/v2/keys$1" >/dev/null || fail "v2 delete $1"; }

# v3 records under skydns/, v2 records under v2dns/.
put_v3 /skydns/sohu/domeos/kafka-1-wkfa1/19d074a1 '{"host":"172.28.0.12","ttl":30}'
put_v2 /v2dns/sohu/domeos/node-1/a1 '{"host":"10.16.42.1","ttl":30}'

# auth_case WHAT NAME ADDR PUT DEL KEYPREFIX ARGS...
auth_case() {
  local what=$1 name=$2 addr=$3 put=$4 del=$5 keyprefix=$6; shift 6
  unset DNS_PORT; DNS_PORT=$(free_port)
  local mark; mark=$(log_mark)
  start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT "$@"
  eventually_for 10 answers_are "$name" "$addr" || fail "$what: existing record not served"
  $put "$keyprefix/sohu/domeos/auth-new/1" '{"host":"172.30.0.1","ttl":30}'
  eventually answers_are auth-new.domeos.sohu 172.30.0.1 || fail "$what: put after start not seen"
  # Longer than the token TTL (2 s): the watch and any re-read keep working.
  sleep 4
  $del "$keyprefix/sohu/domeos/auth-new/1"
  eventually status_is auth-new.domeos.sohu NXDOMAIN || fail "$what: delete after the token TTL not seen"
  # etcd restarts: its simple tokens are gone; the server has to log in again.
  stop_etcd; start_auth_etcd
  expect_eq "$(short "$name")" "$addr" "$what: served across the etcd restart"
  $put "$keyprefix/sohu/domeos/auth-new/2" '{"host":"172.30.0.2","ttl":30}'
  eventually_for 20 answers_are auth-new.domeos.sohu 172.30.0.2 || fail "$what: put after etcd restart not seen"
  $del "$keyprefix/sohu/domeos/auth-new/2"
  eventually status_is auth-new.domeos.sohu NXDOMAIN || fail "$what: delete after etcd restart not seen"
  [ "$(log_since "$mark" | grep -ci "not supported yet")" = 0 ] || fail "$what: -username/-password still reported as not supported"
  stop_server
}

# refused_case WHAT ARGS...: never synced (REFUSED), still up, an authentication error logged.
refused_case() {
  local what=$1; shift
  unset DNS_PORT; DNS_PORT=$(free_port)
  local mark; mark=$(log_mark)
  start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT "$@"
  for _ in 1 2 3 4 5 6; do
    expect_eq "$(status kafka-1-wkfa1.domeos.sohu)" REFUSED "$what: served data with bad credentials"
    expect_eq "$(status node-1.domeos.sohu)" REFUSED "$what: served v2 data with bad credentials"
    sleep 0.5
  done
  kill -0 "$SERVER_PID" 2>/dev/null || fail "$what: server exited"
  [ "$(log_since "$mark" | grep -v " starting: " | grep -Eci "auth|password|credential|user name|401|permission")" != 0 ] \
    || { log_since "$mark" | tail -5 >&2; fail "$what: no authentication error in the log"; }
  echo "$what: logged: $(log_since "$mark" | grep -v " starting: " | grep -Ei "auth|password|credential|user name|401|permission" | head -1)" >&2
  [ "$(log_since "$mark" | grep -c "rootpw\|wrongpw")" = 0 ] || fail "$what: a password appears in the log"
  stop_server
}

auth_case "v3 flags" kafka-1-wkfa1.domeos.sohu 172.28.0.12 put_v3 del_v3 /skydns -etcd3 -username=root -password=rootpw
ETCD_USERNAME=root ETCD_PASSWORD=rootpw \
  auth_case "v3 environment" kafka-1-wkfa1.domeos.sohu 172.28.0.12 put_v3 del_v3 /skydns -etcd3
auth_case "v2 flags" node-1.domeos.sohu 10.16.42.1 put_v2 del_v2 /v2dns -etcd3=false -path-prefix=v2dns \
  -username=root -password=v2rootpw

refused_case "v3 wrong password" -etcd3 -username=root -password=wrongpw
refused_case "v3 no credentials" -etcd3
refused_case "v2 wrong password" -etcd3=false -path-prefix=v2dns -username=root -password=wrongpw
refused_case "v2 no credentials" -etcd3=false -path-prefix=v2dns
echo "etcd auth ok"
