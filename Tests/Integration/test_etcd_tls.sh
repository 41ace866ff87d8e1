#!/usr/bin/env bash
# TLS to etcd (issue 5, "Secure etcd"): the test makes a CA, a server certificate for 127.0.0.1
# and a client certificate with openssl; etcd serves clients over https only and requires a client
# certificate (--client-cert-auth). Records written through etcdctl (v3) and curl (v2) with the
# client certificate answer through skydns given -ca-cert/-tls-pem/-tls-key (v3 and v2), and once
# through SkyDNS's ETCD_CACERT/ETCD_TLSPEM/ETCD_TLSKEY instead of flags; changes are seen through
# the watch. Without the client certificate (or trusting another CA) skydns serves nothing
# (REFUSED: never synced), keeps running, and logs a TLS error naming the cause. A TLS file that
# is missing, unreadable or not PEM is an exit 2 at start naming the flag and the file.
source "$(dirname "$0")/lib.sh"

# --- Certificates -------------------------------------------------------------------------------
PKI=$WORK/pki; mkdir -p "$PKI"
ossl() { openssl "$@" >>"$WORK/openssl.log" 2>&1 || { cat "$WORK/openssl.log" >&2; fail "openssl $1"; }; }
ossl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=skydns-test-ca" \
  -keyout "$PKI/ca.key" -out "$PKI/ca.pem"
printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' >"$PKI/server.ext"
ossl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$PKI/server.key" -out "$PKI/server.csr"
ossl x509 -req -in "$PKI/server.csr" -CA "$PKI/ca.pem" -CAkey "$PKI/ca.key" -CAcreateserial -days 2 \
  -extfile "$PKI/server.ext" -out "$PKI/server.pem"
printf 'extendedKeyUsage=clientAuth\n' >"$PKI/client.ext"
ossl req -newkey rsa:2048 -nodes -subj "/CN=skydns" -keyout "$PKI/client.key" -out "$PKI/client.csr"
ossl x509 -req -in "$PKI/client.csr" -CA "$PKI/ca.pem" -CAkey "$PKI/ca.key" -CAcreateserial -days 2 \
  -extfile "$PKI/client.ext" -out "$PKI/client.pem"
# A second CA that signed nothing etcd uses: trusting only it must fail the handshake.
ossl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=other-ca" -keyout "$PKI/other.key" -out "$PKI/other.pem"

# --- etcd over https with client-certificate auth ---------------------------------------------
ETCD_PORT=$(free_port); ETCD_PEER=$(free_port)
ETCD=https://127.0.0.1:$ETCD_PORT
CURL_TLS=(--cacert "$PKI/ca.pem" --cert "$PKI/client.pem" --key "$PKI/client.key")
etcd --name it --data-dir "$WORK/etcd" --listen-client-urls "$ETCD" --advertise-client-urls "$ETCD" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER" \
  --initial-cluster "it=http://127.0.0.1:$ETCD_PEER" --enable-v2=true \
  --cert-file "$PKI/server.pem" --key-file "$PKI/server.key" --trusted-ca-file "$PKI/ca.pem" \
  --client-cert-auth >>"$WORK/etcd.log" 2>&1 &
ETCD_PID=$!; PIDS+=("$ETCD_PID")
for _ in $(seq 100); do curl -sf "${CURL_TLS[@]}" "$ETCD/health" >/dev/null && break; sleep 0.1; done
curl -sf "${CURL_TLS[@]}" "$ETCD/health" >/dev/null || { tail -20 "$WORK/etcd.log" >&2; fail "etcd (https) did not start"; }
# The setup really demands the client certificate: without it, etcd refuses.
curl -sf --cacert "$PKI/ca.pem" "$ETCD/v2/keys/" >/dev/null 2>&1 && fail "etcd answered without a client certificate"
curl -sf -m 3 "http://127.0.0.1:$ETCD_PORT/health" >/dev/null 2>&1 && fail "etcd answered plain http"

etcdctl_tls() { ETCDCTL_API=3 etcdctl --endpoints="$ETCD" --cacert "$PKI/ca.pem" --cert "$PKI/client.pem" --key "$PKI/client.key" "$@"; }
put_v3() { etcdctl_tls put "$1" "$2" >/dev/null || fail "v3 put $1"; }
del_v3() { etcdctl_tls del "$@" >/dev/null || fail "v3 delete $1"; }
put_v2() { curl -sf "${CURL_TLS[@]}" -XPUT "$ETCD/v2/keys$1" --data-urlencode "value=$2" >/dev/null || fail "v2 put $1"; }
del_v2() { curl -sf "${CURL_TLS[@]}" -XDELETE "$ETCD/v2/keys$1" >/dev/null || fail "v2 delete $1"; }

