//! End-to-end tests of the real `mayfly` binary over loopback: every echo build of the
//! registry, the stress client, and compare.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Stdio;
use std::time::Duration;

use mayfly_proto::builds::{Mode, Serves};
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
    fn start(mode: Mode) -> Server {
        let mut cmd = mayfly();
        cmd.args(ServeEchoCommand::new(mode).args())
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
    // The IO-models chapter's builds are tested in io_models.rs (blocking answers one client).
    for mode in Serves::Echo.builds().filter(|m| !m.info().lesson) {
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
        if mode == Mode::Coroutine {
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
    let server = Server::start(Mode::Epoll);
    let (r, code) = stress_json(&server.addr, &["--threads", "10", "--connections", "100"]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["connections"], 100);
    assert_eq!(r["connected"], 100, "{r}");
    assert_eq!(r["io_errors"], 0, "{r}");
    server.stop();
}

#[test]
fn max_connections_holds_new_clients_until_a_slot_frees_in_every_build() {
    // The blocking build holds one connection whatever the cap; the other lessons' loops
    // share the production builds' acceptor (io_models.rs).
    for mode in Serves::Echo.builds().filter(|m| *m != Mode::Blocking) {
        let mut cmd = mayfly();
        cmd.args(ServeEchoCommand::new(mode).args())
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
        c.read_exact(&mut r).unwrap_or_else(|e| {
            panic!("{mode}: the third client was not served once a slot freed: {e}")
        });
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
    for mode in Serves::Echo.builds() {
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
    for mode in Serves::Echo.builds() {
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

/// A server that answers only the first connection that sends it something, and reads but
/// never answers the others: a deliberately unfair server. (The first one it accepts may be
/// `stress`'s reachability probe, which sends nothing.)
fn unfair_server() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let claimed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    std::thread::spawn(move || {
        for c in l.incoming().take(64) {
            let Ok(mut c) = c else { continue };
            let claimed = claimed.clone();
            std::thread::spawn(move || {
                let mut b = [0u8; 1024];
                let mut mine = None;
                while let Ok(n) = c.read(&mut b) {
                    if n == 0 {
                        break;
                    }
                    let answer = *mine.get_or_insert_with(|| {
                        !claimed.swap(true, std::sync::atomic::Ordering::AcqRel)
                    });
                    if answer && c.write_all(&b[..n].to_ascii_uppercase()).is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

#[test]
fn the_stress_client_reports_an_unfair_server_as_unfair_and_fails() {
    for mode in ["coroutine", "threads"] {
        let addr = unfair_server();
        let (r, code) = stress_json(
            &addr,
            &["--mode", mode, "--connections", "10", "--threads", "10"],
        );
        let f = &r["fairness"];
        assert_eq!(f["unanswered"], 9, "{mode}: {r}");
        assert_eq!(f["min"], 0, "{mode}: {r}");
        assert!(f["max"].as_u64().unwrap() > 0, "{mode}: {r}");
        // One connection got everything: Jain's index is 1/10.
        assert!(
            (f["jain"].as_f64().unwrap() - 0.1).abs() < 1e-9,
            "{mode}: {r}"
        );
        // The connections never answered were cut off at the window's end, not errors.
        assert_eq!(r["io_errors"], 0, "{mode}: {r}");
        assert_eq!((r["ok"].as_bool(), code), (Some(false), 1), "{mode}: {r}");
    }
}

#[test]
fn the_coroutine_client_spreads_round_trips_evenly() {
    let server = Server::start(Mode::Coroutine);
    let (r, code) = stress_json(
        &server.addr,
        &["--mode", "coroutine", "--connections", "200"],
    );
    assert_eq!((r["ok"].as_bool(), code), (Some(true), 0), "{r}");
    let f = &r["fairness"];
    assert_eq!(f["unanswered"], 0, "{r}");
    // One round trip per connection in turn: no connection gets twice the median.
    assert!(
        f["max"].as_u64().unwrap() <= 2 * f["median"].as_u64().unwrap().max(1),
        "{r}"
    );
    assert!(f["jain"].as_f64().unwrap() > 0.9, "{r}");
    server.stop();
}

#[test]
fn stress_fails_when_nothing_listens_and_refuses_zero_counts() {
    // A port that was just free: nothing listens there.
    let addr = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    // Found before the run: the server could not be reached (4), no report to print
    // (issue 28: it used to load nothing for the whole duration and exit 1).
    let out = mayfly()
        .args(["stress", "--addr", &addr, "--threads", "3", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    for args in [
        &["stress", "--addr", "127.0.0.1:1", "--connections", "0"][..],
        &["stress", "--addr", "127.0.0.1:1", "--threads", "0"],
        &["compare", "--connections", "500,0"],
        &["compare", "--repeat", "0"],
    ] {
        let out = mayfly().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("must be at least 1"), "{args:?}: {err}");
    }
}

/// The course builds cap their connections below the fd limit by default (so they refuse
/// the excess instead); the reference build `may` has no default cap and runs into the limit.
#[test]
fn compare_warns_when_a_server_reaches_its_fd_limit_and_is_not_conclusive_on_one_round() {
    let dir = std::env::temp_dir().join(format!("mayfly-compare-fd-{}", std::process::id()));
    let out = mayfly()
        .args([
            "compare",
            "--builds",
            "coroutine,may",
            "--connections",
            "120",
            "--duration",
            "500ms",
            "--quick",
            "--server-fd-limit",
            "64",
        ])
        .args(["--out", dir.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Limits are findings, not failures: the comparison itself ran.
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    let rows = json["rows"].as_array().unwrap();
    let may = rows.iter().find(|r| r["build"] == "may").unwrap();
    assert!(
        may["warnings"].to_string().contains("fd limit reached"),
        "{may}"
    );
    assert!(may["fairness"]["unanswered"].as_u64().unwrap() > 0, "{may}");
    // Neither build served all 120 clients, and both say so in errors.
    for r in rows {
        assert!(r["errors"].as_u64().unwrap() > 0, "{r}");
    }
    assert_eq!(json["verdict"]["conclusive"], false, "{}", json["verdict"]);
    // Pinned by default on two or more CPUs.
    if mayfly::process::cpus_allowed().len() >= 2 {
        assert_eq!(json["settings"]["pin"], true);
    }
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.starts_with("## Verdict: not conclusive"), "{md}");
    assert!(stdout.starts_with("## Verdict: not conclusive"), "{stdout}");
    assert!(
        stdout.contains("fd limit reached: the server held"),
        "{stdout}"
    );
    assert!(
        md.contains("is not conclusive on CPU per request: one round only"),
        "{md}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn compare_writes_every_report_file_with_verdict_fairness_and_method() {
    let dir = std::env::temp_dir().join(format!("mayfly-compare-{}", std::process::id()));
    let out = mayfly()
        .args([
            "compare",
            "--connections",
            "20,50",
            "--duration",
            "1s",
            "--repeat",
            "2",
            // Pinned runs share two CPUs with everything else the test machine runs; this
            // test is about the report, not the figures (the fd-limit test runs pinned).
            "--no-pin",
        ])
        .args(["--out", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    for b in Serves::Echo.builds().filter(|m| m.info().compare_default) {
        assert!(stdout.contains(&format!("| {b} |")), "{stdout}");
    }
    // The verdict heads the output.
    assert!(stdout.starts_with("## Verdict"), "{stdout}");
    // The servers' own log lines go to the log file, not into compare's output.
    for text in [&stdout, &stderr] {
        assert!(!text.contains("draining"), "{text}");
    }
    let log = std::fs::read_to_string(dir.join("compare.log")).unwrap();
    assert!(log.contains("draining"), "{log}");
    assert!(stdout.contains(&format!("{}", dir.join("compare.log").display())));

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    let rows = json["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 6);
    for r in rows {
        assert!(r["rps"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["cpu_us_per_req"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["req_per_core_s"].as_f64().unwrap() > 0.0, "{r}");
        assert_eq!(r["wrong_replies"], 0);
        assert_eq!(r["rounds"], 2, "{r}");
        assert_eq!(r["fairness"]["unanswered"], 0, "{r}");
        assert!(r["fairness"]["jain"].as_f64().unwrap() > 0.0, "{r}");
    }
    assert_eq!(json["ratios"].as_array().unwrap().len(), 4);
    assert!(!json["verdict"]["lines"].as_array().unwrap().is_empty());
    assert!(json["latency_method"]
        .as_str()
        .unwrap()
        .contains("first byte"));
    assert_eq!(json["settings"]["pin"], false);
    // Two interleaved rounds: every single run is kept beside the medians.
    let runs = json["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 12);
    assert_eq!(runs[0]["build"], "coroutine");
    assert_eq!(runs[6]["build"], "coroutine");
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("not pinned"));
    assert!(md.contains("| build | conns | CPU µs/req | req/core-s"));
    assert!(md.contains("fairness — Jain's index"));
    assert!(md.contains("Latency: per round trip, from just before the first byte"));
    let svg = std::fs::read_to_string(dir.join("report.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.matches("<polyline").count() >= 18);
    // report.html carries the verdict, the charts inline and the tables as HTML.
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains(&svg), "report.html embeds report.svg as is");
    assert!(html.contains("class=\"verdict\""));
    assert!(html.contains("<th>build</th>") && html.contains("<td>coroutine</td>"));
    assert!(html.contains("first byte") && html.contains("Jain"));
    assert!(
        !html.contains("<script src") && !html.contains("<link"),
        "no external assets"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn compare_runs_a_multi_process_build_and_reports_its_scaling() {
    let out = mayfly()
        .args([
            "compare",
            "--builds",
            "coroutine,coroutine×2",
            "--connections",
            "60",
            "--duration",
            "500ms",
            "--quick",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = json["rows"].as_array().unwrap();
    let one = rows.iter().find(|r| r["build"] == "coroutine").unwrap();
    let two = rows.iter().find(|r| r["build"] == "coroutine×2").unwrap();
    for r in [one, two] {
        assert!(r["requests"].as_u64().unwrap() > 0, "{r}");
        assert_eq!(r["fairness"]["unanswered"], 0, "{r}");
        assert_eq!(r["wrong_replies"], 0, "{r}");
    }
    // The supervisor and both workers are measured: more threads than one process has.
    assert!(
        two["server_threads"].as_u64().unwrap() > one["server_threads"].as_u64().unwrap(),
        "{one}\n{two}"
    );
    let verdict = json["verdict"]["lines"].to_string();
    assert!(
        verdict.contains("Scaling at 60 connections: coroutine×2 answered"),
        "{verdict}"
    );
}

#[test]
fn a_grace_too_long_for_a_clock_means_no_limit_not_a_panic() {
    for mode in Serves::Echo.builds() {
        let mut cmd = mayfly();
        cmd.args(ServeEchoCommand::new(mode).args())
            .args(["--grace", "10000000000000000000s"])
            .stderr(Stdio::null());
        let mut server = ServerChild::spawn(cmd, false);
        // No connection is open, so the drain ends at once: exit 0, not a panic on
        // `Instant + grace`.
        let st = server.sigterm_and_wait(Duration::from_secs(10));
        assert!(st.success(), "{mode}: {st:?}");
    }
}
