//! `mayfly serve echo --workers N`: a supervisor and N worker processes sharing one port
//! (SO_REUSEPORT). Which worker holds a connection is read from /proc: each accepted
//! connection is one more open file descriptor in the worker that accepted it.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use mayfly_proto::builds::{Mode, Serves};

use crate::util::{mayfly, ServerChild};

/// Connections each test opens: enough that all of them landing on one of two workers
/// (probability 2^-(N-1) with the kernel's hash) does not happen.
const CONNECTIONS: usize = 40;
/// Longest wait for anything the supervisor does (a restart, a drain).
const WITHIN: Duration = Duration::from_secs(20);

fn start(workers: &str, extra: &[&str]) -> ServerChild {
    let mut cmd = mayfly();
    cmd.args(["serve", "echo", "--addr", "127.0.0.1:0", "--grace", "5s"])
        .args(["--workers", workers])
        .args(extra)
        .stderr(Stdio::null());
    ServerChild::spawn(cmd, false)
}

/// One round trip: the server uppercases. `false` if the connection is gone.
fn round_trip(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 5];
    s.write_all(b"hello").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"HELLO"
}

fn connect_all(addr: &str, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            assert!(round_trip(&mut s), "a fresh connection is answered");
            s
        })
        .collect()
}

fn fds(pid: u32) -> usize {
    mayfly::process::fd_count(pid).unwrap_or(0)
}

/// Waits until `f` holds, panicking after [`WITHIN`].
fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < WITHIN, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn sigkill(pid: u32) {
    // SAFETY: kill(2) on a worker of the supervisor this test started, read from /proc.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
}

fn gone(pid: u32) -> bool {
    // A zombie still has /proc/PID; its state line says Z.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s.split_whitespace().nth(2) == Some("Z"),
        Err(_) => true,
    }
}

