#!/usr/bin/env python3
"""wrk against the three `mayfly serve http` builds (issue 22 step 6): an independent client.

    python3 benches/http_wrk.py MAYFLY [--rounds 3] [--seconds 5] [--conns 500,10000]
                                       [--builds coroutine,threads,tokio] [--threads 2]

Each round runs every (connections, build) pair once, builds interleaved. Per run: the
server (`serve http --mode BUILD --addr 127.0.0.1:0 --stats-addr 127.0.0.1:0`) pinned to
CPU 0 with taskset, then `wrk -tT -cN -dDs --latency --timeout 10s http://ADDR/plaintext`
pinned to CPU 1. wrk opens all N connections at once and a build with a thread per
connection takes seconds to accept 10,000 on a busy CPU, so the window opens after a
warm-up (2 s at up to 1,000 connections, 8 s above) and lasts --seconds inside wrk's run:
req/s and CPU µs per request are the server's own request count (its stats page) and its
CPU (user + system, /proc/PID/stat) between the window's two ends. p99, non-2xx and socket
errors are wrk's, over its whole run. KiB per connection = (VmHWM after the run - VmRSS
before it) / N: peak RSS per connection under load. Needs `ulimit -n` above N + some (wrk
and the server each hold N sockets); the server raises its own soft limit to the hard one.

Prints one line per run (and any non-2xx answers or socket errors wrk saw), then the
medians and range per (connections, build).
"""
import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import time

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def to_ms(value, unit):
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def parse_wrk(out):
    got = {}
    m = re.search(r"(\d+) requests in", out)
    got["requests"] = int(m.group(1)) if m else 0
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    got["rps"] = float(m.group(1)) if m else 0.0
    m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    got["p99_ms"] = to_ms(*m.groups()) if m else float("nan")
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    got["non_2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    got["socket_errors"] = sum(map(int, m.groups())) if m else 0
    got["socket_detail"] = m.group(0) if m else ""
    return got


def stats(addr):
    host, port = addr.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(b"GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return json.loads(data.split(b"\r\n\r\n", 1)[1])


def one_run(exe, build, conns, seconds, threads):
    # wrk opens its connections and sends at once; a build that takes seconds to accept
    # 10,000 (a thread each) would have its set-up in the window. So wrk runs for a warm-up
    # first, and the window is measured on the server: its request count (stats page) and
    # CPU (/proc) at the window's two ends.
    warm = 2 if conns <= 1000 else 8
    server = subprocess.Popen(
        ["taskset", "-c", "0", exe, "serve", "http", "--mode", build, "--addr", "127.0.0.1:0",
         "--stats-addr", "127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        addr = server.stdout.readline().split()[-1]
        stats_addr = server.stdout.readline().split()[-1]
        rss0 = status_kib(server.pid, "VmRSS")
        wrk = subprocess.Popen(
            ["taskset", "-c", "1", "wrk", f"-t{threads}", f"-c{conns}",
             f"-d{warm + seconds + 1}s", "--latency", "--timeout", "10s",
             f"http://{addr}/plaintext"],
            stdout=subprocess.PIPE, text=True,
        )
        time.sleep(warm)
        req0, cpu0, t0 = stats(stats_addr)["requests"], cpu_seconds(server.pid), time.monotonic()
        time.sleep(seconds)
        req1, cpu1, t1 = stats(stats_addr)["requests"], cpu_seconds(server.pid), time.monotonic()
        out, _ = wrk.communicate(timeout=warm + seconds + 120)
        hwm = status_kib(server.pid, "VmHWM")
    finally:
        server.terminate()
        server.wait(timeout=30)
    got = parse_wrk(out)
    n = req1 - req0
    got["window_rps"] = n / (t1 - t0)
    got["cpu_us_per_req"] = (cpu1 - cpu0) / n * 1e6 if n else float("nan")
    got["kib_per_conn"] = (hwm - rss0) / conns
    return got


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("exe")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--conns", default="500,10000")
    ap.add_argument("--builds", default="coroutine,threads,tokio")
    ap.add_argument("--threads", type=int, default=2, help="wrk threads")
    a = ap.parse_args()
    keys = [(int(c), b) for c in a.conns.split(",") for b in a.builds.split(",")]
    results = {k: [] for k in keys}
    for r in range(a.rounds):
        for k in keys:
            got = one_run(a.exe, k[1], k[0], a.seconds, a.threads)
            results[k].append(got)
            print(f"round {r + 1} {k[1]} c={k[0]}: {got['window_rps']:.0f} req/s in the window "
                  f"(wrk's whole run {got['rps']:.0f}), "
                  f"{got['cpu_us_per_req']:.2f} CPU us/req, p99 {got['p99_ms']:.2f} ms, "
                  f"{got['kib_per_conn']:.1f} KiB/conn, non-2xx {got['non_2xx']}, "
                  f"socket errors {got['socket_errors']} {got['socket_detail']}", flush=True)
    print("| build | conns | CPU µs/req | range | req/s | p99 ms | KiB/conn | non-2xx | socket errors |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for (conns, build), rs in results.items():
        med = {f: statistics.median(x[f] for x in rs) for f in
               ("cpu_us_per_req", "window_rps", "p99_ms", "kib_per_conn")}
        cpus = [x["cpu_us_per_req"] for x in rs]
        print(f"| {build} | {conns:,} | {med['cpu_us_per_req']:.2f} | "
              f"{min(cpus):.2f}–{max(cpus):.2f} | {med['window_rps']:,.0f} | {med['p99_ms']:.2f} | "
              f"{med['kib_per_conn']:.1f} | {sum(x['non_2xx'] for x in rs)} | "
              f"{sum(x['socket_errors'] for x in rs)} |")


if __name__ == "__main__":
    main()
