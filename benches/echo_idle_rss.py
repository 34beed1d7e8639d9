"""RSS per parked plain connection (issue 24's goal: <= 4.5 KiB at 10,000).

    python3 benches/echo_idle_rss.py target/release/mayfly N [ROUNDS] [OTHER_BINARY]

Starts `mayfly serve echo` on 127.0.0.1 (port 0), opens N connections (one echo on each),
holds them past the server's idle stack release, and prints the server's VmRSS before and
after and the growth per connection. With OTHER_BINARY the two binaries are measured in
interleaved rounds (A B A B ...) and the medians printed. Raise `ulimit -n` past N first.
Loopback only; each server is stopped by its PID at the end of its round."""
import socket, statistics, subprocess, sys, time


def rss(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])


def one_round(binary, n):
    srv = subprocess.Popen([binary, "serve", "echo", "--addr", "127.0.0.1:0"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    conns = []
    try:
        addr = srv.stdout.readline().split("listening on ")[1].strip()
        host, port = addr.rsplit(":", 1)
        time.sleep(0.5)
        before = rss(srv.pid)
        for _ in range(n):
            s = socket.create_connection((host, int(port)), timeout=10)
            s.sendall(b"hello\n")
            s.recv(64)
            conns.append(s)
        time.sleep(3)  # past the idle stack release (1 s) and a sweep tick
        after = rss(srv.pid)
    finally:
        for c in conns:
            c.close()
        srv.terminate()
        srv.wait(timeout=30)
    each = (after - before) / n
    print(f"{binary} {n} parked: VmRSS {before} -> {after} KiB, {each:.2f} KiB each", flush=True)
    return each


def main():
    binary, n = sys.argv[1], int(sys.argv[2])
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    binaries = [binary] + sys.argv[4:5]
    got = {b: [] for b in binaries}
    for _ in range(rounds):
        for b in binaries:
            got[b].append(one_round(b, n))
    for b, xs in got.items():
        print(f"{b}: median {statistics.median(xs):.2f} KiB (range {min(xs):.2f}-{max(xs):.2f}, {len(xs)} rounds)")


main()