/// Runs `cmd` to its end (killed after [`WITHIN`]): status and stderr.
fn run(mut cmd: Command) -> (ExitStatus, String) {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    let st = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if t.elapsed() > WITHIN {
            let _ = child.kill();
            panic!("{cmd:?} did not exit within {WITHIN:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (st, err)
}

#[test]
fn two_workers_share_the_port_and_both_get_connections() {
    let mut server = start("2", &[]);
    let workers = server.children();
    assert_eq!(workers.len(), 2, "two worker processes: {workers:?}");
    let before: Vec<usize> = workers.iter().map(|&p| fds(p)).collect();
    let clients = connect_all(&server.addr, CONNECTIONS);
    let held: Vec<usize> = workers
        .iter()
        .zip(&before)
        .map(|(&p, &b)| fds(p).saturating_sub(b))
        .collect();
    assert_eq!(
        held.iter().sum::<usize>(),
        CONNECTIONS,
        "per worker: {held:?}"
    );
    assert!(
        held.iter().all(|&h| h > 0),
        "each worker accepted some: {held:?}"
    );
    drop(clients);
    let st = server.sigterm_and_wait(WITHIN);
    assert!(st.success(), "supervisor exited with {st}");
    assert!(
        workers.iter().all(|&p| gone(p)),
        "workers gone after the stop"
    );
}

#[test]
fn a_killed_worker_is_replaced_and_the_other_workers_clients_keep_working() {
    let mut server = start("2", &[]);
    let workers = server.children();
    assert_eq!(workers.len(), 2);
    let (victim, survivor) = (workers[0], workers[1]);
    let base = fds(survivor);
    let mut clients = connect_all(&server.addr, CONNECTIONS);
    let on_survivor = fds(survivor) - base;
    sigkill(victim);
    wait_for("the killed worker to be replaced", || {
        let now = server.children();
        now.len() == 2 && !now.contains(&victim) && now.contains(&survivor)
    });
    let alive = clients.iter_mut().map(round_trip).filter(|ok| *ok).count();
    assert_eq!(
        alive, on_survivor,
        "exactly the survivor's clients still work"
    );
    assert!(server.alive(), "the supervisor runs on");
    // New connections are answered (by the survivor or the replacement).
    drop(connect_all(&server.addr, CONNECTIONS));
    drop(clients);
    let st = server.sigterm_and_wait(WITHIN);
    assert!(st.success(), "supervisor exited with {st}");
}

#[test]
fn sigterm_drains_every_worker_then_exits_0() {
    let mut server = start("2", &[]);
    let workers = server.children();
    let mut clients = connect_all(&server.addr, CONNECTIONS);
    // SAFETY: kill(2) on the supervisor this test started and has not reaped.
    unsafe { libc::kill(server.pid() as i32, libc::SIGTERM) };
    std::thread::sleep(Duration::from_millis(300));
    // Draining: the open connections are still served, on both workers.
    assert!(clients.iter_mut().all(round_trip), "open connections drain");
    assert!(server.alive(), "still draining while clients are connected");
    // A load balancer's TCP health check now fails: no worker listens any more.
    let refused = TcpStream::connect(&server.addr).map_err(|e| e.kind());
    assert_eq!(
        refused.err(),
        Some(std::io::ErrorKind::ConnectionRefused),
        "new connections are refused while draining"
    );
    drop(clients);
    let st = server.sigterm_and_wait(WITHIN);
    assert!(st.success(), "supervisor exited with {st}");
    assert!(
        workers.iter().all(|&p| gone(p)),
        "workers gone after the drain"
    );
}

#[test]
fn a_port_held_by_another_process_is_an_error_not_a_share() {
    let other = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = other.local_addr().unwrap().to_string();
    let mut cmd = mayfly();
    cmd.args(["serve", "echo", "--addr", &addr, "--workers", "2"]);
    let (st, err) = run(cmd);
    // A usage error with a hint since issue 28 (was 3): the fix is in the command line.
    assert_eq!(st.code(), Some(2), "a usage error with a hint: {err}");
    assert!(err.contains("binding"), "says what failed: {err}");
    assert!(
        err.contains("another program holds"),
        "and what to do: {err}"
    );
}

#[test]
fn workers_that_keep_dying_make_the_supervisor_give_up() {
    let mut sup = mayfly()
        .args(["serve", "echo", "--addr", "127.0.0.1:0", "--workers", "2"])
        .args(["--max-worker-deaths", "3"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Started: a worker killed before this is a failed start, not a death.
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(sup.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert!(line.starts_with("listening on "), "{line}");
    let children = |pid: u32| {
        let path = format!("/proc/{pid}/task/{pid}/children");
        let list = std::fs::read_to_string(path).unwrap_or_default();
        list.split_whitespace()
            .filter_map(|p| p.parse::<u32>().ok())
            .collect::<Vec<u32>>()
    };
    let mut killed = Vec::new();
    let t = Instant::now();
    let st = loop {
        if let Some(st) = sup.try_wait().unwrap() {
            break st;
        }
        if t.elapsed() > WITHIN {
            let _ = sup.kill();
            panic!("the supervisor did not give up; killed {killed:?}");
        }
        if let Some(&p) = children(sup.id()).iter().find(|p| !killed.contains(*p)) {
            sigkill(p);
            killed.push(p);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(killed.len() >= 3, "killed {killed:?}");
    assert_eq!(st.code(), Some(3), "gave up loudly: {st}");
}

/// GET `path` from the supervisor's stats page: the body of a 200 reply.
fn get(addr: &str, path: &str) -> String {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        c,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    out.split_once("\r\n\r\n").unwrap().1.to_string()
}

/// Every sample of a family follows its own `# TYPE` line, and no family is typed twice (the
/// old supervisor page listed worker 0's samples of every family, then worker 1's).
fn assert_grouped(metrics: &str) {
    let mut typed = std::collections::HashSet::new();
    let mut current = String::new();
    for line in metrics.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            current = rest.split_whitespace().next().unwrap().to_string();
            assert!(
                typed.insert(current.clone()),
                "{current} typed twice:\n{metrics}"
            );
        } else if !line.starts_with('#') && !line.is_empty() {
            let name = line.split(['{', ' ']).next().unwrap();
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s).filter(|f| *f == current))
                .unwrap_or(name);
            assert_eq!(
                family, current,
                "{line:?} outside its family's group:\n{metrics}"
            );
        }
    }
    assert!(typed.len() > 20, "{metrics}");
}

#[test]
fn the_stats_page_sums_the_workers_and_breaks_them_down() {
    let mut cmd = mayfly();
    cmd.args(["serve", "echo", "--addr", "127.0.0.1:0", "--workers", "2"])
        .args(["--stats-addr", "127.0.0.1:0", "--grace", "5s"])
        .stderr(Stdio::null());
    let mut server = ServerChild::spawn(cmd, true);
    let page = server.stats.clone().expect("stats on ADDR");
    let workers = server.children();
    let clients = connect_all(&server.addr, CONNECTIONS);
    let mut v = serde_json::Value::Null;
    // A restarted or slow worker page may answer late: wait until both are in the sum.
    wait_for("both workers in /stats", || {
        v = serde_json::from_str(&get(&page, "/stats")).unwrap();
        v["workers"] == 2
    });
    assert_eq!(v["connections"]["accepted"], CONNECTIONS, "{v}");
    assert_eq!(v["requests"], CONNECTIONS, "one round trip each: {v}");
    let per = v["per_worker"].as_array().unwrap();
    let mut pids: Vec<u64> = per.iter().map(|w| w["pid"].as_u64().unwrap()).collect();
    pids.sort_unstable();
    let want: Vec<u64> = workers.iter().map(|&p| u64::from(p)).collect();
    assert_eq!(pids, want, "per_worker names the worker processes");
    let accepted: Vec<u64> = per
        .iter()
        .map(|w| w["stats"]["connections"]["accepted"].as_u64().unwrap())
        .collect();
    assert_eq!(accepted.iter().sum::<u64>(), CONNECTIONS as u64);
    assert!(
        accepted.iter().all(|&a| a > 0),
        "both accepted: {accepted:?}"
    );
    // The dashboard, fed by the summed history (one sample a second per worker).
    assert!(get(&page, "/").contains("chart-active"));
    wait_for("a summed history sample", || {
        let v: serde_json::Value = serde_json::from_str(&get(&page, "/stats")).unwrap();
        v["history"]
            .as_array()
            .is_some_and(|h| h.last().is_some_and(|p| p["active"] == CONNECTIONS))
    });
    let metrics = get(&page, "/metrics");
    for w in ["0", "1"] {
        let line = format!("mayfly_connections_accepted_total{{worker=\"{w}\"}}");
        assert!(metrics.contains(&line), "{line} in:\n{metrics}");
    }
    // One group per family: its HELP and TYPE once, then both workers' samples right after.
    let group = "# TYPE mayfly_connections_accepted_total counter\n\
                 mayfly_connections_accepted_total{worker=\"0\"} ";
    assert!(metrics.contains(group), "{metrics}");
    assert_grouped(&metrics);
    for family in ["process_resident_memory_bytes", "mayfly_build_info"] {
        for w in ["0", "1"] {
            let sample = format!("{family}{{worker=\"{w}\"");
            assert!(metrics.contains(&sample), "{sample} in:\n{metrics}");
        }
    }
    assert!(
        metrics.contains("\nmayfly_worker_exits_total 0\n"),
        "{metrics}"
    );
    crate::util::promtool_check("/metrics under --workers 2", &metrics);
    drop(clients);
    let st = server.sigterm_and_wait(WITHIN);
    assert!(st.success(), "supervisor exited with {st}");
}

#[test]
fn every_echo_build_runs_under_workers() {
    // Ten clients held open at once: the blocking build (one client per worker) cannot.
    for mode in Serves::Echo.builds().filter(|m| *m != Mode::Blocking) {
        let mut server = start("2", &["--mode", mode.name()]);
        assert_eq!(server.children().len(), 2, "{mode}: two workers");
        drop(connect_all(&server.addr, 10));
        let st = server.sigterm_and_wait(WITHIN);
        assert!(st.success(), "{mode}: supervisor exited with {st}");
    }
}

#[test]
fn the_file_server_runs_under_workers_on_one_root() {
    let root = tempfile::tempdir().unwrap();
    let mut cmd = mayfly();
    cmd.args(["serve", "file", "--addr", "127.0.0.1:0", "--workers", "2"])
        .args(["--grace", "1s", "--root"])
        .arg(root.path())
        .stderr(Stdio::null());
    let mut server = ServerChild::spawn(cmd, false);
    assert_eq!(server.children().len(), 2);
    let local = tempfile::tempdir().unwrap();
    // Eight uploads on eight connections: both workers write into the one root.
    for i in 0..8 {
        let src = local.path().join(format!("f{i}.bin"));
        std::fs::write(&src, vec![i as u8; 10_000 + i]).unwrap();
        let (st, err) = {
            let mut c = mayfly();
            c.args(["file", "--addr", &server.addr, "put"]).arg(&src);
            run(c)
        };
        assert!(st.success(), "put {i}: {err}");
    }
    for i in 0..8 {
        let got = std::fs::read(root.path().join(format!("f{i}.bin"))).unwrap();
        assert_eq!(got, vec![i as u8; 10_000 + i]);
    }
    let st = server.sigterm_and_wait(WITHIN);
    assert!(st.success(), "supervisor exited with {st}");
}

/// A supervisor with its stats page and `--worker-timeout timeout`.
fn start_with_stats(timeout: &str) -> ServerChild {
    let mut cmd = mayfly();
    cmd.args(["serve", "echo", "--addr", "127.0.0.1:0", "--workers", "2"])
        .args(["--stats-addr", "127.0.0.1:0", "--grace", "1s"])
        .args(["--worker-timeout", timeout])
        .stderr(Stdio::null());
    ServerChild::spawn(cmd, true)
}

/// The supervisor's `/stats` JSON.
fn stats(server: &ServerChild) -> serde_json::Value {
    let page = server.stats.as_deref().expect("stats on ADDR");
    serde_json::from_str(&get(page, "/stats")).unwrap()
}

/// What became of a connection that sent `hello`: answered, refused or cut (reset or
/// closed), or nothing within its read timeout.
#[derive(Debug, Default)]
struct Outcomes {
    answered: usize,
    cut: usize,
    silent: usize,
}

fn outcomes(conns: &mut [TcpStream]) -> Outcomes {
    let mut o = Outcomes::default();
    for c in conns {
        let mut buf = [0u8; 5];
        match c.read_exact(&mut buf) {
            Ok(()) if &buf == b"HELLO" => o.answered += 1,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                o.silent += 1;
            }
            _ => o.cut += 1,
        }
    }
    o
}

/// Opens `n` connections that each send `hello` at once, reading with a 1 s timeout.
fn send_all(addr: &str, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
            s.write_all(b"hello").unwrap();
            s
        })
        .collect()
}

