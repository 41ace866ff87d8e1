#!/usr/bin/env python3
"""Live updates for targets.sh: etcd churn plus a visibility-latency probe. Standard library only.

  churn.py run --endpoint http://127.0.0.1:2379 --server 127.0.0.1:PORT --seconds S
               [--warmup W] [--rate 10000] [--batch B] [--procs 4] [--threads 8] [--tag T] --out FILE
  churn.py report [--rate-only] FILE

`run` writes to etcd through the v3 JSON gateway for W+S seconds: worker processes (each with a
few threads on keep-alive connections, so that etcd's fsync latency does not cap the rate)
alternate puts of /skydns/sohu/domeos/churn-T-w-i/x and deletes of the key put 256 operations
earlier, paced to --rate operations a second in all. With --batch 1 each is its own request
(`POST /v3/kv/put`, `/v3/kv/deleterange`); with --batch B, B of them go in one `POST /v3/kv/txn`
(one revision, B events): a writer at 10,000 a second has to batch on two cores, since each
gateway request costs etcd about as much CPU as the whole transaction's apply. Meanwhile the
main process probes, in 4 threads: each puts /skydns/sohu/domeos/probe-T-K/x with a fresh IP,
takes the time etcd acknowledged the put, then asks the server for probe-T-K.domeos.sohu A over
UDP in a tight loop
until the new IP is in the answer. A watch of its own on etcd notes when etcd delivers the same
put, the floor under the server's figure. Only the window [W, W+S] counts (the caller runs its
load there); one JSON line with the counts and the latencies is appended to FILE.

`report` sums the lines of FILE: achieved put/delete rate, latency p50/p99/max (--rate-only:
the operations a second alone).
"""
import argparse, base64, http.client, json, multiprocessing, random, signal, socket, struct
import os, sys, threading, time, urllib.parse

DOMAIN = "domeos.sohu"
PREFIX = "/skydns/sohu/domeos"
DELETE_LAG = 256  # each worker deletes the key it put this many operations ago: etcd stays small


def b64(s):
    return base64.b64encode(s.encode()).decode()


class Etcd:
    """One keep-alive HTTP/1.1 connection to etcd's v3 JSON gateway."""

    def __init__(self, endpoint):
        u = urllib.parse.urlsplit(endpoint)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)

    def _post(self, path, body):
        self.conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        resp = self.conn.getresponse()
        resp.read()
        return resp.status == 200

    def put(self, key, value):
        return self._post("/v3/kv/put", {"key": b64(key), "value": b64(value)})

    def delete(self, key):
        return self._post("/v3/kv/deleterange", {"key": b64(key)})

    def txn(self, ops):
        """OPS: ("put", key, value) and ("delete", key) tuples, applied in one transaction."""
        return self._post("/v3/kv/txn", {"success": [
            {"request_put": {"key": b64(op[1]), "value": b64(op[2])}} if op[0] == "put"
            else {"request_delete_range": {"key": b64(op[1])}} for op in ops]})


# ---- churn ---------------------------------------------------------------------------------

def churn_op(worker, n):
    """The Nth operation of WORKER: even ones put a new key, odd ones delete an older one."""
    i = n // 2
    if n % 2 == 0:
        value = json.dumps({"host": f"10.99.{(i >> 8) & 255}.{i & 255}", "ttl": 30})
        return ("put", f"{PREFIX}/churn-{worker}-{i}/x", value)
    return ("delete", f"{PREFIX}/churn-{worker}-{i - DELETE_LAG // 2}/x")


def churn_thread(endpoint, worker, interval, batch, t_start, t_from, t_to, t_end, counts, lock):
    etcd = Etcd(endpoint)
    puts = deletes = errors = 0
    n = 0  # operations sent; one request carries BATCH of them
    while True:
        due = t_start + n // batch * interval
        now = time.monotonic()
        if now >= t_end:
            break
        if due > now:
            time.sleep(due - now)
        ops = [churn_op(worker, n + k) for k in range(batch)]
        try:
            if batch > 1:
                ok = etcd.txn(ops)
            elif ops[0][0] == "put":
                ok = etcd.put(ops[0][1], ops[0][2])
            else:
                ok = etcd.delete(ops[0][1])
        except (OSError, http.client.HTTPException):
            ok = False
            etcd = Etcd(endpoint)  # the connection is broken: open a new one
        done = time.monotonic()
        if t_from <= done <= t_to:  # count only what completed inside the measured window
            if not ok:
                errors += len(ops)
            else:
                puts += sum(op[0] == "put" for op in ops)
                deletes += sum(op[0] == "delete" for op in ops)
        n += batch
    with lock:
        counts["puts"] += puts
        counts["deletes"] += deletes
        counts["errors"] += errors


