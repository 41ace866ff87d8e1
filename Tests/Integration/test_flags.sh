#!/usr/bin/env bash
# SkyDNS's command line (issue 2, item 6): -version and -h exit 0, -h lists the flags with their
# defaults; bad flags and values exit 2 naming the flag; the Go spellings work; the environment
# variables configure a server with no flags (and flags win over them); -path-prefix, -ttl,
# -min-ttl and -verbose do what SkyDNS's do.
source "$(dirname "$0")/lib.sh"

# run_bin ARGS...: runs the binary (it must exit on its own), output in $OUT, status in $RC.
run_bin() { set +e; OUT=$(timeout 10 "$SKYDNS_BIN" "$@" 2>&1); RC=$?; set -e; }

run_bin -version
expect_eq "$RC" 0 "-version exit code"
echo "$OUT" | finds -E '[0-9]+\.[0-9]+' || fail "-version prints no version: [$OUT]"
run_bin --version
expect_eq "$RC" 0 "--version exit code"

for h in -h -help --help; do
  run_bin $h
  expect_eq "$RC" 0 "$h exit code"
  # flag_help NAME: the usage block of one flag (its line and the indented description lines).
  flag_help() { echo "$OUT" | awk -v f="-$1" '$1 == f {on=1; print; next} on && /^  -/ {on=0} on {print}'; }
  for f in addr domain machines etcd3 path-prefix ttl min-ttl verbose version; do
    [ -n "$(flag_help $f)" ] || fail "$h does not list -$f: [$OUT]"
  done
  flag_help addr | finds '(default "127.0.0.1:53")' || fail "$h: -addr default: [$(flag_help addr)]"
  flag_help domain | finds '(default "skydns.local.")' || fail "$h: -domain default: [$(flag_help domain)]"
  flag_help machines | finds '(default "http://127.0.0.1:2379")' || fail "$h: -machines default: [$(flag_help machines)]"
  flag_help path-prefix | finds '(default "skydns")' || fail "$h: -path-prefix default: [$(flag_help path-prefix)]"
  flag_help ttl | finds '(default 3600)' || fail "$h: -ttl default: [$(flag_help ttl)]"
  flag_help min-ttl | finds '(default 60)' || fail "$h: -min-ttl default: [$(flag_help min-ttl)]"
done

