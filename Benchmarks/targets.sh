#!/usr/bin/env bash
# targets.sh SERVER_BINARY [SECONDS] [--million]
# Issue 6's six performance targets, measured on loopback against Knot DNS in one run (machines
# are shared and noisy, so only a ratio from the same run means anything). The method is
# ../shared/bench/compare.sh's: the same data set, etcd v3, Knot serving the same names from a
# zone file, each server pinned to core 0 and dnsperf (-c 4 -q 200) to core 1, three alternating
# rounds, medians.
#   1. UDP throughput, one core, 24,500 records; dnsperf's lost queries and response codes
#   2. UDP throughput on both cores: the server unpinned (one SO_REUSEPORT worker per CPU) vs
#      Knot with two UDP workers
#   3. (--million only: minutes) one million records: start to first answer, start to the end of
#      the first read of etcd, memory of both, pinned throughput of both
#   4. live updates: qps while churn.py writes 10,000 puts+deletes a second to etcd, 20 to a
#      transaction (CHURN_BATCH; 1 sends each alone, which etcd's JSON gateway cannot take at
#      10,000 a second on two cores); it and etcd are not pinned; the rate achieved is printed,
#      and how soon a put is answered (p50/p99/max)
#   5. TCP throughput (dnsperf -m tcp)
#   6. etcd's CPU while the server is under full load (it should idle: no polling)
# Needs etcd, knot, dnsperf, dig, python3 (installed by scripts/install-deps when missing).
set -eu

usage() { echo "usage: $0 SERVER_BINARY [SECONDS] [--million]" >&2; exit 2; }
MILLION=0; ARGS=()
for a in "$@"; do
  case "$a" in --million) MILLION=1 ;; -h|--help) usage ;; *) ARGS+=("$a") ;; esac