def churn_process(endpoint, tag, proc, threads, interval, batch, times, queue):
    counts = {"puts": 0, "deletes": 0, "errors": 0}
    lock = threading.Lock()
    ts = [threading.Thread(target=churn_thread,
                           args=(endpoint, f"{tag}-{proc * threads + t}", interval, batch, *times, counts, lock))
          for t in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    queue.put(counts)


# ---- probe ---------------------------------------------------------------------------------

def dns_query(qid, name):
    """The wire bytes of a recursion-desired query for NAME A, IN."""
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\x00" + struct.pack(">HH", 1, 1)


def skip_name(msg, off):
    while True:
        n = msg[off]
        if n == 0:
            return off + 1
        if n & 0xC0 == 0xC0:  # compression pointer: two bytes, ends the name
            return off + 2
        off += 1 + n


def answer_ips(msg):
    """(id, [dotted IPv4 of every A record in the answer section])."""
    qid, _flags, qd, an = struct.unpack(">HHHH", msg[:8])
    off = 12
    for _ in range(qd):
        off = skip_name(msg, off) + 4
    ips = []
    for _ in range(an):
        off = skip_name(msg, off)
        rtype, _cls, _ttl, rdlen = struct.unpack(">HHIH", msg[off:off + 10])
        off += 10
        if rtype == 1 and rdlen == 4:
            ips.append(socket.inet_ntoa(msg[off:off + 4]))
        off += rdlen
    return qid, ips


def wait_visible(sock, name, ip, give_up):
    """Query NAME until IP is in the answer; the time it appeared, or None at GIVE_UP."""
    while time.monotonic() < give_up:
        qid = random.getrandbits(16)
        sock.send(dns_query(qid, name))
        sent = time.monotonic()
        while time.monotonic() - sent < 0.05:  # under load an answer may take a while
            try:
                msg = sock.recv(4096)
            except socket.timeout:
                break
            except ConnectionRefusedError:  # nothing listens (yet): do not spin
                time.sleep(0.01)
                break
            try:
                rid, ips = answer_ips(msg)
            except (struct.error, IndexError):
                continue
            if rid != qid:
                continue  # a late answer to an earlier query
            if ip in ips:
                return time.monotonic()
            break  # the old answer: ask again at once
    return None


class EtcdWatchClock:
    """etcd's own delivery time, the floor under the server's: a watch of the whole /skydns
    prefix, as the server's, on a connection of its own, noting when an expected value arrives
    (found by its base64 in the raw stream, so that the churn's events cost no decoding)."""

    def __init__(self, endpoint):
        u = urllib.parse.urlsplit(endpoint)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        body = {"create_request": {"key": b64("/skydns/"), "range_end": b64("/skydns0")}}
        self.conn.request("POST", "/v3/watch", json.dumps(body), {"Content-Type": "application/json"})
        self.resp = self.conn.getresponse()
        self.expected, self.arrived, self.lock = {}, {}, threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def expect(self, value):
        """Call before putting VALUE."""
        with self.lock:
            self.arrived.pop(value, None)
            self.expected[value] = b64(value).encode()

    def _read(self):
        try:
            while True:
                line = self.resp.readline()
                if not line:
                    return
                now = time.monotonic()
                with self.lock:
                    for value, encoded in list(self.expected.items()):
                        if encoded in line:
                            self.arrived[value] = now
                            del self.expected[value]
        except (OSError, http.client.HTTPException):
            return

    def when(self, value):
        with self.lock:
            return self.arrived.get(value)


PROBES = 4  # probe threads: each waits for etcd's ack, which takes long under churn


def probe(endpoint, server, tag, thread, clock, t_from, t_to, t_end, results):
    host, port = server.rsplit(":", 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect((host, int(port)))
    sock.settimeout(0.05)
    etcd = Etcd(endpoint)
    samples, lost, errors, j = [], 0, 0, 0  # samples: (value, acked, seen)
    while time.monotonic() < t_end - 0.5:
        k = j % 8  # a few names, so that most samples are updates of a name already served
        # Fresh each time, and apart from the churn's 10.99.0.0/16 so that the etcd watch
        # clock cannot take a churn event for a probe's.
        ip = f"10.{90 + thread}.{tag % 64 * 4 + (j >> 8) % 4}.{j % 256}"
        j += 1
        name = f"probe-{thread}-{k}.{DOMAIN}"
        value = json.dumps({"host": ip, "ttl": 30})
        clock.expect(value)
        try:
            if not etcd.put(f"{PREFIX}/probe-{thread}-{k}/x", value):
                errors += 1
                continue
            acked = time.monotonic()  # etcd has committed the put
            seen = wait_visible(sock, name, ip, acked + 5)
        except (OSError, http.client.HTTPException):
            errors += 1
            etcd = Etcd(endpoint)
            continue
        if t_from <= acked <= t_to:
            if seen is None:
                lost += 1
            else:
                samples.append((value, acked, seen))
        time.sleep(0.005)
    results.append((samples, lost, errors))


def probes(endpoint, server, tag, t_from, t_to, t_end):
    """(server latencies, etcd watch latencies, lost, errors) of all probe threads, in ms."""
    clock = EtcdWatchClock(endpoint)
    results = []
    threads = [threading.Thread(target=probe, args=(endpoint, server, tag, t, clock, t_from, t_to, t_end, results),
                                daemon=True)
               for t in range(PROBES)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    time.sleep(0.5)  # etcd's slowest deliveries may come after the server answered
    samples = [x for r in results for x in r[0]]
    latencies = [(seen - acked) * 1000 for _, acked, seen in samples]
    # A delivery before the ack reached the probe counts as 0; one never seen is left out (and
    # counted in the report).
    watch = [max(0.0, when - acked) * 1000 for value, acked, _ in samples
             if (when := clock.when(value)) is not None]
    return latencies, watch, sum(r[1] for r in results), sum(r[2] for r in results)


def run(a):
    t_start = time.monotonic()
    t_from, t_to = t_start + a.warmup, t_start + a.warmup + a.seconds
    t_end = t_to + 0.5
    workers = a.procs * a.threads
    interval = workers * a.batch / a.rate  # each thread's pace, so that all of them make --rate
    queue = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=churn_process,
                                     args=(a.endpoint, a.tag, p, a.threads, interval, a.batch,
                                           (t_start, t_from, t_to, t_end), queue))
             for p in range(a.procs)]
    for p in procs:
        p.start()

    def stop(*_):  # killed by the caller's clean-up: take the workers along, at once
        for p in procs:
            p.terminate()
        os._exit(1)
    signal.signal(signal.SIGTERM, stop)
    latencies, etcd_latencies, lost, probe_errors = probes(a.endpoint, a.server, a.tag, t_from, t_to, t_end)
    total = {"puts": 0, "deletes": 0, "errors": 0}
    for _ in procs:
        for k, v in queue.get().items():
            total[k] += v
    for p in procs:
        p.join()
    line = dict(total, seconds=a.seconds, target_rate=a.rate, batch=a.batch, latencies_ms=latencies,
                etcd_watch_ms=etcd_latencies, lost=lost, probe_errors=probe_errors)
    with open(a.out, "a") as f:
        f.write(json.dumps(line) + "\n")


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(p / 100 * len(sorted_values)))]


