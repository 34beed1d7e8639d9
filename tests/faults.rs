//! The fault suite: load, faults and bad input against the echo servers, over loopback,
//! bounded in time and count. Each test says what it throws at the server and what must
//! hold afterwards; docs/RELIABILITY.md tabulates them.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mayfly_proto::builds::{Mode, Serves};
use mayfly_proto::child::StressCommand;
use mayfly_servers::echo::{self, Options};

mod util;
use util::{connect_from, mayfly, ServerChild};

/// A `mayfly serve echo` child with its /proc readings.
struct Server(ServerChild);

impl std::ops::Deref for Server {
    type Target = ServerChild;
    fn deref(&self) -> &ServerChild {
        &self.0
    }
}

impl std::ops::DerefMut for Server {
    fn deref_mut(&mut self) -> &mut ServerChild {
        &mut self.0
    }
}

impl Server {
    fn start(args: &[&str]) -> Server {
        Server::start_with(args, None)
    }

    /// Starts with RLIMIT_NOFILE set to `nofile` (soft and hard) in the server process.
    fn start_with(args: &[&str], nofile: Option<u64>) -> Server {
        Server::start_full(args, nofile, false)
    }

    /// Like [`Server::start_with`]; `with_stats` expects `--stats-addr` among `args`.
    fn start_full(args: &[&str], nofile: Option<u64>, with_stats: bool) -> Server {
        let mut cmd = mayfly();
        cmd.args(["serve", "echo", "--addr", "127.0.0.1:0", "--grace", "1s"])
            .args(args)
            .stderr(Stdio::null());
        if let Some(n) = nofile {
            // SAFETY: setrlimit is async-signal-safe and only changes the child's own limit.
            unsafe {
                cmd.pre_exec(move || {
                    let lim = libc::rlimit {
                        rlim_cur: n,
                        rlim_max: n,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        Server(ServerChild::spawn(cmd, with_stats))
    }

    fn status_kib(&self, field: &str) -> u64 {
        self.0.status(field)
    }

    /// User + system CPU time, in clock ticks (1/100 s).
    fn cpu_ticks(&self) -> u64 {
        mayfly::process::sample(self.pid()).unwrap().cpu_ticks
    }

    /// Waits until the fd count is back to `baseline` (connections all closed).
    fn wait_fds(&self, baseline: usize, within: Duration) -> usize {
        let t = Instant::now();
        loop {
            let n = self.fds();
            if n <= baseline || t.elapsed() > within {
                return n;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn stress_json(addr: &str, args: &[&str]) -> serde_json::Value {
    let stress = StressCommand {
        json: true,
        ..StressCommand::new(addr)
    };
    let out = mayfly()
        .args(stress.args())
        .args(args)
        .output()
        .expect("stress runs");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "bad JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The test that counts this process's fds (a baseline, then a return to it) runs alone:
/// it takes this for writing, every other test (they all open sockets or pipes in this
/// process) for reading.
static FDS: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// For the test that counts fds: no other test runs meanwhile.
fn fds_counted() -> std::sync::RwLockWriteGuard<'static, ()> {
    FDS.write().unwrap_or_else(|e| e.into_inner())
}

/// For every other test: it may run beside others, not beside the one that counts fds.
fn fds_used() -> std::sync::RwLockReadGuard<'static, ()> {
    FDS.read().unwrap_or_else(|e| e.into_inner())
}

/// One echo round trip with a timeout.
fn round_trip(c: &mut TcpStream, msg: &[u8]) -> std::io::Result<()> {
    c.set_read_timeout(Some(Duration::from_secs(5)))?;
    c.write_all(msg)?;
    let mut got = vec![0u8; msg.len()];
    c.read_exact(&mut got)?;
    assert_eq!(got, msg.to_ascii_uppercase());
    Ok(())
}

#[test]
fn a_flood_of_10000_clients_is_all_served() {
    let _fds = fds_used();
    let _ = mayfly::process::raise_nofile();
    let server = Server::start(&["--backlog", "16384"]);
    let r = stress_json(
        &server.addr,
        &[
            "--mode",
            "coroutine",
            "--connections",
            "10000",
            "--duration",
            "3s",
        ],
    );
    assert_eq!(r["connected"], 10_000, "{r}");
    assert_eq!(r["connect_errors"], 0, "{r}");
    assert_eq!(r["io_errors"], 0, "{r}");
    assert_eq!(r["wrong_replies"], 0, "{r}");
    assert!(r["requests"].as_u64().unwrap() >= 10_000, "{r}");
}

#[test]
fn out_of_file_descriptors_the_server_backs_off_keeps_serving_and_recovers() {
    let _fds = fds_used();
    const NOFILE: u64 = 64;
    // No caps: this test is about running out of fds (the caps would stop accepting first).
    let args = ["--max-connections", "0", "--max-per-peer", "0"];
    let mut server = Server::start_with(&args, Some(NOFILE));
    // Fill the server's fd table: connect until a connection gets no answer.
    let mut served: Vec<TcpStream> = Vec::new();
    let mut waiting: Vec<TcpStream> = Vec::new();
    for i in 0..NOFILE {
        let mut c = TcpStream::connect(&server.addr).unwrap();
        c.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        c.write_all(b"x").unwrap();
        let mut b = [0u8; 1];
        match c.read_exact(&mut b) {
            Ok(()) => served.push(c),
            Err(_) => {
                waiting.push(c);
                assert!(i > 10, "the server ran out after only {i} connections");
                break;
            }
        }
    }
    assert!(
        !waiting.is_empty(),
        "the limit of {NOFILE} fds was never reached"
    );
    // More clients queue in the backlog meanwhile.
    for _ in 0..10 {
        let mut c = TcpStream::connect(&server.addr).unwrap();
        c.write_all(b"x").unwrap();
        waiting.push(c);
    }
    // While refusing, the server sleeps between attempts instead of spinning.
    let before = server.cpu_ticks();
    std::thread::sleep(Duration::from_secs(2));
    let ticks = server.cpu_ticks() - before;
    eprintln!(
        "fds: {} connections served before EMFILE, {} queued; {ticks} CPU ticks in 2 s while refusing",
        served.len(),
        waiting.len()
    );
    assert!(
        ticks <= 10,
        "server used {ticks} ticks (> 5% of 2 s) while out of fds"
    );
    // Existing connections are still served.
    for c in served.iter_mut().take(5) {
        round_trip(c, b"still here").unwrap();
    }
    // Free some fds: every queued client gets served.
    let freed = waiting.len() + 5;
    served.drain(..freed.min(served.len()));
    for c in &mut waiting {
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut b = [0u8; 1];
        c.read_exact(&mut b)
            .expect("a queued client is served after fds free up");
        assert_eq!(&b, b"X");
    }
    assert!(server.alive());
}

#[test]
fn one_peer_past_the_fd_limit_does_not_lock_out_another_in_every_build() {
    // The attack, scaled down: 11.5k connections from one host against a 10k fd limit.
    const NOFILE: u64 = 256;
    const FLOOD: u64 = NOFILE + NOFILE / 8;
    let _fds = fds_used();
    // The reference builds have no per-peer cap: they stay as a Rust user would write them.
    // The blocking build has no per-peer cap: it holds one connection at most.
    for mode in Serves::Echo
        .builds()
        .filter(|m| !m.info().reference && *m != Mode::Blocking)
    {
        let server = Server::start_with(&["--mode", mode.name()], Some(NOFILE));
        let mut flood = Vec::new();
        for _ in 0..FLOOD {
            match connect_from("127.0.0.1", &server.addr) {
                Ok(c) => flood.push(c),
                Err(_) => break,
            }
        }
        // Let the server accept (and refuse) what it will.
        std::thread::sleep(Duration::from_millis(500));
        let mut held = 0;
        for c in &mut flood {
            c.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
            let mut b = [0u8; 1];
            // A refused connection reads end-of-file (or a reset); a held one times out.
            if matches!(c.read(&mut b), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock) {
                held += 1;
            }
        }
        let t = Instant::now();
        let mut other = connect_from("127.0.0.2", &server.addr).unwrap();
        let served = round_trip(&mut other, b"another peer");
        eprintln!(
            "{mode}: {} flood connections, {held} held; the other peer: {served:?} after {:?}",
            flood.len(),
            t.elapsed()
        );
        assert!(
            served.is_ok(),
            "{mode}: another peer locked out: {served:?}"
        );
        assert!(
            held < NOFILE,
            "{mode}: one peer holds {held} of {NOFILE} fds"
        );
        // The flood's held connections are still served.
        let mut served_flood = 0;
        for c in flood.iter_mut().take(20) {
            if round_trip(c, b"x").is_ok() {
                served_flood += 1;
            }
        }
        assert!(served_flood > 0, "{mode}: no held connection served");
    }
}

#[test]
fn out_of_fds_a_stats_request_does_not_stop_the_worker() {
    // Before: the stats page's internal may_minihttp listener retried EMFILE without
    // yielding, so this GET /stats spun the one worker for ever (echo clients hung, SIGTERM
    // was ignored). The child is killed when the test ends, whatever happens.
    const NOFILE: u64 = 64;
    // No connection caps: this test needs the fd table itself full (the caps would keep it
    // below the limit, which another test covers).
    let mut server = Server::start_full(
        &[
            "--stats-addr",
            "127.0.0.1:0",
            "--max-connections",
            "0",
            "--max-per-peer",
            "0",
        ],
        Some(NOFILE),
        true,
    );
    let stats = server.stats.clone().unwrap();
    // Fill the fd table with served echo connections, exactly to the limit.
    let mut served: Vec<TcpStream> = Vec::new();
    while (server.fds() as u64) < NOFILE {
        let mut c = TcpStream::connect(&server.addr).unwrap();
        round_trip(&mut c, b"x").expect("served below the fd limit");
        served.push(c);
        assert!(
            served.len() < NOFILE as usize,
            "fds never reached the limit"
        );
    }
    // Close two: the stats request can take both.
    served.truncate(served.len() - 2);
    assert_eq!(
        server.wait_fds(NOFILE as usize - 2, Duration::from_secs(5)),
        NOFILE as usize - 2
    );
    let mut c = TcpStream::connect(&stats).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(b"GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut reply = Vec::new();
    let _ = c.read_to_end(&mut reply);
    drop(c);
    // The echo clients are still served and the worker is not spinning.
    for c in served.iter_mut().take(5) {
        round_trip(c, b"still here").expect("echo served after GET /stats");
    }
    let before = server.cpu_ticks();
    std::thread::sleep(Duration::from_secs(1));
    let ticks = server.cpu_ticks() - before;
    eprintln!(
        "{} echo connections at the fd limit of {NOFILE}; GET /stats answered {} bytes; {ticks} CPU ticks in the next 1 s",
        served.len() + 2,
        reply.len()
    );
    assert!(ticks <= 20, "{ticks} CPU ticks in 1 s of idle");
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 200"), "stats reply: {reply:?}");
    drop(served);
    let status = server.sigterm_and_wait(Duration::from_secs(10));
    assert!(status.success(), "{status}");
}

#[test]
fn slowloris_clients_are_timed_out_and_others_are_unaffected() {
    let _fds = fds_used();
    let server = Server::start(&["--read-timeout", "1s"]);
    let slow: Vec<_> = (0..20)
        .map(|_| {
            let addr = server.addr.clone();
            std::thread::spawn(move || {
                let mut c = TcpStream::connect(&addr).unwrap();
                c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let started = Instant::now();
                // One byte every 3 s: the second byte comes after the server gave up.
                for _ in 0..3 {
                    let _ = c.write_all(b"s");
                    let mut b = [0u8; 1];
                    match c.read(&mut b) {
                        Ok(1) => {}
                        Ok(_) | Err(_) => return started.elapsed(),
                    }
                    std::thread::sleep(Duration::from_secs(3));
                }
                panic!("a slowloris client was never cut off");
            })
        })
        .collect();
    let r = stress_json(&server.addr, &["--threads", "50", "--duration", "4s"]);
    assert_eq!(r["io_errors"], 0, "{r}");
    assert_eq!(r["wrong_replies"], 0, "{r}");
    assert!(r["requests"].as_u64().unwrap() > 1000, "{r}");
    for s in slow {
        let cut_after = s.join().unwrap();
        assert!(
            cut_after < Duration::from_secs(6),
            "cut after {cut_after:?}"
        );
    }
}

#[test]
fn a_client_that_never_reads_is_cut_off_with_bounded_memory_in_every_build() {
    let _fds = fds_used();
    for mode in Serves::Echo.builds() {
        let server = Server::start(&["--mode", mode.name(), "--write-timeout", "1s"]);
        let rss0 = server.status_kib("VmRSS:");
        let mut c = TcpStream::connect(&server.addr).unwrap();
        c.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
        let chunk = vec![b'a'; 64 * 1024];
        let started = Instant::now();
        let mut sent = 0u64;
        let err = loop {
            match c.write_all(&chunk) {
                Ok(()) => sent += chunk.len() as u64,
                Err(e) => break e,
            }
            assert!(
                sent < 1 << 30,
                "{mode}: 1 GiB accepted from a client that never reads"
            );
        };
        assert!(
            matches!(
                err.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
            ),
            "{mode}: {err}"
        );
        let peak = server.status_kib("VmHWM:");
        eprintln!(
            "{mode}: cut off after {:?} and {} KiB sent; server RSS {rss0} -> peak {peak} KiB",
            started.elapsed(),
            sent >> 10
        );
        assert!(
            peak < rss0 + 16 * 1024,
            "{mode}: RSS grew from {rss0} to {peak} KiB"
        );
    }
}

#[test]
fn resets_half_closes_garbage_and_empty_connections_leak_nothing() {
    let _fds = fds_counted();
    let _ = mayfly::process::raise_nofile();
    for mode in Serves::Echo.builds() {
        let server = echo::start(mode, &Options::new("127.0.0.1:0")).unwrap();
        let addr = server.local_addr();
        let stats = server.counters();
        // Let the server settle, then take the baselines.
        let mut warm = TcpStream::connect(addr).unwrap();
        round_trip(&mut warm, b"warm").unwrap();
        drop(warm);
        wait_active(&stats, 0);
        let fds0 = fd_count();
        let greenlets0 = mayfly::greenlets_alive();

        for i in 0..50u32 {
            // Reset in the middle of a message (SO_LINGER 0).
            let mut c = TcpStream::connect(addr).unwrap();
            c.write_all(b"Thread-1 say hel").unwrap();
            socket2::SockRef::from(&c)
                .set_linger(Some(Duration::ZERO))
                .unwrap();
            drop(c);
            // Half-close: the client shuts its write side and still reads the reply.
            let mut c = TcpStream::connect(addr).unwrap();
            c.write_all(b"bye now").unwrap();
            c.shutdown(Shutdown::Write).unwrap();
            let mut got = Vec::new();
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            c.read_to_end(&mut got).unwrap();
            assert_eq!(got, b"BYE NOW", "{mode}");
            // Garbage: every byte value, echoed with only ASCII letters changed.
            let mut c = TcpStream::connect(addr).unwrap();
            let junk: Vec<u8> = (0..=255u8).cycle().skip(i as usize).take(4096).collect();
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            c.write_all(&junk).unwrap();
            let mut back = vec![0u8; junk.len()];
            c.read_exact(&mut back).unwrap();
            assert_eq!(back, junk.to_ascii_uppercase(), "{mode}");
            // Zero-length: connect and close without a byte (the server reads 0 at once).
            drop(TcpStream::connect(addr).unwrap());
        }
        wait_active(&stats, 0);
        let s = stats.snapshot();
        // A connection reset before it was accepted may never reach accept; the others must.
        assert!((151..=201).contains(&s.accepted), "{mode}: {s:?}");
        assert_eq!(s.closed, s.accepted, "{mode}: {s:?}");
        assert_eq!(s.panics, 0, "{mode}");
        let t = Instant::now();
        while (fd_count() > fds0 || mayfly::greenlets_alive() > greenlets0)
            && t.elapsed() < Duration::from_secs(5)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(fd_count(), fds0, "{mode}: fds leaked");
        assert_eq!(
            mayfly::greenlets_alive(),
            greenlets0,
            "{mode}: greenlets leaked"
        );
        server.stop(Duration::from_secs(1));
    }
}

fn fd_count() -> usize {
    mayfly::process::fd_count(std::process::id()).unwrap()
}

fn wait_active(stats: &mayfly::server::ServerStats, n: u64) {
    let t = Instant::now();
    while stats.active() != n {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "{:?}",
            stats.snapshot()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_panicking_or_blocking_handler_hurts_only_itself_and_the_monitor_names_it() {
    let _fds = fds_used();
    use mayfly::server::StreamServer;
    mayfly::monitor::start(Duration::from_millis(50)).unwrap();
    let server = mayfly::run(|| {
        StreamServer::bind("127.0.0.1:0", |mut conn, _| {
            loop {
                let data = conn.recv(1024)?;
                match &data[..] {
                    b"" => return Ok(()),
                    b"panic" => panic!("the handler was told to panic"),
                    // A blocking call on the worker: every greenlet waits 200 ms.
                    b"block" => std::thread::sleep(Duration::from_millis(200)),
                    _ => {}
                }
                conn.sendall(&data.to_ascii_uppercase())?;
            }
        })
        .unwrap()
        .start()
    });
    let addr = server.local_addr();
    // A steady client the whole time.
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let steady = {
        let (stop, ok) = (stop.clone(), ok.clone());
        std::thread::spawn(move || {
            let mut c = TcpStream::connect(addr).unwrap();
            let mut worst = Duration::ZERO;
            while !stop.load(Ordering::Acquire) {
                let t = Instant::now();
                round_trip(&mut c, b"tick").unwrap();
                worst = worst.max(t.elapsed());
                ok.fetch_add(1, Ordering::Relaxed);
            }
            worst
        })
    };
    std::thread::sleep(Duration::from_millis(100));

    let mut p = TcpStream::connect(addr).unwrap();
    p.write_all(b"panic").unwrap();
    p.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut rest = Vec::new();
    let _ = p.read_to_end(&mut rest);
    assert!(
        rest.is_empty(),
        "the panicking connection is closed, nothing sent"
    );

    let mut b = TcpStream::connect(addr).unwrap();
    let blocker_name = format!("conn-{}", b.local_addr().unwrap());
    round_trip(&mut b, b"block").unwrap();

    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Release);
    let worst = steady.join().unwrap();
    assert!(ok.load(Ordering::Relaxed) > 50, "the steady client stalled");
    assert!(worst < Duration::from_secs(2), "worst round trip {worst:?}");
    let s = server.stats();
    assert_eq!(s.panics, 1, "{s:?}");
    let reports = mayfly::monitor::reports();
    let named = reports
        .iter()
        .find(|r| r.greenlet == blocker_name)
        .unwrap_or_else(|| panic!("no monitor report names {blocker_name}: {reports:?}"));
    assert!(named.blocked_for >= Duration::from_millis(50), "{named:?}");
    // The server still takes new clients.
    round_trip(&mut TcpStream::connect(addr).unwrap(), b"after").unwrap();
    server.stop(Duration::from_secs(1));
}

#[test]
fn soak_60s_of_500_threads_with_random_disconnects_returns_to_idle() {
    let _fds = fds_used();
    let server = Server::start(&[]);
    // Baselines once the server is up and idle.
    std::thread::sleep(Duration::from_millis(200));
    let fds0 = server.fds();
    let rss0 = server.status_kib("VmRSS:");
    let r = stress_json(
        &server.addr,
        &[
            "--threads",
            "500",
            "--duration",
            "60s",
            "--disconnect-rate",
            "0.01",
        ],
    );
    assert_eq!(r["connected"], 500, "{r}");
    assert_eq!(r["wrong_replies"], 0, "{r}");
    assert_eq!(r["io_errors"], 0, "{r}");
    assert!(r["reconnects"].as_u64().unwrap() > 1000, "{r}");
    let fds = server.wait_fds(fds0, Duration::from_secs(10));
    assert_eq!(fds, fds0, "connections left open after the soak");
    let rss = server.status_kib("VmRSS:");
    let peak = server.status_kib("VmHWM:");
    eprintln!(
        "soak: {} requests, {} reconnects; RSS {rss0} KiB at start, {peak} peak, {rss} after",
        r["requests"], r["reconnects"]
    );
    assert!(
        rss <= rss0 + 8 * 1024,
        "RSS {rss} KiB after vs {rss0} at start"
    );
}

#[test]
fn every_server_drains_and_exits_0_on_sigterm() {
    let _fds = fds_used();
    let root = tempfile::tempdir().unwrap();
    let root = root.path().to_str().unwrap().to_owned();
    // The course's echo builds (the reference ones: in the e2e SIGTERM test), file, cmd.
    let mut servers: Vec<Vec<&str>> = Serves::Echo
        .builds()
        .filter(|m| !m.info().reference)
        .map(|m| vec!["echo", "--mode", m.name()])
        .collect();
    servers.extend([vec!["file", "--root", &root], vec!["cmd"]]);
    for args in servers {
        let mut cmd = mayfly();
        cmd.arg("serve")
            .args(&args)
            .args(["--addr", "127.0.0.1:0", "--grace", "1s"])
            .env("MAYFLY_CMD_SECRET", "a secret long enough")
            .stderr(Stdio::null());
        let mut server = ServerChild::spawn(cmd, false);
        let addr = server.addr.clone();
        // An idle client holds a connection open past the grace period.
        let idle = TcpStream::connect(&addr).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let t = Instant::now();
        let status = server.sigterm_and_wait(Duration::from_secs(10));
        assert!(status.success(), "{args:?}: {status}");
        assert!(
            t.elapsed() >= Duration::from_millis(900),
            "{args:?}: no grace period"
        );
        assert!(
            TcpStream::connect(&addr).is_err(),
            "{args:?}: still accepting"
        );
        drop(idle);
    }
}
