"""Server CPU per request of the echo builds that serve TLS (coroutine, threads, tokio):
plaintext and TLS, on long connections and with a new connection (over TLS, a new handshake)
for every request (`stress --reconnect-every 1`). Server pinned to CPU 0, client (coroutine
mode, 100 connections) to CPU 1, the rounds interleaved; the server's CPU is read from
/proc/PID/stat before and after each client run. Prints every run, then a Markdown table of
medians with the rounds' range (docs/BENCHMARKS.md, "TLS").

    cargo build --release
    target/release/mayfly cert --out /tmp/tls-certs
    python3 benches/tls_cost.py target/release/mayfly /tmp/tls-certs 3 4s
"""
import json, os, statistics, subprocess, sys, time

B, CERTS = sys.argv[1], sys.argv[2]
ROUNDS = int(sys.argv[3]) if len(sys.argv) > 3 else 3
DUR = sys.argv[4] if len(sys.argv) > 4 else "5s"
CONNS = "100"
BUILDS = ["coroutine", "threads", "tokio"]
CONFIGS = [("plain", False, 0), ("plain-reconnect-1", False, 1), ("tls", True, 0), ("tls-reconnect-1", True, 1)]
TCK = os.sysconf("SC_CLK_TCK")

def cpu(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / TCK

def run(build, tls, every):
    cmd = ["taskset", "-c", "0", B, "serve", "echo", "--mode", build, "--addr", "127.0.0.1:0", "--grace", "1s"]
    if tls:
        cmd += ["--tls-cert", f"{CERTS}/server.pem", "--tls-key", f"{CERTS}/server.key"]
    srv = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        addr = srv.stdout.readline().split()[-1]
        c0 = cpu(srv.pid)
        cl = ["taskset", "-c", "1", B, "stress", "--addr", addr, "--mode", "coroutine", "--connections", CONNS, "--duration", DUR, "--json"]
        if tls:
            cl += ["--tls", "--tls-ca", f"{CERTS}/ca.pem"]
        if every:
            cl += ["--reconnect-every", str(every)]
        out = subprocess.run(cl, capture_output=True, text=True, timeout=120)
        c1 = cpu(srv.pid)
        r = json.loads(out.stdout)
        return (c1 - c0) * 1e6 / max(r["requests"], 1), r["rps"], r["ok"]
    finally:
        srv.terminate()
        srv.wait(timeout=30)

res = {}
for rnd in range(ROUNDS):
    for name, tls, every in CONFIGS:
        for b in BUILDS:
            us, rps, ok = run(b, tls, every)
            res.setdefault((b, name), []).append((us, rps, ok))
            print(f"round {rnd+1} {b:9} {name:18} {us:8.2f} us/req {rps:9.0f} req/s ok={ok}", flush=True)
print()
print("| build | load | server CPU µs/req (median) | rounds | req/s (median) |")
print("|---|---|---:|---|---:|")
for name, _, _ in CONFIGS:
    for b in BUILDS:
        v = res[(b, name)]
        us = sorted(x[0] for x in v)
        print(f"| {b} | {name} | {statistics.median(us):.1f} | {us[0]:.1f}–{us[-1]:.1f} | {statistics.median(x[1] for x in v):.0f} |")
