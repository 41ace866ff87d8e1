#!/usr/bin/env bash
# One set of rules for every answer: the answer built right after an etcd v2 hidden key is
# fetched (the query parked while it is) is the same as the one from memory afterwards: RA set,
# a CNAME to a name outside the domain followed through the upstream, an SRV target outside the
# domain given its address. The hidden-key thread hands such answers to a forwarder thread as a
# UDP worker does.
source "$(dirname "$0")/lib.sh"
GOOD=$(free_port)
python3 "$(dirname "$0")/hostile_upstream.py" "$GOOD" good >>"$WORK/good.log" 2>&1 &
PIDS+=($!)
start_etcd
put_v2 /skydns/sohu/domeos/pod/1 '{"host":"172.28.0.1"}'
put_v2 /skydns/sohu/domeos/svc/default/web/_tcp/_http/x1 '{"host":"ext.example.test","port":80}'
put_v2 /skydns/sohu/domeos/svc/default/web/_tcp/_alias/x2 '{"host":"www.example.test"}'
start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:${DNS_PORT:=$(free_port)} -etcd3=false \
  -nameservers=127.0.0.1:$GOOD
eventually answers_are pod.domeos.sohu 172.28.0.1 || fail "first sync"
# answer NAME TYPE: flags, rcode and every section, without the ID and timings.
answer() {
  dig +time=3 +tries=1 +nocookie @127.0.0.1 -p "$DNS_PORT" "$1" "$2" +noall +comments +answer +authority +additional \
    >"$WORK/answer.txt" || echo "no answer"
  grep -v -e '^;; ->>HEADER' -e '^;; Query time' -e '^$' "$WORK/answer.txt" | sed 's/id: [0-9]*//'
}
flags() { echo "$1" | sed -n 's/^;; flags: \([a-z ]*\);.*/\1/p'; }
for case in "_http._tcp.web.default.svc.domeos.sohu SRV ext.example.test.*A.*192.0.2.77" \
            "_alias._tcp.web.default.svc.domeos.sohu A www.example.test.*A.*192.0.2.77"; do
  set -- $case
  fetched=$(answer "$1" "$2")   # first: parked until the hidden path is fetched
  cached=$(answer "$1" "$2")    # then: from memory
  expect_eq "$fetched" "$cached" "$1 $2: the answer after the fetch and from memory"
  case " $(flags "$fetched") " in *" ra "*) ;; *) fail "$1 $2: RA not set after the fetch ($(flags "$fetched"))";; esac
  grep -Eq "^$3" <<<"$fetched" || fail "$1 $2: the name outside the domain was not resolved: $fetched"
done
echo "hidden answer rules ok"
