#!/usr/bin/env python3
"""What one spoofed datagram costs mayfly's UDP servers (issue 25, part 2).

Each scenario starts its servers on 127.0.0.1 (port 0), sends ONE datagram whose source
address is forged with a raw socket (IP_HDRINCL), then reads each server's CPU time
(utime + stime from /proc/PID/stat, in clock ticks) over the next WINDOW seconds. The
figures in docs/RELIABILITY.md ("UDP reflection and amplification") come from this script.

    sudo benches/udp_reflection.py [MAYFLY_BINARY] [WINDOW_SECONDS]

Scenarios:
  echo<->echo  two `serve udp-echo`; the datagram claims to come from A and goes to B
  echo-self    one `serve udp-echo`; the datagram claims to come from the server itself
  echo<->time  `serve udp-echo` and `serve time`; from the echo server to the time server
  idle         one `serve udp-echo`, no datagram (the baseline)

Needs root (raw sockets) and Linux. Loopback only; every process it starts is stopped by
PID. A tick is 1/CLK_TCK s (10 ms at the usual 100): 500 ticks in 5 s are a whole core,
25 ticks are 5 % of one.
"""

import json
import os
import socket
import struct
import subprocess
import sys
import time

BIN = sys.argv[1] if len(sys.argv) > 1 else "target/release/mayfly"
WINDOW = float(sys.argv[2]) if len(sys.argv) > 2 else 5.0
TICK = os.sysconf("SC_CLK_TCK")


def serve(kind, extra=()):
    p = subprocess.Popen(
        [BIN, "serve", kind, "--addr", "127.0.0.1:0", "--stats-addr", "127.0.0.1:0", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = p.stdout.readline().strip()
    assert line.startswith("listening on "), line
    host, port = line.removeprefix("listening on ").rsplit(":", 1)
    stats = p.stdout.readline().strip().removeprefix("stats on ")
    p.stats = stats
    return p, (host, int(port))


def answered(p):
    """Answers sent, and the gauges, from the server's stats page."""
    host, port = p.stats.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as c:
        c.sendall(b"GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := c.recv(65536):
            data += chunk
    s = json.loads(data.split(b"\r\n\r\n", 1)[1])
    gauges = {k: v for k, v in s.get("gauges", {}).items() if v}
    return f"{s['requests']} answers {gauges}"


def ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime


def checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def spoof(src, dst, payload):
    """One UDP datagram from `src` (forged) to `dst`, both (ip, port) on IPv4."""
    s_ip, d_ip = socket.inet_aton(src[0]), socket.inet_aton(dst[0])
    udp_len = 8 + len(payload)
    pseudo = s_ip + d_ip + struct.pack("!BBH", 0, socket.IPPROTO_UDP, udp_len)
    udp = struct.pack("!HHHH", src[1], dst[1], udp_len, 0) + payload
    udp = udp[:6] + struct.pack("!H", checksum(pseudo + udp) or 0xFFFF) + udp[8:]
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, 0, 0, 64, socket.IPPROTO_UDP, 0, s_ip, d_ip
    )
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
    raw.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    raw.sendto(ip + udp, (dst[0], 0))
    raw.close()


def measure(name, servers, src, dst, payload=b"loop"):
    time.sleep(0.3)  # let them settle after start-up
    before = [ticks(p.pid) for p, _ in servers]
    if dst is not None:
        spoof(src, dst, payload)
    time.sleep(WINDOW)
    after = [ticks(p.pid) for p, _ in servers]
    counts = [answered(p) for p, _ in servers]
    for p, _ in servers:
        p.terminate()
        p.wait()
    used = [a - b for a, b in zip(after, before)]
    share = [100.0 * u / (TICK * WINDOW) for u in used]
    print(
        f"{name:12} ticks in {WINDOW:g} s: "
        + ", ".join(f"{u} ({s:.1f} % of a core)" for u, s in zip(used, share))
    )
    for c in counts:
        print(f"{'':14}{c}")


def main():
    if os.geteuid() != 0:
        sys.exit("needs root: raw sockets")
    a, b = serve("udp-echo"), serve("udp-echo")
    measure("echo<->echo", [a, b], a[1], b[1])
    a = serve("udp-echo")
    measure("echo-self", [a], a[1], a[1])
    e, t = serve("udp-echo"), serve("time")
    measure("echo<->time", [e, t], e[1], t[1], b"%Y-%m-%d %X")
    a = serve("udp-echo")
    measure("idle", [a], None, None)


if __name__ == "__main__":
    main()
