#!/usr/bin/env bash
# Answers too big for UDP (issue 2: "Responses over 512 bytes (or the client's EDNS size) set TC
# over UDP, and the full answer comes over TCP"; semantics: "set TC with as many whole answer
# records as fit"): 60 A records under one name.
source "$(dirname "$0")/lib.sh"
start_etcd
for n in $(seq 1 60); do
  curl -sf -XPUT "$ETCD/v2/keys/skydns/sohu/domeos/big/r$n" --data-urlencode "value={\"host\":\"10.1.0.$n\",\"ttl\":30}" >/dev/null || fail "put r$n"
done
ALL=$(seq 1 60 | sed 's/^/10.1.0./' | sort)
DNS_PORT=$(free_port)
start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT
big_complete() { [ "$(short big.domeos.sohu A +tcp | wc -l)" -eq 60 ]; }
eventually big_complete || fail "60 records not all answered over TCP: $(short big.domeos.sohu A +tcp | wc -l)"

# check_udp LIMIT WANT_TC [dig options...]: one UDP exchange (no TCP retry); the reply fits LIMIT
# bytes, TC is as expected, every answer is a whole, distinct record of the 60, and when TC is
# set no further record would have fitted.
check_udp() {
  local limit=$1 want_tc=$2; shift 2
  local out size count answers per
  out=$(dig +time=2 +tries=1 +ignore @127.0.0.1 -p $DNS_PORT big.domeos.sohu A "$@") || fail "dig $* failed"
  size=$(echo "$out" | sed -n 's/.*MSG SIZE  rcvd: \([0-9]*\).*/\1/p')
  count=$(echo "$out" | sed -n 's/.*ANSWER: \([0-9]*\),.*/\1/p')
  answers=$(echo "$out" | awk '$4 == "A" {print $5}' | sort)
  [ -n "$size" ] && [ -n "$count" ] || fail "$*: no reply [$out]"
  [ "$size" -le "$limit" ] || fail "$*: reply of $size bytes exceeds $limit"
  if [ "$want_tc" = tc ]; then
    echo "$out" | finds '^;; flags:.* tc[ ;]' || fail "$*: TC not set (ANSWER $count, $size bytes)"
    [ "$count" -gt 0 ] && [ "$count" -lt 60 ] || fail "$*: truncated reply with $count answers"
  else
    echo "$out" | finds '^;; flags:.* tc[ ;]' && fail "$*: TC set for a reply that fits"
    [ "$count" -eq 60 ] || fail "$*: expected 60 answers, got $count"
  fi
  echo "$out" | finds 'WARNING\|Warning\|malformed\|FORMERR' && fail "$*: dig complained: $out"
  [ "$(echo "$answers" | grep -c .)" -eq "$count" ] || fail "$*: ANSWER says $count, dig parsed $(echo "$answers" | grep -c .)"
  [ "$(echo "$answers" | uniq | grep -c .)" -eq "$count" ] || fail "$*: duplicate records"
  [ -z "$(comm -23 <(echo "$answers") <(echo "$ALL"))" ] || fail "$*: records not among the 60: $(comm -23 <(echo "$answers") <(echo "$ALL"))"
  if [ "$want_tc" = tc ]; then
    # Every A answer here has the same size; one more must not have fitted.
    per=16  # a compressed owner (2) + type, class, TTL, length (10) + address (4)
    [ $(( size + per )) -gt "$limit" ] || fail "$*: $count answers in $size bytes, room for more under $limit"
  fi
  echo "$out" | finds 'status: NOERROR' || fail "$*: rcode not NOERROR"
  echo "  $*: $count answers, $size bytes" >&2
}

check_udp 512 tc +noedns
check_udp 512 tc +noedns +norecurse
check_udp 4096 no-tc +bufsize=4096
check_udp 700 tc +bufsize=700
# An advertised size below 512 counts as 512 (RFC 6891 6.2.5).
check_udp 512 tc +bufsize=100
# The reply echoes EDNS0 when the query had it, and not when it did not.
dig +time=2 +tries=1 @127.0.0.1 -p $DNS_PORT big.domeos.sohu A +bufsize=4096 | finds 'EDNS: version: 0' || fail "EDNS not echoed"
dig +time=2 +tries=1 +ignore @127.0.0.1 -p $DNS_PORT big.domeos.sohu A +noedns | finds 'OPT PSEUDOSECTION' && fail "OPT in a reply to a query without EDNS"

# TCP: everything, without TC, whatever EDNS says.
for opts in "+noedns" "+bufsize=512" ""; do
  out=$(dig +time=2 +tries=1 +tcp @127.0.0.1 -p $DNS_PORT big.domeos.sohu A $opts)
  echo "$out" | finds '^;; flags:.* tc[ ;]' && fail "TC over TCP ($opts)"
  expect_eq "$(echo "$out" | awk '$4 == "A" {print $5}' | sort)" "$ALL" "the 60 answers over TCP ($opts)"
done
# dig's default (UDP, then TCP on TC) ends with all 60 too.
expect_eq "$(short big.domeos.sohu A +noedns)" "$ALL" "UDP with TCP fallback"
echo "truncation ok"
