#!/usr/bin/env bash
# User-space instructions per echo request, load-insensitive: the server runs under
# valgrind's callgrind (which counts every instruction it executes in user space, whatever
# else the machine is doing), pinned to CPU 0, with collection switched on only for the
# stress client's measured window (its `--marks`), and the client (`mayfly stress --mode
# coroutine`, the load of `mayfly compare`) pinned to CPU 1. Instructions in the window
# divided by the requests the client counted in it. Under callgrind the server is ~50× slower,
# so every epoll_wait finds many connections ready: the figure is the cost of a saturated
# server, the same for every build.
#
#   benches/request_instructions.sh [CONNECTIONS] [BUILDS...]   # default: 500 coroutine tokio
#   MAYFLY_BIN=/path/to/other/mayfly benches/request_instructions.sh 500 coroutine
#
# Each run leaves its profile in $OUT (default target/request_instructions/BUILD-N.cg):
# `callgrind_annotate --inclusive=no FILE | head -40` lists where the instructions go.
# Needs valgrind and a release build; every process it starts is stopped by PID.
set -euo pipefail

CONNS=${1:-500}
shift || true
if [ $# -gt 0 ]; then BUILDS=("$@"); else BUILDS=(coroutine tokio); fi
WINDOW=${WINDOW:-10s}
BIN=${MAYFLY_BIN:-target/release/mayfly}
CLIENT=${CLIENT_BIN:-target/release/mayfly}
OUT=${OUT:-target/request_instructions}
# CACHE_SIM=yes simulates the caches too (callgrind's model of this machine's L1 and last
# level): the profile then also counts data reads and writes that miss (D1mr/D1mw, DLmr/DLmw).
CACHE_SIM=${CACHE_SIM:-no}
[ -x "$BIN" ] || { echo "no $BIN: run cargo build --release first" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 2; }
mkdir -p "$OUT"
ulimit -n 20000 2>/dev/null || true
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

for build in "${BUILDS[@]}"; do
    cg="$OUT/$build-$CONNS.cg"
    taskset -c 0 valgrind --tool=callgrind --instr-atstart=no --cache-sim="$CACHE_SIM" \
        --callgrind-out-file="$cg" \
        "$BIN" serve echo --mode "$build" --addr 127.0.0.1:0 >"$TMP/server.log" 2>&1 &
    sp=$!
    addr=
    for _ in $(seq 600); do
        addr=$(grep -o 'listening on 127\.0\.0\.1:[0-9]*' "$TMP/server.log" | grep -o '127.*' | head -1 || true)
        [ -n "$addr" ] && break
        sleep 0.1
    done
    [ -n "$addr" ] || { echo "$build: no listening line" >&2; cat "$TMP/server.log" >&2; kill "$sp"; exit 1; }
    : >"$TMP/marks"
    taskset -c 1 "$CLIENT" stress --addr "$addr" --mode coroutine --connections "$CONNS" \
        --duration "$WINDOW" --marks --json >"$TMP/client.json" 2>"$TMP/marks" &
    cp=$!
    until grep -q 'window start' "$TMP/marks"; do sleep 0.05; done
    callgrind_control -i on "$sp" >/dev/null
    until grep -q 'window end' "$TMP/marks"; do sleep 0.05; done
    callgrind_control -i off "$sp" >/dev/null
    wait "$cp" || true
    kill -TERM "$sp" 2>/dev/null || true
    wait "$sp" 2>/dev/null || true
    python3 - "$build" "$CONNS" "$TMP/client.json" "$cg" <<'PY'
import json, re, sys
build, conns, client, cg = sys.argv[1:]
req = json.load(open(client))["requests"]
names, totals = ["Ir"], [0]
for line in open(cg):
    if line.startswith("events:"):
        names = line.split()[1:]
    m = re.match(r"(summary|totals):((?: \d+)+)", line)
    if m:
        totals = [int(x) for x in m.group(2).split()]
per = {n: t / max(req, 1) for n, t in zip(names, totals)}
extra = "".join(f", {per[n]:.1f} {n}" for n in ("D1mr", "D1mw", "DLmr", "DLmw") if n in per)
print(f"{build} at {conns} connections: {per['Ir']:.0f} instructions per request{extra} "
      f"({totals[0]} in the window, {req} requests; profile {cg})")
PY
done
