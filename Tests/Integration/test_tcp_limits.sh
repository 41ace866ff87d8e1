#!/usr/bin/env bash
# TCP resource limits: no client action creates a thread, and no client can lock others out.
# (a) 600 connections from one address (127.0.0.2), each sending a query every 8 s: at most 64 are
#     kept (the per-address cap), and a client from 127.0.0.1 gets every one of 30 answers;
# (b) 512 idle connections from eight addresses (the whole cap): a new client is answered at
#     once, an idle connection making room for it; and when every connection of one event loop
#     is busy, new clients that loop accepts take the places of another loop's idle ones;
# (c) run as an unprivileged user under `ulimit -u 100` (a pids limit), 150 connections each
#     sending queries are all answered, the server lives, and its thread count does not move;
# (d) under a limit too small for the threads the server needs at start, it exits (1 or 2) with
#     a message, never a trap;
# (e) with only 96 file descriptors, 150 connections: those beyond the fds left after the
#     upstream exchanges' and etcd's (the cap the server lowers to them) are refused (not
#     queued forever, no busy loop: the server uses under a second of CPU while they are held),
#     UDP and the connections it did accept are answered, a new client is answered once the
#     held ones have been idle a while (the idlest is closed for it), and TCP works again once
#     they close;
# (g) 512 connections from eight addresses, each asking every 0.3 s (none idle): a client from a
#     new address is answered, a connection of an address holding more making room for it, and
#     the connection it keeps is not closed for its own next ones;
# (h) 4 connections from one address and 507 from eight others, all kept busy, the heavy ones
#     mostly on one event loop: 400 new addresses are answered, the eight giving up places
#     heaviest first (13 or 14 left each), and the client holding 4 keeps them all (a loop
#     holding none of the heaviest address's connections closed those of its own heaviest, the
#     light client's, and cut some of the eight to 1 while others kept 24);
# (i) 512 busy connections from 43 addresses, and one more address connecting from 32 threads
#     (all but its share refused, after going round the loops): 40 clients from new addresses
#     are answered (4 to 8 of 40 were: the flood kept every place for a connection on its way
#     between loops taken, and those on their way made it the heaviest address with none placed);
# (f) a query waiting on an upstream that never answers does not hold up the queries behind it
#     on the same connection: they are answered first (RFC 7766 §7), and it gets SERVFAIL after
#     the upstream timeout.
source "$(dirname "$0")/lib.sh"
start_etcd
put_v2 /skydns/sohu/domeos/kafka-1-wkfa1/19d074a1 '{"host":"172.28.0.12","ttl":30}'

# clients.py MODE PORT: the client side of (a), (b) and (c); exits 1 after printing what failed.
cat >"$WORK/clients.py" <<'PY'
import os, resource, socket, struct, sys, threading, time
mode, port = sys.argv[1], int(sys.argv[2])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
ANSWER = socket.inet_aton("172.28.0.12")
failures = []
def check(ok, what):
    if not ok: failures.append(what); print("FAILED:", what, file=sys.stderr, flush=True)
def log(*a): print(*a, file=sys.stderr, flush=True)
def query(qid, qname=b"kafka-1-wkfa1.domeos.sohu"):
    name = b"".join(bytes([len(l)]) + l for l in qname.split(b".")) + b"\0"
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + name + struct.pack(">HH", 1, 1)
    return struct.pack(">H", len(q)) + q
def read_reply(s):
    def exact(n):
        b = b""
        while len(b) < n:
            c = s.recv(n - len(b))
            if not c: return None
            b += c
        return b
    h = exact(2)
    return None if h is None else exact(struct.unpack(">H", h)[0])
def good(r, qid): return r is not None and r[:2] == struct.pack(">H", qid) and r[3] & 0xF == 0 and ANSWER in r
def connect(source):
    return socket.create_connection(("127.0.0.1", port), timeout=3, source_address=(source, 0))
def ask(s, qid):
    try:
        s.sendall(query(qid)); return good(read_reply(s), qid)
    except OSError: return False
def fresh_client(qid, source="127.0.0.1"):
    try:
        s = connect(source)
    except OSError: return False
    try: return ask(s, qid)
    finally: s.close()
def alive(s):
    s.setblocking(False)
    try: return s.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError: return True
    except OSError: return False
    finally: s.setblocking(True)

def keep_busy(held, stop):  # a query on each every 0.3 s: none is ever idle for the 1 s eviction needs
    n = 0
    while not stop.is_set():
        live = [s for s in list(held) if s.fileno() >= 0]
        for s in live:
            n += 1
            try: s.sendall(query(n & 0xFFFF))
            except OSError: s.close()
        for s in live:
            if s.fileno() < 0: continue
            try:
                if read_reply(s) is None: s.close()
            except OSError: s.close()
        stop.wait(0.3)
