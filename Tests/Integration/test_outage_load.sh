#!/usr/bin/env bash
# A 30 s etcd outage under query load (issue 5, "Outage"): a load generator sends UDP queries for
# known names at a steady 200/s before, during and after the outage; every query must get NOERROR
# with the right address within 1 s (a lost query counts as a failure; none are allowed). While
# the server cannot reach etcd, etcd is started on another client port (same data dir), a put and
# a delete are made there, and it is stopped again: from the server's point of view those changes
# happened during the outage. When etcd returns on its own port, the changes must appear in the
# answers without a restart. Printed for the record (not asserted): the longest gap between two
# answers, the slowest answer, and the time from etcd's return until both changes were served.
# Once through v3 (-etcd3) and once through v2 (-etcd3=false).
source "$(dirname "$0")/lib.sh"

LOAD_RATE=${LOAD_RATE:-200}
OUTAGE=${OUTAGE:-30}
BEFORE=5; AFTER=10
DURATION=$((BEFORE + OUTAGE + AFTER))

# load PORT SECONDS RATE OUT: UDP queries for three known names; writes a summary to OUT.
load() {
  python3 - "$@" <<'PY'
import json, os, select, socket, struct, sys, time
port, seconds, rate, out = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
names = [("kafka-1-wkfa1.domeos.sohu", "172.28.0.12"), ("kafka-svc-1.default.svc.domeos.sohu", "172.16.50.1"),
         ("bx-42-198.domeos.sohu", "10.16.42.198")]
def wire(n): return b"".join(bytes([len(l)]) + l for l in n.encode().split(b".")) + b"\0"
def query(qid, n): return struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + wire(n) + struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect(("127.0.0.1", port)); s.setblocking(False)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
TIMEOUT = 1.0
pending = {}          # qid -> (sent, expected address bytes, name)
sent = ok = wrong = lost = 0
bad = []
latencies = []
last_answer = None; longest_gap = 0.0; gap_at = None
start = time.monotonic(); interval = 1.0 / rate; next_send = start; qid = 0
while True:
    now = time.monotonic()
    if now - start < seconds and now >= next_send:
        n, a = names[sent % len(names)]
        qid = (qid + 1) & 0xFFFF
        if qid in pending:  # a 65536-query-old ID still pending: it is lost
            lost += 1; pending.pop(qid)
        s.send(query(qid, n)); pending[qid] = (now, socket.inet_aton(a), n); sent += 1
        next_send += interval
    elif now - start >= seconds and not pending:
        break
    for k in [k for k, v in pending.items() if now - v[0] > TIMEOUT]:
        lost += 1; bad.append(f"lost: {pending[k][2]} at t={pending[k][0] - start:.2f}s"); pending.pop(k)
    wait = max(0.0, min(next_send - time.monotonic(), 0.05)) if now - start < seconds else 0.05
    r, _, _ = select.select([s], [], [], wait)
    while r:
        try: reply = s.recv(65535)
        except BlockingIOError: break
        t = time.monotonic()
        rid = struct.unpack(">H", reply[:2])[0]
        if rid not in pending: continue
        t0, addr, n = pending.pop(rid)
        latencies.append(t - t0)
        if reply[3] & 0xF == 0 and struct.unpack(">H", reply[6:8])[0] >= 1 and addr in reply:
            ok += 1
        else:
            wrong += 1; bad.append(f"rcode {reply[3] & 0xF} for {n} at t={t0 - start:.2f}s")
        if last_answer is not None and t - last_answer > longest_gap:
            longest_gap = t - last_answer; gap_at = last_answer - start
        last_answer = t
latencies.sort()
summary = dict(sent=sent, ok=ok, wrong=wrong, lost=lost, longest_gap_ms=round(longest_gap * 1000, 1),
               gap_at_s=None if gap_at is None else round(gap_at, 1),
               max_latency_ms=round(latencies[-1] * 1000, 1) if latencies else None,
               p99_latency_ms=round(latencies[int(len(latencies) * 0.99)] * 1000, 2) if latencies else None,
               failures=bad[:20])
json.dump(summary, open(out, "w"))
PY
}

