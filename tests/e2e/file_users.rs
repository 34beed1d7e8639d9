//! End-to-end tests of the FTP homework's user layer, `mayfly serve file --users FILE`:
//! users made with `mayfly file adduser` log in with the HMAC challenge, each works in a home
//! nobody can leave (nested paths, `..`, symlinks), under a quota refused before a byte is
//! written, with `cd`, `mkdir`, `pwd`, `dirs`, and several users at once.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use mayfly_clients::file::{FileClient, FileError, GetOptions, PutOptions};
use mayfly_clients::file_user;
use mayfly_proto::reply::code;

use crate::util::{mayfly, ServerChild};

/// `mayfly file adduser NAME --users FILE --quota Q`: the secret it printed.
fn adduser(users: &Path, name: &str, quota: &str) -> String {
    let out = mayfly()
        .args(["file", "adduser", name, "--quota", quota, "--users"])
        .arg(users)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

struct Setup {
    srv: ServerChild,
    dir: tempfile::TempDir,
    alice: String,
    bob: String,
}

impl Setup {
    fn start() -> Setup {
        Setup::start_with(&[])
    }

    fn start_with(extra: &[&str]) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("root")).unwrap();
        let users = dir.path().join("users");
        let alice = adduser(&users, "alice", "64K");
        let bob = adduser(&users, "bob", "1M");
        let mut cmd = mayfly();
        cmd.args(["serve", "file", "--addr", "127.0.0.1:0", "--root"])
            .arg(dir.path().join("root"))
            .arg("--users")
            .arg(&users)
            .args(extra)
            .stderr(Stdio::null());
        Setup {
            srv: ServerChild::spawn(cmd, false),
            dir,
            alice,
            bob,
        }
    }

    fn login(&self, user: &str) -> FileClient<std::net::TcpStream> {
        let secret = if user == "alice" {
            &self.alice
        } else {
            &self.bob
        };
        let mut c = FileClient::connect(self.srv.addr.as_str()).unwrap();
        let me = file_user::login(&mut c, user, secret.as_bytes()).unwrap();
        assert_eq!(me.user, user);
        c
    }

    fn local(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.dir.path().join(name);
        fs::write(&p, bytes).unwrap();
        p
    }

    fn home(&self, user: &str) -> PathBuf {
        self.dir.path().join("root").join(user)
    }
}

fn refused(e: FileError) -> String {
    match e {
        FileError::Refused(r) => r.code,
        other => panic!("not a refusal: {other}"),
    }
}

#[test]
fn users_log_in_and_work_in_nested_directories_of_their_own_home() {
    let s = Setup::start();
    let mut a = s.login("alice");
    assert_eq!(file_user::pwd(&mut a).unwrap(), "/");
    assert_eq!(file_user::mkdir(&mut a, "docs").unwrap(), "/docs");
    assert_eq!(file_user::mkdir(&mut a, "docs/2024").unwrap(), "/docs/2024");
    assert_eq!(file_user::cd(&mut a, "docs/2024").unwrap(), "/docs/2024");
    let src = s.local("a.txt", b"hello from alice\n");
    let none = &mut |_, _| {};
    let t = a
        .put_file(&src, "a.txt", &PutOptions::default(), none)
        .unwrap();
    assert_eq!(t.filesize, 17);
    assert_eq!(
        fs::read(s.home("alice").join("docs/2024/a.txt")).unwrap(),
        b"hello from alice\n"
    );
    // The listing is the current directory's; dirs lists subdirectories.
    assert_eq!(a.list().unwrap().len(), 1);
    assert_eq!(file_user::cd(&mut a, "..").unwrap(), "/docs");
    assert!(a.list().unwrap().is_empty());
    assert_eq!(file_user::dirs(&mut a).unwrap(), ["2024"]);
    // Download with the sha256 checked, from an absolute path's directory.
    assert_eq!(file_user::cd(&mut a, "/docs/2024").unwrap(), "/docs/2024");
    let dest = s.dir.path().join("back.txt");
    a.get_file("a.txt", &dest, &GetOptions::default(), none)
        .unwrap();
    assert_eq!(fs::read(&dest).unwrap(), b"hello from alice\n");

    // Bob, at the same time, sees nothing of Alice's.
    let mut b = s.login("bob");
    assert!(b.list().unwrap().is_empty());
    assert_eq!(
        refused(file_user::cd(&mut b, "docs").unwrap_err()),
        code::NOT_FOUND
    );
    let homes = fs::metadata(s.home("bob")).unwrap().permissions().mode() & 0o777;
    assert_eq!(homes, 0o700);
}

