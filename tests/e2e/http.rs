//! `mayfly serve http`: every HTTP build of the registry (`Serves::Http.builds()`) over
//! loopback — both routes byte for byte the same from every build (but the `Date` value),
//! keep-alive, 404, Python's `http.client` as a peer, the stats page's request count,
//! SIGTERM draining to exit 0 — and `mayfly stress --proto http` against each.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::Duration;

use mayfly_proto::builds::{Mode, Serves};

use crate::util::{mayfly, ServerChild};

/// A `mayfly serve http --mode M` child; SIGTERM'd (and checked to exit 0) by `stop`.
fn start(mode: Mode, extra: &[&str]) -> ServerChild {
    let mut cmd = mayfly();
    cmd.args([
        "serve",
        "http",
        "--mode",
        mode.name(),
        "--addr",
        "127.0.0.1:0",
    ])
    .args(["--grace", "2s"])
    .args(extra)
    .stderr(Stdio::null());
    ServerChild::spawn(cmd, extra.contains(&"--stats-addr"))
}

fn stop(mut server: ServerChild) {
    let st = server.sigterm_and_wait(Duration::from_secs(20));
    assert!(st.success(), "server exited with {st}");
}

fn connect(addr: &str) -> TcpStream {
    let c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c
}

/// Reads `n` whole answers (heads and `Content-Length` bodies) from `c`.
fn read_answers(c: &mut TcpStream, n: usize) -> Vec<String> {
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    while out.len() < n {
        if let Some(len) = whole_answer(&buf) {
            out.push(String::from_utf8(buf.drain(..len).collect()).unwrap());
            continue;
        }
        let got = c.read(&mut chunk).unwrap();
        assert!(got > 0, "closed after {} answers: {:?}", out.len(), buf);
        buf.extend_from_slice(&chunk[..got]);
    }
    assert!(buf.is_empty(), "more than asked for: {buf:?}");
    out
}

/// The length of the first whole answer in `buf`, if it is all there.
fn whole_answer(buf: &[u8]) -> Option<usize> {
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&buf[..head_end]).unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .expect("a Content-Length")
        .trim()
        .parse()
        .unwrap();
    (buf.len() >= head_end + len).then_some(head_end + len)
}

/// `answer` with its `Date` value masked (checked to be an IMF-fixdate first).
fn without_date(answer: &str) -> String {
    let (before, rest) = answer.split_once("\r\nDate: ").expect("a Date header");
    let (date, after) = rest.split_once("\r\n").unwrap();
    assert_eq!(date.len(), 29, "{date}");
    assert!(date.ends_with(" GMT"), "{date}");
    format!("{before}\r\nDate: *\r\n{after}")
}

const GETS: &[u8] = b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n\
                      GET /json HTTP/1.1\r\nHost: x\r\n\r\n\
                      GET /nope HTTP/1.1\r\nHost: x\r\n\r\n";

#[test]
fn every_build_sends_the_same_bytes_for_both_routes_and_404_on_one_connection() {
    let mut seen: Vec<(Mode, Vec<String>)> = Vec::new();
    for mode in Serves::Http.builds() {
        let server = start(mode, &[]);
        let mut c = connect(&server.addr);
        // Pipelined, then again on the same connection after the answers: keep-alive.
        c.write_all(GETS).unwrap();
        let mut answers = read_answers(&mut c, 3);
        c.write_all(GETS).unwrap();
        answers.extend(read_answers(&mut c, 3));
        let answers: Vec<String> = answers.iter().map(|a| without_date(a)).collect();
        assert_eq!(
            answers[0],
            "HTTP/1.1 200 OK\r\nServer: mayfly\r\nDate: *\r\nContent-Length: 13\r\n\
             Content-Type: text/plain\r\n\r\nHello, World!",
            "{mode}"
        );
        assert_eq!(
            answers[1],
            "HTTP/1.1 200 OK\r\nServer: mayfly\r\nDate: *\r\nContent-Length: 27\r\n\
             Content-Type: application/json\r\n\r\n{\"message\":\"Hello, World!\"}",
            "{mode}"
        );
        assert!(
            answers[2].starts_with("HTTP/1.1 404 Not Found\r\n"),
            "{mode}"
        );
        assert_eq!(answers[..3], answers[3..], "{mode}: keep-alive");
        drop(c);
        stop(server);
        seen.push((mode, answers));
    }
    for (mode, answers) in &seen[1..] {
        assert_eq!(answers, &seen[0].1, "{mode} against {}", seen[0].0);
    }
}

