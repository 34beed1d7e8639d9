//! End-to-end tests of `mayfly serve cmd --course-protocol`: the course's own Python command
//! client (tests/fixtures/course_cmd_client.py, run with python3) gets stderr then stdout
//! after a 4-byte length; the server refuses to start on a non-loopback address (exit 2)
//! and warns that there is no login; its limits hold.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::util::{mayfly, ServerChild};

const PATIENCE: Duration = Duration::from_secs(20);

/// `mayfly serve cmd --course-protocol` on a free loopback port, its stderr in a file.
fn serve(extra: &[&str]) -> (ServerChild, tempfile::NamedTempFile) {
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut cmd = mayfly();
    cmd.args(["serve", "cmd", "--course-protocol", "--addr", "127.0.0.1:0"])
        .args(extra)
        .stderr(log.reopen().unwrap());
    (ServerChild::spawn(cmd, false), log)
}

/// The course's client running `commands` against `addr`: each answer, or `None` without
/// python3.
fn course_client(addr: &str, commands: &[&str]) -> Option<Vec<String>> {
    let there = Command::new("python3")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !there {
        eprintln!("SKIPPED: python3 is not installed; the course's client was not run");
        return None;
    }
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/course_cmd_client.py"
    );
    let out = Command::new("python3")
        .arg(script)
        .arg(addr)
        .args(commands)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut answers: Vec<String> = text.split('\0').map(str::to_owned).collect();
    assert_eq!(answers.pop().as_deref(), Some(""), "{text:?}");
    Some(answers)
}

/// One raw exchange: `command` in one write, the 4-byte length and the answer back.
fn exchange(c: &mut TcpStream, command: &[u8]) -> Vec<u8> {
    c.write_all(command).unwrap();
    read_answer(c)
}

fn read_answer(c: &mut TcpStream) -> Vec<u8> {
    let mut len = [0u8; 4];
    c.read_exact(&mut len).unwrap();
    let n = mayfly_proto::cmd::course::reply_len(len).expect("a non-negative length");
    let mut body = vec![0u8; n];
    c.read_exact(&mut body).unwrap();
    body
}

fn connect(addr: &str) -> TcpStream {
    let c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(PATIENCE)).unwrap();
    c
}

#[test]
fn the_course_python_client_gets_stderr_then_stdout_after_a_4_byte_length() {
    let (mut srv, log) = serve(&[]);
    let Some(answers) = course_client(
        &srv.addr,
        &[
            "echo hello; echo oops >&2",
            "exit 3",
            // 5,000 bytes: the client's recv(1024) loop runs several times.
            "head -c 5000 /dev/zero | tr '\\0' x",
            "no-such-command-here",
        ],
    ) else {
        return;
    };
    assert_eq!(answers.len(), 4, "{answers:?}");
    assert_eq!(answers[0], "oops\nhello\n");
    assert_eq!(answers[1], "");
    assert_eq!(answers[2], "x".repeat(5000));
    assert!(answers[3].contains("not found"), "{:?}", answers[3]);
    assert!(srv.sigterm_and_wait(PATIENCE).success());
    let stderr = std::fs::read_to_string(log.path()).unwrap();
    assert!(
        stderr.contains("WARNING") && stderr.contains("no login"),
        "{stderr}"
    );
}

#[test]
fn a_non_loopback_address_is_refused_at_start_with_exit_2() {
    for addr in ["0.0.0.0:0", "[::]:0"] {
        let out = mayfly()
            .args(["serve", "cmd", "--course-protocol", "--addr", addr])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{addr}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("loopback") && err.contains("login"), "{err}");
        assert!(out.stdout.is_empty(), "nothing listened");
    }
    // No flag turns it off: --allow-remote does not go with it.
    let out = mayfly()
        .args(["serve", "cmd", "--course-protocol", "--allow-remote"])
        .args(["--addr", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    // Its own flags need it.
    let out = mayfly()
        .args(["serve", "cmd", "--course-max-command", "16"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn one_read_is_one_command_up_to_the_limit_and_commands_are_bounded() {
    let (mut srv, _log) = serve(&["--course-max-command", "8", "--timeout", "1s"]);
    let mut c = connect(&srv.addr);
    // 14 bytes in one write, 8 a read: two commands, as recv(8) would take them.
    assert_eq!(exchange(&mut c, b"echo 123456789"), b"123\n");
    let rest = String::from_utf8(read_answer(&mut c)).unwrap();
    assert!(rest.contains("456789"), "{rest:?}");
    // Past the time limit: killed, and a line says so.
    let slow = String::from_utf8(exchange(&mut c, b"sleep 30")).unwrap();
    assert!(
        slow.contains("mayfly: killed at the time limit"),
        "{slow:?}"
    );
    // Not UTF-8: said as output, and the connection goes on.
    let bad = String::from_utf8(exchange(&mut c, b"\xff\xfe")).unwrap();
    assert!(bad.starts_with("mayfly:"), "{bad:?}");
    assert_eq!(exchange(&mut c, b"echo ok"), b"ok\n");
    drop(c);
    assert!(srv.sigterm_and_wait(PATIENCE).success());
}
