//! End-to-end tests of `mayfly serve cmd` and `mayfly cmd` over loopback: nothing runs
//! before the HMAC challenge is answered, commands are bounded in time and output, and a
//! slow command does not hold up anyone else.

use std::io::{Read, Write};
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
    // The remote stdout on stdout, the remote stderr on stderr.
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "oops\n");
}

#[test]
fn killed_commands_have_exit_codes_of_their_own() {
    let s = Server::start(&["--timeout", "1s", "--max-output", "1K"]);
    // Cut at the output cap: 123, whether the shell then died of SIGPIPE or exited 0.
    for command in [
        &["yes"][..],
        &["head", "-c", "5000", "/dev/zero;", "exit", "0"],
    ] {
        let out = cli(&s.addr, command);
        assert_eq!(out.status.code(), Some(123), "{command:?}");
        assert_eq!(out.stdout.len(), 1024);
        assert!(String::from_utf8_lossy(&out.stderr).contains("cap"));
    }
    // Killed by a signal: 128 + N, as a shell reports it.
    let out = cli(&s.addr, &["kill", "-TERM", "$$"]);
    assert_eq!(out.status.code(), Some(128 + 15));
    // Killed at the time limit: 124, as timeout(1).
    let out = cli(&s.addr, &["sleep", "5"]);
    assert_eq!(out.status.code(), Some(124));
    // The command's own code otherwise.
    let out = cli(&s.addr, &["exit", "7"]);
    assert_eq!(out.status.code(), Some(7));
}

