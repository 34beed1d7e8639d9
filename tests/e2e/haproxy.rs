//! Several hosts behind HAProxy, as docs/SCALING.md configures them: two `mayfly serve echo
//! --workers 2 --check-addr … --drain-delay …` "hosts" on 127.0.0.2 and 127.0.0.3 behind one
//! HAProxy whose TCP health checks go to each host's check port, with `retries` and `option
//! redispatch`. One host is drained with SIGTERM while `mayfly stress` runs through the
//! balancer and a client keeps opening new connections: its check port closes at once, HAProxy
//! marks it down and sends it nothing new, and only after the drain delay does its service
//! port stop listening, so no connection is left in its listen queue to be reset. No connect
//! may fail, no reply may be wrong, no connection may be lost, and the drained host must exit
//! 0.
//!
//! HAProxy is Debian's `haproxy` (.ci/run installs it). Without it the test prints a visible
//! SKIPPED line, except on CI (`CI=true`), where its absence is a failure. The balancer's
//! listening socket is bound here on port 0 and handed to HAProxy as fd 3 (`bind fd@3`), so no
//! fixed port is used and there is no race for one.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::util::{mayfly, ServerChild};

/// How long the stress run through the balancer lasts; the drain starts at a third of it.
const STRESS: Duration = Duration::from_secs(6);
/// The drained host's grace: longer than the stress run, so its open connections finish.
const GRACE: &str = "20s";
/// The hosts' drain delay: well above the checks' `fall 2` × `inter 200ms` (with the check's
/// own timeout), so HAProxy has marked the host down before its service port stops listening.
const DRAIN_DELAY: &str = "2s";