def busy_worker(held):  # keep_busy on its own thread; returns what stops and joins it
    stop = threading.Event()
    worker = threading.Thread(target=keep_busy, args=(held, stop), daemon=True); worker.start()
    return stop, worker

if mode == "flood":
    held = []
    for i in range(600):
        try: held.append(connect("127.0.0.2"))
        except OSError: pass
    stop = threading.Event()
    def every_8s():  # the flood's queries: each connection asks again every 8 s
        while not stop.is_set():
            for i, s in enumerate(held):
                try: s.sendall(query(i))
                except OSError: pass
            stop.wait(8)
    t = threading.Thread(target=every_8s, daemon=True); t.start()
    time.sleep(1)
    answers = [fresh_client(1000 + i) for i in range(30)]
    log(f"(a) other address during the flood: {answers.count(True)} of 30 answered")
    check(all(answers), f"(a) {answers.count(False)} of 30 queries from 127.0.0.1 unanswered during the flood")
    kept = sum(1 for s in held if alive(s))
    log(f"(a) flood: {len(held)} connected, {kept} kept by the server")
    check(kept <= 64, f"(a) {kept} connections kept from one address (cap 64)")
    check(kept >= 1, "(a) the flooding address got no connection at all")
    stop.set()
    for s in held: s.close()
elif mode == "idle":
    pid = int(sys.argv[3])
    held = []
    for source in range(8):
        for _ in range(64):
            try: held.append(connect(f"127.0.0.{10 + source}"))
            except OSError: pass
    log(f"(b) {len(held)} idle connections held")
    check(len(held) == 512, f"(b) only {len(held)} of 512 idle connections opened")
    time.sleep(1.5)  # idle past the 1 s that makes a connection evictable, well within 10 s
    answers = [fresh_client(2000 + i) for i in range(30)]
    log(f"(b) new client with 512 idle connections open: {answers.count(True)} of 30 answered")
    check(all(answers), f"(b) {answers.count(False)} of 30 queries unanswered while idle connections held the cap")
    # Which event loop holds each connection: the server's fd for it (by the client's port, in
    # /proc/net/tcp) and the epoll instance that watches that fd.
    def server_fds():
        inode_port = {}
        for line in open("/proc/net/tcp").readlines()[1:]:
            f = line.split()
            if int(f[1].split(":")[1], 16) == port: inode_port[f[9]] = int(f[2].split(":")[1], 16)
        fds = {}
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try: target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError: continue
            if target.startswith("socket:["):
                client_port = inode_port.get(target[8:-1])
                if client_port is not None: fds[int(fd)] = client_port
        return fds
    def loops():
        found = []
        for fd in os.listdir(f"/proc/{pid}/fdinfo"):
            try: text = open(f"/proc/{pid}/fdinfo/{fd}").read()
            except OSError: continue
            watched = {int(l.split()[1]) for l in text.splitlines() if l.startswith("tfd:")}
            if watched: found.append(watched)
        return found
    # Again, to see each event loop make room: above 384 open connections idle ones are closed
    # after 2 s, so this must happen between 1 s and 2 s of idleness.
    for s in held: s.close()
    time.sleep(0.5)
    held = []
    for source in range(8):
        for _ in range(64):
            try: held.append(connect(f"127.0.0.{10 + source}"))
            except OSError: pass
    check(len(held) == 512, f"(b) only {len(held)} of 512 connections opened again")
    by_port = {s.getsockname()[1]: s for s in held}
    fd_port = server_fds()
    watched = [w for w in loops() if any(fd in fd_port for fd in w)]
    # New connections go to a loop waiting in epoll. The loop holding the most connections is
    # kept working by one of them (pipelined queries), so that another loop accepts the new ones;
    # that loop's own connections are all kept busy (none evictable), so each new connection it
    # accepts must take the place of an idle one of the working loop.
    counts = sorted(((sum(1 for fd in w if fd_port.get(fd) in by_port), i) for i, w in enumerate(watched)))
    log(f"(b) held connections per event loop: {[c for c, _ in counts]}")
    if len(watched) >= 2:
        def members(w): return [by_port[fd_port[fd]] for fd in w if fd_port.get(fd) in by_port]
        busy = members(watched[counts[0][1]])
        working = members(watched[counts[-1][1]])[0]
        stop, busy_thread = busy_worker(busy)
        def keep_working():
            burst = b"".join(query(i) for i in range(2000))
            while not stop.is_set():
                try:
                    working.sendall(burst)
                    for _ in range(2000): read_reply(working)
                except OSError: return
        workers = [busy_thread, threading.Thread(target=keep_working, daemon=True)]
        workers[1].start()
        time.sleep(1.2)
        # Eight at a time, so that the loop waiting in epoll accepts some; each is kept open, so
        # that every one needs an idle connection's place.
        new, together = [None] * 40, [None] * 40
        def one(i):
            try: new[i] = connect(f"127.0.1.{1 + i % 4}")
            except OSError: together[i] = False; return
            together[i] = ask(new[i], 2100 + i)
        for group in range(5):
            threads = [threading.Thread(target=one, args=(group * 8 + i,)) for i in range(8)]
            for t in threads: t.start()
            for t in threads: t.join()
        stop.set()
        for w in workers: w.join()
        log(f"(b) 40 new clients held open while one loop's connections are busy: {together.count(True)} answered")
        check(all(together), f"(b) {together.count(False)} of 40 new clients unanswered while another loop held idle connections")
        for s in new:
            if s: s.close()
    for s in held: s.close()
