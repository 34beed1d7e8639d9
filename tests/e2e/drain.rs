//! `mayfly serve … --check-addr ADDR --drain-delay D`: at SIGTERM the health-check port stops
//! listening at once while the service port keeps accepting (and answering) for the delay,
//! then the server drains as without it and exits 0; a second signal cuts the delay short;
//! with `--workers` the supervisor holds the check port; `--drain-delay` alone is refused.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::util::{mayfly, ServerChild};

/// Longest wait for anything here (the check port to close, the service to stop).
const WITHIN: Duration = Duration::from_secs(20);
/// The drain delay of the tests that watch it run out: long enough that the check port's
/// close (well within it) and a round trip fit inside it on a loaded machine.
const DELAY: Duration = Duration::from_secs(4);

fn start(extra: &[&str]) -> ServerChild {
    let mut cmd = mayfly();
    cmd.args(["serve", "echo", "--addr", "127.0.0.1:0", "--grace", "5s"])
        .args(["--check-addr", "127.0.0.1:0"])
        .args(extra)
        .stderr(Stdio::null());
    ServerChild::spawn_with_check(cmd)
}

fn sigterm(server: &ServerChild) {
    // SAFETY: kill(2) on the server child this test started and has not reaped.
    unsafe { libc::kill(server.pid() as i32, libc::SIGTERM) };
}

/// A fresh connection to `addr`, one round trip (the echo uppercases).
fn answered(addr: &str) -> bool {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return false;
    };
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 5];
    s.write_all(b"hello").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"HELLO"
}

fn refused(addr: &str) -> bool {
    TcpStream::connect(addr).is_err()
}

/// Waits until `f` holds; how long it took (panics after [`WITHIN`]).
fn wait_for(what: &str, mut f: impl FnMut() -> bool) -> Duration {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < WITHIN, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
    t.elapsed()
}

/// SIGTERM `server` started with `--drain-delay` [`DELAY`]: the check port closes first, the
/// service answers new connections until the delay ran out, then refuses; exit 0.
fn check_closes_first_then_the_service(mut server: ServerChild) {
    let check = server.check.clone().expect("check on ADDR");
    assert!(!refused(&check), "the check port accepts while serving");
    assert!(answered(&server.addr));
    let signalled = Instant::now();
    sigterm(&server);
    wait_for("the check port to close", || refused(&check));
    let check_closed = signalled.elapsed();
    assert!(
        check_closed < DELAY,
        "the check port closed {check_closed:?} after the signal, past the delay"
    );
    // Inside the delay: a new connection to the service is still accepted and answered.
    assert!(
        answered(&server.addr),
        "the service accepts during the delay"
    );
    assert!(
        signalled.elapsed() < DELAY,
        "inconclusive: the round trip ended past the delay"
    );
    wait_for("the service to stop listening", || refused(&server.addr));
    let stopped = signalled.elapsed();
    assert!(
        stopped >= DELAY,
        "the service stopped listening {stopped:?} after the signal, before the delay"
    );
    let st = server.sigterm_and_wait(WITHIN);
    assert!(st.success(), "exit {st}");
}

fn delay_flag() -> String {
    format!("{}s", DELAY.as_secs())
}

#[test]
fn the_check_port_closes_at_sigterm_and_the_service_a_delay_later() {
    check_closes_first_then_the_service(start(&["--drain-delay", &delay_flag()]));
}

#[test]
fn under_workers_the_supervisor_closes_the_check_port_then_its_workers_drain() {
    let server = start(&["--drain-delay", &delay_flag(), "--workers", "2"]);
    check_closes_first_then_the_service(server);
}

#[test]
fn without_a_delay_check_port_and_service_close_together() {
    let mut server = start(&[]);
    let check = server.check.clone().unwrap();
    sigterm(&server);
    wait_for("the check port to close", || refused(&check));
    wait_for("the service to stop listening", || refused(&server.addr));
    assert!(server.sigterm_and_wait(WITHIN).success());
}

#[test]
fn a_second_signal_cuts_the_delay_short() {
    let mut server = start(&["--drain-delay", "1h"]);
    let check = server.check.clone().unwrap();
    sigterm(&server);
    wait_for("the check port to close", || refused(&check));
    assert!(answered(&server.addr), "still serving within the hour");
    let st = server.sigterm_and_wait(WITHIN);
    assert!(st.success(), "exit {st}");
}

#[test]
fn a_drain_delay_without_a_check_port_is_refused() {
    let out = mayfly()
        .args([
            "serve",
            "echo",
            "--addr",
            "127.0.0.1:0",
            "--drain-delay",
            "2s",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "a usage error: {err}");
    assert!(
        err.contains("--check-addr"),
        "names the flag it needs: {err}"
    );
}