#[test]
fn the_help_says_how_words_are_joined_and_that_stdin_is_not_sent() {
    let out = mayfly().args(["cmd", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        help.contains("joined with single spaces, unquoted"),
        "{help}"
    );
    assert!(help.contains("stdin is not forwarded"), "{help}");
    // And it is so: quoting is the remote shell's, stdin is /dev/null.
    let s = Server::start(&[]);
    let out = cli(&s.addr, &["printf", "'%s|'", "a  b", "c"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "a|b|c|");
    let mut child = mayfly()
        .args(["cmd", "--addr", &s.addr])
        .env("MAYFLY_CMD_SECRET", std::str::from_utf8(SECRET).unwrap())
        .args(["wc", "-c"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"local input")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0");
}

#[test]
fn client_failures_have_exit_codes_of_their_own() {
    let s = Server::start(&[]);
    let out = mayfly()
        .args(["cmd", "--addr", &s.addr])
        .env("MAYFLY_CMD_SECRET", "a wrong secret, long enough")
        .args(["true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(8), "wrong secret");
    // Nothing listens on a port just freed.
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let out = cli(&free.to_string(), &["true"]);
    assert_eq!(out.status.code(), Some(4), "unreachable");
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
    assert_eq!(out.stdout, b"started\n");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    // Same connection goes on.
    assert_eq!(c.run("echo next").unwrap().stdout, b"next\n");
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
    assert_eq!(out.stdout.len(), 1024);
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
    assert_eq!(c.run("echo fast").unwrap().stdout, b"fast\n");
    assert!(
        t.elapsed() < Duration::from_millis(800),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(slow.join().unwrap().stdout, b"slow\n");
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

/// A connection from `ip` (any 127.x.y.z is loopback on Linux: another peer).
fn connect_from(ip: &str, addr: &str) -> TcpStream {
    let c = crate::util::connect_from(ip, addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c
}

/// Reads one header (None: the server closed, or reset).
fn read_header(conn: &mut TcpStream) -> Option<Header> {
    let mut r = FrameReader::new(conn, Limits::default(), frame::no_body);
    r.read_header().ok().flatten().map(|(h, _)| h)
}

/// Answers the challenge on `conn` with `secret`; returns the server's verdict (or its
/// first header if it sent no challenge), None if it closed.
fn login(conn: &mut TcpStream, secret: &[u8]) -> Option<Header> {
    let first = read_header(conn)?;
    let Ok(hex) = first.str("challenge") else {
        return Some(first);
    };
    let challenge = mayfly_proto::unhex(hex).unwrap();
    let answer = mayfly_proto::cmd::auth::answer(secret, &challenge);
    frame::write_header(conn, &mayfly_proto::cmd::answer_header(&answer)).unwrap();
    read_header(conn)
}

/// Runs `command` through the CLI against `addr`.
fn cli(addr: &str, command: &[&str]) -> std::process::Output {
    mayfly()
        .args(["cmd", "--addr", addr])
        .env("MAYFLY_CMD_SECRET", std::str::from_utf8(SECRET).unwrap())
        .args(command)
        .output()
        .unwrap()
}

#[test]
fn the_handshake_has_one_deadline_not_one_per_read() {
    let s = Server::start(&["--auth-timeout", "1s"]);
    let mut c = TcpStream::connect(&s.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    read_header(&mut c).expect("a challenge");
    // An answer trickled one byte every 200 ms: each read is quick, the whole is not.
    let mut answer = Vec::new();
    frame::write_header(
        &mut answer,
        &mayfly_proto::cmd::answer_header(&"0".repeat(64)),
    )
    .unwrap();
    let t = Instant::now();
    let mut cut = None;
    for b in &answer {
        if c.write_all(&[*b]).is_err() {
            cut = Some(t.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
        if t.elapsed() > Duration::from_secs(4) {
            break;
        }
    }
    // The server closes at its deadline: the write fails, or the read sees the end.
    let closed_at = cut.unwrap_or_else(|| {
        c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut b = [0u8; 256];
        match c.read(&mut b) {
            Ok(0) | Err(_) => t.elapsed(),
            Ok(_) => panic!("the server answered a trickled handshake"),
        }
    });
    assert!(
        closed_at < Duration::from_millis(2500),
        "the handshake was held for {closed_at:?} with a 1 s deadline"
    );
}

#[test]
fn unauthenticated_connections_are_capped_and_one_peer_cannot_take_every_slot() {
    let s = Server::start(&["--max-unauthenticated", "3", "--max-per-peer", "4"]);
    // Three silent clients hold every pre-login slot...
    let mut silent: Vec<TcpStream> = (0..3)
        .map(|_| {
            let mut c = connect_from("127.0.0.1", &s.addr);
            read_header(&mut c).expect("a challenge");
            c
        })
        .collect();
    // ...so the fourth is told "busy" at once, not left waiting.
    let mut c = connect_from("127.0.0.2", &s.addr);
    let t = Instant::now();
    let h = read_header(&mut c).expect("a reply");
    assert_eq!(h.str("code").ok(), Some("busy"), "{h:?}");
    assert!(t.elapsed() < Duration::from_secs(2));
    // A slot frees when a silent client leaves; a real client logs in.
    silent.pop();
    std::thread::sleep(Duration::from_millis(200));
    let mut c = connect_from("127.0.0.2", &s.addr);
    let v = login(&mut c, SECRET).expect("a verdict");
    assert_eq!(v.str("status").ok(), Some("ok"), "{v:?}");
    // Per peer: 127.0.0.1 holds 2 silent + 2 logged in = 4; its fifth is closed at once.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut c = connect_from("127.0.0.1", &s.addr);
        assert_eq!(
            login(&mut c, SECRET).unwrap().str("status").ok(),
            Some("ok")
        );
        held.push(c);
    }
    let mut c = connect_from("127.0.0.1", &s.addr);
    assert!(
        read_header(&mut c).is_none(),
        "a fifth connection from one peer"
    );
    let mut c = connect_from("127.0.0.3", &s.addr);
    assert_eq!(
        login(&mut c, SECRET).unwrap().str("status").ok(),
        Some("ok")
    );
}

#[test]
fn login_guesses_are_limited_per_peer() {
    let s = Server::start(&["--max-auth-failures", "3"]);
    for _ in 0..3 {
        let mut c = connect_from("127.0.0.1", &s.addr);
        let v = login(&mut c, b"a wrong guess of the secret").unwrap();
        assert_eq!(v.str("code").ok(), Some("auth"), "{v:?}");
    }
    // The fourth try from that peer is refused before any challenge, even with the secret.
    let mut c = connect_from("127.0.0.1", &s.addr);
    let v = login(&mut c, SECRET).unwrap();
    assert_eq!(v.str("code").ok(), Some("rate_limited"), "{v:?}");
    // Another peer is not affected.
    let mut c = connect_from("127.0.0.2", &s.addr);
    assert_eq!(
        login(&mut c, SECRET).unwrap().str("status").ok(),
        Some("ok")
    );
}

#[test]
fn a_new_session_escapes_neither_the_time_limit_nor_the_end_of_its_command() {
    let s = Server::start(&["--timeout", "1s"]);
    let mut c = CmdClient::connect(&s.addr, SECRET).unwrap();
    // setsid leaves the process group; the shell exits at once, the sleeper holds the pipe.
    let t = Instant::now();
    let out = c.run("setsid sleep 12.31").unwrap();
    let took = t.elapsed();
    assert!(
        took < Duration::from_secs(4),
        "took {took:?} with --timeout 1s"
    );
    assert!(
        !gone_within("12.31", Duration::from_secs(3)),
        "the setsid sleeper survived"
    );
    let _ = out;
    // A backgrounded new session does not outlive its command, nor hold up the reply.
    let t = Instant::now();
    let out = c.run("setsid sleep 12.32 & echo started").unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(4),
        "took {:?}",
        t.elapsed()
    );
    assert_eq!(out.exit_code, Some(0));
    assert!(
        !gone_within("12.32", Duration::from_secs(3)),
        "the background job survived"
    );
    // Nor does a double fork that closed its output.
    let out = c
        .run("(setsid sleep 12.33 >/dev/null 2>&1 &); echo forked")
        .unwrap();
    assert_eq!(out.exit_code, Some(0));
    assert!(
        !gone_within("12.33", Duration::from_secs(3)),
        "the daemon survived"
    );
}

/// Waits up to `limit` for no process to have `arg` among its arguments; returns whether
/// one is still running.
fn gone_within(arg: &str, limit: Duration) -> bool {
    let t = Instant::now();
    while still_running(arg) {
        if t.elapsed() > limit {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn a_full_pool_answers_busy_at_once() {
    let s = Server::start(&["--max-running", "2"]);
    let sleepers: Vec<_> = (0..2)
        .map(|_| {
            let addr = s.addr.clone();
            std::thread::spawn(move || {
                let mut c = CmdClient::connect(&addr, SECRET).unwrap();
                c.run("sleep 2").unwrap()
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut c = CmdClient::connect(&s.addr, SECRET).unwrap();
    let t = Instant::now();
    let err = c.run("echo waited").unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    let CmdError::Refused(r) = err else {
        panic!("expected busy, got {err:?}")
    };
    assert_eq!(r.code, "busy");
    for s in sleepers {
        assert_eq!(s.join().unwrap().exit_code, Some(0));
    }
    // The connection goes on once a thread is free.
    assert_eq!(c.run("echo later").unwrap().exit_code, Some(0));
}

#[test]
fn commands_do_not_see_the_secret() {
    let mut cmd = mayfly();
    cmd.args(["serve", "cmd", "--addr", "127.0.0.1:0"])
        .env("MAYFLY_CMD_SECRET", std::str::from_utf8(SECRET).unwrap())
        .stderr(Stdio::null());
    let srv = ServerChild::spawn(cmd, false);
    let mut c = CmdClient::connect(&srv.addr, SECRET).unwrap();
    let out = c.run("echo \"[$MAYFLY_CMD_SECRET]\"").unwrap();
    assert_eq!(out.exit_code, Some(0));
    let text = String::from_utf8_lossy(&c.run("env").unwrap().stdout).into_owned();
    assert!(!text.contains("correct horse"), "{text}");
}
