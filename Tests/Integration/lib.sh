# Shared helpers for the end-to-end scripts: a real etcd and the real server on free loopback
# ports, cleaned up on exit. Source it; then call start_etcd and start_server.
set -euo pipefail
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${KEEP_WORK:-}" ] && echo "kept $WORK" >&2 || rm -rf "$WORK"
}
trap cleanup EXIT

# No test may send DNS beyond loopback: unless a test names its own upstreams, forwarded
# queries go to a loopback port where nothing listens (instead of /etc/resolv.conf's servers).
export SKYDNS_NAMESERVERS=${SKYDNS_NAMESERVERS:-127.0.0.1:9}

# free_port: a loopback port free for TCP and for UDP right now (the server binds both: a port only
# checked for TCP may be some client's UDP source port, and the server's start fails), and not
# handed out before in this script: ports picked before anything binds them (a server's DNS and
# metrics ports, two servers') could otherwise be the same one, as the kernel may offer it again.
free_port() {
  python3 -c '
import socket, sys
taken = set(open(sys.argv[1]).read().split()) if __import__("os").path.exists(sys.argv[1]) else set()
while True:
    t = socket.socket(); t.bind(("127.0.0.1", 0)); port = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", port))
        if str(port) not in taken: break
    except OSError:
        pass
    t.close(); u.close()
with open(sys.argv[1], "a") as f: f.write(f"{port}\n")
print(port)' "$WORK/ports-handed-out"
}

# finds GREP-ARGS...: whether the input holds a match (grep's status), reading all of it. The end
# of every pipeline that checks for a match: grep -q stops at the first match, and under pipefail
# the writer before it then dies of SIGPIPE as soon as it writes again (echo writes 4 KiB at a
# time, dig and curl as their output comes), which fails the check though the text matched.
finds() { grep "$@" >/dev/null; }

fail() { echo "FAILED: $*" >&2; [ -f "$WORK/server.log" ] && tail -20 "$WORK/server.log" >&2; exit 1; }

# start_etcd [V2]: etcd with the v2 API on (V2=false: off), data in $WORK/etcd; sets ETCD (the
# client URL).
start_etcd() {
  local v2=${1:-true}
  ETCD_PORT=${ETCD_PORT:-$(free_port)}; ETCD_PEER=${ETCD_PEER:-$(free_port)}
  ETCD=http://127.0.0.1:$ETCD_PORT
  etcd --name it --data-dir "$WORK/etcd" --listen-client-urls "$ETCD" --advertise-client-urls "$ETCD" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER" \
    --initial-cluster "it=http://127.0.0.1:$ETCD_PEER" --enable-v2="$v2" >>"$WORK/etcd.log" 2>&1 &
  ETCD_PID=$!; PIDS+=("$ETCD_PID")
  for _ in $(seq 100); do curl -sf "$ETCD/health" >/dev/null && return 0; sleep 0.1; done
  fail "etcd did not start"
}

stop_etcd() { kill "$ETCD_PID"; wait "$ETCD_PID" 2>/dev/null || true; }

put_v2() { curl -sf -XPUT "$ETCD/v2/keys$1" --data-urlencode "value=$2" >/dev/null || fail "v2 put $1"; }
del_v2() { curl -sf -XDELETE "$ETCD/v2/keys$1${2:-}" >/dev/null || fail "v2 delete $1"; }
put_v3() { ETCDCTL_API=3 etcdctl --endpoints="$ETCD" put "$1" "$2" >/dev/null || fail "v3 put $1"; }
del_v3() { ETCDCTL_API=3 etcdctl --endpoints="$ETCD" del "$@" >/dev/null || fail "v3 delete $1"; }

# start_server ARGS...: the server on 127.0.0.1:$DNS_PORT with the given flags; waits until it
# answers anything (REFUSED counts: etcd may not be synced yet).
start_server() {
  DNS_PORT=${DNS_PORT:-$(free_port)}
  "$SKYDNS_BIN" "$@" >>"$WORK/server.log" 2>&1 &
  SERVER_PID=$!; PIDS+=("$SERVER_PID")
  for _ in $(seq 100); do
    dig +time=1 +tries=1 +short @127.0.0.1 -p "$DNS_PORT" version.bind TXT CH 2>/dev/null | finds skydns && return 0
    sleep 0.1
  done
  fail "server did not answer"
}

