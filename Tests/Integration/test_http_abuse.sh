#!/usr/bin/env bash
# The operator endpoint (-metrics-addr) against hostile clients: four requests with a 1 MB header
# line (each answered 431 after the first 8 KiB, the rest never read), 200 slowloris connections
# trickling a header byte at a time, and 300 connections that send nothing. While they are held,
# /readyz and /metrics still answer (the oldest connection is closed for a new one); afterwards
# the server's CPU over a quiet 3 s is near zero (no thread left rescanning a header), its thread
# count is what it was (no thread per connection), and its descriptors are back to the baseline
# (every attacking connection closed by its deadline).
source "$(dirname "$0")/lib.sh"

start_etcd
put_v3 /skydns/sohu/domeos/kafka-1-wkfa1/19d074a1 '{"host":"172.28.0.12"}'
METRICS_PORT=$(free_port); DNS_PORT=$(free_port)
M=http://127.0.0.1:$METRICS_PORT
start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT -metrics-addr=127.0.0.1:$METRICS_PORT
ready() { curl -sf --max-time 3 "$M/readyz" | finds '^ready: serving 1 records'; }
eventually_for 20 ready || fail "/readyz never ready: $(curl -s "$M/readyz")"

# ticks: user+system CPU ticks the server has used; threads, fds: its current counts.
ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' /proc/$SERVER_PID/stat; }
threads() { awk '/^Threads:/ { print $2 }' /proc/$SERVER_PID/status; }
fds() { ls /proc/$SERVER_PID/fd | wc -l; }
threads0=$(threads); fds0=$(fds); ticks0=$(ticks)

python3 - "$METRICS_PORT" "$M" <<'PY' || fail "attack run"
import socket, subprocess, sys, time
port, base = int(sys.argv[1]), sys.argv[2]

def connect():
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    return s

# 1. A 1 MB header line, then close: answered 431 from the first 8 KiB.
big = b"GET /metrics HTTP/1.1\r\nX-Big: " + b"a" * 1_000_000 + b"\r\n\r\n"
for n in range(4):
    s = connect()
    s.settimeout(5)
    try:
        s.sendall(big)
    except OSError:
        pass  # the server stopped reading at its limit and closed: expected
    try:
        reply = s.recv(200)
    except OSError:
        reply = b""
    s.close()
    if n == 0:
        assert reply.startswith(b"HTTP/1.1 431 "), f"1 MB header: {reply[:80]!r}"
print("1 MB headers: 431")

# 2. Slowloris: 200 connections, each a partial head, one more byte every 0.3 s.
slow = []
for _ in range(200):
    s = connect()
    s.sendall(b"GET /metrics HTTP/1.1\r\nX-Slow: ")
    slow.append(s)
# 3. 300 connections that say nothing.
idle = [connect() for _ in range(300)]

def probe(path):
    r = subprocess.run(["curl", "-s", "--max-time", "3", "-o", "/dev/null", "-w", "%{http_code}", base + path],
                       capture_output=True, text=True)
    return r.stdout

answered = {"/readyz": 0, "/metrics": 0, "/healthz": 0}
end = time.monotonic() + 3
while time.monotonic() < end:
    for s in slow:
        try:
            s.send(b"a")
        except OSError:
            pass
    for path in answered:
        if probe(path) == "200":
            answered[path] += 1
    time.sleep(0.3)
print("answered while held:", answered)
for path, count in answered.items():
    assert count >= 3, f"{path} answered {count} times while the attack held connections"
for s in slow + idle:
    s.close()
PY

# Quiet now: the server's CPU over 3 s is near zero (a thread spinning on a header would be 300).
sleep 1
before=$(ticks); sleep 3; after=$(ticks)
idle_ticks=$((after - before))
echo "server CPU ticks: attack $((before - ticks0)), quiet 3 s $idle_ticks"
[ "$idle_ticks" -le 30 ] || fail "server used $idle_ticks CPU ticks in 3 quiet seconds after the attack"
[ $((before - ticks0)) -le 500 ] || fail "the attack cost the server $((before - ticks0)) CPU ticks"
expect_eq "$(threads)" "$threads0" "server threads after the attack"
fds_back() { [ "$(fds)" -le $((fds0 + 2)) ]; }
eventually_for 10 fds_back || fail "descriptors: $(fds) after the attack, $fds0 before"
expect_eq "$(curl -s --max-time 3 -o /dev/null -w '%{http_code}' "$M/readyz")" 200 "/readyz after the attack"
# (Read whole before grep: under pipefail, grep -q leaving early makes curl's next write fail.)
metrics=$(curl -sf --max-time 3 "$M/metrics") || fail "/metrics after the attack: curl exit $?"
grep -q '^skydns_skydns_store_records 1$' <<<"$metrics" || fail "/metrics after the attack: no store_records 1"
# Other methods and malformed request lines get their status, not a hang.
expect_eq "$(curl -s --max-time 3 -o /dev/null -w '%{http_code}' -X POST "$M/metrics")" 405 "POST"
reply=$(printf 'BLAH\r\n\r\n' | timeout 5 python3 -c 'import socket,sys; s=socket.create_connection(("127.0.0.1",int(sys.argv[1]))); s.sendall(sys.stdin.buffer.read()); print(s.recv(100).split(b"\r\n")[0].decode())' "$METRICS_PORT")
expect_eq "$reply" "HTTP/1.1 400 Bad Request" "malformed request line"
answers_are kafka-1-wkfa1.domeos.sohu 172.28.0.12 || fail "DNS after the attack"
echo "http abuse ok"
