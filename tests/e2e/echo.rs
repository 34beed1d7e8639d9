//! End-to-end tests of the real `mayfly` binary over loopback: the three echo builds, the
//! stress client, and compare.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Stdio;
use std::time::Duration;

use mayfly_proto::child::ServeEchoCommand;

use crate::util::{mayfly, ServerChild};

/// A `mayfly serve echo` child; SIGTERM'd (and checked to exit 0) by `stop`.
struct Server(ServerChild);

impl std::ops::Deref for Server {
    type Target = ServerChild;
    fn deref(&self) -> &ServerChild {
        &self.0
    }
}

impl Server {
    fn start(mode: &str) -> Server {
        let mut cmd = mayfly();
        cmd.args(ServeEchoCommand::new(mode.parse().unwrap()).args())
            .args(["--grace", "2s"])
            .stderr(Stdio::null());
        Server(ServerChild::spawn(cmd, false))
    }

    fn threads(&self) -> u64 {
        self.0.status("Threads:")
    }

    fn stop(mut self) {
        let st = self.0.sigterm_and_wait(Duration::from_secs(20));
        assert!(st.success(), "server exited with {st}");
    }
}

fn stress_json(addr: &str, extra: &[&str]) -> (serde_json::Value, i32) {
    let out = mayfly()
        .args(["stress", "--addr", addr, "--json", "--duration", "1s"])
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
fn every_build_answers_200_concurrent_connections_correctly() {
    for mode in ["coroutine", "threads", "epoll", "tokio", "may"] {
        let server = Server::start(mode);
        for client in ["threads", "coroutine"] {
            let (r, code) = stress_json(
                &server.addr,
                &["--threads", "200", "--connections", "200", "--mode", client],
            );
            assert_eq!(code, 0, "{mode}/{client}: {r}");
            assert_eq!(r["connected"], 200, "{mode}/{client}: {r}");
            assert_eq!(r["wrong_replies"], 0, "{mode}/{client}");
            assert_eq!(r["io_errors"], 0, "{mode}/{client}: {r}");
            assert_eq!(r["connect_errors"], 0, "{mode}/{client}");
            assert!(
                r["requests"].as_u64().unwrap() > 200,
                "{mode}/{client}: {r}"
            );
            for k in ["p50", "p99", "p999", "max"] {
                assert!(r["latency_us"][k].as_u64().is_some(), "{k} missing: {r}");
            }
        }
        if mode == "coroutine" {
            // One worker, may's timer, mayfly's timer, main: not one per connection.
            assert!(
                server.threads() <= 4,
                "coroutine server has {} threads",
                server.threads()
            );
        }
        server.stop();
    }
}

#[test]
fn more_connections_than_threads_are_spread_over_the_threads() {
    let server = Server::start("epoll");
    let (r, code) = stress_json(&server.addr, &["--threads", "10", "--connections", "100"]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["connections"], 100);
    assert_eq!(r["connected"], 100, "{r}");
    assert_eq!(r["io_errors"], 0, "{r}");
    server.stop();
}

#[test]
fn max_connections_holds_new_clients_until_a_slot_frees_in_every_build() {
    for mode in ["coroutine", "threads", "epoll", "tokio", "may"] {
        let mut cmd = mayfly();
        cmd.args(ServeEchoCommand::new(mode.parse().unwrap()).args())
            .args(["--max-connections", "2", "--grace", "1s"])
            .stderr(Stdio::null());
        let server = Server(ServerChild::spawn(cmd, false));
        let echo = |c: &mut TcpStream, b: u8| -> std::io::Result<u8> {
            c.write_all(&[b])?;
            let mut r = [0u8; 1];
            c.read_exact(&mut r)?;
            Ok(r[0])
        };
        let connect = || {
            let c = TcpStream::connect(&server.addr).unwrap();
            c.set_read_timeout(Some(Duration::from_millis(300)))
                .unwrap();
            c
        };
        let (mut a, mut b) = (connect(), connect());
        assert_eq!(echo(&mut a, b'a').unwrap(), b'A', "{mode}");
        assert_eq!(echo(&mut b, b'b').unwrap(), b'B', "{mode}");
        // The third waits in the backlog: no answer while two are open.
        let mut c = connect();
        assert!(
            echo(&mut c, b'c').is_err(),
            "{mode}: third client served over the cap"
        );
        drop(a);
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut r = [0u8; 1];
        c.read_exact(&mut r).unwrap();
        assert_eq!(&r, b"C", "{mode}: served once a slot freed");
        drop((b, c));
        server.stop();
    }
}

#[test]
fn the_stress_client_reports_a_wrong_reply_and_fails() {
    // A deliberately wrong server: lowercases instead of uppercasing.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for c in l.incoming().take(4) {
            let Ok(mut c) = c else { continue };
            std::thread::spawn(move || {
                let mut b = [0u8; 1024];
                while let Ok(n) = c.read(&mut b) {
                    if n == 0 || c.write_all(&b[..n].to_ascii_lowercase()).is_err() {
                        break;
                    }
                }
            });
        }
    });
    let (r, code) = stress_json(&addr, &["--threads", "2"]);
    assert!(r["wrong_replies"].as_u64().unwrap() > 0, "{r}");
    assert_eq!(code, 1, "exit status must say a reply was wrong");
}