# bad ARGS... : exit 2 and an error naming the first argument's flag, and no server left running.
bad() {
  local flag=${1%%=*}; flag=${flag#-}; flag=${flag#-}
  run_bin "$@"
  expect_eq "$RC" 2 "exit code of skydns $*"
  echo "$OUT" | grep -v '^  \|^    \|^Usage' | finds -- "$flag" || fail "skydns $*: error does not mention $flag: [$(echo "$OUT" | head -3)]"
}
bad -ttl=abc
bad -nosuchflag
bad --nosuchflag=1
bad -min-ttl=-5
bad -etcd3=maybe
bad -addr=127.0.0.1   # no port
bad -ttl               # no value at the end

start_etcd
# Records under three roots: the default prefix, a custom prefix, and another domain.
put_v2 /skydns/sohu/domeos/web/1 '{"host":"172.30.0.1"}'
put_v2 /skydns/sohu/domeos/fixed/1 '{"host":"172.30.0.2","ttl":30}'
put_v2 /custom/sohu/domeos/web/1 '{"host":"172.30.1.1"}'
put_v2 /skydns/test/envdomain/web/1 '{"host":"172.30.2.1"}'
put_v2 /skydns/test/flagdomain/web/1 '{"host":"172.30.3.1"}'

# Environment only, no flags at all; ETCD_MACHINES with final slashes, as a manifest may write it.
DNS_PORT=$(free_port)
SKYDNS_DOMAIN=envdomain.test SKYDNS_ADDR=127.0.0.1:$DNS_PORT ETCD_MACHINES=$ETCD// start_server
eventually answers_are web.envdomain.test 172.30.2.1 || fail "env-configured server: $(status web.envdomain.test)"
# domeos.sohu is not its domain: not answered from /skydns/sohu/domeos (it is forwarded instead).
[ "$(short web.domeos.sohu)" != 172.30.0.1 ] || fail "env-configured server answers outside its domain"
dig @127.0.0.1 -p $DNS_PORT nope.envdomain.test | finds 'SOA.*ns.dns.envdomain.test.' || fail "env domain's SOA"
stop_server
# Flags win over the environment (SkyDNS: the environment only supplies the flag defaults).
DNS_PORT=$(free_port)
SKYDNS_DOMAIN=envdomain.test ETCD_MACHINES=http://127.0.0.1:9 start_server -domain flagdomain.test --machines "$ETCD" -addr 127.0.0.1:$DNS_PORT
eventually answers_are web.flagdomain.test 172.30.3.1 || fail "flags over env (space-separated Go spellings): $(status web.flagdomain.test)"
dig @127.0.0.1 -p $DNS_PORT nope.flagdomain.test | finds 'flags: qr aa' || fail "flag domain not authoritative"
stop_server

# -path-prefix=custom reads /custom, not /skydns.
DNS_PORT=$(free_port)
start_server -machines="$ETCD" -domain=domeos.sohu. -addr=127.0.0.1:$DNS_PORT -path-prefix=custom
eventually answers_are web.domeos.sohu 172.30.1.1 || fail "-path-prefix=custom: $(short web.domeos.sohu)"
expect_eq "$(status fixed.domeos.sohu)" NXDOMAIN "-path-prefix=custom must not read /skydns"
put_v2 /custom/sohu/domeos/web/2 '{"host":"172.30.1.2"}'
eventually answers_are web.domeos.sohu "172.30.1.1 172.30.1.2" || fail "-path-prefix=custom: watch"
stop_server
DNS_PORT=$(free_port)
SKYDNS_PATH_PREFIX=custom start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT
eventually answers_are web.domeos.sohu "172.30.1.1 172.30.1.2" || fail "SKYDNS_PATH_PREFIX=custom: $(short web.domeos.sohu)"
stop_server

# -ttl=77: the TTL of a record without ttl (one with ttl keeps its own); -min-ttl=33: the TTL of
# the SOA in negative answers and its minimum field. -verbose logs the queries.
DNS_PORT=$(free_port)
mark=$(log_mark)
start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT -ttl=77 -min-ttl=33 -verbose
eventually answers_are web.domeos.sohu 172.30.0.1 || fail "-ttl server: first sync"
for transport in +notcp +tcp; do
  expect_eq "$(qn web.domeos.sohu A $transport)" "web.domeos.sohu. 77 IN A 172.30.0.1" "-ttl=77 $transport"
  expect_eq "$(qn fixed.domeos.sohu A $transport)" "fixed.domeos.sohu. 30 IN A 172.30.0.2" "own ttl under -ttl=77 $transport"
done
soa=$(dig +time=2 +tries=1 +noall +authority @127.0.0.1 -p $DNS_PORT nope.domeos.sohu | awk '$4 == "SOA"')
expect_eq "$(echo "$soa" | awk '{print $2}')" 33 "SOA TTL in NXDOMAIN with -min-ttl=33 [$soa]"
expect_eq "$(echo "$soa" | awk '{print $NF}')" 33 "SOA minimum with -min-ttl=33 [$soa]"
soa=$(dig +time=2 +tries=1 +noall +authority @127.0.0.1 -p $DNS_PORT web.domeos.sohu AAAA | awk '$4 == "SOA"')
expect_eq "$(echo "$soa" | awk '{print $2}')" 33 "SOA TTL in NODATA with -min-ttl=33 [$soa]"
dig +time=2 +tries=1 @127.0.0.1 -p $DNS_PORT verbose-probe.domeos.sohu >/dev/null
eventually grep -q 'verbose-probe' "$WORK/server.log" || fail "-verbose does not log queries"
stop_server
# Without -verbose, queries are not logged.
DNS_PORT=$(free_port)
mark=$(log_mark)
start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT
eventually answers_are web.domeos.sohu 172.30.0.1 || fail "default server: first sync"
expect_eq "$(qn web.domeos.sohu)" "web.domeos.sohu. 3600 IN A 172.30.0.1" "default -ttl 3600"
expect_eq "$(dig +time=2 +tries=1 +noall +authority @127.0.0.1 -p $DNS_PORT nope.domeos.sohu | awk '$4 == "SOA" {print $2}')" 60 "default -min-ttl 60"
dig +time=2 +tries=1 @127.0.0.1 -p $DNS_PORT quiet-probe.domeos.sohu >/dev/null
sleep 0.5
log_since "$mark" | finds 'quiet-probe' && fail "queries logged without -verbose"
echo "flags ok"
