#!/usr/bin/env bash
# Socket activation (-systemd): the server serves the UDP and TCP sockets passed in LISTEN_FDS /
# LISTEN_PID (sd_listen_fds(3)) and binds nothing itself; the query that woke it is answered.
# Sockets are passed by systemd-socket-activate (one instance for the datagram socket, one for
# the stream socket; the second passes the first's on). Misuse is an exit 2 naming the problem:
# -systemd without sockets, LISTEN_FDS out of range or not a number, fds that are not sockets.
source "$(dirname "$0")/lib.sh"
command -v systemd-socket-activate >/dev/null || { echo "systemd-socket-activate missing (Debian package systemd)" >&2; exit 1; }
start_etcd
put_v2 /skydns/sohu/domeos/kafka-1-wkfa1/19d074a1 '{"host":"172.28.0.12","ttl":30}'

DNS_PORT=$(free_port)
UNUSED=$(free_port)   # -addr names this port; with -systemd nothing may listen there
systemd-socket-activate -d -l "127.0.0.1:$DNS_PORT" -- \
  systemd-socket-activate -l "127.0.0.1:$DNS_PORT" -- \
  "$SKYDNS_BIN" -systemd -addr=127.0.0.1:$UNUSED -machines="$ETCD" -domain=domeos.sohu -etcd3=false \
  -nameservers="$SKYDNS_NAMESERVERS" >>"$WORK/server.log" 2>&1 &
SERVER_PID=$!; PIDS+=("$SERVER_PID")
# Wait for the activator's socket: a query sent before it is bound is refused and dig gives up.
for _ in $(seq 100); do ss -Hlnu "sport = :$DNS_PORT" | finds . && break; sleep 0.05; done
# The first datagram starts the server (the activator execs it on the first packet) and is
# answered (REFUSED or the record, depending on whether etcd has been read yet).
dig +time=1 +tries=10 @127.0.0.1 -p "$DNS_PORT" kafka-1-wkfa1.domeos.sohu A | finds 'status: \(REFUSED\|NOERROR\)' \
  || fail "the query that started the server got no reply"
eventually answers_are kafka-1-wkfa1.domeos.sohu 172.28.0.12 || fail "UDP over the activated socket"
expect_eq "$(short kafka-1-wkfa1.domeos.sohu A +tcp)" 172.28.0.12 "TCP over the activated socket"
expect_eq "$(tr '\0' '\n' <"/proc/$SERVER_PID/cmdline" | head -1)" "$SKYDNS_BIN" "the activators exec the server"
grep -q 'systemd sockets: udp 127.0.0.1:'"$DNS_PORT"', tcp 127.0.0.1:'"$DNS_PORT" "$WORK/server.log" \
  || fail "activated sockets not logged"
! grep -q 'not supported yet; ignoring it' <(grep systemd "$WORK/server.log") || fail "-systemd still logged as ignored"
if ss -Hlnu "sport = :$UNUSED" | finds . || ss -Hlnt "sport = :$UNUSED" | finds .; then
  fail "-addr was bound although -systemd was given"
fi
# The activated server is a normal server: it drains and exits 0 on SIGTERM.
kill -TERM "$SERVER_PID"
set +e; wait "$SERVER_PID"; code=$?; set -e
expect_eq "$code" 0 "exit code after SIGTERM"

# Only a datagram socket (a unit without ListenStream=): UDP is served, the missing TCP is logged.
DNS_PORT=$(free_port); mark=$(log_mark)
systemd-socket-activate -d -l "127.0.0.1:$DNS_PORT" -- "$SKYDNS_BIN" -systemd -machines="$ETCD" -domain=domeos.sohu \
  -etcd3=false -nameservers="$SKYDNS_NAMESERVERS" >>"$WORK/server.log" 2>&1 &
SERVER_PID=$!; PIDS+=("$SERVER_PID")
for _ in $(seq 100); do ss -Hlnu "sport = :$DNS_PORT" | finds . && break; sleep 0.05; done
dig +time=1 +tries=10 @127.0.0.1 -p "$DNS_PORT" kafka-1-wkfa1.domeos.sohu A >/dev/null
eventually answers_are kafka-1-wkfa1.domeos.sohu 172.28.0.12 || fail "UDP over the only activated socket"
log_since "$mark" | finds 'no stream (TCP) socket passed' || fail "a missing TCP socket not logged"
kill -TERM "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true

# Misuse: each must exit 2 (a setting to fix) with a line naming what is wrong, not serve -addr.
misuse() {  # misuse EXPECTED_TEXT ENV... : runs the server with -systemd, fds 3.. set up by the caller
  local expected=$1; shift
  set +e
  env "$@" bash -c 'export LISTEN_PID=$$; exec "$0" "${@}"' "$SKYDNS_BIN" -systemd -addr=127.0.0.1:$UNUSED \
    -machines="$ETCD" -domain=domeos.sohu -etcd3=false >"$WORK/misuse.log" 2>&1 3</etc/hostname
  local code=$?
  set -e
  expect_eq "$code" 2 "exit code ($expected)"
  grep -q "$expected" "$WORK/misuse.log" || fail "expected [$expected] in: $(tail -2 "$WORK/misuse.log")"
}
set +e; env -u LISTEN_FDS -u LISTEN_PID "$SKYDNS_BIN" -systemd -addr=127.0.0.1:$UNUSED -machines="$ETCD" \
  -domain=domeos.sohu >"$WORK/misuse.log" 2>&1; code=$?; set -e
expect_eq "$code" 2 "exit code without LISTEN_FDS"
grep -q 'no sockets passed' "$WORK/misuse.log" || fail "no sockets: $(tail -2 "$WORK/misuse.log")"
misuse 'LISTEN_FDS' LISTEN_FDS=100000
misuse 'LISTEN_FDS' LISTEN_FDS=-1
misuse 'LISTEN_FDS' LISTEN_FDS=1x
misuse 'fd 3 is not a socket' LISTEN_FDS=1
# A connected stream socket (what Accept=yes passes) is not a listener.
set +e
python3 - "$SKYDNS_BIN" "$ETCD" "$UNUSED" >"$WORK/misuse.log" 2>&1 <<'PY'
import os, socket, sys
server = socket.socket(); server.bind(("127.0.0.1", 0)); server.listen(1)
client = socket.create_connection(server.getsockname())
os.dup2(client.fileno(), 3)
os.environ.update(LISTEN_FDS="1", LISTEN_PID=str(os.getpid()))
os.execv(sys.argv[1], [sys.argv[1], "-systemd", f"-addr=127.0.0.1:{sys.argv[3]}", f"-machines={sys.argv[2]}",
                       "-domain=domeos.sohu", "-etcd3=false"])
PY
code=$?
set -e
expect_eq "$code" 2 "exit code (a connected stream socket)"
grep -q 'fd 3 is a stream socket that is not listening' "$WORK/misuse.log" || fail "connected socket: $(tail -2 "$WORK/misuse.log")"
echo "systemd ok"