#[test]
fn nobody_leaves_their_home_by_dots_absolute_paths_or_symlinks() {
    let s = Setup::start();
    fs::create_dir_all(s.home("alice").join("sub/deeper")).unwrap();
    fs::write(s.home("bob").join("secret.txt"), b"bob's").unwrap();
    std::os::unix::fs::symlink(s.home("bob"), s.home("alice").join("sub/tobob")).unwrap();
    std::os::unix::fs::symlink(
        s.home("bob").join("secret.txt"),
        s.home("alice").join("sub/deeper/link.txt"),
    )
    .unwrap();
    let mut a = s.login("alice");
    assert_eq!(file_user::cd(&mut a, "sub/deeper").unwrap(), "/sub/deeper");
    for bad in [
        "../../..",
        "../../../bob",
        "/../bob",
        "/sub/../../bob",
        "..\\..",
        ".mayfly-partial",
    ] {
        assert_eq!(
            refused(file_user::cd(&mut a, bad).unwrap_err()),
            code::BAD_NAME,
            "{bad}"
        );
        assert_eq!(
            refused(file_user::mkdir(&mut a, bad).unwrap_err()),
            code::BAD_NAME,
            "{bad}"
        );
    }
    // Symlinks are never followed: not as a directory on the way, not as a file.
    assert_eq!(
        refused(file_user::cd(&mut a, "/sub/tobob").unwrap_err()),
        code::FORBIDDEN
    );
    assert_eq!(
        refused(file_user::cd(&mut a, "../tobob/x").unwrap_err()),
        code::FORBIDDEN
    );
    let dest = s.dir.path().join("stolen");
    let none = &mut |_, _| {};
    let e = a
        .get_file("link.txt", &dest, &GetOptions::default(), none)
        .unwrap_err();
    assert_eq!(refused(e), code::FORBIDDEN);
    assert!(!dest.exists());
    // Names inside a directory are still plain names.
    let e = a.get_file("../../bob/secret.txt", &dest, &GetOptions::default(), none);
    assert_eq!(refused(e.unwrap_err()), code::BAD_NAME);
    // Still where it was, and still usable.
    assert_eq!(file_user::pwd(&mut a).unwrap(), "/sub/deeper");
}

#[test]
fn an_upload_past_the_quota_is_refused_before_a_byte_is_written() {
    let s = Setup::start();
    let mut a = s.login("alice");
    let none = &mut |_, _| {};
    let small = s.local("small", &[b'x'; 40 * 1024]);
    a.put_file(&small, "small", &PutOptions::default(), none)
        .unwrap();
    assert_eq!(file_user::quota(&mut a).unwrap(), (64 * 1024, 40 * 1024));
    // 40K + 30K > 64K: the client refuses before sending, the server would too.
    let big = s.local("big", &[b'y'; 30 * 1024]);
    let e = file_user::check_room(&mut a, 30 * 1024).unwrap_err();
    assert_eq!(refused(e), code::DISK_FULL);
    let e = a
        .put_file(&big, "big", &PutOptions::default(), none)
        .unwrap_err();
    assert_eq!(refused(e), code::DISK_FULL);
    // Nothing half-written, the old file whole, and the connection still works.
    let names: Vec<_> = fs::read_dir(s.home("alice"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names, ["small"]);
    assert_eq!(a.list().unwrap().len(), 1);
    // The CLI says it before sending and exits 6 (refused).
    let secret = s.dir.path().join("alice.secret");
    fs::write(&secret, &s.alice).unwrap();
    let out = mayfly()
        .args([
            "file",
            "--addr",
            &s.srv.addr,
            "--user",
            "alice",
            "--secret-file",
        ])
        .arg(&secret)
        .arg("put")
        .arg(&big)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(6));
    assert!(String::from_utf8_lossy(&out.stderr).contains("quota exceeded"));
}

