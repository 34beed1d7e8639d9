//! The IO-models chapter's echo builds (`Mode::LESSONS`: blocking, nonblocking, select,
//! epoll-lt, epoll-et) as the real binary runs them: each answers the uppercase echo and
//! stops on SIGTERM, blocking serves a second client only once the first has closed, the
//! loops serve clients side by side, select refuses an fd past its limit, and compare
//! reports what each model costs. (echo.rs's loops over every build cover them too: split
//! and coalesced writes, the drain on SIGTERM, the connection cap.)

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::{Duration, Instant};

use mayfly_proto::builds::Mode;
use mayfly_proto::child::ServeEchoCommand;

use crate::util::{mayfly, ServerChild};

fn start(mode: Mode, extra: &[&str], stderr: Stdio) -> ServerChild {
    let mut cmd = mayfly();
    cmd.args(ServeEchoCommand::new(mode).args())
        .args(["--grace", "1s"])
        .args(extra)
        .stderr(stderr);
    ServerChild::spawn(cmd, false)
}

fn connect(addr: &str) -> TcpStream {
    let c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c
}

/// One round trip; `Err` when no answer came within the stream's read timeout.
fn echo(c: &mut TcpStream, msg: &[u8]) -> std::io::Result<Vec<u8>> {
    c.write_all(msg)?;
    let mut got = vec![0u8; msg.len()];
    c.read_exact(&mut got)?;
    Ok(got)
}

#[test]
fn every_model_answers_the_uppercase_echo_and_stops_on_sigterm() {
    for mode in Mode::LESSONS {
        let mut server = start(mode, &[], Stdio::null());
        let mut c = connect(&server.addr);
        assert_eq!(
            echo(&mut c, b"Thread-1 say hello 0").unwrap(),
            b"THREAD-1 SAY HELLO 0",
            "{mode}"
        );
        drop(c);
        let st = server.sigterm_and_wait(Duration::from_secs(10));
        assert!(st.success(), "{mode}: exited with {st}");
    }
}

#[test]
fn a_client_left_open_is_closed_after_the_grace_period() {
    for mode in Mode::LESSONS {
        let mut server = start(mode, &[], Stdio::null());
        let mut c = connect(&server.addr);
        assert_eq!(echo(&mut c, b"x").unwrap(), b"X", "{mode}");
        let t = Instant::now();
        let st = server.sigterm_and_wait(Duration::from_secs(10));
        assert!(st.success(), "{mode}: exited with {st}");
        assert!(
            t.elapsed() >= Duration::from_millis(900),
            "{mode}: did not wait for the grace period ({:?})",
            t.elapsed()
        );
        let mut rest = Vec::new();
        assert!(
            matches!(c.read_to_end(&mut rest), Ok(0) | Err(_)),
            "{mode}: still open"
        );
    }
}

#[test]
fn blocking_serves_a_second_client_only_after_the_first_closes() {
    let mut server = start(Mode::Blocking, &[], Stdio::null());
    let mut first = connect(&server.addr);
    assert_eq!(echo(&mut first, b"one").unwrap(), b"ONE");
    // The second connects (the kernel completes it into the backlog) but is not answered.
    let mut second = connect(&server.addr);
    second
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    assert!(
        echo(&mut second, b"two").is_err(),
        "answered while the first client is open"
    );
    // The first is still served…
    assert_eq!(echo(&mut first, b"again").unwrap(), b"AGAIN");
    // …and once it closes, the second gets the answer to what it sent before.
    drop(first);
    second
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut got = [0u8; 3];
    second.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"TWO");
    drop(second);
    assert!(server.sigterm_and_wait(Duration::from_secs(10)).success());
}

#[test]
fn the_loops_serve_many_clients_at_once() {
    for mode in [
        Mode::Nonblocking,
        Mode::Select,
        Mode::EpollLt,
        Mode::EpollEt,
    ] {
        let mut server = start(mode, &[], Stdio::null());
        let mut clients: Vec<TcpStream> = (0..50).map(|_| connect(&server.addr)).collect();
        for round in 0..3 {
            for (i, c) in clients.iter_mut().enumerate() {
                let msg = format!("Thread-{i} say hello {round}");
                let got = echo(c, msg.as_bytes()).unwrap();
                assert_eq!(got, msg.to_uppercase().into_bytes(), "{mode}");
            }
        }
        drop(clients);
        assert!(
            server.sigterm_and_wait(Duration::from_secs(10)).success(),
            "{mode}"
        );
    }
}

