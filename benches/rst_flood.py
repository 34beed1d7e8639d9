#!/usr/bin/env python3
"""RST flood against `mayfly serve echo` (issue 25 part 4): what resets cost other clients.

    python3 benches/rst_flood.py OLD_MAYFLY [NEW_MAYFLY ...] [--rounds 3] [--seconds 5]

For each binary, in interleaved rounds (old, new, old, new, ...), it starts
`serve echo` (coroutine build, pinned to CPU 0 when there are two CPUs) and measures:

- `alone`: `mayfly stress` (50 threads, pinned to CPU 1) req/s with nothing else going on;
- `rst_flood`: the same stress while one client connects and closes with SO_LINGER {1, 0}
  (the close sends an RST) in a loop, as fast as it can (also on CPU 1);
- `short_flood`: the same with ordinary short connections instead (connect, send a line,
  read the reply, close): what a reset should cost at most;
- `short`/`rst`: the server's CPU (from /proc/PID/stat) per connection, with no stress
  running, for N ordinary short connections (connect, send a line, read the reply,
  close with a FIN) and for N reset ones (connect, RST close).

Everything is bounded: each window lasts --seconds, each socket has a 2 s timeout, and
the server is stopped by PID at the end. Prints one line per binary per round and the
medians (and range) at the end.
"""
import argparse
import json
import os
import socket
import statistics
import struct
import subprocess
import threading
import time

TICK = os.sysconf("SC_CLK_TCK")
TWO_CPUS = len(os.sched_getaffinity(0)) >= 2


def pin(cpu):
    return ["taskset", "-c", str(cpu)] if TWO_CPUS else []


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def stats(addr):
    host, port = addr.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=2) as s:
        s.sendall(b"GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return json.loads(data.split(b"\r\n\r\n", 1)[1])


def rst_close(target):
    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect(target)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    s.close()


def short_conn(target):
    try:
        with socket.create_connection(target, timeout=2) as s:
            s.sendall(b"hello\n")
            s.recv(64)
    except OSError:
        pass


def flood(target, make, stop, counter):
    while not stop.is_set():
        make(target)
        counter[0] += 1


def stress_under(exe, addr, target, make, seconds):
    """Stress req/s while one client makes connections with `make` in a loop; and how many."""
    stop, made = threading.Event(), [0]
    t = threading.Thread(target=flood, args=(target, make, stop, made))
    t.start()
    try:
        return stress(exe, addr, seconds)["rps"], made[0]
    finally:
        stop.set()
        t.join()


def stress(exe, addr, seconds):
    out = subprocess.run(
        pin(1) + [exe, "stress", "--addr", addr, "--threads", "50", "--duration",
                  f"{seconds}s", "--json"],
        capture_output=True, text=True, timeout=seconds + 30,
    )
    return json.loads(out.stdout)


def cpu_per_conn(pid, target, make, n):
    before = cpu_ticks(pid)
    for _ in range(n):
        make(target)
    time.sleep(0.3)  # let the server finish the last few
    return (cpu_ticks(pid) - before) / TICK / n * 1e6


def one_round(exe, seconds, n):
    p = subprocess.Popen(
        pin(0) + [exe, "serve", "echo", "--addr", "127.0.0.1:0", "--stats-addr", "127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        addr = p.stdout.readline().split()[-1]
        stats_addr = p.stdout.readline().split()[-1]
        host, port = addr.rsplit(":", 1)
        target = (host, int(port))
        alone = stress(exe, addr, seconds)["rps"]
        before = stats(stats_addr)["errors"]
        rst_flood, rsts = stress_under(exe, addr, target, rst_close, seconds)
        after = stats(stats_addr)["errors"]
        short_flood, shorts = stress_under(exe, addr, target, short_conn, seconds)
        short = cpu_per_conn(p.pid, target, short_conn, n)
        rst = cpu_per_conn(p.pid, target, rst_close, n)
        return {
            "alone": alone, "rst_flood": rst_flood, "short_flood": short_flood,
            "rst_ratio": rst_flood / alone, "short_ratio": short_flood / alone,
            "rsts": rsts, "resets_counted": after["reset"] - before["reset"], "shorts": shorts,
            "short_us": short, "rst_us": rst,
        }
    finally:
        p.terminate()
        p.wait(timeout=10)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("exes", nargs="+")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--conns", type=int, default=5000, help="connections per CPU window")
    a = ap.parse_args()
    results = {exe: [] for exe in a.exes}
    for r in range(a.rounds):
        for exe in a.exes:
            res = one_round(exe, a.seconds, a.conns)
            results[exe].append(res)
            print(f"round {r + 1} {exe}: " + ", ".join(
                f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in res.items()),
                flush=True)
    for exe, rs in results.items():
        print(f"median of {len(rs)} rounds, {exe}:")
        for k in rs[0]:
            vals = [x[k] for x in rs]
            print(f"  {k}: {statistics.median(vals):.3f} (range {min(vals):.3f}..{max(vals):.3f})")


if __name__ == "__main__":
    main()