elif mode == "busy":
    held = []
    for source in range(8):
        for _ in range(64):
            try: held.append(connect(f"127.0.0.{40 + source}"))
            except OSError: pass
    check(len(held) == 512, f"(g) only {len(held)} of 512 connections opened")
    stop, worker = busy_worker(held)
    time.sleep(1.5)
    kept = connect("127.0.0.1")
    answers = [ask(kept, 6000)] + [fresh_client(6001 + i) for i in range(20)] + [ask(kept, 6100)]
    log(f"(g) new clients while 8 addresses keep all 512 connections busy: {answers.count(True)} of 22 answered")
    check(all(answers), f"(g) {answers.count(False)} of 22 queries from a new address unanswered while others kept every connection busy")
    stop.set(); worker.join()
    kept.close()
    for s in held: s.close()
elif mode == "fair":
    light = [connect("127.0.0.5") for _ in range(4)]
    pusher = connect("127.0.0.6")
    held = list(light)
    stop, worker = busy_worker(held)
    # The light client's loop (most likely the one that accepted `pusher` next) kept working by
    # a pipelined burst, so that the heavy connections go mostly to the other loop: there the
    # heaviest addresses' connections are, and the light client's loop holds few to close first.
    burst_stop = threading.Event()
    def keep_working():
        burst = b"".join(query(i) for i in range(2000))
        while not burst_stop.is_set():
            try:
                pusher.sendall(burst)
                for _ in range(2000): read_reply(pusher)
            except OSError: return
    working = threading.Thread(target=keep_working, daemon=True); working.start()
    heavy = []
    for source in range(8):
        for _ in range(64 if source < 7 else 59):
            try: heavy.append(connect(f"127.0.0.{50 + source}"))
            except OSError: pass
            else: held.append(heavy[-1])
    burst_stop.set(); working.join()
    pusher.close()
    check(len(heavy) == 507, f"(h) only {len(heavy)} of 507 heavy connections opened")
    time.sleep(1.5)
    def kept(): return sum(1 for s in light if s.fileno() >= 0 and alive(s))
    check(kept() == 4, f"(h) the client holding 4 connections kept {kept()} before any new address came")
    answered, lost_at = 0, None
    for i in range(400):
        try:
            s = connect(f"127.0.{2 + i // 200}.{1 + i % 200}")
            answered += ask(s, 7000 + i)
            held.append(s)
        except OSError: pass
        if lost_at is None and kept() < 4: lost_at = i
    stop.set(); worker.join()
    by_address = {}
    for s in heavy:
        if s.fileno() >= 0 and alive(s): by_address[s.getsockname()[0]] = by_address.get(s.getsockname()[0], 0) + 1
    log(f"(h) 400 new addresses while 8 keep 507 connections busy: {answered} answered; the client holding 4 kept {kept()}; "
        f"the eight hold {sorted(by_address.values())}")
    # 107 places left to eight addresses, the heaviest giving one up each time: 13 or 14 each.
    check(len(by_address) == 8 and max(by_address.values()) - min(by_address.values()) <= 2,
          f"(h) the eight were not cut heaviest first: {sorted(by_address.values())}")
    check(answered == 400, f"(h) {400 - answered} of 400 new addresses unanswered")
    check(lost_at is None, f"(h) the client holding 4 connections lost one at new address {lost_at}, while others held more")
    for s in held: s.close()