# v3 records under skydns/, v2 records under v2dns/ (a -path-prefix of their own, so that the
# API detection of each server sees only its API's records).
put_v3 /skydns/sohu/domeos/kafka-1-wkfa1/19d074a1 '{"host":"172.28.0.12","priority":10,"weight":10,"ttl":30}'
put_v3 /skydns/sohu/domeos/svc/default/kafka-svc-1/b56639fb '{"host":"172.16.50.1","ttl":30}'
put_v2 /v2dns/sohu/domeos/node-1/a1 '{"host":"10.16.42.1","ttl":30}'

# tls_case NAME HOSTNAME ADDRESS PUT DEL KEYPREFIX ARGS...: a server with the given TLS settings
# answers the existing record, a put and a delete made after start are seen.
tls_case() {
  local what=$1 name=$2 addr=$3 put=$4 del=$5 keyprefix=$6; shift 6
  unset DNS_PORT; DNS_PORT=$(free_port)
  local mark; mark=$(log_mark)
  start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT "$@"
  eventually_for 10 answers_are "$name" "$addr" || fail "$what: existing record not served"
  expect_eq "$(short "$name" A +tcp)" "$addr" "$what: existing record over TCP"
  $put "$keyprefix/sohu/domeos/tls-new/1" '{"host":"172.30.0.1","ttl":30}'
  eventually answers_are tls-new.domeos.sohu 172.30.0.1 || fail "$what: put after start not seen"
  $del "$keyprefix/sohu/domeos/tls-new/1"
  eventually status_is tls-new.domeos.sohu NXDOMAIN || fail "$what: delete after start not seen"
  [ "$(log_since "$mark" | grep -ci "not supported yet")" = 0 ] || fail "$what: TLS flags still reported as not supported"
  stop_server
}

tls_case "v3 flags" kafka-1-wkfa1.domeos.sohu 172.28.0.12 put_v3 del_v3 /skydns \
  -etcd3 -ca-cert="$PKI/ca.pem" -tls-pem="$PKI/client.pem" -tls-key="$PKI/client.key"
tls_case "v2 flags" node-1.domeos.sohu 10.16.42.1 put_v2 del_v2 /v2dns \
  -etcd3=false -path-prefix=v2dns -ca-cert="$PKI/ca.pem" -tls-pem="$PKI/client.pem" -tls-key="$PKI/client.key"
ETCD_CACERT="$PKI/ca.pem" ETCD_TLSPEM="$PKI/client.pem" ETCD_TLSKEY="$PKI/client.key" \
  tls_case "v3 environment" kafka-svc-1.default.svc.domeos.sohu 172.16.50.1 put_v3 del_v3 /skydns -etcd3
# The env var spelling SkyDNS shipped with a typo (ECTD_CACERT) and the unset auto-detection.
ECTD_CACERT="$PKI/ca.pem" ETCD_TLSPEM="$PKI/client.pem" ETCD_TLSKEY="$PKI/client.key" \
  tls_case "auto-detected API, ECTD_CACERT" kafka-1-wkfa1.domeos.sohu 172.28.0.12 put_v3 del_v3 /skydns

LOG_FAILURES=()
# refused_case WHAT PATTERN ARGS...: the server never syncs (REFUSED for the domain, over UDP and
# TCP, for several seconds), stays up, and logs a line matching PATTERN (a TLS cause, not just
# "connection failed").
refused_case() {
  local what=$1 pattern=$2; shift 2
  unset DNS_PORT; DNS_PORT=$(free_port)
  local mark; mark=$(log_mark)
  start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT "$@"
  for _ in 1 2 3 4 5 6; do
    expect_eq "$(status kafka-1-wkfa1.domeos.sohu)" REFUSED "$what: served data without a working TLS setup"
    sleep 0.5
  done
  expect_eq "$(status kafka-1-wkfa1.domeos.sohu A +tcp)" REFUSED "$what: over TCP"
  kill -0 "$SERVER_PID" 2>/dev/null || fail "$what: server exited"
  # A missing log line is noted and the remaining cases still run; the script fails at the end.
  if [ "$(log_since "$mark" | grep -v " starting: " | grep -i "etcd" | grep -Eci "$pattern")" != 0 ]; then
    echo "$what: logged: $(log_since "$mark" | grep -v " starting: " | grep -i etcd | grep -Ei "$pattern" | head -1)" >&2
  else
    echo "FAILED: $what: no clear TLS error in the log (wanted /$pattern/); it says:" >&2
    log_since "$mark" | grep "disconnected" | head -1 >&2
    LOG_FAILURES+=("$what")
  fi
  stop_server
}