def report(a):
    runs = [json.loads(l) for l in open(a.file) if l.strip()]
    secs = sum(r["seconds"] for r in runs)
    puts, deletes = sum(r["puts"] for r in runs), sum(r["deletes"] for r in runs)
    errors, lost = sum(r["errors"] for r in runs), sum(r["lost"] for r in runs)
    probe_errors = sum(r.get("probe_errors", 0) for r in runs)
    lat = sorted(x for r in runs for x in r["latencies_ms"])
    watch = sorted(x for r in runs for x in r.get("etcd_watch_ms", []))
    target = runs[0]["target_rate"] if runs else 0
    batch = runs[0].get("batch", 1) if runs else 1
    if a.rate_only:
        print(f"{(puts + deletes) / secs:.0f}")
        return
    print(f"churn {(puts + deletes) / secs:.0f} ops/s of {target:.0f} wanted "
          f"({puts / secs:.0f} puts/s + {deletes / secs:.0f} deletes/s, {batch} a request, {errors} errors); "
          f"visibility {len(lat)} samples p50 {percentile(lat, 50):.1f} ms "
          f"p99 {percentile(lat, 99):.1f} ms max {lat[-1] if lat else float('nan'):.1f} ms; "
          f"etcd's own watch delivered {len(watch)} of them p50 {percentile(watch, 50):.1f} ms "
          f"p99 {percentile(watch, 99):.1f} ms max {watch[-1] if watch else float('nan'):.1f} ms"
          + (f", {lost} never seen within 5 s" if lost else "")
          + (f", {probe_errors} probe puts failed" if probe_errors else ""))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--endpoint", required=True)
    r.add_argument("--server", required=True, help="HOST:PORT of the DNS server")
    r.add_argument("--seconds", type=float, required=True)
    r.add_argument("--warmup", type=float, default=1.0)
    r.add_argument("--rate", type=float, default=10000, help="puts + deletes a second, in all")
    r.add_argument("--batch", type=int, default=1, help="operations a request (a txn when above 1)")
    r.add_argument("--procs", type=int, default=4)
    r.add_argument("--threads", type=int, default=8)
    r.add_argument("--tag", type=int, default=0, help="keeps the keys of separate runs apart")
    r.add_argument("--out", required=True)
    p = sub.add_parser("report")
    p.add_argument("file")
    p.add_argument("--rate-only", action="store_true", help="print only the operations a second")
    a = ap.parse_args()
    run(a) if a.cmd == "run" else report(a)


if __name__ == "__main__":
    main()
