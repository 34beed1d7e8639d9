//! The paced load (`--rate`, clients/src/pace.rs): `mayfly stress` offers that many requests a
//! second in both client modes, `mayfly compare` passes it to every run and flags a row that
//! fell short, and a rate that cannot pace anything, or a load it does not pace, is refused.

use std::process::Stdio;
use std::time::Duration;

use mayfly_proto::builds::Mode;
use mayfly_proto::child::ServeEchoCommand;

use crate::util::{mayfly, ServerChild};

fn echo_server() -> ServerChild {
    let mut cmd = mayfly();
    cmd.args(ServeEchoCommand::new(Mode::Coroutine).args())
        .stderr(Stdio::null());
    ServerChild::spawn(cmd, false)
}

fn stress_json(addr: &str, extra: &[&str]) -> serde_json::Value {
    let out = mayfly()
        .args(["stress", "--addr", addr, "--json", "--duration", "1s"])
        .args(extra)
        .output()
        .expect("stress runs");
    assert!(out.status.success(), "{extra:?}: {out:?}");
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

#[test]
fn stress_at_a_rate_sends_that_many_requests_in_both_client_modes() {
    let mut server = echo_server();
    for mode in [
        &["--mode", "coroutine", "--connections", "20"][..],
        &["--mode", "threads", "--threads", "4", "--connections", "20"],
    ] {
        // A plain number (compare below takes a count: 10M).
        let paced = stress_json(&server.addr, &[mode, &["--rate", "400.0"]].concat());
        let requests = paced["requests"].as_u64().unwrap();
        // 400 slots fall in the 1 s window; the last few may be answered after it closes.
        assert!(
            (340..=400).contains(&requests),
            "{mode:?}: {requests} requests at 400 req/s for 1 s: {paced}"
        );
        // No connection sends once its next slot is past the window's end (20 connections
        // hold 20 slots after it): at most the requests in flight as it closes come late.
        let late = paced["after_window"].as_u64().unwrap();
        assert!(
            late <= 3,
            "{mode:?}: {late} answered after the window: {paced}"
        );
        assert_eq!(paced["rate"], 400.0, "{paced}");
        assert_eq!(paced["ok"], true, "{paced}");
        // Unpaced, the same connections send far more (so the rate is what held them back).
        let free = stress_json(&server.addr, mode);
        assert!(
            free["requests"].as_u64().unwrap() > 2 * 400,
            "{mode:?} unpaced: {free}"
        );
        assert!(free.get("rate").is_none(), "{free}");
    }
    let st = server.sigterm_and_wait(Duration::from_secs(20));
    assert!(st.success(), "{st}");
}

#[test]
fn a_rate_that_cannot_pace_or_a_load_it_does_not_pace_is_a_usage_error() {
    for (args, says) in [
        (
            &["stress", "--addr", "127.0.0.1:1", "--rate", "0"][..],
            "--rate must be a positive number of requests per second, not 0",
        ),
        (
            &["stress", "--addr", "127.0.0.1:1", "--rate=-5"],
            "--rate must be a positive number",
        ),
        (
            &[
                "stress",
                "--addr",
                "127.0.0.1:1",
                "--proto",
                "udp",
                "--rate",
                "10",
            ],
            "--rate paces the TCP echo load only (--proto tcp), not --proto udp",
        ),
        (
            &[
                "stress",
                "--addr",
                "127.0.0.1:1",
                "--proto",
                "http",
                "--rate",
                "10",
            ],
            "not --proto http",
        ),
        (
            &[
                "stress",
                "--addr",
                "127.0.0.1:1",
                "--rate",
                "10",
                "--connections",
                "20",
                "--duration",
                "1s",
            ],
            "--rate 10 for 1 s is 10 requests, fewer than the 20 connections",
        ),
        (
            &["compare", "--rate", "0"],
            "--rate must be a positive number",
        ),
        (
            &["compare", "--rate", "5", "--connections", "10,500"],
            "--rate × --duration must be at least the largest --connections",
        ),
        (
            &["compare", "--proto", "http", "--rate", "100"],
            "--rate paces the TCP echo load only (--proto tcp)",
        ),
    ] {
        let out = mayfly().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

fn compare_json(rate: &str) -> serde_json::Value {
    let out = mayfly()
        .args([
            "compare",
            "--builds",
            "coroutine",
            "--connections",
            "10",
            "--duration",
            "1s",
            "--quick",
            "--no-pin",
            "--json",
            "--rate",
            rate,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the report as JSON")
}

#[test]
fn compare_offers_its_rate_to_every_run_and_flags_a_rate_not_reached() {
    let report = compare_json("300");
    assert_eq!(report["settings"]["rate"], 300.0, "{}", report["settings"]);
    let row = &report["rows"][0];
    let rps = row["rps"].as_f64().unwrap();
    assert!((270.0..=301.0).contains(&rps), "{row}");
    assert_eq!(row["offered_rps"], 300.0, "{row}");
    let warnings = row["warnings"].to_string();
    assert!(!warnings.contains("rate not reached"), "{warnings}");
    // Idle CPUs are what a paced run is for: not a contended host.
    assert!(!warnings.contains("both sides idle"), "{warnings}");
    // Ten connections cannot make ten million round trips a second.
    let report = compare_json("10M");
    let row = &report["rows"][0];
    let warnings = row["warnings"].to_string();
    assert!(
        warnings.contains("rate not reached: 10,000,000 req/s offered"),
        "{warnings}"
    );
}