# No client certificate: etcd rejects the handshake (TLS 1.3: "certificate required" alert).
refused_case "no client certificate" "tls|ssl|certificate" -etcd3 -ca-cert="$PKI/ca.pem"
refused_case "no client certificate, v2" "tls|ssl|certificate" -etcd3=false -path-prefix=v2dns -ca-cert="$PKI/ca.pem"
# Only the wrong CA trusted: the server certificate does not verify.
refused_case "untrusted server certificate" "tls|ssl|certificate" -etcd3 \
  -ca-cert="$PKI/other.pem" -tls-pem="$PKI/client.pem" -tls-key="$PKI/client.key"
# Plain http to the https port: only "not served" is checked (libcurl reports "Server returned
# nothing"; the line is printed for the record).
refused_case "http to an https etcd" "disconnected" -etcd3 \
  -machines="http://127.0.0.1:$ETCD_PORT"
[ ${#LOG_FAILURES[@]} -eq 0 ] || fail "no clear TLS error logged for: ${LOG_FAILURES[*]}"

# A TLS file that cannot work is found before serving: exit 2 naming the flag and the file (as
# SkyDNS failed at start), not a server that runs refusing its domain.
# exits_2 WHAT PATTERN ARGS...
exits_2() {
  local what=$1 pattern=$2 rc=0 out; shift 2
  out=$(timeout 10 "$SKYDNS_BIN" -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$(free_port) "$@" 2>&1) || rc=$?
  [ "$rc" = 2 ] || fail "$what: exit status $rc, wanted 2 (output: $(echo "$out" | head -3))"
  echo "$out" | head -3 | finds -E -- "$pattern" || fail "$what: the message does not name it: $(echo "$out" | head -3)"
}
mkdir -p "$WORK/adir"; echo "not a certificate" >"$WORK/garbage.pem"
cp "$PKI/client.key" "$WORK/unreadable.key"; chmod 000 "$WORK/unreadable.key"
exits_2 "missing key file" "-tls-key: cannot read .*nope.key" -etcd3 \
  -ca-cert="$PKI/ca.pem" -tls-pem="$PKI/client.pem" -tls-key="$WORK/nope.key"
exits_2 "missing CA file" "-ca-cert: cannot read .*nope.pem" -ca-cert="$WORK/nope.pem"
exits_2 "missing CA file (ETCD_CACERT)" "-ca-cert: cannot read" -etcd3=false -ca-cert=/nonexistent/ca.pem
exits_2 "a directory as the certificate" "-tls-pem: cannot read .*adir.*not a regular file" \
  -tls-pem="$WORK/adir" -tls-key="$PKI/client.key"
exits_2 "a CA file without a certificate" "-ca-cert: .*garbage.pem.* holds no PEM certificate" -ca-cert="$WORK/garbage.pem"
exits_2 "a key file without a key" "-tls-key: .*client.pem.* holds no PEM private key" \
  -tls-pem="$PKI/client.pem" -tls-key="$PKI/client.pem"
exits_2 "a certificate without its key" "-tls-key: -tls-pem is set" -tls-pem="$PKI/client.pem"
exits_2 "a FIFO as the CA" "-ca-cert: .*not a regular file" -ca-cert=/dev/stdin </dev/null
if [ "$(id -u)" != 0 ]; then
  exits_2 "an unreadable key file" "-tls-key: cannot read .*Permission denied" \
    -tls-pem="$PKI/client.pem" -tls-key="$WORK/unreadable.key"
fi
# The listen address is checked before serving too.
# (The kernel picks the UDP port python holds, and python names it once it is held: a port found
# free beforehand may be taken by then on a shared machine, and a fixed pause may be too short.)
python3 -c "import os,socket,sys,time; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(('127.0.0.1',0))
open(sys.argv[1]+'.tmp','w').write(str(s.getsockname()[1])); os.rename(sys.argv[1]+'.tmp',sys.argv[1]); time.sleep(30)" \
  "$WORK/busy.port" &
PIDS+=($!)
eventually test -s "$WORK/busy.port" || fail "a listen address in use: no UDP port held"
busy=$(cat "$WORK/busy.port")
rc=0; timeout 10 "$SKYDNS_BIN" -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$busy >"$WORK/busy.log" 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "a listen address in use: exit status $rc, wanted 2"
grep -q "cannot start" "$WORK/busy.log" || fail "a listen address in use: no reason logged"
echo "etcd tls ok"