fn sigstop(pid: u32) {
    // SAFETY: kill(2) on a worker of the supervisor this test started, read from /proc.
    unsafe { libc::kill(pid as i32, libc::SIGSTOP) };
}

#[test]
fn a_stopped_worker_is_killed_and_replaced_and_new_connections_are_answered() {
    let mut server = start_with_stats("2s");
    let workers = server.children();
    assert_eq!(workers.len(), 2);
    let (victim, survivor) = (workers[0], workers[1]);
    sigstop(victim);
    let t = Instant::now();
    // Connections made while it is stopped: the kernel still queues some on its socket.
    let mut during = send_all(&server.addr, CONNECTIONS);
    let t_gone = loop {
        if gone(victim) {
            break t.elapsed();
        }
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "the stopped worker still runs"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    wait_for("a replacement worker", || {
        let now = server.children();
        now.len() == 2 && !now.contains(&victim) && now.contains(&survivor)
    });
    // Those queued on the stopped worker were reset when it was killed; none is left waiting.
    let o = outcomes(&mut during);
    eprintln!("stopped worker killed after {t_gone:?}; connections made meanwhile: {o:?}");
    assert_eq!(o.silent, 0, "{o:?}");
    assert!(o.answered > 0, "the survivor answered its share: {o:?}");
    // New connections: every one answered within 1 s.
    let mut after = send_all(&server.addr, CONNECTIONS);
    let o = outcomes(&mut after);
    assert_eq!(o.answered, CONNECTIONS, "after the replacement: {o:?}");
    let v = stats(&server);
    assert!(v["worker_timeouts"].as_u64() >= Some(1), "{v}");
    drop((during, after));
    let st = server.sigterm_and_wait(WITHIN);
    assert!(st.success(), "supervisor exited with {st}");
}

#[test]
fn a_healthy_idle_worker_is_not_killed_by_a_short_timeout() {
    let mut server = start_with_stats("1s");
    let workers = server.children();
    assert_eq!(workers.len(), 2);
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(server.children(), workers, "the same workers");
    let v = stats(&server);
    assert_eq!(v["worker_timeouts"], 0, "{v}");
    assert_eq!(v["worker_exits"], 0, "{v}");
    drop(connect_all(&server.addr, CONNECTIONS));
    let st = server.sigterm_and_wait(WITHIN);
    assert!(st.success(), "supervisor exited with {st}");
}