now_ms() { date +%s%3N; }
both_changes_served() { answers_are outage-new.domeos.sohu 172.28.5.1 && status_is outage-gone.domeos.sohu NXDOMAIN; }

outage_case() {  # outage_case v2|v3
  local api=$1 put del flag
  if [ "$api" = v2 ]; then put=put_v2; del=del_v2; flag=-etcd3=false; else put=put_v3; del=del_v3; flag=-etcd3; fi
  $put /skydns/sohu/domeos/kafka-1-wkfa1/19d074a1 '{"host":"172.28.0.12","priority":10,"weight":10,"ttl":30}'
  $put /skydns/sohu/domeos/svc/default/kafka-svc-1/b56639fb '{"host":"172.16.50.1","priority":10,"weight":10,"ttl":30}'
  $put /skydns/sohu/domeos/bx-42-198/adc8794b '{"host":"10.16.42.198","priority":10,"weight":10,"ttl":30}'
  $put /skydns/sohu/domeos/outage-gone/1 '{"host":"172.28.6.1","ttl":30}'
  unset DNS_PORT; DNS_PORT=$(free_port)
  start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT $flag
  eventually answers_are outage-gone.domeos.sohu 172.28.6.1 || fail "$api: first sync"

  load "$DNS_PORT" "$DURATION" "$LOAD_RATE" "$WORK/load-$api.json" &
  local load_pid=$!
  sleep "$BEFORE"
  stop_etcd
  local down_at; down_at=$(date +%s)
  # Halfway through: etcd on another client port, which the server does not know, takes a put
  # and a delete; then it stops again.
  sleep $((OUTAGE / 2))
  local real_port=$ETCD_PORT
  ETCD_PORT=$(free_port); start_etcd
  $put /skydns/sohu/domeos/outage-new/1 '{"host":"172.28.5.1","ttl":30}'
  $del /skydns/sohu/domeos/outage-gone/1
  stop_etcd
  ETCD_PORT=$real_port
  sleep $(( OUTAGE - ($(date +%s) - down_at) ))
  start_etcd
  local back_ms; back_ms=$(now_ms)
  eventually_for 20 both_changes_served || fail "$api: changes made during the outage not served 20 s after etcd returned"
  local catchup=$(( $(now_ms) - back_ms ))
  wait "$load_pid" || fail "$api: load generator failed"
  local summary; summary=$(cat "$WORK/load-$api.json")
  python3 - "$api" "$catchup" "$summary" <<'PY' || fail "$api: queries failed during the outage (see above)"
import json, sys
api, catchup, s = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
print(f"{api}: {s['sent']} queries at a steady rate over the outage: {s['ok']} answered right, "
      f"{s['wrong']} wrong, {s['lost']} lost; longest gap between answers {s['longest_gap_ms']} ms "
      f"(at t={s['gap_at_s']} s), slowest answer {s['max_latency_ms']} ms, p99 {s['p99_latency_ms']} ms; "
      f"changes made during the outage served {catchup} ms after etcd returned", file=sys.stderr)
for f in s["failures"]: print("  ", f, file=sys.stderr)
sys.exit(0 if s["sent"] > 0 and s["wrong"] == 0 and s["lost"] == 0 and s["ok"] == s["sent"] else 1)
PY
  # The watch keeps working after the reconnect.
  $put /skydns/sohu/domeos/outage-new/2 '{"host":"172.28.5.2","ttl":30}'
  eventually answers_are outage-new.domeos.sohu "172.28.5.1 172.28.5.2" || fail "$api: put after the catch-up not seen"
  kill -0 "$SERVER_PID" 2>/dev/null || fail "$api: server died"
  stop_server
}

start_etcd
outage_case v3
fresh_etcd
outage_case v2
echo "outage under load ok"
