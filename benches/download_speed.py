#!/usr/bin/env python3
"""A 256 MiB `get` from the file server, two binaries interleaved: the server's CPU time
(utime + stime from /proc) and the wall time per download, medians over ROUNDS rounds of
four downloads each (after one that hashes the file). The sendfile figures in
docs/BENCHMARKS.md come from it.

    benches/download_speed.py OLD_BINARY NEW_BINARY [ROUNDS] [ROOT]

ROOT (default /dev/shm/mayfly-download-speed) gets one 256 MiB file; loopback only; every
server is stopped by PID.
"""
import json, socket, struct, subprocess, sys, time, os, statistics
ROUNDS = int(sys.argv[3]) if len(sys.argv) > 3 else 5
ROOT = sys.argv[4] if len(sys.argv) > 4 else "/dev/shm/mayfly-download-speed"
TICK=os.sysconf("SC_CLK_TCK")
def frame(h):
    b=json.dumps(h).encode(); return struct.pack("<i",len(b))+b
def rx(s,n):
    o=b""
    while len(o)<n:
        g=s.recv(n-len(o)); assert g; o+=g
    return o
def cpu(pid):
    f=open(f"/proc/{pid}/stat").read().rsplit(")",1)[1].split(); return int(f[11])+int(f[12])
res={}
os.makedirs(ROOT, exist_ok=True)
with open(os.path.join(ROOT, "big.bin"), "wb") as f:
    f.write(os.urandom(256 << 20))
for r in range(ROUNDS):
  for binary in sys.argv[1:3]:
    p=subprocess.Popen([binary,"serve","file","--addr","127.0.0.1:0","--root",ROOT,"--grace","0s"],stdout=subprocess.PIPE,stderr=subprocess.DEVNULL,text=True)
    line=p.stdout.readline().strip(); host,port=line.removeprefix("listening on ").rsplit(":",1); addr=(host,int(port))
    for k in range(5):
        if k==1: c0=cpu(p.pid); t0=time.monotonic()
        s=socket.create_connection(addr); s.sendall(frame({"cmd":"get","filename":"big.bin"}))
        n=struct.unpack("<i",rx(s,4))[0]; h=json.loads(rx(s,n)); left=h["total_size"]; buf=bytearray(1<<20)
        while left:
            g=s.recv_into(buf, min(left,1<<20)); left-=g
        s.close()
    c1=cpu(p.pid); wall=time.monotonic()-t0
    p.kill(); p.wait()
    res.setdefault(binary,[]).append(((c1-c0)/TICK/4, wall/4))
for b,v in res.items():
    print(b, "per 256 MiB get: server CPU median %.3f s (%s), wall median %.3f s (%s)"%(statistics.median(x[0] for x in v), " ".join("%.2f"%x[0] for x in v), statistics.median(x[1] for x in v), " ".join("%.2f"%x[1] for x in v)))
