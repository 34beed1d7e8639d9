//! End-to-end tests of `mayfly serve file` and `mayfly file` over loopback: transfers with
//! every sha256 checked, nothing half-written ever visible, every bad request answered and
//! survived, resume both ways, a full disk, and the course's Python client as a peer.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mayfly_clients::file::{FileClient, FileError, PutOptions, PutRequest};
use mayfly_proto::frame::{self, FrameReader, Header, Limits};
use mayfly_proto::Refusal;
use sha2::{Digest, Sha256};

use crate::util::{mayfly, ServerChild};

/// A `mayfly serve file` child serving a fresh temporary root. (Field order: the server
/// goes before its root is removed.)
struct Server {
    srv: ServerChild,
    addr: String,
    root: tempfile::TempDir,
}

impl Server {
    fn start(extra: &[&str]) -> Server {
        Server::start_with(extra, |_| {})
    }

    fn start_with(extra: &[&str], tweak: impl FnOnce(&mut Command)) -> Server {
        Server::start_in(tempfile::tempdir().unwrap(), extra, tweak, false).0
    }

    /// Serves `root` (prepared by the caller); with `stats`, also a stats page, whose
    /// address comes back.
    fn start_in(
        root: tempfile::TempDir,
        extra: &[&str],
        tweak: impl FnOnce(&mut Command),
        stats: bool,
    ) -> (Server, Option<String>) {
        let mut cmd = mayfly();
        cmd.args([
            "serve",
            "file",
            "--addr",
            "127.0.0.1:0",
            "--grace",
            "1s",
            "--root",
        ])
        .arg(root.path())
        .args(extra)
        .stderr(Stdio::null());
        if stats {
            cmd.args(["--stats-addr", "127.0.0.1:0"]);
        }
        tweak(&mut cmd);
        let srv = ServerChild::spawn(cmd, stats);
        let (addr, page) = (srv.addr.clone(), srv.stats.clone());
        (Server { srv, addr, root }, page)
    }

    fn client(&self) -> FileClient<TcpStream> {
        FileClient::connect(self.addr.as_str()).unwrap()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }

