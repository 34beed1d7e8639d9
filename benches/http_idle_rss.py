#!/usr/bin/env python3
"""RSS per idle keep-alive HTTP connection (issue 22's goal: at most 8 KiB at 10,000).

    python3 benches/http_idle_rss.py MAYFLY [MAYFLY ...] [--conns 10000] [--rounds 3]
                                     [--mode coroutine]

For each binary, in interleaved rounds: starts `serve http --mode MODE --addr 127.0.0.1:0`,
reads its VmRSS, opens N connections, sends one `GET /plaintext` on each and reads its
answer (so every connection has served a request and is now idle in keep-alive), waits 1 s,
and reads VmRSS again: (after - before) / N is the RSS per idle connection. Bounded: every
socket has a 10 s timeout, and the server is stopped by PID at the end. Needs `ulimit -n`
above N + some.
"""
import argparse
import socket
import statistics
import subprocess
import time

REQUEST = b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n"


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def one(exe, mode, n):
    p = subprocess.Popen([exe, "serve", "http", "--mode", mode, "--addr", "127.0.0.1:0"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    conns = []
    try:
        host, port = p.stdout.readline().split()[-1].rsplit(":", 1)
        time.sleep(0.5)
        before = rss_kib(p.pid)
        for _ in range(n):
            s = socket.create_connection((host, int(port)), timeout=10)
            s.sendall(REQUEST)
            conns.append(s)
        for s in conns:
            got = b""
            while not got.endswith(b"Hello, World!"):
                chunk = s.recv(4096)
                if not chunk:
                    raise RuntimeError("the server closed a connection")
                got += chunk
        time.sleep(1)
        after = rss_kib(p.pid)
        return (after - before) / n, before, after
    finally:
        for s in conns:
            s.close()
        p.terminate()
        p.wait(timeout=30)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("exes", nargs="+")
    ap.add_argument("--conns", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--mode", default="coroutine")
    a = ap.parse_args()
    res = {e: [] for e in a.exes}
    for r in range(a.rounds):
        for e in a.exes:
            per, before, after = one(e, a.mode, a.conns)
            res[e].append(per)
            print(f"round {r + 1} {e}: {per:.2f} KiB per idle connection "
                  f"(VmRSS {before} -> {after} KiB, {a.conns} connections)", flush=True)
    for e, v in res.items():
        print(f"{e}: median {statistics.median(v):.2f} KiB (range {min(v):.2f}..{max(v):.2f})")


if __name__ == "__main__":
    main()
