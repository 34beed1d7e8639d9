#!/usr/bin/env bash
# What one echo request costs each server build, broken down: CPU (user and kernel), system
# calls by kind, reads that found nothing (EAGAIN), epoll_wait calls and context switches.
# The breakdown table in docs/BENCHMARKS.md comes from this script.
#
#   benches/per_request.sh [ROUNDS] [CONNECTION COUNTS...]      # default: 3 rounds, 500 10000
#   BUILDS="coroutine before=/path/to/old/mayfly" benches/per_request.sh   # A/B two binaries
#
# BUILDS lists echo builds (default: coroutine tokio may epoll); an entry LABEL=BINARY runs
# the coroutine build of another mayfly binary under that label, interleaved with the rest.
# RATE=R paces the client at R requests a second (`stress --rate`): every build then answers
# the same load, and CPU per request does not follow the client's speed.
# Needs `perf` (syscall tracepoints: run as root or lower kernel.perf_event_paranoid) and a
# release build (`cargo build --release`). Each measurement: the server pinned to CPU 0, the
# coroutine client (`mayfly stress --mode coroutine`, the same load as `mayfly compare`)
# pinned to CPU 1 for 6 s; perf counts the server from the client's window start mark to its
# end mark (`stress --marks`: all connections made, replies counted), so the requests in
# perf's window are the client's req/s times 6 s.
#
# Every build is measured twice a round: once for CPU (task-clock and context switches,
# software counters), once for system calls (syscall tracepoints, whose own cost is kernel
# time of the server's: it would be added to every build alike and pull every ratio toward
# 1). Rounds are interleaved (every build at every count, then again); the table shows
# medians. Loopback only; every process it starts is stopped by PID. RUNS_OUT=FILE keeps
# every run's figures (one JSON object a line).
set -euo pipefail

ROUNDS=${1:-3}
shift || true
COUNTS=("${@:-500 10000}")
# shellcheck disable=SC2206
COUNTS=(${COUNTS[*]})
# shellcheck disable=SC2206
BUILDS=(${BUILDS:-coroutine tokio may epoll})
WINDOW=6
BIN=${MAYFLY_BIN:-target/release/mayfly}
[ -x "$BIN" ] || { echo "no $BIN: run cargo build --release first" >&2; exit 2; }
command -v perf >/dev/null || { echo "perf is not installed" >&2; exit 2; }
ulimit -n 20000 2>/dev/null || true
TMP=$(mktemp -d)
SP= CP= PP= # the running server, client and perf: stopped by PID on any exit
trap 'kill $SP $CP $PP 2>/dev/null; rm -rf "$TMP"' EXIT

CPU_EVENTS=task-clock,context-switches
CALL_EVENTS=raw_syscalls:sys_enter
CALL_EVENTS+=,syscalls:sys_enter_read,syscalls:sys_enter_recvfrom
CALL_EVENTS+=,syscalls:sys_enter_write,syscalls:sys_enter_sendto
CALL_EVENTS+=,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_pwait

ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }   # utime stime, in clock ticks

wait_for() { # FILE PATTERN PID: waits (up to 60 s) until FILE has a line matching PATTERN
    for _ in $(seq 6000); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        kill -0 "$3" 2>/dev/null || { echo "the client exited: $(cat "$1")" >&2; return 1; }
        sleep 0.01
    done
    echo "timed out waiting for '$2' in $1" >&2
    return 1
}

