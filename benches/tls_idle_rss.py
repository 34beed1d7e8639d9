"""RSS per idle TLS connection (issue 26's goal: <= 12 KiB at 10,000).

    mayfly cert --out CERTDIR
    python3 benches/tls_idle_rss.py target/release/mayfly CERTDIR N

Starts `mayfly serve echo --tls-cert --tls-key` from CERTDIR on 127.0.0.1 (port 0), opens N
TLS connections with Python's ssl (one echo on each), holds them, and prints the server's
VmRSS before and after and the growth per connection. Raise `ulimit -n` past N first.
Loopback only; the server is stopped by its PID at the end."""
import os, socket, ssl, subprocess, sys, time
binary, certdir, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
srv = subprocess.Popen([binary, "serve", "echo", "--addr", "127.0.0.1:0",
                        "--tls-cert", f"{certdir}/server.pem", "--tls-key", f"{certdir}/server.key"],
                       stdout=subprocess.PIPE, text=True)
line = srv.stdout.readline()
addr = line.split("listening on ")[1].strip()
host, port = addr.rsplit(":", 1)
def rss(pid):
    for l in open(f"/proc/{pid}/status"):
        if l.startswith("VmRSS"):
            return int(l.split()[1])
ctx = ssl.create_default_context(cafile=f"{certdir}/ca.pem")
time.sleep(0.5)
before = rss(srv.pid)
conns = []
t0 = time.time()
try:
    for i in range(n):
        s = socket.create_connection((host, int(port)), timeout=10)
        t = ctx.wrap_socket(s, server_hostname="localhost")
        t.sendall(b"hello\n")
        t.recv(64)
        conns.append(t)
    time.sleep(3)  # past the server's idle stack release (1 s) and a sweep tick
    after = rss(srv.pid)
    print(f"{n} idle TLS connections: server VmRSS {before} -> {after} KiB, {(after-before)/n:.2f} KiB each ({time.time()-t0:.0f} s)")
finally:
    for c in conns: c.close()
    srv.terminate(); srv.wait(timeout=30)
