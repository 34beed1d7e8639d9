//! End-to-end tests of `mayfly serve cmd` and `mayfly cmd` over loopback: nothing runs
//! before the HMAC challenge is answered, commands are bounded in time and output, and a
//! slow command does not hold up anyone else.

use std::io::Write;
use std::net::TcpStream;
use std::process::Stdio;
use std::time::{Duration, Instant};

use mayfly_clients::cmd::{CmdClient, CmdError};
use mayfly_proto::frame::{self, FrameReader, Header, Limits};

const SECRET: &[u8] = b"correct horse battery staple";

use crate::util::{mayfly, ServerChild};

struct Server {
    _srv: ServerChild,
    addr: String,
    _secret: tempfile::NamedTempFile,
}

impl Server {
    fn start(extra: &[&str]) -> Server {
        let mut secret = tempfile::NamedTempFile::new().unwrap();
        secret.write_all(SECRET).unwrap();
        secret.write_all(b"\n").unwrap();
        let mut cmd = mayfly();
        cmd.args(["serve", "cmd", "--addr", "127.0.0.1:0", "--secret-file"])
            .arg(secret.path())
            .args(extra)
            .stderr(Stdio::null());
        let srv = ServerChild::spawn(cmd, false);
        let addr = srv.addr.clone();
        Server {
            _srv: srv,
            addr,
            _secret: secret,
        }
    }
}

#[test]
fn the_cli_runs_a_command_and_returns_its_output_and_exit_code() {
    let s = Server::start(&[]);
    let out = mayfly()
        .args(["cmd", "--addr", &s.addr])
        .env("MAYFLY_CMD_SECRET", std::str::from_utf8(SECRET).unwrap())
        .args(["echo", "hello;", "echo", "oops", ">&2;", "exit", "3"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("hello\n") && text.contains("oops\n"),
        "{text:?}"
    );
}

#[test]
fn nothing_runs_without_the_right_hmac() {
    let s = Server::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let touch = format!("touch {}", marker.display());

    // A wrong secret is refused.
    let err = CmdClient::connect(&s.addr, b"wrong secret, long enough")
        .err()
        .unwrap();
    let CmdError::Refused(refusal) = err else {
        panic!("expected a refusal, got {err:?}")
    };
    assert_eq!(refusal.code, "auth");

    // Skipping the challenge and sending a command straight away is refused too.
    let mut conn = TcpStream::connect(&s.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    frame::write_header(
        &mut conn,
        &Header::new()
            .with("cmd", "run")
            .with("command", touch.as_str()),
    )
    .unwrap();
    frame::write_header(
        &mut conn,
        &Header::new()
            .with("cmd", "run")
            .with("command", touch.as_str()),
    )
    .unwrap();
    let mut r = FrameReader::new(&mut conn, Limits::default(), frame::no_body);
    let (challenge, _) = r.read_header().unwrap().unwrap();
    assert!(challenge.str("challenge").unwrap().len() == 64);
    let (reply, _) = r.read_header().unwrap().unwrap();
    assert_eq!(reply.str("code").unwrap(), "auth");
    // Then the server closes (a reset, as our second frame was never read, or a clean end).
    match r.read_header() {
        Ok(None) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("the server should close after a failed auth: {other:?}"),
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(!marker.exists(), "a command ran without authentication");

    // The right secret works, and the command really runs.
    let mut c = CmdClient::connect(&s.addr, SECRET).unwrap();
    assert_eq!(c.run(&touch).unwrap().exit_code, Some(0));
    assert!(marker.exists());
}

#[test]
fn a_command_past_its_time_limit_is_killed_with_what_it_started() {
    let s = Server::start(&["--timeout", "500ms"]);
    let mut c = CmdClient::connect(&s.addr, SECRET).unwrap();
    let t = Instant::now();
    let out = c.run("echo started; sleep 31.37 & sleep 30").unwrap();
    assert!(out.timed_out);
    // The background sleep went with the shell: no process still runs `sleep 31.37`.
    let t2 = Instant::now();
    while still_running("31.37") {
        assert!(
            t2.elapsed() < Duration::from_secs(5),
            "the background job survived"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(out.exit_code, None);
    assert_eq!(out.output, b"started\n");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    // Same connection goes on.
    assert_eq!(c.run("echo next").unwrap().output, b"next\n");
}

/// True if some process has `arg` among its arguments.
fn still_running(arg: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
        std::fs::read(e.path().join("cmdline"))
            .map(|c| c.split(|b| *b == 0).any(|a| a == arg.as_bytes()))
            .unwrap_or(false)
    })
}

#[test]
fn output_past_the_cap_is_cut_and_the_command_killed() {
    let s = Server::start(&["--max-output", "1K"]);
    let mut c = CmdClient::connect(&s.addr, SECRET).unwrap();
    let t = Instant::now();
    let out = c.run("yes").unwrap();
    assert!(out.truncated);
    assert_eq!(out.output.len(), 1024);
    assert!(t.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_slow_command_does_not_hold_up_other_clients() {
    let s = Server::start(&[]);
    let addr = s.addr.clone();
    let slow = std::thread::spawn(move || {
        let mut c = CmdClient::connect(&addr, SECRET).unwrap();
        c.run("sleep 1; echo slow").unwrap()
    });
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    let mut c = CmdClient::connect(&s.addr, SECRET).unwrap();
    assert_eq!(c.run("echo fast").unwrap().output, b"fast\n");
    assert!(
        t.elapsed() < Duration::from_millis(800),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(slow.join().unwrap().output, b"slow\n");
}

#[test]
fn unsafe_setups_are_refused_at_start() {
    let mut short = tempfile::NamedTempFile::new().unwrap();
    short.write_all(b"short").unwrap();
    let out = mayfly()
        .args(["serve", "cmd", "--addr", "127.0.0.1:0", "--secret-file"])
        .arg(short.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 16"));

    let out = mayfly()
        .args(["serve", "cmd", "--addr", "0.0.0.0:0"])
        .env("MAYFLY_CMD_SECRET", "a long enough secret")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--allow-remote"));

    let out = mayfly()
        .args(["serve", "cmd", "--addr", "127.0.0.1:0"])
        .env_remove("MAYFLY_CMD_SECRET")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no secret"));
}
