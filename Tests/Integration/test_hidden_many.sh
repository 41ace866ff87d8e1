#!/usr/bin/env bash
# More etcd v2 hidden paths with records than there are watches for (256): the ones past the
# limit are still answered, and kept current by periodic re-reads (one thread, every 10 s), so a
# change to one of them shows within seconds and a deleted one goes; the limit is logged once.
source "$(dirname "$0")/lib.sh"
start_etcd
COUNT=262
python3 - "$ETCD" "$COUNT" <<'PY'
import sys, urllib.parse, urllib.request
etcd, count = sys.argv[1], int(sys.argv[2])
for i in range(count):
    data = urllib.parse.urlencode({"value": '{"host":"10.7.%d.%d","port":80}' % (i // 250, i % 250 + 1)}).encode()
    request = urllib.request.Request(f"{etcd}/v2/keys/skydns/sohu/domeos/svc/s{i}/_tcp/_http/a", data=data, method="PUT")
    urllib.request.urlopen(request).read()
PY
METRICS_PORT=$(free_port)
start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:${DNS_PORT:=$(free_port)} -etcd3=false \
  -metrics-addr=127.0.0.1:$METRICS_PORT
eventually status_is s0.svc.domeos.sohu NXDOMAIN || fail "first sync"
mark=$(log_mark)
for i in $(seq 0 $((COUNT - 1))); do
  echo "_http._tcp.s$i.svc.domeos.sohu A"
done >"$WORK/names.txt"
# Ask each once (dig's batch mode), then check the last ones, asked past the watch limit.
dig +time=3 +tries=2 @127.0.0.1 -p "$DNS_PORT" -f "$WORK/names.txt" +short >"$WORK/answers.txt"
expect_eq "$(grep -c '^10\.7\.' "$WORK/answers.txt")" $COUNT "every hidden name answered"
expect_eq "$(curl -sf "http://127.0.0.1:$METRICS_PORT/metrics" | awk '$1 == "skydns_skydns_hidden_key_watches" {print $2}')" 256 \
  "watches at their limit"
expect_eq "$(log_since "$mark" | grep -c 'the most there are watches for')" 1 "the watch limit logged once"
LAST=$((COUNT - 1))
expect_eq "$(short _http._tcp.s$LAST.svc.domeos.sohu)" "10.7.1.12" "a name past the watch limit"
put_v2 /skydns/sohu/domeos/svc/s$LAST/_tcp/_http/a '{"host":"10.9.9.9","port":80}'
eventually_for 15 answers_are _http._tcp.s$LAST.svc.domeos.sohu 10.9.9.9 \
  || fail "a change past the watch limit not seen: $(short _http._tcp.s$LAST.svc.domeos.sohu)"
del_v2 /skydns/sohu/domeos/svc/s$((LAST - 1))/_tcp '?recursive=true'
eventually_for 15 status_is _http._tcp.s$((LAST - 1)).svc.domeos.sohu NXDOMAIN \
  || fail "a delete past the watch limit not seen: $(status _http._tcp.s$((LAST - 1)).svc.domeos.sohu)"
# A watched one still follows its watch.
put_v2 /skydns/sohu/domeos/svc/s0/_tcp/_http/a '{"host":"10.9.9.10","port":80}'
eventually answers_are _http._tcp.s0.svc.domeos.sohu 10.9.9.10 || fail "a watched change"
echo "hidden many ok"