elif mode == "transit":
    held = []
    for source in range(43):  # 12 each from 43 addresses (the last ones refused at the cap)
        for _ in range(12):
            try: held.append(connect(f"127.0.5.{1 + source}"))
            except OSError: pass
    stop, worker = busy_worker(held)
    time.sleep(1.5)
    # One address connecting from 32 threads, each connection held until the server closes it:
    # all but its share are refused, and they keep every place for connections on their way
    # between the loops taken.
    flooded = [0]
    def flood():
        while not stop.is_set():
            try: s = connect("127.0.0.99")
            except OSError: continue
            flooded[0] += 1
            s.settimeout(2)
            try: s.recv(1)
            except OSError: pass
            s.close()
    flooders = [threading.Thread(target=flood, daemon=True) for _ in range(32)]
    for f in flooders: f.start()
    time.sleep(1)
    answers, unconnected = [], 0
    for i in range(40):
        try: s = connect(f"127.0.7.{1 + i}")
        except OSError: unconnected += 1; answers.append(False); continue
        s.settimeout(10)  # a loaded machine's slow reply is not a refusal
        answers.append(ask(s, 8000 + i)); s.close()
        time.sleep(0.05)
    stop.set()
    for f in flooders + [worker]: f.join()
    log(f"(i) {flooded[0]} connections from one address at the cap: new addresses {answers.count(True)} of 40 answered ({unconnected} not connected)")
    check(all(answers), f"(i) {answers.count(False)} of 40 new addresses refused while one address flooded connections")
    for s in held: s.close()
elif mode == "nofds":
    pid = int(sys.argv[3])
    def cpu():  # utime + stime of the server, in seconds
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    held = []
    for i in range(150):
        try: held.append(connect(f"127.0.0.{30 + i % 3}"))
        except OSError: pass
    time.sleep(0.5)
    before = cpu()
    time.sleep(3)
    used = cpu() - before
    open_ones = [s for s in held if alive(s)]
    log(f"(e) 150 connections with 96 fds: {len(open_ones)} kept, {len(held) - len(open_ones)} refused; server CPU {used:.2f} s over 3 s")
    check(len(open_ones) < 150, "(e) every connection kept with 96 fds")
    check(used < 1.0, f"(e) the server spun while out of fds ({used:.2f} s of CPU in 3 s)")
    asked = open_ones[:max(1, len(open_ones) // 2)]
    answered = sum(ask(s, 3000 + i) for i, s in enumerate(asked))
    check(answered == len(asked), f"(e) {answered} of {len(asked)} accepted connections answered")
    # The rest have been idle for over 3 s: one of them makes room for a new client, whichever
    # event loop holds it.
    check(fresh_client(3500), "(e) a new client refused while idle connections held every fd")
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); udp.settimeout(2)
    try:
        udp.sendto(query(4000)[2:], ("127.0.0.1", port)); check(good(udp.recv(4096), 4000), "(e) UDP while out of fds")
    except OSError: check(False, "(e) UDP while out of fds")
    for s in held: s.close()
    time.sleep(0.5)
    check(fresh_client(4001), "(e) TCP after the connections closed")
elif mode == "order":
    s = connect("127.0.0.1"); s.settimeout(10)
    s.sendall(query(5000, b"www.example.org") + query(5001))
    first, second = read_reply(s), read_reply(s)
    log(f"(f) replies in the order {first[:2].hex() if first else None}, {second[:2].hex() if second else None}")
    check(good(first, 5001), "(f) the store's answer did not come first")
    check(second is not None and second[:2] == struct.pack(">H", 5000) and second[3] & 0xF == 2,
          "(f) the forwarded query did not get SERVFAIL")
    s.close()
elif mode == "many":
    held = []
    for i in range(150):  # from three addresses, within the per-address cap
        try: held.append(connect(f"127.0.0.{20 + i % 3}"))
        except OSError: pass
    check(len(held) == 150, f"(c) {len(held)} of 150 connections opened")
    ok = 0
    for round in range(2):
        for i, s in enumerate(held):
            ok += ask(s, (round * 150 + i) & 0xFFFF)
    log(f"(c) 150 connections under ulimit -u 100: {ok} of 300 queries answered")
    check(ok == 300, f"(c) {300 - ok} of 300 queries unanswered")
    for s in held: s.close()
sys.exit(1 if failures else 0)
PY

threads_of() { awk '/^Threads:/ { print $2 }' "/proc/$1/status"; }

DNS_PORT=$(free_port)
start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT -etcd3=false
eventually answers_are kafka-1-wkfa1.domeos.sohu 172.28.0.12 || fail "first sync"
before=$(threads_of "$SERVER_PID")
python3 "$WORK/clients.py" flood "$DNS_PORT" || fail "(a) one address flooding TCP"
python3 "$WORK/clients.py" idle "$DNS_PORT" "$SERVER_PID" || fail "(b) idle connections at the cap"
python3 "$WORK/clients.py" busy "$DNS_PORT" || fail "(g) busy connections at the cap"
python3 "$WORK/clients.py" fair "$DNS_PORT" || fail "(h) a client holding few connections at the cap"
python3 "$WORK/clients.py" transit "$DNS_PORT" || fail "(i) one address flooding connections at the cap"
kill -0 "$SERVER_PID" 2>/dev/null || fail "server died"
expect_eq "$(threads_of "$SERVER_PID")" "$before" "(a, b, g, h, i) server threads after the connections"
grep -q 'refused: 64 connections from that address already' "$WORK/server.log" || fail "(a) per-address refusals not logged"
stop_server

if [ "$(id -u)" != 0 ]; then
  echo "not root: (c) and (d), which run the server as nobody, did not run"
else
# (c) as nobody, with at most 100 processes and threads for that user. The binary is copied where
# nobody can reach it (a checkout under /root is not).
chmod 755 "$WORK"
install -m 755 "$SKYDNS_BIN" "$WORK/skydns-nobody"
DNS_PORT=$(free_port)
setpriv --reuid=65534 --regid=65534 --clear-groups -- bash -c 'ulimit -u 100 && exec "$@"' skydns \
  "$WORK/skydns-nobody" -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT -etcd3=false >>"$WORK/server.log" 2>&1 &
SERVER_PID=$!; PIDS+=("$SERVER_PID")
eventually answers_are kafka-1-wkfa1.domeos.sohu 172.28.0.12 || fail "(c) first sync as nobody"
expect_eq "$(awk '/^Uid:/ { print $2 }' "/proc/$SERVER_PID/status")" 65534 "(c) server uid"
before=$(threads_of "$SERVER_PID")
python3 "$WORK/clients.py" many "$DNS_PORT" || fail "(c) 150 connections under ulimit -u 100"
kill -0 "$SERVER_PID" 2>/dev/null || fail "(c) server died under ulimit -u 100"
expect_eq "$(threads_of "$SERVER_PID")" "$before" "(c) server threads after 150 connections"
expect_eq "$(short kafka-1-wkfa1.domeos.sohu A +tcp)" 172.28.0.12 "(c) TCP after the connections"
stop_server

# (d) too few threads allowed to start: a clean exit with the reason.
set +e
setpriv --reuid=65534 --regid=65534 --clear-groups -- bash -c 'ulimit -u 8 && exec "$@"' skydns \
  "$WORK/skydns-nobody" -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$(free_port) -etcd3=false >"$WORK/small.log" 2>&1
code=$?
set -e
case $code in 1|2) ;; *) fail "(d) exit code $code with ulimit -u 8 (a trap is 132 or 134)" ;; esac
grep -q 'cannot start.*thread' "$WORK/small.log" || fail "(d) no reason logged: $(tail -3 "$WORK/small.log")"
fi