# q NAME [TYPE] [dig options...]: the answer lines, "name ttl class type data", sorted.
q() {
  local name=$1 type=${2:-A}; shift $(( $# >= 2 ? 2 : 1 ))
  dig +time=2 +tries=1 +noall +answer @127.0.0.1 -p "$DNS_PORT" "$name" "$type" "$@" | sort
}
# status NAME [TYPE] [dig options...]: the rcode word.
status() {
  local name=$1 type=${2:-A}; shift $(( $# >= 2 ? 2 : 1 ))
  dig +time=2 +tries=1 @127.0.0.1 -p "$DNS_PORT" "$name" "$type" "$@" | sed -n 's/.*status: \([A-Z]*\).*/\1/p'
}
# short NAME [TYPE] [dig options...]
short() {
  local name=$1 type=${2:-A}; shift $(( $# >= 2 ? 2 : 1 ))
  dig +time=2 +tries=1 +short @127.0.0.1 -p "$DNS_PORT" "$name" "$type" "$@" | sort
}

# eventually CMD...: retries CMD for up to 5 s (changes arrive through the watch, not instantly).
eventually() {
  for _ in $(seq 50); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  "$@"
}

# Each argument of `eventually` is evaluated once, so a check that asks the server must be a
# function: these are the common ones.
status_is() { [ "$(status "$1" "${3:-A}")" = "$2" ]; }
# short_at PORT NAME: +short answers from a server on another port.
answer_at_is() { [ "$(dig +time=1 +tries=1 +short @127.0.0.1 -p "$1" "$2" | sort | tr '\n' ' ' | sed 's/ $//')" = "$3" ]; }

expect_eq() { [ "$1" = "$2" ] || fail "${3:-value}: expected [$2], got [$1]"; }
answers_are() { [ "$(short "$1" "${3:-A}" | tr '\n' ' ' | sed 's/ $//')" = "$2" ]; }

# --- Helpers added for the v3/outage/failover/... scripts (existing helpers above unchanged). ---

# stop_server: stops the server started last (start_server may then be called again; set
# DNS_PORT first, or unset it for a fresh port).
stop_server() { kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; }

# restart_etcd: stops etcd and starts it again with the same data dir and the same ports.
restart_etcd() { stop_etcd; start_etcd; }

# fresh_etcd: stops etcd, throws its data away and starts an empty one on new ports.
fresh_etcd() { stop_etcd; rm -rf "$WORK/etcd"; unset ETCD_PORT ETCD_PEER; start_etcd; }

# log_mark / log_since MARK: the server log written after the mark (to check one server's lines
# when several ran in one script).
log_mark() { if [ -f "$WORK/server.log" ]; then wc -c <"$WORK/server.log"; else echo 0; fi; }
log_since() { tail -c +$(( $1 + 1 )) "$WORK/server.log"; }

# ttl_of NAME [TYPE] [dig options...]: the TTL of the first answer record.
ttl_of() { q "$@" | awk 'NR==1 {print $2}'; }
# qn NAME [TYPE] [dig options...]: like q, but fields joined by single spaces (dig's column
# padding depends on the name's length).
qn() { q "$@" | awk '{$1=$1; print}'; }
# eventually_for SECONDS CMD...: eventually with a longer deadline, for changes that wait on a
# reconnect (the etcd client backs off up to 5 s between attempts while etcd is down).
eventually_for() {
  local deadline=$(( $(date +%s) + $1 )); shift
  while [ "$(date +%s)" -lt "$deadline" ]; do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  "$@"
}
# start_etcd_nov2: like start_etcd, but with the v2 API off (as etcd 3.6, which removed it).
start_etcd_nov2() { start_etcd false; }

# start_knot ZONE FILE: Knot on a free loopback port serving ZONE; sets KNOT_PORT.
start_knot() {
  local zone=$1 file=$2 dir="$WORK/knot-$1"
  KNOT_PORT=$(free_port); mkdir -p "$dir"; cp "$file" "$dir/zone.db"
  "$(dirname "${BASH_SOURCE[0]}")/../../scripts/knot-conf" "$dir" "$zone" "127.0.0.1@$KNOT_PORT"
  knotd -c "$dir/knot.conf" >>"$WORK/knot.log" 2>&1 &
  KNOT_PID=$!; PIDS+=("$KNOT_PID")
  for _ in $(seq 50); do dig +short +time=1 +tries=1 @127.0.0.1 -p "$KNOT_PORT" "$zone" SOA | finds . && return 0; sleep 0.1; done
  fail "knot did not start"
}

# start_zone ZONE RECORD...: Knot serving ZONE (start_knot) from a zone file of its SOA, its NS
# ns.ZONE with ns at 127.0.0.1, and each RECORD line (relative names), TTL 300; sets KNOT_PORT.
start_zone() {
  local zone=$1 file="$WORK/$1.zone"; shift
  command -v knotd >/dev/null || fail "knotd not installed (scripts/install-deps)"
  { printf '$ORIGIN %s.\n$TTL 300\n@ IN SOA ns.%s. admin.%s. 1 3600 600 86400 120\n' "$zone" "$zone" "$zone"
    printf '@ IN NS ns.%s.\nns IN A 127.0.0.1\n' "$zone"
    printf '%s\n' "$@"; } >"$file"
  start_knot "$zone" "$file"
}

# start_fake_upstream NAME <<'PY' ... PY: a UDP upstream in python on a port it binds itself (so no
# other process can take it first); sets UPSTREAM_PORT, its output goes to $WORK/NAME.log. The
# python read from stdin runs for each query with `s` (the socket), `data`, `peer`, `qid`, `flags`,
# `question` (the question section: name, type, class as sent) and `reply_a(rid, question, ip,
# ttl, flags=0x8180)` (a reply with one A record, ip a list of 4 bytes). Returns once it is bound.
start_fake_upstream() {
  local name=$1
  cat >"$WORK/$name.py"
  python3 - "$WORK/$name.py" >"$WORK/$name.log" 2>&1 <<'PY' &
import socket, struct, sys
handle = compile(open(sys.argv[1]).read(), sys.argv[1], "exec")
def reply_a(rid, question, ip, ttl, flags=0x8180):
    return (struct.pack("!HHHHHH", rid, flags, 1, 1, 0, 0) + question
            + b"\xc0\x0c\x00\x01\x00\x01" + struct.pack("!IH", ttl, 4) + bytes(ip))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0))
print("bound", s.getsockname()[1], flush=True)
while True:
    data, peer = s.recvfrom(4096)
    qid, flags = struct.unpack("!HH", data[:4])
    qend = 12
    while data[qend] != 0: qend += data[qend] + 1
    question = data[12:qend + 5]
    exec(handle)
PY
  PIDS+=($!)
  eventually_for 30 grep -q '^bound ' "$WORK/$name.log" || fail "$name upstream did not start"
  UPSTREAM_PORT=$(sed -n 's/^bound //p' "$WORK/$name.log")
}