/// Debian's HAProxy, if installed.
fn haproxy() -> Option<PathBuf> {
    [
        "/usr/sbin/haproxy",
        "/usr/bin/haproxy",
        "/usr/local/sbin/haproxy",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

/// A host: an echo server with two workers on its own loopback address, and its check port.
fn host(ip: &str) -> ServerChild {
    let mut cmd = mayfly();
    cmd.args(["serve", "echo", "--addr", &format!("{ip}:0")])
        .args(["--workers", "2", "--grace", GRACE])
        .args([
            "--check-addr",
            &format!("{ip}:0"),
            "--drain-delay",
            DRAIN_DELAY,
        ])
        .stderr(Stdio::null());
    ServerChild::spawn_with_check(cmd)
}

/// The port of a host's check port.
fn check_port(host: &ServerChild) -> u16 {
    let check = host.check.as_deref().expect("check on ADDR");
    check.parse::<std::net::SocketAddr>().unwrap().port()
}

/// docs/SCALING.md's configuration, with quicker checks and the listener inherited as fd 3;
/// `a` and `b` are the hosts' service addresses, `a_check`/`b_check` their check ports.
fn config(dir: &Path, (a, a_check): (&str, u16), (b, b_check): (&str, u16)) -> PathBuf {
    let text = format!(
        "global\n    maxconn 4000\n\
         defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 30s\n    \
         timeout server 30s\n    retries 3\n    option redispatch\n\
         frontend echo\n    bind fd@3\n    default_backend mayfly\n\
         backend mayfly\n    balance leastconn\n    \
         default-server check inter 200ms fall 2 rise 2\n    \
         server a {a} port {a_check}\n    server b {b} port {b_check}\n"
    );
    let path = dir.join("haproxy.cfg");
    std::fs::write(&path, text).unwrap();
    path
}

/// HAProxy as a child: killed (by its PID) and reaped when dropped, a failed test included.
struct Proxy(Child);

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts HAProxy in the foreground with `listener` as its fd 3.
fn start_haproxy(bin: &Path, cfg: &Path, listener: &TcpListener) -> Proxy {
    let fd = listener.as_raw_fd();
    let mut cmd = Command::new(bin);
    cmd.arg("-db")
        .arg("-f")
        .arg(cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: the closure runs in the forked child before exec and calls only dup2(2) and
    // fcntl(2), which are async-signal-safe; `fd` is the listener's descriptor, open for the
    // whole spawn. dup2 leaves the copy at 3 without FD_CLOEXEC, so HAProxy inherits it
    // (`bind fd@3`); when the listener already is fd 3, dup2 would change nothing, so its
    // FD_CLOEXEC is cleared instead.
    unsafe {
        cmd.pre_exec(move || {
            let r = if fd == 3 {
                libc::fcntl(3, libc::F_SETFD, 0)
            } else {
                libc::dup2(fd, 3)
            };
            if r < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    Proxy(cmd.spawn().expect("HAProxy starts"))
}

/// A fresh connection through the balancer, one round trip, closed. `Err` says what failed.
fn one_new_connection(addr: &str) -> Result<(), String> {
    let mut s = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"hello").map_err(|e| format!("write: {e}"))?;
    let mut buf = [0u8; 5];
    s.read_exact(&mut buf).map_err(|e| format!("read: {e}"))?;
    if &buf != b"HELLO" {
        return Err(format!("reply {:?}", String::from_utf8_lossy(&buf)));
    }
    Ok(())
}

#[test]
fn a_host_drained_behind_haproxy_fails_no_new_connection() {
    let Some(bin) = haproxy() else {
        let why = "HAProxy is not installed (apt-get install haproxy)";
        if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
            panic!("the HAProxy test needs HAProxy on CI: {why}");
        }
        eprintln!("SKIPPED a_host_drained_behind_haproxy_fails_no_new_connection: {why}");
        return;
    };
    let a = host("127.0.0.2");
    let b = host("127.0.0.3");
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        (&a.addr, check_port(&a)),
        (&b.addr, check_port(&b)),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let front = listener.local_addr().unwrap().to_string();
    let mut proxy = start_haproxy(&bin, &cfg, &listener);
    drop(listener); // HAProxy holds its own copy

    // Up: both hosts answer through the balancer (leastconn spreads held connections).
    let t = Instant::now();
    while one_new_connection(&front).is_err() {
        if let Ok(Some(st)) = proxy.0.try_wait() {
            let mut err = String::new();
            proxy
                .0
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            panic!("HAProxy exited ({st}): {err}");
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "HAProxy never answered"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // The load: mayfly stress through the balancer, reconnecting now and then, and a client
    // that opens a new connection for every request.
    let stress = mayfly()
        .args(["stress", "--addr", &front, "--threads", "20", "--json"])
        .args(["--duration", &format!("{}s", STRESS.as_secs())])
        .args(["--disconnect-rate", "0.02"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (done, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let fresh = {
        let (front, stop, done, failed) =
            (front.clone(), stop.clone(), done.clone(), failed.clone());
        std::thread::spawn(move || {
            let mut first_failure = None;
            while !stop.load(Ordering::Relaxed) {
                match one_new_connection(&front) {
                    Ok(()) => done.fetch_add(1, Ordering::Relaxed),
                    Err(e) => {
                        first_failure.get_or_insert(e);
                        failed.fetch_add(1, Ordering::Relaxed)
                    }
                };
                std::thread::sleep(Duration::from_millis(5));
            }
            first_failure
        })
    };

    // The drain, a third of the way in: host a closes its check port at once, keeps accepting
    // for --drain-delay while HAProxy marks it down, then closes its listener and lets its
    // open connections finish within --grace.
    std::thread::sleep(STRESS / 3);
    let before_drain = done.load(Ordering::Relaxed);
    let drain = std::thread::spawn(move || {
        let mut a = a;
        a.sigterm_and_wait(Duration::from_secs(60))
    });

    let out = stress.wait_with_output().unwrap();
    stop.store(true, Ordering::Relaxed);
    let first_failure = fresh.join().unwrap();
    let after_drain = done.load(Ordering::Relaxed) - before_drain;
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stress --json: {e}: {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });

    let lost = failed.load(Ordering::Relaxed);
    assert_eq!(
        lost, 0,
        "new connections failed during the drain (first: {first_failure:?})"
    );
    assert!(
        after_drain >= 50,
        "new connections kept being answered after the drain began: {after_drain}"
    );
    for field in ["connect_errors", "wrong_replies"] {
        assert_eq!(report[field], 0, "stress {field}: {report}");
    }
    assert_eq!(
        report["io_errors"], 0,
        "stress connections broken by the drain: {report}"
    );
    assert!(
        report["requests"].as_u64().unwrap() > 0,
        "stress through HAProxy was answered: {report}"
    );
    assert!(
        report["reconnects"].as_u64().unwrap() > 0,
        "stress reconnected: {report}"
    );
    let status = drain.join().unwrap();
    assert!(status.success(), "the drained host exits 0: {status}");

    // The survivor still serves new connections alone.
    for _ in 0..20 {
        one_new_connection(&front).expect("the other host serves after the drain");
    }
    drop(proxy);
    drop(b);
}