done
[ ${#ARGS[@]} -ge 1 ] || usage
BIN=$(cd "$(dirname "${ARGS[0]}")" && pwd)/$(basename "${ARGS[0]}"); SECS=${ARGS[1]:-5}
[ -x "$BIN" ] || { echo "not an executable: $BIN" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
SHARED=${BENCH_SHARED:-$HERE/../../shared/bench}   # gen_dataset.py lives there
"$HERE/../scripts/install-deps" dnsperf

CHURN_BATCH=${CHURN_BATCH:-20}
W=$(mktemp -d); PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.5
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done  # etcd may be slow with 1M keys
  rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
declare -A SUMMARY   # target number -> its lines
say() { echo "== $*" >&2; }
# summary N LINE...: the summary of target N; further lines are indented under the first.
summary() { local n=$1; shift; SUMMARY[$n]=$(printf '%s\n   ' "$@"); SUMMARY[$n]=${SUMMARY[$n]%$'\n   '}; }

# ---- processes ---------------------------------------------------------------------------

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# start_etcd NAME [ETCD ARGS...]: a one-member etcd on free loopback ports; sets EP, ETCD_PID.
start_etcd() {
  local name=$1; shift
  local cp pp; cp=$(port); pp=$(port); EP=http://127.0.0.1:$cp
  etcd --name "$name" --data-dir "$W/etcd-$name" --listen-client-urls "$EP" --advertise-client-urls "$EP" \
    --listen-peer-urls "http://127.0.0.1:$pp" --initial-advertise-peer-urls "http://127.0.0.1:$pp" \
    --initial-cluster "$name=http://127.0.0.1:$pp" "$@" >"$W/etcd-$name.log" 2>&1 & PIDS+=($!)
  ETCD_PID=$!
  for _ in $(seq 100); do curl -sf "$EP/health" >/dev/null && return; sleep 0.1; done
  echo "etcd did not start: $W/etcd-$name.log" >&2; exit 1
}

# start_server NAME CPUS: our binary on a free port, pinned to CPUS ("all": not pinned);
# sets SP (DNS port), MP (metrics port), SPID, SLOG, START (the time it was started).
start_server() {
  local pin=(); [ "$2" != all ] && pin=(taskset -c "$2")
  SP=$(port); MP=$(port); SLOG=$W/server-$1.log; START=$EPOCHREALTIME
  "${pin[@]}" "$BIN" -machines="$EP" -domain=domeos.sohu -addr="127.0.0.1:$SP" -etcd3 -metrics-addr="127.0.0.1:$MP" \
    >"$SLOG" 2>&1 & PIDS+=($!)
  SPID=$!
}

# start_knot NAME ZONEFILE UDP_WORKERS CPUS: Knot configured as compare.sh does; sets KP, KPID.
start_knot() {
  local dir=$W/knot-$1 pin=(); [ "$4" != all ] && pin=(taskset -c "$4")
  KP=$(port); mkdir -p "$dir"; ln -sf "$2" "$dir/zone.db"
  "$HERE/../scripts/knot-conf" "$dir" domeos.sohu "127.0.0.1@$KP" "$3"
  "${pin[@]}" knotd -c "$dir/knot.conf" >"$W/knot-$1.log" 2>&1 & PIDS+=($!)
  KPID=$!
}

# The first expected answer of a data set: "NAME IP".
first_expect() { head -1 "$1/expect.jsonl" | python3 -c 'import json,sys; e=json.load(sys.stdin); print(e["name"], e["answers"][0])'; }

answers() { [ "$(dig +short +time=1 +tries=1 @127.0.0.1 -p "$1" "$2" A)" = "$3" ]; }

# wait_answer PORT NAME IP SECONDS: until the server at PORT answers NAME with IP.
wait_answer() {
  for _ in $(seq $(($4 * 10))); do answers "$1" "$2" "$3" && return; sleep 0.1; done
  echo "no answer for $2 on port $1 within $4 s" >&2; exit 1
}

rss_mib() { awk '/VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }
hwm_mib() { awk '/VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }   # peak RSS

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }   # utime + stime of PID $1

# core_pct PID TICKS0 TIME0: the CPU PID used since then, in % of one core.
core_pct() {
  awk -v c0="$2" -v c1="$(cpu_ticks "$1")" -v t0="$3" -v t1="$EPOCHREALTIME" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { printf "%.2f", 100 * (c1 - c0) / hz / (t1 - t0) }'
}

# since TIME0: seconds since then.
since() { awk -v a="$1" -v b="$EPOCHREALTIME" -v f="${2:-%.1f}" 'BEGIN { printf f, b - a }'; }

# settle PID: waits (up to 60 s) until PID uses under 5% of a core over a second: after a bulk
# load etcd goes on writing for a while, and start-up is timed against etcd at rest.
settle() {
  local c t i
  for i in $(seq 60); do
    c=$(cpu_ticks "$1"); t=$EPOCHREALTIME; sleep 1
    awk -v p="$(core_pct "$1" "$c" "$t")" 'BEGIN { exit !(p < 5) }' && return
  done
}

# ---- measuring ---------------------------------------------------------------------------

# perf LOG PORT CPUS [DNSPERF ARGS...]: one dnsperf run of SECS seconds over $QUERIES; prints
# its queries per second and keeps its whole output in $W/LOG.log.
perf() {
  local log=$1 port=$2 pin=(); [ "$3" != all ] && pin=(taskset -c "$3"); shift 3
  "${pin[@]}" dnsperf -s 127.0.0.1 -p "$port" -d "$QUERIES" -l "$SECS" -c 4 -q 200 -t 2 "$@" 2>&1 \
    | tee -a "$W/$log.log" | sed -n 's/.*Queries per second: *\([0-9.]*\).*/\1/p'
}

# publish_delay FILE_BEFORE FILE_AFTER: p50 and p99 (bucket upper bounds) of
# skydns_skydns_store_publish_delay_seconds between two scrapes of the server's metrics.
publish_delay() {
  python3 - "$1" "$2" <<'PY'
import re, sys
def buckets(path):
    out = {}
    for line in open(path):
        m = re.match(r'skydns_skydns_store_publish_delay_seconds_bucket\{le="([^"]+)"\} (\S+)', line)
        if m:
            out[float(m.group(1))] = float(m.group(2))
    return out
a, b = buckets(sys.argv[1]), buckets(sys.argv[2])
delta = sorted((le, b[le] - a.get(le, 0)) for le in b)
total = delta[-1][1] if delta else 0
if total == 0:
    print("no publications with watched changes")
    sys.exit()
def q(p):
    return next((le for le, n in delta if n >= p * total), float("nan")) * 1000
print(f"{int(total)} publications, oldest change waited p50 <= {q(0.5):g} ms, p99 <= {q(0.99):g} ms")
PY
}

median() { printf '%s\n' "$@" | sort -g | sed -n "$((($# + 1) / 2))p"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
int() { printf '%.0f' "$1"; }

# rounds NAME DNSPERF_CPUS [DNSPERF ARGS...]: three alternating rounds, Knot ($KP) first then the
# server ($SP), so that drift on the machine hits both alike; sets MK, MS (medians) and R.
rounds() {
  local name=$1 cpus=$2 k=() s=(); shift 2
  for i in 1 2 3; do
    k+=("$(perf "$name-knot" "$KP" "$cpus" "$@")")
    s+=("$(perf "$name-server" "$SP" "$cpus" "$@")")
    say "$name round $i: knot $(int "${k[-1]}") qps, server $(int "${s[-1]}") qps"
  done
  MK=$(median "${k[@]}"); MS=$(median "${s[@]}"); R=$(ratio "$MS" "$MK")
}

# health LOG: queries lost and the response-code split, summed over the runs in $W/LOG.log.
health() {
  awk '/Queries lost:/ { lost += $3 }
       /Response codes:/ { sub(/.*Response codes: */, ""); n = split($0, a, /, /)
                           for (i = 1; i <= n; i++) { split(a[i], b, " "); c[b[1]] += b[2]; t += b[2] } }
       END { printf "lost %d\n", lost; fflush()
             for (k in c) printf "%s %.1f%%\n", k, 100 * c[k] / t | "sort"; close("sort") }' "$W/$1.log" \
    | paste -sd, | sed 's/,/, /g'
}

# ---- the targets -------------------------------------------------------------------------

target1_udp_one_core() {
  rounds t1 1
  summary 1 "UDP, one core, 24,500 records: server $(int "$MS") qps, knot $(int "$MK") qps, ratio $R" \
    "server $(health t1-server); knot $(health t1-knot)"
}

target5_tcp() {
  rounds t5 1 -m tcp
  summary 5 "TCP, one core: server $(int "$MS") qps, knot $(int "$MK") qps, ratio $R" \
    "server $(health t5-server); knot $(health t5-knot)"
}

# etcd's share of a core: while the server answers a full load, and over as long with no load.
target6_etcd_idle() {
  local c t idle busy q
  c=$(cpu_ticks "$ETCD_PID"); t=$EPOCHREALTIME
  sleep "$SECS"
  idle=$(core_pct "$ETCD_PID" "$c" "$t")
  c=$(cpu_ticks "$ETCD_PID"); t=$EPOCHREALTIME
  q=$(perf t6-server "$SP" 1)
  busy=$(core_pct "$ETCD_PID" "$c" "$t")
  summary 6 "etcd CPU while the server answers $(int "$q") qps: ${busy}% of a core (${idle}% with no load)"
}

# perf_share LOG: perf on the server ($SP, dnsperf on core 1); prints its qps and the share of a
# core the server got meanwhile.
perf_share() {
  local c t q; c=$(cpu_ticks "$SPID"); t=$EPOCHREALTIME
  q=$(perf "$1" "$SP" 1)
  echo "$q $(core_pct "$SPID" "$c" "$t")"
}

# Three rounds: dnsperf without churn, then with churn.py writing to etcd and probing. etcd and
# churn.py are not pinned: on two cores they take CPU from the server and dnsperf, so the server's
# share of core 0 is reported too, and its qps per core it actually got.
target4_live_updates() {
  local plain=() churned=() pshare=() cshare=() i q share
  curl -sf "http://127.0.0.1:$MP/metrics" >"$W/t4-metrics-before"
  for i in 1 2 3; do
    read -r q share < <(perf_share t4-plain); plain+=("$q"); pshare+=("$share")
    python3 "$HERE/churn.py" run --endpoint "$EP" --server "127.0.0.1:$SP" --seconds "$SECS" \
      --warmup 1 --rate 10000 --batch "$CHURN_BATCH" --tag "$i" --out "$W/churn.jsonl" & PIDS+=($!)
    local cpid=$!
    sleep 1   # the churn reaches its pace before dnsperf starts
    read -r q share < <(perf_share t4-churn); churned+=("$q"); cshare+=("$share")
    wait "$cpid"
    say "t4 round $i: server $(int "${plain[-1]}") qps without churn (${pshare[-1]}% of core 0)," \
        "$(int "${churned[-1]}") with (${cshare[-1]}%)"
  done
  curl -sf "http://127.0.0.1:$MP/metrics" >"$W/t4-metrics-after"
  # The server's own cost of the updates, without dnsperf in the way: its CPU while only churn runs.
  local c t alone rate
  c=$(cpu_ticks "$SPID"); t=$EPOCHREALTIME
  python3 "$HERE/churn.py" run --endpoint "$EP" --server "127.0.0.1:$SP" --seconds "$SECS" \
    --warmup 0 --rate 10000 --batch "$CHURN_BATCH" --tag 9 --out "$W/churn-alone.jsonl"
  alone=$(core_pct "$SPID" "$c" "$t"); rate=$(python3 "$HERE/churn.py" report --rate-only "$W/churn-alone.jsonl")
  local mp mc sp sc; mp=$(median "${plain[@]}"); mc=$(median "${churned[@]}")
  sp=$(median "${pshare[@]}"); sc=$(median "${cshare[@]}")
  summary 4 "live updates: server $(int "$mc") qps during churn vs $(int "$mp") without, ratio $(ratio "$mc" "$mp"); $(health t4-churn)" \
    "server's share of core 0: $(int "$sc")% during churn, $(int "$sp")% without; qps per core it got: $(int "$(awk -v q="$mc" -v s="$sc" 'BEGIN { print q * 100 / s }')") vs $(int "$(awk -v q="$mp" -v s="$sp" 'BEGIN { print q * 100 / s }')")" \
    "$(python3 "$HERE/churn.py" report "$W/churn.jsonl")" \
    "server's share (skydns_skydns_store_publish_delay_seconds over the three rounds): $(publish_delay "$W/t4-metrics-before" "$W/t4-metrics-after")" \
    "churn alone (no dnsperf): $rate ops/s cost the server ${alone}% of a core, $(awk -v p="$alone" -v r="$rate" 'BEGIN { printf "%.0f", (r > 0 ? p * 10000 / r : 0) }') µs per operation (probe queries included)"
}

target2_both_cores() {
  start_server t2 all
  start_knot t2 "$DS/zone.db" 2 all
  read -r name ip < <(first_expect "$DS")
  wait_answer "$SP" "$name" "$ip" 60; wait_answer "$KP" "$name" "$ip" 60
  rounds t2 all
  summary 2 "UDP, both cores, unpinned: server $(int "$MS") qps, knot (2 UDP workers) $(int "$MK") qps, ratio $R" \
    "server $(health t2-server); knot $(health t2-knot)"
  stop "$SPID"; stop "$KPID"
}

# start_times NAME IP: the seconds from $START to the first right answer on $SP and to the log's
# "first read of etcd complete"; prints "FIRST_ANSWER READ_COMPLETE".
start_times() {
  local ans="" done="" now
  while [ -z "$ans" ] || [ -z "$done" ]; do
    now=$EPOCHREALTIME
    if [ -z "$ans" ] && answers "$SP" "$1" "$2"; then ans=$now; fi
    if [ -z "$done" ] && grep -q "first read of etcd complete" "$SLOG"; then done=$now; fi
    kill -0 "$SPID" 2>/dev/null || { echo "server died: $SLOG" >&2; exit 1; }
    awk -v a="$START" -v b="$now" 'BEGIN { exit !(b - a > 900) }' && { echo "gave up after 900 s" >&2; exit 1; }
    sleep 0.05   # 50 ms resolution; a tight loop of dig processes would take CPU from etcd
  done
  awk -v s="$START" -v a="$ans" -v d="$done" 'BEGIN { printf "%.2f %.2f", a - s, d - s }'
}

target3_million() {
  local ds=$W/ds1m name ip t
  say "t3: generating one million records"
  python3 "$SHARED/gen_dataset.py" --out "$ds" --pods 950000 --services 40000 --nodes 10000 >/dev/null
  start_etcd m --quota-backend-bytes=8589934592
  say "t3: loading etcd"
  t=$EPOCHREALTIME
  python3 "$HERE/etcd_bulk.py" "$ds/records.jsonl" --endpoint "$EP"
  local load; load=$(since "$t" %.0f)
  read -r name ip < <(first_expect "$ds")
  settle "$ETCD_PID"
  say "t3: starting the server"
  start_server t3 0
  local times; times=$(start_times "$name" "$ip")
  sleep 2   # the read's pages are handed back to the system after the log line
  local srss shwm; srss=$(rss_mib "$SPID"); shwm=$(hwm_mib "$SPID")
  t=$EPOCHREALTIME
  start_knot t3 "$ds/zone.db" 1 0
  wait_answer "$KP" "$name" "$ip" 300
  local kload; kload=$(since "$t")
  local krss khwm; krss=$(rss_mib "$KPID"); khwm=$(hwm_mib "$KPID")
  QUERIES=$ds/queries.txt
  rounds t3 1
  summary 3 "one million records (etcd loaded in ${load} s): first answer ${times% *} s, first read complete ${times#* } s" \
    "RSS server ${srss} MiB, knot ${krss} MiB (its zone loaded in ${kload} s); peak RSS server ${shwm} MiB, knot ${khwm} MiB" \
    "one core: server $(int "$MS") qps, knot $(int "$MK") qps, ratio $R; server $(health t3-server); knot $(health t3-knot)"
  stop "$SPID"; stop "$KPID"; stop "$ETCD_PID"
}

# ---- the run -----------------------------------------------------------------------------

DS=$W/ds; QUERIES=$DS/queries.txt
python3 "$SHARED/gen_dataset.py" --out "$DS" >/dev/null
start_etcd b
python3 "$HERE/etcd_bulk.py" "$DS/records.jsonl" --endpoint "$EP" 2>/dev/null
read -r NAME IP < <(first_expect "$DS")

say "targets 1, 5, 6, 4: both servers pinned to core 0, dnsperf to core 1, $SECS s a run"
start_server pinned 0; PINNED_SPID=$SPID
start_knot pinned "$DS/zone.db" 1 0; PINNED_KPID=$KPID
wait_answer "$SP" "$NAME" "$IP" 60; wait_answer "$KP" "$NAME" "$IP" 60
target1_udp_one_core
target5_tcp
target6_etcd_idle
target4_live_updates
stop "$PINNED_SPID"; stop "$PINNED_KPID"

say "target 2: both cores"
target2_both_cores
stop "$ETCD_PID"

if [ "$MILLION" = 1 ]; then target3_million; fi

echo
echo "==== issue 6 targets: $(basename "$BIN") vs Knot DNS $(knotd --version | awk '{print $NF}'), $(nproc) CPUs, $SECS s runs, medians of 3 ===="
SUMMARY[3]=${SUMMARY[3]:-not run (add --million)}
for n in 1 2 3 4 5 6; do echo "$n ${SUMMARY[$n]:-failed}"; done