    /// Names in the root (hidden ones included), sorted.
    fn entries(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(self.root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }

    fn alive(&mut self) -> bool {
        self.srv.alive()
    }

    fn fds(&self) -> usize {
        self.srv.fds()
    }
}

/// Deterministic pseudo-random bytes (xorshift), so a failure is reproducible.
fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn sha(data: &[u8]) -> String {
    mayfly_proto::hex(&Sha256::digest(data))
}

/// Runs a `mayfly … --json` command that must succeed; returns what it printed.
fn run_json(cmd: &mut Command) -> serde_json::Value {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn server_error(e: &FileError) -> &Refusal {
    match e {
        FileError::Refused(r) => r,
        other => panic!("expected a server refusal, got {other:?}"),
    }
}

/// Sends raw bytes and reads one reply header (body dropped).
/// `mayfly file --json get NAME` into a scratch directory: the CLI's JSON summary.
fn cli_get(s: &Server, name: &str) -> serde_json::Value {
    let local = tempfile::tempdir().unwrap();
    run_json(
        mayfly()
            .args(["file", "--json", "--addr", &s.addr, "get", name, "-o"])
            .arg(local.path().join(name)),
    )
}

fn raw_request(conn: &mut TcpStream, bytes: &[u8]) -> Option<Header> {
    conn.write_all(bytes).unwrap();
    read_reply(conn)
}

fn read_reply(conn: &mut TcpStream) -> Option<Header> {
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut r = FrameReader::new(
        &mut *conn,
        Limits::default(),
        frame::body_from("total_size"),
    );
    let got = r.read_header().ok().flatten().map(|(h, _)| h);
    if got.is_some() {
        r.body().skip().unwrap();
    }
    got
}

fn frame_bytes(h: &Header, body: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    frame::write_frame(&mut v, h, body).unwrap();
    v
}

fn raw(header_json: &[u8]) -> Vec<u8> {
    let mut v = (header_json.len() as i32).to_le_bytes().to_vec();
    v.extend_from_slice(header_json);
    v
}

#[test]
fn cli_put_list_stat_get_roundtrip() {
    let s = Server::start(&[]);
    let local = tempfile::tempdir().unwrap();
    let data = random_bytes(1, 700_001);
    let src = local.path().join("data.bin");
    fs::write(&src, &data).unwrap();
    let put = mayfly()
        .args(["file", "--json", "--addr", &s.addr, "put"])
        .arg(&src)
        .output()
        .unwrap();
    assert!(
        put.status.success(),
        "{}",
        String::from_utf8_lossy(&put.stderr)
    );
    let put: serde_json::Value = serde_json::from_slice(&put.stdout).unwrap();
    assert_eq!(put["sha256"], sha(&data));
    assert_eq!(put["filesize"], 700_001);
    assert_eq!(fs::read(s.path("data.bin")).unwrap(), data);

    let list = mayfly()
        .args(["file", "--json", "--addr", &s.addr, "list"])
        .output()
        .unwrap();
    let list: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(list[0]["filename"], "data.bin");
    assert_eq!(list[0]["filesize"], 700_001);
    assert_eq!(list.as_array().unwrap().len(), 1);

    let stat = mayfly()
        .args(["file", "--json", "--addr", &s.addr, "stat", "data.bin"])
        .output()
        .unwrap();
    let stat: serde_json::Value = serde_json::from_slice(&stat.stdout).unwrap();
    assert_eq!(stat["sha256"], sha(&data));

    let dest = local.path().join("copy.bin");
    let get = mayfly()
        .args(["file", "--addr", &s.addr, "get", "data.bin", "--out"])
        .arg(&dest)
        .output()
        .unwrap();
    assert!(
        get.status.success(),
        "{}",
        String::from_utf8_lossy(&get.stderr)
    );
    assert!(String::from_utf8_lossy(&get.stdout).contains("verified"));
    assert_eq!(fs::read(&dest).unwrap(), data);
    assert!(!mayfly_clients::file::part_path(&dest).exists());

    let missing = mayfly()
        .args(["file", "--addr", &s.addr, "get", "nope.bin", "--out"])
        .arg(local.path().join("nope"))
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(7), "not found has its own code");
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no such file (not_found)"));
}

/// `mayfly file --addr A ARGS…` run in `dir`.
fn file_cli(s: &Server, dir: &Path, args: &[&str]) -> std::process::Output {
    mayfly()
        .current_dir(dir)
        .args(["file", "--addr", &s.addr])
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn a_refused_get_leaves_nothing_behind_and_a_bad_name_is_never_a_local_path() {
    let s = Server::start(&[]);
    let local = tempfile::tempdir().unwrap();
    let cwd = local.path().join("cwd");
    fs::create_dir(&cwd).unwrap();
    let out = file_cli(&s, &cwd, &["get", "nosuch"]);
    assert_eq!(out.status.code(), Some(7), "{out:?}");
    assert!(out.stdout.is_empty(), "errors go to stderr: {out:?}");
    assert_eq!(
        fs::read_dir(&cwd).unwrap().count(),
        0,
        "a file was left behind"
    );
    // `../x` is not a local path: refused before anything is written, with a hint.
    fs::write(s.path("x"), b"remote").unwrap();
    let out = file_cli(&s, &cwd, &["get", "../x"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--out"));
    assert_eq!(
        fs::read_dir(local.path()).unwrap().count(),
        1,
        "written outside cwd"
    );
    assert_eq!(fs::read_dir(&cwd).unwrap().count(), 0);
}

#[test]
fn get_never_overwrites_or_discards_local_data_silently() {
    let s = Server::start(&[]);
    let local = tempfile::tempdir().unwrap();
    let data = random_bytes(41, 300_000);
    fs::write(s.path("doc.bin"), &data).unwrap();
    let dest = local.path().join("doc.bin");
    // A different local file is kept, and the user told how to replace it.
    fs::write(&dest, b"my own work").unwrap();
    let out = file_cli(&s, local.path(), &["get", "doc.bin"]);
    assert_eq!(out.status.code(), Some(10), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));
    assert_eq!(fs::read(&dest).unwrap(), b"my own work");
    let out = file_cli(&s, local.path(), &["get", "doc.bin", "--force"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(fs::read(&dest).unwrap(), data);
    // The same file already there: nothing to do, success.
    let out = file_cli(&s, local.path(), &["get", "doc.bin"]);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("up to date"));
    // An earlier cut-off download is not thrown away without a word.
    let part = mayfly_clients::file::part_path(&local.path().join("again.bin"));
    fs::write(&part, &data[..1000]).unwrap();
    let out = file_cli(&s, local.path(), &["get", "doc.bin", "-o", "again.bin"]);
    assert_eq!(out.status.code(), Some(10), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--resume"));
    assert_eq!(fs::read(&part).unwrap().len(), 1000);
}

#[test]
fn json_goes_before_or_after_the_subcommand_and_stat_prints_the_time() {
    let s = Server::start(&[]);
    fs::write(s.path("t.txt"), b"hello").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = file_cli(&s, dir.path(), &["list", "--json"]);
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["filename"], "t.txt");
    let out = file_cli(&s, dir.path(), &["stat", "t.txt", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["mtime"].as_i64().unwrap() > 1_600_000_000);
    // `stat` promises a time: it prints one.
    let out = file_cli(&s, dir.path(), &["stat", "t.txt"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains("modified 20") && text.contains(" UTC"),
        "{text}"
    );
}

#[test]
fn hundred_concurrent_uploads_and_downloads_all_hashes_match() {
    let s = Server::start(&[]);
    let local = tempfile::tempdir().unwrap();
    // Sizes log-uniform from 0 to 50 MiB, with the edges of the 256 KiB chunk and the
    // 64 KiB write coalescing, and one file of exactly 50 MiB.
    let mut sizes: Vec<usize> = vec![0, 1, 65_535, 65_536, 65_537, 262_144, 262_145, 50 << 20];
    let mut x = 12345u64;
    while sizes.len() < 100 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let exp = (x >> 11) as f64 / (1u64 << 53) as f64 * (50.0f64 * 1024.0 * 1024.0).ln();
        sizes.push(exp.exp() as usize);
    }
    let files: Vec<(String, PathBuf, String)> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let data = random_bytes(i as u64 + 100, n);
            let name = format!("f{i:03}.bin");
            let path = local.path().join(&name);
            fs::write(&path, &data).unwrap();
            (name, path, sha(&data))
        })
        .collect();
    let total: usize = sizes.iter().sum();
    let started = Instant::now();
    std::thread::scope(|scope| {
        for (name, path, want) in &files {
            let s = &s;
            let local = local.path();
            scope.spawn(move || {
                let mut c = s.client();
                let up = c
                    .put_file(path, name, &PutOptions::default(), &mut |_, _| {})
                    .unwrap_or_else(|e| panic!("put {name}: {e:#}"));
                assert_eq!(&up.sha256, want);
                let dest = local.join(format!("{name}.down"));
                let down = c
                    .get_file(name, &dest, &Default::default(), &mut |_, _| {})
                    .unwrap_or_else(|e| panic!("get {name}: {e:#}"));
                assert_eq!(&down.sha256, want);
                let mut h = Sha256::new();
                h.update(fs::read(&dest).unwrap());
                assert_eq!(&mayfly_proto::hex(&h.finalize()), want, "{name} on disk");
            });
        }
    });
    eprintln!(
        "100 files, {} MiB each way, in {:.1} s",
        total >> 20,
        started.elapsed().as_secs_f64()
    );
    for (name, _, want) in &files {
        assert_eq!(
            &sha(&fs::read(s.path(name)).unwrap()),
            want,
            "{name} on the server"
        );
    }
    assert_eq!(
        s.entries().len(),
        100,
        "no temp files left: {:?}",
        s.entries()
    );
}

#[test]
fn a_cut_upload_leaves_the_old_file_and_no_temp_file() {
    let mut s = Server::start(&[]);
    let old = random_bytes(7, 100_000);
    fs::write(s.path("keep.bin"), &old).unwrap();
    let baseline_fds = s.fds();
    for reset in [false, true] {
        let mut conn = TcpStream::connect(&s.addr).unwrap();
        let h = Header::new()
            .with("cmd", "put")
            .with("filename", "keep.bin")
            .with("filesize", 10u64 << 20);
        conn.write_all(&frame_bytes(&h, b"")).unwrap();
        conn.write_all(&random_bytes(8, 3 << 20)).unwrap();
        if reset {
            socket2::SockRef::from(&conn)
                .set_linger(Some(Duration::ZERO))
                .unwrap();
        }
        drop(conn);
        // The server notices, removes its temp file and closes its side.
        let t = Instant::now();
        while s.entries() != ["keep.bin"] || s.fds() > baseline_fds {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "left behind: {:?}, fds {} > {baseline_fds}",
                s.entries(),
                s.fds()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(fs::read(s.path("keep.bin")).unwrap(), old);
    }
    // A killed client process: the real CLI, SIGKILLed in mid-upload.
    let local = tempfile::tempdir().unwrap();
    let big = local.path().join("keep.bin");
    fs::write(&big, random_bytes(9, 64 << 20)).unwrap();
    let mut child = mayfly()
        .args(["file", "--addr", &s.addr, "put", "--no-prehash"])
        .arg(&big)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it as soon as its upload file appears on the server.
    let t = Instant::now();
    while !s.entries().iter().any(|e| e.starts_with(".mayfly-upload.")) {
        if child.try_wait().unwrap().is_some() || t.elapsed() > Duration::from_secs(20) {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let t = Instant::now();
    while s.entries() != ["keep.bin"] {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "left: {:?}",
            s.entries()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let now = fs::read(s.path("keep.bin")).unwrap();
    // Either the upload was cut (old content) or it had finished before the kill.
    assert!(now == old || now == fs::read(&big).unwrap());
    eprintln!("CLI killed in mid-upload: {}", now == old);
    assert!(s.alive());
}

#[test]
fn a_wrong_hash_is_refused_and_the_old_file_kept() {
    let s = Server::start(&[]);
    let old = b"the good version".to_vec();
    fs::write(s.path("doc.txt"), &old).unwrap();
    let mut c = s.client();
    let bad = "0".repeat(64);
    let err = c
        .put_stream(
            &PutRequest {
                sha256: Some(bad.clone()),
                ..PutRequest::new("doc.txt", 17)
            },
            &mut &b"a damaged version"[..],
            &mut |_, _| {},
        )
        .unwrap_err();
    let e = server_error(&err);
    assert_eq!(e.code, "hash_mismatch");
    assert!(e.error.contains(&bad), "{}", e.error);
    assert_eq!(fs::read(s.path("doc.txt")).unwrap(), old);
    assert_eq!(s.entries(), ["doc.txt"]);
    // Same connection, still usable.
    assert_eq!(c.list().unwrap().len(), 1);
}

#[test]
fn every_bad_request_gets_an_error_reply_and_the_connection_survives() {
    let s = Server::start(&[]);
    fs::write(s.path("real.txt"), b"x").unwrap();
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("secret"), b"secret").unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret"), s.path("link")).unwrap();
    std::os::unix::fs::symlink(outside.path(), s.path("dirlink")).unwrap();

    let mut conn = TcpStream::connect(&s.addr).unwrap();
    let put = |name: &str| {
        frame_bytes(
            &Header::new()
                .with("cmd", "put")
                .with("filename", name)
                .with("filesize", 3),
            b"abc",
        )
    };
    let get = |name: &str| {
        frame_bytes(
            &Header::new().with("cmd", "get").with("filename", name),
            b"",
        )
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("not JSON", raw(b"{cmd: put}"), "bad_frame"),
        ("not UTF-8", raw(b"{\"cmd\":\"\xff\"}"), "bad_frame"),
        ("not an object", raw(b"[1,2,3]"), "bad_frame"),
        ("no cmd", raw(br#"{"filename":"a"}"#), "bad_request"),
        (
            "unknown cmd",
            raw(br#"{"cmd":"rm","filename":"real.txt"}"#),
            "bad_request",
        ),
        (
            "put without filename",
            frame_bytes(&Header::new().with("cmd", "put").with("filesize", 2), b"hi"),
            "bad_request",
        ),
        (
            "filename not a string",
            frame_bytes(
                &Header::new()
                    .with("cmd", "put")
                    .with("filename", 5)
                    .with("filesize", 1),
                b"z",
            ),
            "bad_request",
        ),
        (
            "bad sha256",
            frame_bytes(
                &Header::new()
                    .with("cmd", "put")
                    .with("filename", "a")
                    .with("filesize", 1)
                    .with("sha256", "xyz"),
                b"z",
            ),
            "bad_request",
        ),
        ("put ..", put(".."), "bad_name"),
        ("put ../x", put("../escape.txt"), "bad_name"),
        ("put absolute", put("/tmp/escape.txt"), "bad_name"),
        ("put subdir", put("a/b"), "bad_name"),
        ("put NUL", put("a\0b"), "bad_name"),
        ("put hidden", put(".mayfly-upload.1.2.x"), "bad_name"),
        ("put empty", put(""), "bad_name"),
        ("put backslash", put("..\\x"), "bad_name"),
        ("get ../", get("../etc/passwd"), "bad_name"),
        ("get /etc/passwd", get("/etc/passwd"), "bad_name"),
        ("get symlink out", get("link"), "forbidden"),
        ("get symlink dir", get("dirlink"), "forbidden"),
        ("get missing", get("missing"), "not_found"),
        (
            "get offset past end",
            frame_bytes(
                &Header::new()
                    .with("cmd", "get")
                    .with("filename", "real.txt")
                    .with("offset", 2),
                b"",
            ),
            "bad_offset",
        ),
        (
            "put offset without resumable",
            frame_bytes(
                &Header::new()
                    .with("cmd", "put")
                    .with("filename", "r")
                    .with("filesize", 3)
                    .with("offset", 1),
                b"bc",
            ),
            "bad_offset",
        ),
    ];
    for (what, bytes, code) in &cases {
        let h = raw_request(&mut conn, bytes).unwrap_or_else(|| panic!("{what}: no reply"));
        assert_eq!(h.str("status").unwrap(), "error", "{what}");
        assert_eq!(h.str("code").unwrap(), *code, "{what}: {h:?}");
        assert!(!h.str("error").unwrap().is_empty(), "{what}");
    }
    // After all of that the same connection still works, and nothing was written or leaked.
    let h = raw_request(
        &mut conn,
        &frame_bytes(&Header::new().with("cmd", "list"), b""),
    )
    .unwrap();
    assert_eq!(h.str("status").unwrap(), "ok");
    assert_eq!(h.u64("count").unwrap(), 1, "only real.txt is listed");
    assert!(!outside.path().join("escape.txt").exists());
    assert!(!Path::new("/tmp/escape.txt").exists());
    assert_eq!(s.entries(), ["dirlink", "link", "real.txt"]);
}

#[test]
fn fatal_frame_errors_get_a_reply_then_close_and_the_server_goes_on() {
    let mut s = Server::start(&["--max-file-size", "1M"]);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "negative length",
            (-7i32).to_le_bytes().to_vec(),
            "header length -7 is negative",
        ),
        (
            "header over 64 KiB",
            (1i32 << 20).to_le_bytes().to_vec(),
            "over the limit of 65536",
        ),
        (
            "file over --max-file-size",
            frame_bytes(
                &Header::new()
                    .with("cmd", "put")
                    .with("filename", "big")
                    .with("filesize", 2u64 << 20),
                b"",
            ),
            "over the limit of 1048576",
        ),
        (
            "put without filesize",
            raw(br#"{"cmd":"put","filename":"a"}"#),
            "\"filesize\" is missing",
        ),
        (
            "filesize negative",
            raw(br#"{"cmd":"put","filename":"a","filesize":-5}"#),
            "non-negative integer",
        ),
    ];
    for (what, bytes, text) in cases {
        let mut conn = TcpStream::connect(&s.addr).unwrap();
        let h = raw_request(&mut conn, &bytes).unwrap_or_else(|| panic!("{what}: no reply"));
        assert_eq!(h.str("status").unwrap(), "error", "{what}");
        assert!(h.str("error").unwrap().contains(text), "{what}: {h:?}");
        // Then the server closes this connection.
        let mut rest = Vec::new();
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let _ = conn.read_to_end(&mut rest);
        assert!(rest.is_empty(), "{what}: more after the error: {rest:?}");
    }
    // Oversized upload through the client: the refusal comes back, not a broken pipe.
    let err = s
        .client()
        .put_stream(
            &PutRequest::new("big", 2 << 20),
            &mut &vec![0u8; 2 << 20][..],
            &mut |_, _| {},
        )
        .unwrap_err();
    assert_eq!(server_error(&err).code, "too_large");
    assert!(s.alive());
    assert_eq!(s.client().list().unwrap().len(), 0);
    assert!(s.entries().is_empty(), "{:?}", s.entries());
}

#[test]
fn a_resumable_upload_continues_where_it_was_cut() {
    let s = Server::start(&[]);
    let data = random_bytes(21, 3_000_000);
    let local = tempfile::tempdir().unwrap();
    let src = local.path().join("movie.bin");
    fs::write(&src, &data).unwrap();
    // First attempt: a resumable put cut after 1,000,000 bytes.
    let mut conn = TcpStream::connect(&s.addr).unwrap();
    let h = Header::new()
        .with("cmd", "put")
        .with("filename", "movie.bin")
        .with("filesize", data.len())
        .with("resumable", true);
    conn.write_all(&frame_bytes(&h, b"")).unwrap();
    conn.write_all(&data[..1_000_000]).unwrap();
    drop(conn);
    let t = Instant::now();
    let partial = loop {
        let st = s.client().stat("movie.bin").unwrap();
        if st.partial_size == Some(1_000_000) {
            break st;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "{st:?}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(partial.filesize, None, "nothing visible under the name yet");
    assert!(s.client().list().unwrap().is_empty());

    // The CLI resumes and sends only the rest.
    let t = run_json(
        mayfly()
            .args(["file", "--json", "--addr", &s.addr, "put", "--resume"])
            .arg(&src),
    );
    assert_eq!(t["transferred"], 2_000_000);
    assert_eq!(t["sha256"], sha(&data));
    assert_eq!(fs::read(s.path("movie.bin")).unwrap(), data);
    assert_eq!(s.client().stat("movie.bin").unwrap().partial_size, None);

    // A resume with the wrong offset is refused.
    let mut c = s.client();
    let err = c
        .put_stream(
            &PutRequest {
                offset: 5,
                resumable: true,
                ..PutRequest::new("movie.bin", 10)
            },
            &mut &data[5..10][..],
            &mut |_, _| {},
        )
        .unwrap_err();
    assert_eq!(server_error(&err).code, "bad_offset");
}

#[test]
fn a_download_resumes_from_the_part_file() {
    let s = Server::start(&[]);
    let data = random_bytes(31, 2_500_000);
    fs::write(s.path("iso.bin"), &data).unwrap();
    let local = tempfile::tempdir().unwrap();
    let dest = local.path().join("iso.bin");
    fs::write(mayfly_clients::file::part_path(&dest), &data[..900_000]).unwrap();
    let t = run_json(
        mayfly()
            .args([
                "file", "--json", "--addr", &s.addr, "get", "iso.bin", "--resume", "--out",
            ])
            .arg(&dest),
    );
    assert_eq!(t["transferred"], 1_600_000);
    assert_eq!(fs::read(&dest).unwrap(), data);

    // A corrupt part file is caught by the hash and not renamed into place.
    let mut bad = data[..900_000].to_vec();
    bad[10] ^= 1;
    let dest2 = local.path().join("iso2.bin");
    fs::write(mayfly_clients::file::part_path(&dest2), &bad).unwrap();
    let out = mayfly()
        .args([
            "file", "--addr", &s.addr, "get", "iso.bin", "--resume", "--out",
        ])
        .arg(&dest2)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("sha256 mismatch"));
    assert!(!dest2.exists());
    assert!(!mayfly_clients::file::part_path(&dest2).exists());
}

#[test]
fn a_full_disk_is_an_error_reply_and_the_server_goes_on() {
    use std::os::unix::process::CommandExt;
    // RLIMIT_FSIZE in the server process: a write past 1 MiB fails (EFBIG), as a full disk
    // fails a write with ENOSPC; both take the same path.
    let mut s = Server::start_with(&[], |cmd| {
        // SAFETY: setrlimit is async-signal-safe; it only changes the child's own limit.
        unsafe {
            cmd.pre_exec(|| {
                let lim = libc::rlimit {
                    rlim_cur: 1 << 20,
                    rlim_max: 1 << 20,
                };
                if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    });
    let old = b"old".to_vec();
    fs::write(s.path("big.bin"), &old).unwrap();
    let mut c = s.client();
    let data = random_bytes(41, 3 << 20);
    let err = c
        .put_stream(
            &PutRequest::new("big.bin", data.len() as u64),
            &mut &data[..],
            &mut |_, _| {},
        )
        .unwrap_err();
    let e = server_error(&err);
    assert_eq!(e.code, "too_large", "{e:?}");
    assert!(s.alive());
    assert_eq!(fs::read(s.path("big.bin")).unwrap(), old);
    assert_eq!(s.entries(), ["big.bin"]);
    // Same connection: a small file still goes through.
    let small = random_bytes(42, 1000);
    let h = c
        .put_stream(
            &PutRequest {
                sha256: Some(sha(&small)),
                ..PutRequest::new("small.bin", 1000)
            },
            &mut &small[..],
            &mut |_, _| {},
        )
        .unwrap();
    assert_eq!(h.str("sha256").unwrap(), sha(&small));
}

#[test]
fn the_courses_python_put_client_is_a_real_peer() {
    let s = Server::start(&[]);
    let local = tempfile::tempdir().unwrap();
    let src = local.path().join("homework.txt");
    let data = random_bytes(51, 200_000);
    fs::write(&src, &data).unwrap();
    // The course's FTP client, as written there: header dict, struct.pack('i'), then the file.
    let script = r#"
import json, os, socket, struct, sys
host, port = sys.argv[1].rsplit(":", 1)
path = sys.argv[2]
client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
client.connect((host, int(port)))
filesize = os.path.getsize(path)
head = {"cmd": "put", "filename": os.path.basename(path), "filesize": filesize, "md5": None}
head_bytes = json.dumps(head).encode("utf-8")
client.send(struct.pack("i", len(head_bytes)))
client.send(head_bytes)
with open(path, "rb") as f:
    for line in f:
        client.send(line)
n = struct.unpack("i", client.recv(4))[0]
print(client.recv(n).decode("utf-8"))
client.close()
"#;
    let out = Command::new("python3")
        .args(["-c", script, &s.addr])
        .arg(&src)
        .output()
        .expect("python3 is installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reply: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reply["status"], "ok");
    assert_eq!(reply["sha256"], sha(&data));
    assert_eq!(fs::read(s.path("homework.txt")).unwrap(), data);
}

#[test]
fn cut_off_resumable_uploads_expire_after_the_partial_ttl() {
    let s = Server::start(&["--partial-ttl", "5s"]);
    let dir = s.path(".mayfly-partial");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("old.bin"), b"left two days ago").unwrap();
    let two_days = std::time::SystemTime::now() - Duration::from_secs(2 * 24 * 3600);
    fs::File::options()
        .write(true)
        .open(dir.join("old.bin"))
        .unwrap()
        .set_modified(two_days)
        .unwrap();
    fs::write(dir.join("new.bin"), b"just cut").unwrap();
    assert_eq!(s.client().stat("old.bin").unwrap().partial_size, Some(17));
    let t = Instant::now();
    while dir.join("old.bin").exists() {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "the old partial was never expired"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(dir.join("new.bin").exists(), "a fresh partial was expired");
    assert_eq!(s.client().stat("old.bin").unwrap().partial_size, None);
    assert_eq!(s.client().stat("new.bin").unwrap().partial_size, Some(8));
}

#[test]
fn a_symlink_planted_as_the_partial_directory_is_never_followed() {
    // Before: `.mayfly-partial` was reached by path, so a symlink planted in the root sent
    // expiry (which deleted an old file outside the root), stat and uploads outside it.
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim.bin");
    fs::write(&victim, b"not the server's to delete").unwrap();
    let two_days = std::time::SystemTime::now() - Duration::from_secs(2 * 24 * 3600);
    fs::File::options()
        .write(true)
        .open(&victim)
        .unwrap()
        .set_modified(two_days)
        .unwrap();
    let s = Server::start_with(&["--partial-ttl", "4s"], |_| {});
    std::os::unix::fs::symlink(outside.path(), s.path(".mayfly-partial")).unwrap();
    // Expiry runs every second with this TTL: give it several chances.
    std::thread::sleep(Duration::from_millis(2500));
    assert!(
        victim.exists(),
        "expiry followed the symlink out of the root"
    );
    // Nor does stat report the outside file as a partial upload.
    if let Ok(st) = s.client().stat("victim.bin") {
        assert_eq!(st.partial_size, None, "stat read through the symlink");
    }
    // A resumable upload is refused rather than written outside the root.
    let data = b"resumable bytes";
    let err = s
        .client()
        .put_stream(
            &PutRequest {
                resumable: true,
                ..PutRequest::new("planted.bin", data.len() as u64)
            },
            &mut &data[..],
            &mut |_, _| {},
        )
        .unwrap_err();
    assert!(
        server_error(&err).error.contains("not a directory"),
        "{err}"
    );
    assert!(!outside.path().join("planted.bin").exists());
    assert_eq!(
        fs::read(&victim).unwrap(),
        b"not the server's to delete",
        "the file outside the root is untouched"
    );
}

#[test]
fn names_up_to_the_255_byte_limit_can_be_uploaded() {
    // Before: the temp upload name embedded the name, so names of 232–255 bytes passed the
    // check and then failed with "File name too long".
    let s = Server::start(&[]);
    for len in [231, 240, 255] {
        let name = "n".repeat(len);
        let data = format!("{len} bytes of name");
        let mut c = s.client();
        c.put_stream(
            &PutRequest::new(&name, data.len() as u64),
            &mut data.as_bytes(),
            &mut |_, _| {},
        )
        .unwrap_or_else(|e| panic!("{len}-byte name: {e}"));
        assert_eq!(fs::read(s.path(&name)).unwrap(), data.as_bytes());
    }
}

#[test]
fn names_with_invisible_formatting_characters_are_refused_and_not_listed() {
    // Before: a right-to-left override or a zero-width space made a name in `list` look
    // like another ("invoice\u{202E}fdp.exe" displays as "invoiceexe.pdf").
    let s = Server::start(&[]);
    let spoof = "invoice\u{202E}fdp.exe";
    let err = s
        .client()
        .put_stream(&PutRequest::new(spoof, 3), &mut &b"MZ!"[..], &mut |_, _| {})
        .unwrap_err();
    assert_eq!(server_error(&err).code, "bad_name", "{err}");
    assert!(!s.path(spoof).exists());
    // One planted in the root by hand is not listed either.
    fs::write(s.path("zero\u{200B}width.txt"), b"x").unwrap();
    fs::write(s.path("plain.txt"), b"x").unwrap();
    let names: Vec<String> = s
        .client()
        .list()
        .unwrap()
        .into_iter()
        .map(|e| e.filename)
        .collect();
    assert_eq!(names, ["plain.txt"]);
}

/// A resumable `put` of `filesize` bytes cut after `data`; returns once the server keeps
/// exactly those bytes as a partial.
fn cut_resumable(s: &Server, name: &str, filesize: usize, data: &[u8]) {
    let mut conn = TcpStream::connect(&s.addr).unwrap();
    let h = Header::new()
        .with("cmd", "put")
        .with("filename", name)
        .with("filesize", filesize)
        .with("resumable", true);
    conn.write_all(&frame_bytes(&h, data)).unwrap();
    drop(conn);
    let t = Instant::now();
    while s.client().stat(name).unwrap().partial_size != Some(data.len() as u64) {
        assert!(t.elapsed() < Duration::from_secs(10), "{name} never kept");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Names in the partial directory, sorted.
/// The partials on disk, once every evicted one (renamed to a trash name, unlinked on the
/// server's thread pool) is gone.
fn partials(s: &Server) -> Vec<String> {
    let t = Instant::now();
    loop {
        let mut v: Vec<String> = fs::read_dir(s.path(".mayfly-partial"))
            .map(|d| {
                d.map(|e| e.unwrap().file_name().into_string().unwrap())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        if !v.iter().any(|n| n.starts_with(".mayfly-trash.")) {
            return v;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "never unlinked: {v:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The file server's `/stats` JSON (the server was started with `--stats-addr`).
fn stats_json(stats: &str) -> serde_json::Value {
    let mut c = TcpStream::connect(stats).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(b"GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    let body = text.split_once("\r\n\r\n").unwrap().1;
    serde_json::from_str(body).unwrap()
}

#[test]
fn partial_uploads_are_capped_by_count_and_the_oldest_goes_first() {
    // Before: no cap (1,498 one-byte partials exhausted the inodes).
    let s = Server::start(&["--max-partials", "3"]);
    for i in 0..5 {
        cut_resumable(&s, &format!("p{i}"), 10, b"ab");
    }
    assert_eq!(partials(&s), ["p2", "p3", "p4"], "the two oldest went");
    // Resuming one touches it: the next new partial evicts the oldest other one.
    let mut conn = TcpStream::connect(&s.addr).unwrap();
    let h = Header::new()
        .with("cmd", "put")
        .with("filename", "p2")
        .with("filesize", 10)
        .with("offset", 2)
        .with("resumable", true);
    conn.write_all(&frame_bytes(&h, b"cd")).unwrap();
    drop(conn); // 2 of 8 bytes, then cut again
    let t = Instant::now();
    while s.client().stat("p2").unwrap().partial_size != Some(4) {
        assert!(t.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(10));
    }
    cut_resumable(&s, "p5", 10, b"ab");
    assert_eq!(partials(&s), ["p2", "p4", "p5"]);
    // Finished uploads are not partials and are never evicted.
    let mut c = s.client();
    c.put_stream(
        &PutRequest::new("done", 3),
        &mut &b"xyz"[..],
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(fs::read(s.path("done")).unwrap(), b"xyz");
}

#[test]
fn a_partial_that_cannot_be_opened_leaves_no_book_entry() {
    // Before: the entry was booked before the file was opened and stayed when the open
    // failed: the gauge showed a partial that did not exist, and it took a --max-partials
    // slot.
    let root = tempfile::tempdir().unwrap();
    fs::create_dir_all(root.path().join(".mayfly-partial/d.bin")).unwrap();
    let (s, stats) = Server::start_in(root, &[], |_| {}, true);
    let req = PutRequest {
        resumable: true,
        ..PutRequest::new("d.bin", 3)
    };
    let err = s
        .client()
        .put_stream(&req, &mut &b"abc"[..], &mut |_, _| {})
        .unwrap_err();
    assert!(matches!(err, FileError::Refused(_)), "{err}");
    let g = &stats_json(&stats.unwrap())["gauges"];
    assert_eq!(
        (g["partials"].as_u64(), g["partial_bytes"].as_u64()),
        (Some(0), Some(0)),
        "{g}"
    );
}

#[test]
fn partial_bytes_count_real_bytes_are_capped_and_shown_in_the_stats() {
    // Before: three partials declaring 16 GiB held 60 of 64 MiB; nothing bounded them.
    let (s, stats) = Server::start_in(
        tempfile::tempdir().unwrap(),
        &["--max-partial-bytes", "100"],
        |_| {},
        true,
    );
    let stats = stats.unwrap();
    // Declaring more than the cap is refused (nothing is written); without "resumable"
    // it is an ordinary upload and goes through.
    let data = random_bytes(3, 500);
    let big = PutRequest {
        resumable: true,
        ..PutRequest::new("huge", 500)
    };
    let err = s
        .client()
        .put_stream(&big, &mut &data[..], &mut |_, _| {})
        .unwrap_err();
    assert_eq!(server_error(&err).code, "too_large", "{err}");
    assert_eq!(partials(&s), Vec::<String>::new());
    s.client()
        .put_stream(
            &PutRequest::new("plain", 500),
            &mut &data[..],
            &mut |_, _| {},
        )
        .unwrap();
    // Declaring 100 reserves nothing: only the bytes that arrived count.
    cut_resumable(&s, "a", 100, &[1; 10]);
    cut_resumable(&s, "b", 100, &[2; 10]);
    let g = &stats_json(&stats)["gauges"];
    assert_eq!(
        (g["partials"].as_u64(), g["partial_bytes"].as_u64()),
        (Some(2), Some(20))
    );
    // 90 more bytes would pass the cap: the oldest idle partial goes to make room.
    cut_resumable(&s, "c", 100, &[3; 90]);
    assert_eq!(partials(&s), ["b", "c"]);
    let g = &stats_json(&stats)["gauges"];
    assert_eq!(
        (g["partials"].as_u64(), g["partial_bytes"].as_u64()),
        (Some(2), Some(100))
    );
    // Resuming "b" needs 10 more bytes over the cap: "c" (idle) goes; then "b" finishes
    // and leaves the book too.
    let mut c = s.client();
    c.put_stream(
        &PutRequest {
            offset: 10,
            resumable: true,
            ..PutRequest::new("b", 20)
        },
        &mut &[2; 10][..],
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(fs::read(s.path("b")).unwrap(), [2; 20]);
    assert_eq!(partials(&s), Vec::<String>::new());
    let g = &stats_json(&stats)["gauges"];
    assert_eq!(
        (g["partials"].as_u64(), g["partial_bytes"].as_u64()),
        (Some(0), Some(0))
    );
}

#[test]
fn partials_are_never_written_below_the_free_space_headroom() {
    // Before: partials filled the disk to the last byte. A headroom larger than any disk
    // makes every partial write fall below it.
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join(".mayfly-partial");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("old.bin"), b"kept from before").unwrap();
    let (s, _) = Server::start_in(root, &["--min-free-space", "1000000T"], |_| {}, false);
    let err = s
        .client()
        .put_stream(
            &PutRequest {
                resumable: true,
                ..PutRequest::new("new.bin", 4)
            },
            &mut &b"data"[..],
            &mut |_, _| {},
        )
        .unwrap_err();
    assert_eq!(server_error(&err).code, "disk_full", "{err}");
    assert!(
        server_error(&err).error.contains("--min-free-space"),
        "{err}"
    );
    // Deleting the idle partial could not have made room, so it was kept; nothing new was.
    assert_eq!(partials(&s), ["old.bin"]);
    // Ordinary uploads are not partials: they go through.
    s.client()
        .put_stream(
            &PutRequest::new("plain", 4),
            &mut &b"data"[..],
            &mut |_, _| {},
        )
        .unwrap();
}

#[test]
fn a_trickling_upload_is_cut_off_and_a_normal_one_passes() {
    // Before: `--io-timeout` was per read, so one byte every 2 s held the connection (and
    // its fd and temp file) for ever.
    let s = Server::start(&["--min-rate", "1000", "--rate-window", "1s"]);
    let data = random_bytes(5, 2_000_000);
    s.client()
        .put_stream(
            &PutRequest::new("fast.bin", data.len() as u64),
            &mut &data[..],
            &mut |_, _| {},
        )
        .unwrap();
    assert_eq!(fs::read(s.path("fast.bin")).unwrap(), data);

    let mut conn = TcpStream::connect(&s.addr).unwrap();
    let h = Header::new()
        .with("cmd", "put")
        .with("filename", "slow.bin")
        .with("filesize", 100);
    conn.write_all(&frame_bytes(&h, b"")).unwrap();
    let t = Instant::now();
    let mut sent = 0;
    let cut = loop {
        assert!(t.elapsed() < Duration::from_secs(20), "never cut off");
        std::thread::sleep(Duration::from_millis(500));
        if conn.write_all(b"x").is_err() {
            break t.elapsed();
        }
        sent += 1;
        conn.set_read_timeout(Some(Duration::from_millis(1)))
            .unwrap();
        let mut b = [0u8; 1];
        match conn.read(&mut b) {
            Ok(0) => break t.elapsed(),
            Err(e) if e.kind() != std::io::ErrorKind::WouldBlock => break t.elapsed(),
            _ => {}
        }
    };
    assert!(sent < 20, "{sent} bytes trickled in {cut:?} before the cut");
    assert!(!s.path("slow.bin").exists());
    // The server goes on.
    assert_eq!(s.client().list().unwrap().len(), 1);
}

#[test]
fn a_refused_put_of_a_huge_body_is_answered_and_closed_while_the_client_trickles() {
    // Before: the refused body was drained under the per-read --io-timeout only, so one
    // byte every few seconds held the connection for ever, and the reply never came.
    let s = Server::start(&[]);
    let mut conn = TcpStream::connect(&s.addr).unwrap();
    let h = Header::new()
        .with("cmd", "put")
        .with("filename", ".x")
        .with("filesize", 16u64 << 30);
    conn.write_all(&frame_bytes(&h, b"")).unwrap();
    let mut trickle = conn.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        for _ in 0..50 {
            std::thread::sleep(Duration::from_millis(200));
            if trickle.write_all(b"x").is_err() {
                break;
            }
        }
    });
    let reply = read_reply(&mut conn).expect("an error reply, not silence");
    assert_eq!(reply.str("code").unwrap(), "bad_name", "{reply:?}");
    let t = Instant::now();
    while !closed_by_server(&mut conn) {
        assert!(
            t.elapsed() < Duration::from_secs(8),
            "the connection stays open"
        );
    }
    writer.join().unwrap();
    // A refused put with a small body is drained and the connection goes on.
    let mut conn = TcpStream::connect(&s.addr).unwrap();
    let h = Header::new()
        .with("cmd", "put")
        .with("filename", ".y")
        .with("filesize", 10);
    let reply = raw_request(&mut conn, &frame_bytes(&h, b"0123456789")).unwrap();
    assert_eq!(reply.str("code").unwrap(), "bad_name");
    let stat = raw_request(
        &mut conn,
        &frame_bytes(
            &Header::new().with("cmd", "stat").with("filename", "z"),
            b"",
        ),
    )
    .unwrap();
    assert_eq!(stat.str("code").unwrap(), "not_found");
}

#[test]
fn huge_rate_windows_and_timeouts_mean_no_deadline_not_a_panic() {
    // Before: `Instant + window` overflowed and panicked in every session.
    let huge = "10000000000000000000"; // 10^19 s
    let s = Server::start(&[
        "--rate-window",
        huge,
        "--io-timeout",
        huge,
        "--idle-timeout",
        huge,
    ]);
    let data = random_bytes(8, 100_000);
    s.client()
        .put_stream(
            &PutRequest::new("a.bin", data.len() as u64),
            &mut &data[..],
            &mut |_, _| {},
        )
        .unwrap();
    assert_eq!(s.client().list().unwrap().len(), 1);
    assert_eq!(cli_get(&s, "a.bin")["sha256"], sha(&data));
}

#[test]
fn a_download_nobody_reads_is_cut_off_at_the_minimum_rate() {
    // Before: only the per-write `--io-timeout` (60 s) ended it.
    let s = Server::start(&["--min-rate", "100K", "--rate-window", "1s"]);
    let data = random_bytes(6, 32 << 20);
    fs::write(s.path("big.bin"), &data).unwrap();
    let mut conn = TcpStream::connect(&s.addr).unwrap();
    conn.write_all(&frame_bytes(
        &mayfly_proto::file::get_request("big.bin", 0),
        b"",
    ))
    .unwrap();
    std::thread::sleep(Duration::from_secs(4));
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut got = Vec::new();
    let _ = conn.read_to_end(&mut got);
    assert!(
        got.len() < data.len(),
        "the whole file arrived to a client that read nothing for 4 s"
    );
    // The server goes on, and a client that reads gets it all.
    assert_eq!(cli_get(&s, "big.bin")["sha256"], sha(&data));
}

#[test]
fn downloads_nobody_reads_hold_no_buffer_of_their_own() {
    // Before: each unread `get` kept its 256 KiB chunk buffer resident (200 of them: about
    // +47 MiB). With sendfile the bytes wait in the kernel's socket buffers; what is left per
    // connection is its greenlet and its header buffer.
    const CLIENTS: u64 = 200;
    const BOUND_KIB: u64 = 64; // generous: the goal is 16, the old server took ~240
    let s = Server::start(&[]);
    let data = random_bytes(9, 4 << 20);
    fs::write(s.path("big.bin"), &data).unwrap();
    // The hash is cached and the pages are in the page cache before the measurement.
    assert_eq!(cli_get(&s, "big.bin")["sha256"], sha(&data));
    std::thread::sleep(Duration::from_millis(300));
    let before = s.srv.status("VmRSS:");
    let request = frame_bytes(&mayfly_proto::file::get_request("big.bin", 0), b"");
    let conns: Vec<TcpStream> = (0..CLIENTS)
        .map(|_| {
            let mut c = TcpStream::connect(&s.addr).unwrap();
            c.write_all(&request).unwrap();
            c
        })
        .collect();
    // Every transfer parks on a full socket buffer within moments; take the largest of a few
    // readings.
    let mut after = 0;
    for _ in 0..6 {
        std::thread::sleep(Duration::from_millis(500));
        after = after.max(s.srv.status("VmRSS:"));
    }
    let per = after.saturating_sub(before) / CLIENTS;
    assert!(
        per <= BOUND_KIB,
        "VmRSS {before} -> {after} KiB: {per} KiB per unread download (bound {BOUND_KIB})"
    );
    // The server goes on, and a client that reads gets it all.
    assert_eq!(cli_get(&s, "big.bin")["sha256"], sha(&data));
    drop(conns);
}

#[test]
fn list_is_paged_and_the_cli_fetches_every_page() {
    // Before: one reply with every name (100,000 files: a 22 MiB reply built on the worker).
    let s = Server::start(&[]);
    let names: Vec<String> = (0..2500).map(|i| format!("f{i:05}")).collect();
    for n in &names {
        fs::write(s.path(n), b"").unwrap();
    }
    // An old client's plain list gets the first page, and is told there is more.
    let mut conn = TcpStream::connect(&s.addr).unwrap();
    let h = raw_request(
        &mut conn,
        &frame_bytes(&Header::new().with("cmd", "list"), b""),
    )
    .unwrap();
    assert_eq!(h.u64("count").unwrap(), 1000);
    assert!(h.flag("more").unwrap());
    assert_eq!(h.str("next").unwrap(), "f00999");
    // A page from `after`, with a `limit`; the last page says no more.
    let page = |after: &str, limit: u64| {
        let mut c = TcpStream::connect(&s.addr).unwrap();
        let req = mayfly_proto::file::list_page_request(Some(after), Some(limit));
        c.write_all(&frame_bytes(&req, b"")).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut r = FrameReader::new(c, Limits::default(), frame::body_from("total_size"));
        let (h, _) = r.read_header().unwrap().unwrap();
        let body: Vec<serde_json::Value> =
            serde_json::from_slice(&r.read_body_to_vec().unwrap()).unwrap();
        (h, body)
    };
    let (h, body) = page("f00999", 3);
    assert_eq!(body[0]["filename"], "f01000");
    assert_eq!(
        (h.u64("count").unwrap(), h.str("next").unwrap()),
        (3, "f01002")
    );
    let (h, body) = page("f02497", 1000);
    assert_eq!(body.len(), 2);
    assert!(!h.flag("more").unwrap());
    assert!(h.get("next").is_none());
    // The CLI fetches every page.
    let all = run_json(mayfly().args(["file", "list", "--json", "--addr", &s.addr]));
    let got: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["filename"].as_str().unwrap())
        .collect();
    assert_eq!(got, names);
}

#[test]
fn lists_over_the_concurrency_cap_are_answered_busy() {
    // Before: no cap (99 unread lists of 100,000 names took +1.4 GiB).
    let s = Server::start(&["--max-concurrent-lists", "0"]);
    let err = s.client().list().unwrap_err();
    assert_eq!(server_error(&err).code, "busy", "{err}");
    assert!(server_error(&err).error.contains("--max-concurrent-lists"));
    let s = Server::start(&["--max-concurrent-lists", "1"]);
    fs::write(s.path("a"), b"x").unwrap();
    // Sequential lists each get the one slot back.
    for _ in 0..3 {
        assert_eq!(s.client().list().unwrap().len(), 1);
    }
}

#[test]
fn a_list_nobody_reads_does_not_hold_the_list_slot() {
    // Before: the slot was held while the reply was written, so clients that sent a list
    // and never read it locked every other list out (busy) until --io-timeout.
    let s = Server::start(&["--max-concurrent-lists", "1"]);
    // Replies of about 1 MiB, ten of them pipelined: more than the socket buffers hold for
    // a client that does not read.
    for i in 0..4000 {
        fs::write(s.path(&format!("{i:04}{}", "n".repeat(196))), b"").unwrap();
    }
    let mut stuck = TcpStream::connect(&s.addr).unwrap();
    let req = frame_bytes(
        &mayfly_proto::file::list_page_request(None, Some(10_000)),
        b"",
    );
    stuck.write_all(&req.repeat(10)).unwrap();
    // Let the server read the directory and start writing to `stuck`.
    std::thread::sleep(Duration::from_secs(1));
    // `stuck` may still be between its pipelined lists' directory reads (each takes the
    // slot for a moment): retry `busy` briefly. Before, the slot stayed taken for 60 s.
    let t = Instant::now();
    let all = loop {
        match s.client().list() {
            Err(e) if server_error(&e).code == "busy" && t.elapsed() < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(50))
            }
            other => break other.unwrap(),
        }
    };
    assert_eq!(all.len(), 4000);
    drop(stuck);
}

#[test]
fn hard_links_out_of_the_root_are_not_served_stated_or_listed() {
    // Before: a hard link in the root to a file outside it was served like any file.
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret.txt");
    fs::write(&secret, b"not the server's to give").unwrap();
    let s = Server::start(&[]);
    if fs::hard_link(&secret, s.path("linked.txt")).is_err() {
        eprintln!("skipped: the temporary directories are on different filesystems");
        return;
    }
    fs::write(s.path("plain.txt"), b"ok").unwrap();
    let mut c = s.client();
    let err = c
        .get_stream(
            "linked.txt",
            0,
            &mut Vec::new(),
            &mut Sha256::new(),
            &mut |_, _| {},
        )
        .unwrap_err();
    assert_eq!(server_error(&err).code, "forbidden", "{err}");
    let err = s.client().stat("linked.txt").unwrap_err();
    assert_eq!(server_error(&err).code, "forbidden", "{err}");
    let names: Vec<String> = s
        .client()
        .list()
        .unwrap()
        .into_iter()
        .map(|e| e.filename)
        .collect();
    assert_eq!(names, ["plain.txt"]);
}

#[test]
fn the_root_is_held_open_so_a_symlink_swapped_in_for_it_is_never_followed() {
    // Before: files were opened by the root's path, so after the root was renamed and a
    // symlink to another directory put in its place, the server served that directory.
    let parent = tempfile::tempdir().unwrap();
    let root = parent.path().join("root");
    fs::create_dir(&root).unwrap();
    fs::write(root.join("a.txt"), b"inside").unwrap();
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("a.txt"), b"outside").unwrap();
    let mut cmd = mayfly();
    cmd.args([
        "serve",
        "file",
        "--addr",
        "127.0.0.1:0",
        "--grace",
        "1s",
        "--root",
    ])
    .arg(&root)
    .stderr(Stdio::null());
    let srv = ServerChild::spawn(cmd, false);
    let moved = parent.path().join("moved");
    fs::rename(&root, &moved).unwrap();
    std::os::unix::fs::symlink(outside.path(), &root).unwrap();
    let mut c = FileClient::connect(srv.addr.as_str()).unwrap();
    let mut got = Vec::new();
    c.get_stream("a.txt", 0, &mut got, &mut Sha256::new(), &mut |_, _| {})
        .unwrap();
    assert_eq!(got, b"inside");
    c.put_stream(
        &PutRequest::new("b.txt", 3),
        &mut &b"new"[..],
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(fs::read(moved.join("b.txt")).unwrap(), b"new");
    assert!(!outside.path().join("b.txt").exists());
    drop(srv);
}

#[test]
fn concurrent_requests_for_one_unhashed_file_share_one_hashing_job() {
    // Before: each `stat` or `get` of a file not hashed yet read and hashed it again (20
    // stats of 512 MiB made another put take 3.2 s).
    let root = tempfile::tempdir().unwrap();
    let data = random_bytes(7, 64 << 20);
    fs::write(root.path().join("big.bin"), &data).unwrap();
    fs::write(root.path().join("small.bin"), b"small").unwrap();
    let (s, stats) = Server::start_in(root, &["--hash-threads", "1"], |_| {}, true);
    let stats = stats.unwrap();
    let want = sha(&data);
    std::thread::scope(|scope| {
        let clients: Vec<_> = (0..20)
            .map(|i| {
                let s = &s;
                scope.spawn(move || {
                    let mut c = s.client();
                    if i % 2 == 0 {
                        c.stat("big.bin").unwrap().sha256.unwrap()
                    } else {
                        let mut sink = std::io::sink();
                        let h = c
                            .get_stream("big.bin", 0, &mut sink, &mut Sha256::new(), &mut |_, _| {})
                            .unwrap();
                        h.str("sha256").unwrap().to_owned()
                    }
                })
            })
            .collect();
        for c in clients {
            assert_eq!(c.join().unwrap(), want);
        }
    });
    assert_eq!(
        stats_json(&stats)["gauges"]["hashes_computed"].as_u64(),
        Some(1),
        "20 requests for one version of one file: one job"
    );
    // A new version is hashed again, once; another file has its own job.
    fs::write(s.path("big.bin"), b"changed").unwrap();
    assert_eq!(
        s.client().stat("big.bin").unwrap().sha256.unwrap(),
        sha(b"changed")
    );
    assert_eq!(
        s.client().stat("big.bin").unwrap().sha256.unwrap(),
        sha(b"changed")
    );
    assert_eq!(
        s.client().stat("small.bin").unwrap().sha256.unwrap(),
        sha(b"small")
    );
    assert_eq!(
        stats_json(&stats)["gauges"]["hashes_computed"].as_u64(),
        Some(3)
    );
}

/// Whether the server closed `c` within a second (EOF or reset), rather than keeping it.
fn closed_by_server(c: &mut TcpStream) -> bool {
    c.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let mut b = [0u8; 1];
    match c.read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

#[test]
fn one_peer_cannot_hold_every_connection() {
    // Before: no per-peer cap and no default connection cap, so one host's idle or
    // trickling connections could take every fd.
    let s = Server::start(&["--max-per-peer", "2"]);
    let mut held: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(&s.addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut third = TcpStream::connect(&s.addr).unwrap();
    assert!(
        closed_by_server(&mut third),
        "a third connection from one peer was kept"
    );
    // Another peer (127.0.0.2) is served.
    let mut other = FileClient::new(crate::util::connect_from("127.0.0.2", &s.addr).unwrap());
    assert!(other.list().unwrap().is_empty());
    // A slot freed is a slot again.
    assert!(!closed_by_server(&mut held[0]));
    held.pop();
    std::thread::sleep(Duration::from_millis(200));
    assert!(s.client().list().unwrap().is_empty());
}
