//! The log lines of a server end to end: `-q` silences info, `-v` shows debug, `RUST_LOG`
//! picks levels by module, `--log-format json` writes one parseable object a line, and a
//! server's text lines start with an RFC 3339 timestamp. The events: the drain note (info,
//! on SIGTERM) and a refusal by the per-peer cap (debug).

use std::io::Read;
use std::net::TcpStream;
use std::process::Stdio;
use std::time::Duration;

use crate::util::{mayfly, ServerChild};

const WITHIN: Duration = Duration::from_secs(10);

/// Runs `mayfly [global] serve echo [args] --max-per-peer 1` with `env`, opens two
/// connections (the second is refused by the cap: a debug event), stops it with SIGTERM (an
/// info event) and returns its stderr.
fn serve_and_log(global: &[&str], args: &[&str], env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stderr");
    let mut cmd = mayfly();
    cmd.env_remove("RUST_LOG")
        .args(global)
        .args([
            "serve",
            "echo",
            "--addr",
            "127.0.0.1:0",
            "--max-per-peer",
            "1",
        ])
        .args(args)
        .stderr(Stdio::from(std::fs::File::create(&path).unwrap()));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut srv = ServerChild::spawn(cmd, false);
    let held = TcpStream::connect(&srv.addr).unwrap();
    let mut refused = TcpStream::connect(&srv.addr).unwrap();
    refused.set_read_timeout(Some(WITHIN)).unwrap();
    // The cap closes the second connection: EOF (or a reset) once the server refused it.
    let _ = refused.read(&mut [0u8; 16]);
    drop(held);
    let st = srv.sigterm_and_wait(WITHIN);
    assert!(st.success(), "{st}");
    std::fs::read_to_string(&path).unwrap()
}

const DRAIN: &str = "draining for up to";
const REFUSED: &str = "refused a connection from 127.0.0.1";

/// `2026-12-02T03:35:18.123Z`: date, `T`, time with milliseconds, `Z`.
fn is_rfc3339_utc(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 24
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'.'
        && b[23] == b'Z'
        && s.chars()
            .enumerate()
            .all(|(i, c)| [4, 7, 10, 13, 16, 19, 23].contains(&i) || c.is_ascii_digit())
}

#[test]
fn info_by_default_with_rfc3339_timestamps_and_q_silences_it() {
    let log = serve_and_log(&[], &[], &[]);
    let drain = log
        .lines()
        .find(|l| l.contains(DRAIN))
        .unwrap_or_else(|| panic!("no drain line in:\n{log}"));
    let ts = drain.split_whitespace().next().unwrap();
    assert!(is_rfc3339_utc(ts), "{drain}");
    assert!(drain.contains(" INFO "), "{drain}");
    assert!(drain.contains("signal=15"), "the event's fields: {drain}");
    assert!(!log.contains(REFUSED), "debug is off by default:\n{log}");
    // may's per-fd chatter stays out at the default level.
    assert!(!log.contains("epoll select"), "{log}");

    // -q is global: before the command or after it.
    for log in [
        serve_and_log(&["-q"], &[], &[]),
        serve_and_log(&[], &["-q"], &[]),
    ] {
        assert!(!log.contains(DRAIN), "-q silences info:\n{log}");
    }
}

#[test]
fn v_shows_debug_events_with_their_fields() {
    let log = serve_and_log(&["-v"], &[], &[]);
    let refused = log
        .lines()
        .find(|l| l.contains(REFUSED))
        .unwrap_or_else(|| panic!("no refusal at -v in:\n{log}"));
    assert!(refused.contains(" DEBUG "), "{refused}");
    assert!(refused.contains("peer=127.0.0.1"), "{refused}");
    assert!(refused.contains("max_per_peer=1"), "{refused}");
    assert!(log.contains(DRAIN), "{log}");
}

#[test]
fn rust_log_picks_levels_by_module() {
    // One module at debug: its refusal shows, the rest stays at info.
    let log = serve_and_log(&[], &[], &[("RUST_LOG", "info,mayfly::server=debug")]);
    assert!(log.contains(REFUSED), "{log}");
    assert!(log.contains(DRAIN), "{log}");
    // warn everywhere: neither shows.
    let log = serve_and_log(&[], &[], &[("RUST_LOG", "warn")]);
    assert!(!log.contains(REFUSED) && !log.contains(DRAIN), "{log}");
    // A flag replaces RUST_LOG's catch-all level and keeps its module directives.
    let log = serve_and_log(&["-q"], &[], &[("RUST_LOG", "mayfly::server=debug")]);
    assert!(log.contains(REFUSED) && !log.contains(DRAIN), "{log}");
}

#[test]
fn json_lines_parse_with_the_expected_fields() {
    let log = serve_and_log(&["-v"], &["--log-format", "json"], &[]);
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    for v in &lines {
        assert!(is_rfc3339_utc(v["ts"].as_str().unwrap()), "{v}");
        for key in ["level", "target", "msg"] {
            assert!(v[key].is_string(), "{key} in {v}");
        }
        assert!(v["pid"].is_u64(), "{v}");
    }
    let find = |text: &str| {
        lines
            .iter()
            .find(|v| v["msg"].as_str().unwrap().contains(text))
            .unwrap_or_else(|| panic!("no {text:?} in:\n{log}"))
    };
    let refused = find(REFUSED);
    assert_eq!(refused["level"], "DEBUG");
    assert_eq!(refused["target"], "mayfly::server::limits");
    assert_eq!(refused["peer"], "127.0.0.1");
    assert_eq!(
        refused["max_per_peer"], 1,
        "numbers stay numbers: {refused}"
    );
    let drain = find(DRAIN);
    assert_eq!(drain["level"], "INFO");
    assert_eq!(drain["signal"], 15);
}