#[test]
fn wrong_secrets_anonymous_clients_and_readable_users_files_are_refused() {
    let mut s = Setup::start();
    let bad = s.dir.path().join("bad.secret");
    fs::write(&bad, "not the right secret at all").unwrap();
    let out = mayfly()
        .args([
            "file",
            "--addr",
            &s.srv.addr,
            "--user",
            "alice",
            "--secret-file",
        ])
        .arg(&bad)
        .arg("list")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(8), "auth");
    // Bob's secret is not Alice's.
    let mut c = FileClient::connect(s.srv.addr.as_str()).unwrap();
    let e = file_user::login(&mut c, "alice", s.bob.as_bytes()).unwrap_err();
    assert_eq!(refused(e), code::AUTH);
    // An anonymous client is told to log in.
    let out = mayfly()
        .args(["file", "--addr", &s.srv.addr, "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(8));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--user"));
    assert!(s
        .srv
        .sigterm_and_wait(std::time::Duration::from_secs(10))
        .success());
    // A users file others can read is refused at start.
    let users = s.dir.path().join("users");
    fs::set_permissions(&users, fs::Permissions::from_mode(0o644)).unwrap();
    let out = mayfly()
        .args(["serve", "file", "--addr", "127.0.0.1:0", "--root"])
        .arg(s.dir.path().join("root"))
        .arg("--users")
        .arg(&users)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("chmod 600"));
}