#[test]
fn select_refuses_a_connection_past_its_fd_limit_and_says_why_once() {
    const LIMIT: usize = 48;
    let log = tempfile::NamedTempFile::new().unwrap();
    let limit = LIMIT.to_string();
    let mut server = start(
        Mode::Select,
        &["--select-fds", &limit],
        Stdio::from(log.reopen().unwrap()),
    );
    // Connections take the lowest free fds: somewhere below LIMIT they run out.
    let mut open = Vec::new();
    let mut refused = 0;
    for i in 0..LIMIT + 2 {
        let mut c = connect(&server.addr);
        match echo(&mut c, format!("c{i}").as_bytes()) {
            Ok(got) => {
                assert_eq!(got, format!("C{i}").into_bytes());
                open.push(c);
            }
            Err(_) => refused += 1,
        }
    }
    assert!(!open.is_empty(), "nothing served under the limit");
    assert!(
        refused >= 2,
        "{refused} refused past an fd limit of {LIMIT}"
    );
    assert!(
        open.len() < LIMIT,
        "{} served under {LIMIT} fds",
        open.len()
    );
    // Those under the limit are still served.
    assert_eq!(echo(&mut open[0], b"still").unwrap(), b"STILL");
    drop(open);
    assert!(server.sigterm_and_wait(Duration::from_secs(10)).success());
    let text = std::fs::read_to_string(log.path()).unwrap();
    assert_eq!(
        text.matches("select(2) watches only fds below 48").count(),
        1,
        "logged once:\n{text}"
    );
}

#[test]
fn select_refuses_a_limit_past_fd_setsize_as_a_usage_error() {
    let out = mayfly()
        .args(ServeEchoCommand::new(Mode::Select).args())
        .args(["--select-fds", "1025"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("1..=1024"), "{err}");
}

#[test]
fn compare_reports_each_models_lesson_in_its_own_numbers() {
    // The smallest settings: four builds, 20 connections, one short round each.
    let out = mayfly()
        .args([
            "compare",
            "--builds",
            "blocking,nonblocking,epoll-lt,epoll-et",
        ])
        .args([
            "--connections",
            "20",
            "--duration",
            "1s",
            "--quick",
            "--no-pin",
        ])
        .args(["--idle-window", "500ms", "--json"])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "bad JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let row = |b: &str| {
        json["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["build"] == b)
            .unwrap_or_else(|| panic!("no {b} row: {json}"))
            .clone()
    };
    // Blocking answers one connection and leaves the others unanswered, in bounded time.
    let blocking = row("blocking");
    assert_eq!(blocking["connected"], 20, "{blocking}");
    assert_eq!(blocking["fairness"]["unanswered"], 19, "{blocking}");
    assert!(
        blocking["fairness"]["jain"].as_f64().unwrap() < 0.1,
        "{blocking}"
    );
    // Non-blocking burns CPU with no client (a whole core on an idle machine; less when
    // other processes share the CPUs, unpinned); the others sleep in accept or a wait.
    let idle = |b: &str| row(b)["idle_cpu"].as_f64().unwrap();
    let sleepers = ["blocking", "epoll-lt", "epoll-et"].map(idle);
    assert!(idle("nonblocking") >= 0.1, "{}", row("nonblocking"));
    for s in sleepers {
        assert!(idle("nonblocking") > 3.0 * s, "{sleepers:?}: {json}");
    }
    // Edge-triggered reads until EAGAIN: more read calls per request than level-triggered.
    let calls = |b: &str| row(b)["rw_calls_per_req"].as_f64().unwrap();
    assert!(calls("epoll-lt") >= 1.5, "{}", row("epoll-lt"));
    assert!(calls("epoll-et") > calls("epoll-lt") + 0.5, "{json}");
    // The verdict explains each model in a sentence.
    let verdict = json["verdict"]["lines"].to_string();
    for b in [
        "blocking answered 1 of 20",
        "nonblocking used",
        "epoll-et made",
    ] {
        assert!(verdict.contains(b), "{b}: {verdict}");
    }
    // The Markdown report shows the idle-CPU column.
    let md =
        mayfly_clients::report::markdown::render(&serde_json::from_value(json.clone()).unwrap());
    assert!(
        md.contains("| build | conns | idle CPU | read+write calls/req |"),
        "{md}"
    );
}