#[test]
fn connection_close_is_answered_the_same_and_closes() {
    let mut seen = Vec::new();
    for mode in Serves::Http.builds() {
        let server = start(mode, &[]);
        let mut c = connect(&server.addr);
        c.write_all(b"GET /json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut all = String::new();
        c.read_to_string(&mut all).unwrap();
        let all = without_date(&all);
        assert!(all.contains("\r\nConnection: close\r\n"), "{mode}: {all}");
        stop(server);
        seen.push(all);
    }
    assert!(seen.windows(2).all(|w| w[0] == w[1]), "{seen:#?}");
}

#[test]
fn python_http_client_reads_both_routes_on_one_connection() {
    for mode in Serves::Http.builds() {
        let server = start(mode, &[]);
        let (host, port) = server.addr.rsplit_once(':').unwrap();
        let script = format!(
            r#"
import http.client
c = http.client.HTTPConnection("{host}", {port}, timeout=10)
sock = None
for path in ["/plaintext", "/json", "/plaintext", "/missing"]:
    c.request("GET", path)
    sock = sock or c.sock
    assert c.sock is sock, "a new connection: keep-alive lost"
    r = c.getresponse()
    body = r.read()
    print(r.status, r.getheader("Content-Type"), r.getheader("Server"), body.decode())
    assert r.getheader("Date")
c.close()
"#
        );
        let out = std::process::Command::new("python3")
            .args(["-c", &script])
            .output()
            .expect("python3 runs");
        assert!(
            out.status.success(),
            "{mode}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "200 text/plain mayfly Hello, World!\n\
             200 application/json mayfly {\"message\":\"Hello, World!\"}\n\
             200 text/plain mayfly Hello, World!\n\
             404 text/plain mayfly Not Found\n\n",
            "{mode}"
        );
        stop(server);
    }
}

#[test]
fn the_stats_page_counts_every_answer() {
    for mode in Serves::Http.builds() {
        let server = start(mode, &["--stats-addr", "127.0.0.1:0"]);
        let mut c = connect(&server.addr);
        c.write_all(GETS).unwrap();
        read_answers(&mut c, 3);
        let stats = server.stats.clone().unwrap();
        let mut s = connect(&stats);
        s.write_all(b"GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut page = String::new();
        s.read_to_string(&mut page).unwrap();
        let body = page.split_once("\r\n\r\n").unwrap().1;
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["requests"].as_u64(), Some(3), "{mode}: {body}");
        assert_eq!(
            v["server"].as_str(),
            Some(&*format!("http/{mode}")),
            "{mode}"
        );
        drop(c);
        stop(server);
    }
}

#[test]
fn sigterm_closes_idle_keep_alive_connections_and_exits_0() {
    for mode in Serves::Http.builds() {
        let mut server = start(mode, &[]);
        let mut c = connect(&server.addr);
        c.write_all(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        read_answers(&mut c, 1);
        // An idle keep-alive client: the server must not wait on it for ever.
        let st = server.sigterm_and_wait(Duration::from_secs(20));
        assert!(st.success(), "{mode}: exited with {st}");
        let mut rest = Vec::new();
        let _ = c.read_to_end(&mut rest);
        assert!(rest.is_empty(), "{mode}: {rest:?}");
    }
}

/// `mayfly stress --proto http --json …` against `addr`: the report and the exit code.
fn http_stress(addr: &str, extra: &[&str]) -> (serde_json::Value, i32) {
    let out = mayfly()
        .args(["stress", "--proto", "http", "--addr", addr, "--json"])
        .args(extra)
        .output()
        .expect("stress runs");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "bad JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (v, out.status.code().unwrap_or(-1))
}

#[test]
fn stress_over_http_gets_every_answer_right_from_every_build() {
    for mode in Serves::Http.builds() {
        let server = start(mode, &[]);
        let (v, code) = http_stress(
            &server.addr,
            &["--connections", "20", "--threads", "4", "--duration", "2s"],
        );
        assert_eq!(code, 0, "{mode}: {v}");
        assert_eq!(v["ok"], true, "{mode}: {v}");
        assert_eq!(v["connected"], 20, "{mode}: {v}");
        for field in [
            "non_2xx",
            "wrong_bodies",
            "resets",
            "io_errors",
            "connect_errors",
        ] {
            assert_eq!(v[field], 0, "{mode}: {field} in {v}");
        }
        assert!(v["requests"].as_u64().unwrap() > 0, "{mode}: {v}");
        assert_eq!(v["fairness"]["unanswered"], 0, "{mode}: {v}");
        let jain = v["fairness"]["jain"].as_f64().unwrap();
        assert!(jain > 0.0 && jain <= 1.0, "{mode}: {v}");
        assert!(v["latency_us"]["p99"].as_u64().unwrap() > 0, "{mode}: {v}");
        stop(server);
    }
}

#[test]
fn stress_over_http_in_coroutine_mode_with_disconnects_gets_every_answer_right() {
    for mode in Serves::Http.builds() {
        let server = start(mode, &[]);
        let (v, code) = http_stress(
            &server.addr,
            &[
                "--mode",
                "coroutine",
                "--connections",
                "50",
                "--duration",
                "1s",
                "--disconnect-rate",
                "0.2",
            ],
        );
        assert_eq!(code, 0, "{mode}: {v}");
        assert_eq!(v["connected"], 50, "{mode}: {v}");
        for field in [
            "non_2xx",
            "wrong_bodies",
            "resets",
            "io_errors",
            "connect_errors",
        ] {
            assert_eq!(v[field], 0, "{mode}: {field} in {v}");
        }
        // Dropped at random (a clean close, a reset, half a request), and opened again.
        assert!(v["reconnects"].as_u64().unwrap() > 0, "{mode}: {v}");
        assert_eq!(v["fairness"]["unanswered"], 0, "{mode}: {v}");
        stop(server);
    }
    // Not a probability: a usage error.
    let out = mayfly()
        .args(["stress", "--proto", "http", "--addr", "127.0.0.1:1"])
        .args(["--disconnect-rate", "1.5"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--disconnect-rate"));
}

#[test]
fn stress_over_http_pipelines_json_and_counts_non_2xx() {
    let server = start(Mode::HttpCoroutine, &[]);
    let (v, code) = http_stress(
        &server.addr,
        &[
            "--connections",
            "2",
            "--threads",
            "1",
            "--duration",
            "300ms",
        ],
    );
    assert_eq!(code, 0, "{v}");
    let (v, code) = http_stress(
        &server.addr,
        &[
            "--connections",
            "2",
            "--threads",
            "1",
            "--duration",
            "300ms",
            "--path",
            "/json",
            "--pipeline",
            "4",
        ],
    );
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        (v["path"].as_str(), v["pipeline"].as_u64()),
        (Some("/json"), Some(4))
    );
    assert_eq!(
        v["requests"].as_u64().unwrap() % 4,
        0,
        "whole turns only: {v}"
    );
    // A path the server does not have: every answer is a 404, the run fails.
    let (v, code) = http_stress(
        &server.addr,
        &[
            "--connections",
            "1",
            "--threads",
            "1",
            "--duration",
            "300ms",
            "--path",
            "/missing",
        ],
    );
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["ok"], false, "{v}");
    assert!(v["non_2xx"].as_u64().unwrap() > 0, "{v}");
    assert_eq!(v["requests"], 0, "{v}");
    stop(server);
}

#[test]
fn compare_over_http_runs_the_http_builds_and_writes_a_verdict() {
    let out = mayfly()
        .args([
            "compare",
            "--proto",
            "http",
            "--builds",
            "coroutine,threads,tokio",
            "--connections",
            "10",
            "--duration",
            "1s",
            "--client-threads",
            "2",
            "--quick",
            // This test is about the run and its report, not the figures.
            "--no-pin",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("## Verdict"), "{stdout}");
    for b in Serves::Http.builds() {
        assert!(stdout.contains(&format!("| {b} |")), "{b}: {stdout}");
    }
    // An echo-only build is refused with --proto http (a usage error).
    let out = mayfly()
        .args(["compare", "--proto", "http", "--builds", "epoll", "--quick"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