#[test]
fn the_user_layers_limits_are_flags() {
    // A home of more entries than --max-home-entries is not measured: uploads refused.
    let s = Setup::start_with(&["--max-home-entries", "2", "--login-timeout", "1s"]);
    for d in ["a", "b", "c"] {
        fs::create_dir(s.home("alice").join(d)).unwrap();
    }
    let mut a = s.login("alice");
    let src = s.local("x", b"x");
    let e = a
        .put_file(&src, "x", &PutOptions::default(), &mut |_, _| {})
        .unwrap_err();
    assert_eq!(refused(e), code::IO);
    // A client that does not answer the challenge is cut at --login-timeout.
    let mut quiet = std::net::TcpStream::connect(&s.srv.addr).unwrap();
    quiet
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let started = std::time::Instant::now();
    let mut buf = Vec::new();
    use std::io::Read;
    let _ = quiet.read_to_end(&mut buf);
    let took = started.elapsed();
    assert!(
        took < std::time::Duration::from_secs(5),
        "closed after {took:?}"
    );
    // The flags need --users.
    let out = mayfly()
        .args(["serve", "file", "--root", ".", "--max-home-entries", "5"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn transfers_resume_both_ways_in_a_subdirectory_and_several_users_work_at_once() {
    use std::io::Write;
    let s = Setup::start();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let work = s.dir.path().join("work");
    fs::create_dir(&work).unwrap();
    fs::write(work.join("big.bin"), &data).unwrap();
    // A resumable upload into bob's /in, cut after 100,000 bytes.
    let mut b = s.login("bob");
    file_user::mkdir(&mut b, "in").unwrap();
    file_user::cd(&mut b, "in").unwrap();
    let h = mayfly_proto::frame::Header::new()
        .with("cmd", "put")
        .with("filename", "big.bin")
        .with("filesize", data.len())
        .with("resumable", true);
    mayfly_proto::frame::write_header(b.get_mut(), &h).unwrap();
    b.get_mut().write_all(&data[..100_000]).unwrap();
    drop(b);
    let started = std::time::Instant::now();
    loop {
        let mut c = s.login("bob");
        file_user::cd(&mut c, "in").unwrap();
        if c.stat("big.bin").unwrap().partial_size == Some(100_000) {
            break;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // The shell continues it, and a download from a .part of 50,000 bytes.
    let secret = s.dir.path().join("bob.secret");
    fs::write(&secret, &s.bob).unwrap();
    fs::write(work.join("copy.bin.part"), &data[..50_000]).unwrap();
    let mut child = mayfly()
        .current_dir(&work)
        .args([
            "file",
            "shell",
            "--addr",
            &s.srv.addr,
            "--user",
            "bob",
            "--secret-file",
        ])
        .arg(&secret)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"cd in\nput big.bin\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("sent big.bin (300000 bytes, 200000 this time)"),
        "{stdout}"
    );
    assert_eq!(fs::read(s.home("bob").join("in/big.bin")).unwrap(), data);
    let mut c = s.login("bob");
    file_user::cd(&mut c, "in").unwrap();
    let t = c
        .get_file(
            "big.bin",
            &work.join("copy.bin"),
            &GetOptions {
                resume: true,
                overwrite: false,
            },
            &mut |_, _| {},
        )
        .unwrap();
    assert_eq!(t.transferred, 250_000);
    assert_eq!(fs::read(work.join("copy.bin")).unwrap(), data);

    // Four connections of two users at once, each with files of its own.
    let s = std::sync::Arc::new(s);
    let kids: Vec<_> = (0..4)
        .map(|i| {
            let s = s.clone();
            std::thread::spawn(move || {
                let user = if i % 2 == 0 { "alice" } else { "bob" };
                let mut c = s.login(user);
                for k in 0..5 {
                    let name = format!("f{i}-{k}");
                    let body = format!("{user} {i} {k}").repeat(100);
                    let src = s.local(&name, body.as_bytes());
                    c.put_file(&src, &name, &PutOptions::default(), &mut |_, _| {})
                        .unwrap();
                    let back = s.dir.path().join(format!("{name}.back"));
                    c.get_file(&name, &back, &GetOptions::default(), &mut |_, _| {})
                        .unwrap();
                    assert_eq!(fs::read(&back).unwrap(), body.as_bytes());
                }
            })
        })
        .collect();
    for k in kids {
        k.join().unwrap();
    }
    for i in 0..4 {
        let (mine, theirs) = if i % 2 == 0 {
            ("alice", "bob")
        } else {
            ("bob", "alice")
        };
        assert!(s.home(mine).join(format!("f{i}-4")).exists());
        assert!(!s.home(theirs).join(format!("f{i}-4")).exists());
    }
}

#[test]
fn login_guesses_are_limited_per_peer() {
    let s = Setup::start_with(&["--max-login-failures", "2", "--login-lockout", "60s"]);
    for _ in 0..2 {
        let mut c = FileClient::connect(s.srv.addr.as_str()).unwrap();
        let e = file_user::login(&mut c, "alice", b"a wrong guess, long enough").unwrap_err();
        assert_eq!(refused(e), code::AUTH);
    }
    // Now even the right secret is refused from this address, before any challenge.
    let mut c = FileClient::connect(s.srv.addr.as_str()).unwrap();
    let e = file_user::login(&mut c, "alice", s.alice.as_bytes()).unwrap_err();
    assert_eq!(refused(e), code::RATE_LIMITED);
    // Another address is not locked out.
    let other = crate::util::connect_from("127.0.0.2", &s.srv.addr).unwrap();
    other
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut c = FileClient::new(other);
    file_user::login(&mut c, "alice", s.alice.as_bytes()).unwrap();
}

#[test]
fn a_cut_off_partial_in_a_directory_in_use_expires_after_the_partial_ttl() {
    use std::io::Write;
    let s = Setup::start_with(&["--partial-ttl", "1s"]);
    let mut keep = s.login("bob"); // keeps the home's store in use
    let mut b = s.login("bob");
    let h = mayfly_proto::frame::Header::new()
        .with("cmd", "put")
        .with("filename", "cut.bin")
        .with("filesize", 1000)
        .with("resumable", true);
    mayfly_proto::frame::write_header(b.get_mut(), &h).unwrap();
    b.get_mut().write_all(&[1u8; 400]).unwrap();
    drop(b);
    let partial = s.home("bob").join(".mayfly-partial/cut.bin");
    let started = std::time::Instant::now();
    let mut seen = false;
    while started.elapsed() < std::time::Duration::from_secs(15) {
        let size = keep.stat("cut.bin").unwrap().partial_size;
        seen |= size == Some(400);
        if seen && size.is_none() {
            assert!(!partial.exists());
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("the partial (seen: {seen}) was not deleted within 15 s");
}
