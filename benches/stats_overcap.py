import socket, subprocess, sys, time
exe = sys.argv[1]
p = subprocess.Popen([exe, "serve", "echo", "--addr", "127.0.0.1:0", "--stats-addr", "127.0.0.1:0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
p.stdout.readline(); stats = p.stdout.readline().split()[-1]
host, port = stats.rsplit(":", 1); port = int(port)
conns = [socket.create_connection((host, port)) for _ in range(300)]
t0 = time.monotonic(); got = 0
for c in conns:
    c.settimeout(max(0.001, 1 - (time.monotonic() - t0)))
    try:
        if c.recv(12) == b"HTTP/1.1 503": got += 1
    except OSError: pass
s = socket.socket(); s.bind(("127.0.0.2", 0)); s.connect((host, port))
t = time.monotonic(); s.sendall(b"GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
s.recv(12); wait = time.monotonic() - t
print(f"{exe.split('/')[-1]}: 503 within 1 s: {got} of 300 (cap 64, 16 per peer); another peer's GET /stats: {wait*1000:.0f} ms")
p.terminate(); p.wait()
