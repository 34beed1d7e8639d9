#!/usr/bin/env python3
"""What downloads nobody reads cost the file server (issue 25 part 4, issue 27 part 2).

For each round and each binary given (interleaved: old, new, old, new, ...), the script starts
`serve file` on 127.0.0.1 (port 0) over a fresh directory holding one FILE_MIB MiB file, fetches
it once whole (so its hash is cached and the pages are in the page cache), reads the server's
VmRSS from /proc, then opens CLIENTS connections that each send one `get` of the file and never
read a byte. After SETTLE seconds (every transfer parked on a full socket buffer) it reads VmRSS
again, and prints the growth per connection. The figures in docs/RELIABILITY.md come from it.

    benches/unread_downloads.py OLD_BINARY NEW_BINARY [ROUNDS] [CLIENTS] [FILE_MIB]

The caps are off (`--max-connections 0 --max-per-peer 0`) and the fd limit raised to its hard
limit, so every client is served; the minimum rate cuts unread downloads only after its
20 s window, long after the reading. Loopback only; every server is stopped by PID.
"""

import json
import os
import resource
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

ROUNDS = int(sys.argv[3]) if len(sys.argv) > 3 else 3
CLIENTS = int(sys.argv[4]) if len(sys.argv) > 4 else 400
FILE_MIB = int(sys.argv[5]) if len(sys.argv) > 5 else 4
SETTLE = 3.0


def frame(header):
    h = json.dumps(header).encode()
    return struct.pack("<i", len(h)) + h


def raise_fd_limit():
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def recv_exact(s, n):
    out = b""
    while len(out) < n:
        got = s.recv(n - len(out))
        if not got:
            raise RuntimeError("closed")
        out += got
    return out


def one_run(binary, root):
    p = subprocess.Popen(
        [binary, "serve", "file", "--addr", "127.0.0.1:0", "--root", root,
         "--max-connections", "0", "--max-per-peer", "0", "--grace", "0s"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        preexec_fn=raise_fd_limit,
    )
    try:
        line = p.stdout.readline().strip()
        assert line.startswith("listening on "), line
        host, port = line.removeprefix("listening on ").rsplit(":", 1)
        addr = (host, int(port))
        request = frame({"cmd": "get", "filename": "big.bin"})
        # One whole download first: the hash is cached, the pages are in the page cache.
        with socket.create_connection(addr) as s:
            s.sendall(request)
            n = struct.unpack("<i", recv_exact(s, 4))[0]
            header = json.loads(recv_exact(s, n))
            assert header["status"] == "ok", header
            left = header["total_size"]
            while left:
                left -= len(s.recv(min(left, 1 << 20)))
        time.sleep(0.5)
        before = rss_kib(p.pid)
        conns = []
        for _ in range(CLIENTS):
            s = socket.create_connection(addr)
            s.sendall(request)
            conns.append(s)
        time.sleep(SETTLE)
        after = rss_kib(p.pid)
        for s in conns:
            s.close()
        return before, after
    finally:
        p.kill()
        p.wait()


def main():
    bins = sys.argv[1:3]
    raise_fd_limit()
    per = {b: [] for b in bins}
    with tempfile.TemporaryDirectory() as root:
        with open(os.path.join(root, "big.bin"), "wb") as f:
            f.write(os.urandom(FILE_MIB << 20))
        for r in range(ROUNDS):
            for b in bins:
                before, after = one_run(b, root)
                kib = (after - before) / CLIENTS
                per[b].append(kib)
                print(f"round {r + 1} {b}: VmRSS {before} -> {after} KiB, "
                      f"{kib:.1f} KiB per unread download")
    for b in bins:
        v = per[b]
        print(f"{b}: median {statistics.median(v):.1f} KiB per unread download "
              f"(min {min(v):.1f}, max {max(v):.1f}; {CLIENTS} clients, {FILE_MIB} MiB file, "
              f"{ROUNDS} rounds)")


if __name__ == "__main__":
    main()