measure() { # build conns what(cpu|calls) -> $TMP/perf-<what>.csv, $TMP/client-<what>.json, $TMP/ticks-<what>
    local build=$1 n=$2 what=$3 addr bin=$BIN mode=$1 u0 s0 u1 s1 backlog
    if [[ $build == *=* ]]; then
        bin=${build#*=}
        mode=coroutine
    fi
    : >"$TMP/server.log"
    # The backlog compare gives a server for N connections (clients/src/compare/one_run.rs).
    backlog=$((n < 128 ? 128 : (n > 65535 ? 65535 : n)))
    taskset -c 0 "$bin" serve echo --mode "$mode" --addr 127.0.0.1:0 --backlog "$backlog" \
        >"$TMP/server.log" 2>&1 &
    SP=$!
    for _ in $(seq 100); do
        addr=$(grep -o '127\.0\.0\.1:[0-9]*' "$TMP/server.log" | head -1 || true)
        [ -n "$addr" ] && break
        sleep 0.05
    done
    [ -n "$addr" ] || { echo "the $build server printed no address: $(cat "$TMP/server.log")" >&2; exit 1; }
    : >"$TMP/client.err"
    taskset -c 1 "$BIN" stress --addr "$addr" --mode coroutine --connections "$n" \
        --duration "${WINDOW}s" --json --marks ${RATE:+--rate "$RATE"} \
        >"$TMP/client-$what.json" 2>"$TMP/client.err" &
    CP=$!
    wait_for "$TMP/client.err" 'window start' "$CP"
    read -r u0 s0 < <(ticks "$SP")
    if [ "$what" = cpu ]; then
        perf stat -x, -e "$CPU_EVENTS" -p "$SP" -o "$TMP/perf-$what.csv" &
    else
        perf stat -x, -e "$CALL_EVENTS" -e syscalls:sys_exit_recvfrom --filter 'ret == -11' \
            -e syscalls:sys_exit_read --filter 'ret == -11' \
            -p "$SP" -o "$TMP/perf-$what.csv" &
    fi
    PP=$!
    sleep "$((WINDOW - 1))" # no polling (a grep every 10 ms) while most of the window runs
    wait_for "$TMP/client.err" 'window end' "$CP"
    kill -INT "$PP" 2>/dev/null || true
    wait "$PP" || true
    PP=
    read -r u1 s1 < <(ticks "$SP")
    echo "$((u1 - u0)) $((s1 - s0))" >"$TMP/ticks-$what"
    wait "$CP" || true
    CP=
    kill "$SP" 2>/dev/null || true
    wait "$SP" 2>/dev/null || true
    SP=
}

one_run() { # build conns -> appends one line to $TMP/runs
    local build=$1 n=$2
    measure "$build" "$n" cpu
    measure "$build" "$n" calls
    python3 - "${build%%=*}" "$n" "$WINDOW" "$TMP" >>"$TMP/runs" <<'PY'
import json, sys
build, n, window, tmp = sys.argv[1:]
def counts(what):
    c = {}
    for line in open(f"{tmp}/perf-{what}.csv"):
        f = line.strip().split(",")
        if len(f) > 2:
            try:
                c[f[2]] = c.get(f[2], 0) + float(f[0])
            except ValueError:
                pass
    return c
def requests(what):
    return json.load(open(f"{tmp}/client-{what}.json"))["rps"] * float(window)
cpu, calls = counts("cpu"), counts("calls")
du, ds = map(int, open(f"{tmp}/ticks-cpu").read().split())
req_cpu, req_calls = requests("cpu"), requests("calls")
per = lambda *names: sum(calls.get(k, 0) for k in names) / req_calls
cpu_us = cpu.get("task-clock", 0) * 1e3 / req_cpu
row = {
    "build": build, "conns": int(n), "rps": req_cpu / float(window),
    "cpu_us": cpu_us,
    # /proc's tick counts (10 ms each) over the same window: used for the split only.
    "user_us": cpu_us * du / max(1, du + ds),
    "sys_us": cpu_us * ds / max(1, du + ds),
    "syscalls": per("raw_syscalls:sys_enter"),
    "reads": per("syscalls:sys_enter_read", "syscalls:sys_enter_recvfrom"),
    "eagain": per("syscalls:sys_exit_recvfrom", "syscalls:sys_exit_read"),
    "writes": per("syscalls:sys_enter_write", "syscalls:sys_enter_sendto"),
    "epoll_waits": per("syscalls:sys_enter_epoll_wait", "syscalls:sys_enter_epoll_pwait"),
    "switches": cpu.get("context-switches", 0) / req_cpu,
}
print(json.dumps(row))
PY
}

for r in $(seq "$ROUNDS"); do
    for n in "${COUNTS[@]}"; do
        for b in "${BUILDS[@]}"; do
            echo "round $r of $ROUNDS: ${b%%=*} with $n connections" >&2
            one_run "$b" "$n"
        done
    done
done

python3 - "$TMP/runs" "$ROUNDS" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
cols = ["cpu_us", "user_us", "sys_us", "syscalls", "reads", "eagain", "writes",
        "epoll_waits", "switches"]
print(f"Per request, medians of {sys.argv[2]} interleaved rounds (server on CPU 0, client on CPU 1; CPU read without the syscall tracepoints):")
print()
print("| build | conns | CPU µs | user µs | kernel µs | syscalls | reads | reads → EAGAIN"
      " | writes | epoll_wait | context switches |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
keys = []
for r in rows:
    k = (r["conns"], r["build"])
    if k not in keys:
        keys.append(k)
for conns, build in sorted(keys, key=lambda k: (k[0], keys.index(k))):
    sel = [r for r in rows if r["build"] == build and r["conns"] == conns]
    med = {c: statistics.median(r[c] for r in sel) for c in cols}
    print(f"| {build} | {conns} | {med['cpu_us']:.2f} | {med['user_us']:.2f} | "
          f"{med['sys_us']:.2f} | {med['syscalls']:.2f} | {med['reads']:.2f} | "
          f"{med['eagain']:.2f} | {med['writes']:.2f} | {med['epoll_waits']:.3f} | "
          f"{med['switches']:.3f} |")

# The first build against each other, round by round (the rounds are interleaved, so round i
# of one build ran next to round i of the other): the median ratio and its spread.
first = keys[0][1]
print()
print(f"{first} ÷ each build, per round (median, min–max of the {sys.argv[2]} rounds):")
print()
print("| conns | ratio | CPU per request | user time per request |")
print("|---:|---|---|---|")
for conns in sorted({k[0] for k in keys}):
    mine = [r for r in rows if r["build"] == first and r["conns"] == conns]
    for build in [b for c, b in keys if c == conns and b != first]:
        theirs = [r for r in rows if r["build"] == build and r["conns"] == conns]
        cells = []
        for col in ("cpu_us", "user_us"):
            q = [a[col] / b[col] for a, b in zip(mine, theirs) if b[col] > 0]
            cells.append(f"{statistics.median(q):.2f} ({min(q):.2f}–{max(q):.2f})" if q else "–")
        print(f"| {conns} | {first} ÷ {build} | {cells[0]} | {cells[1]} |")
PY
if [ -n "${RUNS_OUT:-}" ]; then cp "$TMP/runs" "$RUNS_OUT"; fi