#[test]
fn split_and_coalesced_writes_get_the_same_bytes_back() {
    for mode in ["coroutine", "threads", "epoll", "tokio", "may"] {
        let server = Server::start(mode);
        let mut c = TcpStream::connect(&server.addr).unwrap();
        c.set_nodelay(true).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        // One message in single bytes…
        let msg = b"Thread-1 say hello 0";
        for b in msg {
            c.write_all(&[*b]).unwrap();
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut got = vec![0u8; msg.len()];
        c.read_exact(&mut got).unwrap();
        assert_eq!(got, msg.to_ascii_uppercase(), "{mode}");
        // …many messages in one write, and one large one (bigger than any read buffer).
        let many: Vec<u8> = (0..200)
            .flat_map(|k| format!("Thread-2 say hello {k}").into_bytes())
            .collect();
        c.write_all(&many).unwrap();
        let mut got = vec![0u8; many.len()];
        c.read_exact(&mut got).unwrap();
        assert_eq!(got, many.to_ascii_uppercase(), "{mode}");
        let big: Vec<u8> = (0..300_000u32)
            .map(|i| b"abcxyz09"[i as usize % 8])
            .collect();
        let mut w = c.try_clone().unwrap();
        let big2 = big.clone();
        let writer = std::thread::spawn(move || w.write_all(&big2).unwrap());
        let mut got = vec![0u8; big.len()];
        c.read_exact(&mut got).unwrap();
        writer.join().unwrap();
        assert_eq!(got, big.to_ascii_uppercase(), "{mode}");
        // Half-close: we shut our side and still get the reply to what we sent before.
        c.write_all(b"last").unwrap();
        c.shutdown(std::net::Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        c.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"LAST", "{mode}");
        server.stop();
    }
}

#[test]
fn sigterm_lets_open_connections_finish_and_exits_zero() {
    for mode in ["coroutine", "threads", "epoll", "tokio", "may"] {
        let server = Server::start(mode);
        let mut c = TcpStream::connect(&server.addr).unwrap();
        c.write_all(b"x").unwrap();
        let mut b = [0u8; 1];
        c.read_exact(&mut b).unwrap();
        let pid = server.pid();
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(pid as i32, libc::SIGTERM) };
        std::thread::sleep(Duration::from_millis(200));
        // Still being served during the grace period…
        c.write_all(b"y").unwrap();
        c.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"Y", "{mode}");
        // …but no longer accepting.
        assert!(
            TcpStream::connect_timeout(&server.addr.parse().unwrap(), Duration::from_millis(300))
                .is_err(),
            "{mode} still accepts after SIGTERM"
        );
        drop(c);
        server.stop();
    }
}

#[test]
fn compare_writes_all_three_report_files() {
    let dir = std::env::temp_dir().join(format!("mayfly-compare-{}", std::process::id()));
    let out = mayfly()
        .args([
            "compare",
            "--connections",
            "20,50",
            "--duration",
            "300ms",
            "--repeat",
            "2",
        ])
        .args(["--out", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8_lossy(&out.stdout);
    for b in ["coroutine", "threads", "epoll"] {
        assert!(table.contains(&format!("| {b} |")), "{table}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    let rows = json["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 6);
    for r in rows {
        assert!(r["rps"].as_f64().unwrap() > 0.0, "{r}");
        assert_eq!(r["wrong_replies"], 0);
    }
    assert_eq!(json["ratios"].as_array().unwrap().len(), 4);
    // Two interleaved repeats: every single run is kept beside the medians.
    let runs = json["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 12);
    assert_eq!(runs[0]["build"], "coroutine");
    assert_eq!(runs[6]["build"], "coroutine");
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("| build | conns | req/s"));
    let svg = std::fs::read_to_string(dir.join("report.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.matches("<polyline").count() >= 6);
    // report.html carries the same chart inline and the tables as HTML.
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains(&svg), "report.html embeds report.svg as is");
    assert!(html.contains("<th>build</th>") && html.contains("<td>coroutine</td>"));
    assert!(
        !html.contains("<script src") && !html.contains("<link"),
        "no external assets"
    );
    let _ = std::fs::remove_dir_all(dir);
}