# (f) an upstream that never answers.
BLACKHOLE=$(free_port)
python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", int(sys.argv[1])))
while True: s.recv(4096)' "$BLACKHOLE" &
PIDS+=($!)
DNS_PORT=$(free_port)
start_server -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT -etcd3=false \
  -nameservers=127.0.0.1:$BLACKHOLE -rtimeout=1s
eventually answers_are kafka-1-wkfa1.domeos.sohu 172.28.0.12 || fail "(f) first sync"
python3 "$WORK/clients.py" order "$DNS_PORT" || fail "(f) a slow query on a pipelined connection"
stop_server

# (e) 96 file descriptors.
DNS_PORT=$(free_port)
prlimit --nofile=96 "$SKYDNS_BIN" -machines="$ETCD" -domain=domeos.sohu -addr=127.0.0.1:$DNS_PORT -etcd3=false \
  >>"$WORK/server.log" 2>&1 &
SERVER_PID=$!; PIDS+=("$SERVER_PID")
eventually answers_are kafka-1-wkfa1.domeos.sohu 172.28.0.12 || fail "(e) first sync with 96 fds"
python3 "$WORK/clients.py" nofds "$DNS_PORT" "$SERVER_PID" || fail "(e) out of file descriptors"
kill -0 "$SERVER_PID" 2>/dev/null || fail "(e) server died out of fds"
grep -Eq 'TCP connection refused: (no file descriptors left|[0-9]+ connections open, none idle)' "$WORK/server.log" \
  || fail "(e) refusals not logged"
stop_server
echo "tcp limits ok"
