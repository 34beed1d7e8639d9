//! End-to-end tests of `mayfly file shell`, the FTP homework's `>>:` client, with its
//! commands piped on stdin (not a terminal: each line is echoed after the prompt) through
//! the real binary, against a server with `--users` and an anonymous one.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};

use crate::util::{mayfly, ServerChild};

/// `mayfly file shell --addr ADDR EXTRA…` in `dir`, `script` on its stdin.
fn shell(dir: &Path, addr: &str, extra: &[&str], script: &str) -> Output {
    let mut child = mayfly()
        .current_dir(dir)
        .args(["file", "shell", "--addr", addr])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn serve(root: &Path, extra: &[&str]) -> ServerChild {
    let mut cmd = mayfly();
    cmd.args(["serve", "file", "--addr", "127.0.0.1:0", "--root"])
        .arg(root)
        .args(extra)
        .stderr(Stdio::null());
    ServerChild::spawn(cmd, false)
}

#[test]
fn a_piped_session_puts_gets_and_moves_around_the_home() {
    let dir = tempfile::tempdir().unwrap();
    let (root, work) = (dir.path().join("root"), dir.path().join("work"));
    fs::create_dir(&root).unwrap();
    fs::create_dir(&work).unwrap();
    let users = dir.path().join("users");
    let out = mayfly()
        .args(["file", "adduser", "alice", "--users"])
        .arg(&users)
        .output()
        .unwrap();
    assert!(out.status.success());
    let secret = dir.path().join("alice.secret");
    fs::write(&secret, &out.stdout).unwrap();
    let mut srv = serve(&root, &["--users", users.to_str().unwrap()]);
    fs::write(work.join("a.txt"), b"the homework\n").unwrap();
    let login = ["--user", "alice", "--secret-file", secret.to_str().unwrap()];
    let script = "pwd\nmkdir docs\ncd docs\nput a.txt\nls\ncd ..\nls\nhelp\nquit\nls\n";
    let out = shell(&work, &srv.addr, &login, script);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.starts_with(">>: pwd\n/\n>>: mkdir docs\nmade /docs\n>>: cd docs\n/docs\n>>: put a.txt\nsent a.txt (13 bytes"), "{stdout}");
    assert!(
        stdout.contains(">>: ls\n          13  a.txt\n>>: cd ..\n/\n>>: ls\n              docs/\n"),
        "{stdout}"
    );
    assert!(stdout.contains("  put PATH"), "help: {stdout}");
    // Nothing after quit ran.
    assert!(stdout.trim_end().ends_with(">>: quit"), "{stdout}");
    assert_eq!(
        fs::read(root.join("alice/docs/a.txt")).unwrap(),
        b"the homework\n"
    );

    // Back down and fetch it into another local directory; errors go on, the exit code
    // is the last failure's.
    let other = dir.path().join("other");
    fs::create_dir(&other).unwrap();
    let script = "cd docs\nget a.txt\ncd ../..\nfrobnicate\nget nothere\n";
    let out = shell(&other, &srv.addr, &login, script);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains(">>: get a.txt\nreceived a.txt (13 bytes"),
        "{stdout}"
    );
    assert_eq!(fs::read(other.join("a.txt")).unwrap(), b"the homework\n");
    assert!(stderr.contains("above your home"), "{stderr}");
    assert!(
        stderr.contains("unknown command \"frobnicate\""),
        "{stderr}"
    );
    assert_eq!(out.status.code(), Some(7), "not found: {stderr}");
    assert!(srv
        .sigterm_and_wait(std::time::Duration::from_secs(10))
        .success());
}

#[test]
fn the_shell_works_anonymously_and_says_what_needs_users() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    fs::create_dir(&root).unwrap();
    fs::write(dir.path().join("b.bin"), vec![7u8; 300_000]).unwrap();
    let mut srv = serve(&root, &[]);
    let out = shell(dir.path(), &srv.addr, &[], "put b.bin\nls\ncd x\n");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("sent b.bin (300000 bytes"), "{stdout}");
    assert!(stdout.contains("      300000  b.bin"), "{stdout}");
    assert!(
        stderr.contains("cd needs a server started with --users"),
        "{stderr}"
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(fs::read(root.join("b.bin")).unwrap().len(), 300_000);
    assert!(srv
        .sigterm_and_wait(std::time::Duration::from_secs(10))
        .success());
}
