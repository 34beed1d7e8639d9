//! TLS end to end: `mayfly cert` makes the certificates, `mayfly serve echo --tls-cert
//! --tls-key` serves them (coroutine, threads and tokio builds), Python's `ssl` module and
//! `mayfly stress --tls` are the clients; `serve file` and `serve cmd` over TLS with their
//! clients (client certificates, the cmd server's remote rule, transfers cut without
//! close_notify, Python's `ssl` speaking the file and command protocols); the bad inputs
//! exit as documented.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use mayfly_proto::builds::Mode;
use mayfly_proto::child::ServeEchoCommand;

use crate::util::{mayfly, ServerChild};

/// A fresh directory under the system's temp dir with `mayfly cert`'s files in it.
fn certs(extra: &[&str]) -> PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "mayfly-e2e-tls-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let out = mayfly()
        .args(["cert", "--out"])
        .arg(&dir)
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

fn serve_tls(mode: Mode, dir: &Path, cert: &str, key: &str) -> ServerChild {
    let mut cmd = mayfly();
    cmd.args(ServeEchoCommand::new(mode).args())
        .args(["--grace", "2s", "--tls-cert"])
        .arg(dir.join(cert))
        .arg("--tls-key")
        .arg(dir.join(key))
        .stderr(Stdio::null());
    ServerChild::spawn(cmd, false)
}

fn stop(mut s: ServerChild) {
    let st = s.sigterm_and_wait(Duration::from_secs(20));
    assert!(st.success(), "server exited with {st}");
}

fn stress(addr: &str, extra: &[&str]) -> (serde_json::Value, i32, String) {
    let out = mayfly()
        .args(["stress", "--addr", addr, "--json", "--duration", "1s"])
        .args(["--threads", "4", "--connections", "20"])
        .args(extra)
        .output()
        .expect("stress runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let v = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (v, out.status.code().unwrap_or(-1), stderr)
}

/// `stress` over TLS against `addr`, checking the server with `ca`.
fn stress_tls(addr: &str, ca: &Path, extra: &[&str]) -> (serde_json::Value, i32, String) {
    let mut args = vec!["--tls", "--tls-ca", ca.to_str().unwrap()];
    args.extend_from_slice(extra);
    stress(addr, &args)
}

const PY_ECHO: &str = r#"
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
host, port = sys.argv[2].rsplit(":", 1)
with socket.create_connection((host, int(port)), timeout=10) as raw:
    with ctx.wrap_socket(raw, server_hostname="localhost") as s:
        s.sendall(b"hello tls")
        got = b""
        while len(got) < 9:
            got += s.recv(100)
        print(got.decode(), s.version())
"#;

#[test]
fn cert_writes_six_files_keys_private_and_refuses_to_overwrite() {
    use std::os::unix::fs::PermissionsExt;
    let dir = certs(&[]);
    for f in [
        "ca.pem",
        "ca.key",
        "server.pem",
        "server.key",
        "client.pem",
        "client.key",
    ] {
        let meta = std::fs::metadata(dir.join(f)).unwrap();
        assert!(meta.len() > 100, "{f} is empty");
        if f.ends_with(".key") {
            assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{f}");
        }
    }
    let again = mayfly().args(["cert", "--out"]).arg(&dir).output().unwrap();
    assert_eq!(again.status.code(), Some(10));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    let forced = mayfly()
        .args(["cert", "--force", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(forced.status.success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_tls_echo_builds_serve_python_and_mayfly_stress() {
    let dir = certs(&[]);
    let ca = dir.join("ca.pem");
    let have_python = Command::new("python3").arg("--version").output().is_ok();
    for mode in [Mode::Coroutine, Mode::Threads, Mode::Tokio] {
        let server = serve_tls(mode, &dir, "server.pem", "server.key");
        if have_python {
            let out = python(
                &mode.to_string(),
                PY_ECHO,
                &[ca.as_os_str(), os(&server.addr)],
            );
            assert_eq!(out, "HELLO TLS TLSv1.3", "{mode}");
        } else {
            eprintln!("SKIPPED: python3 is not installed");
        }
        for client in ["coroutine", "threads"] {
            let (v, code, err) = stress_tls(&server.addr, &ca, &["--mode", client]);
            assert_eq!(code, 0, "{mode} with {client} clients: {err} {v}");
            assert!(v["requests"].as_u64().unwrap() > 20, "{mode}: {v}");
            assert_eq!(v["wrong_replies"].as_u64(), Some(0), "{mode}: {v}");
            // A new connection, and a new handshake, every 5 replies.
            let (v, code, err) = stress_tls(
                &server.addr,
                &ca,
                &["--mode", client, "--reconnect-every", "5"],
            );
            assert_eq!(code, 0, "{mode} reconnecting: {err} {v}");
            assert!(v["reconnects"].as_u64().unwrap() > 0, "{mode}: {v}");
        }
        stop(server);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_tls_setups_are_refused_with_exit_2() {
    let dir = certs(&[]);
    let run = |args: &[&std::ffi::OsStr]| {
        let out = mayfly().args(args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let p = |f: &str| dir.join(f).into_os_string();
    let os = |s: &str| std::ffi::OsString::from(s);
    // A key that is not the certificate's.
    let (code, err) = run(&[
        &os("serve"),
        &os("echo"),
        &os("--addr"),
        &os("127.0.0.1:0"),
        &os("--tls-cert"),
        &p("server.pem"),
        &os("--tls-key"),
        &p("client.key"),
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("does not match"), "{err}");
    // A build without TLS.
    let (code, err) = run(&[
        &os("serve"),
        &os("echo"),
        &os("--mode"),
        &os("epoll"),
        &os("--addr"),
        &os("127.0.0.1:0"),
        &os("--tls-cert"),
        &p("server.pem"),
        &os("--tls-key"),
        &p("server.key"),
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("does not serve TLS"), "{err}");
    // A certificate file that is not PEM.
    let (code, err) = run(&[
        &os("serve"),
        &os("echo"),
        &os("--addr"),
        &os("127.0.0.1:0"),
        &os("--tls-cert"),
        &p("server.key"),
        &os("--tls-key"),
        &p("server.key"),
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("no certificate found"), "{err}");
    // --tls with nothing to check the server against.
    let (code, err) = run(&[
        &os("stress"),
        &os("--addr"),
        &os("127.0.0.1:9"),
        &os("--tls"),
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--tls-ca"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn stress_refuses_an_expired_certificate_a_wrong_ca_and_a_plaintext_server() {
    let good = certs(&[]);
    let expired = certs(&["--expired"]);
    let server = serve_tls(Mode::Coroutine, &expired, "server.pem", "server.key");
    let ca = expired.join("ca.pem");
    let (v, code, err) = stress_tls(&server.addr, &ca, &[]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(v["connected"].as_u64(), Some(0), "{v}");
    assert!(err.contains("expired"), "{err}");
    // A server whose CA the client does not trust: refused too.
    let good_server = serve_tls(Mode::Coroutine, &good, "server.pem", "server.key");
    let (_, code, err) = stress_tls(&good_server.addr, &ca, &[]);
    assert_eq!(code, 1, "{err}");
    // Both CAs are "mayfly local CA": the issuer is found by name, its signature does not
    // verify (BadSignature); a CA of another name gives UnknownIssuer.
    assert!(
        err.contains("invalid peer certificate: BadSignature"),
        "{err}"
    );
    stop(good_server);
    let other = good.join("ca.pem");
    // --tls-insecure takes it, with a warning.
    let (v, code, err) = stress(&server.addr, &["--tls", "--tls-insecure"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("WARNING: --tls-insecure"), "{err}");
    assert!(v["requests"].as_u64().unwrap() > 0);
    stop(server);
    // TLS against a plaintext echo server: a clear failure, not a hang.
    let mut cmd = mayfly();
    cmd.args(ServeEchoCommand::new(Mode::Coroutine).args())
        .stderr(Stdio::null());
    let plain = ServerChild::spawn(cmd, false);
    let started = std::time::Instant::now();
    let (v, code, err) = stress_tls(&plain.addr, &other, &[]);
    assert_eq!(code, 1, "{err} {v}");
    assert_eq!(v["connected"].as_u64(), Some(0), "{v}");
    assert!(started.elapsed() < Duration::from_secs(30));
    stop(plain);
    let _ = std::fs::remove_dir_all(&good);
    let _ = std::fs::remove_dir_all(&expired);
}

#[test]
fn compare_tls_runs_the_three_tls_builds_with_reconnects_and_refuses_others() {
    let dir = std::env::temp_dir().join(format!("mayfly-compare-tls-{}", std::process::id()));
    let out = mayfly()
        .args([
            "compare",
            "--tls",
            "--reconnect-every",
            "20",
            "--connections",
            "20",
        ])
        .args(["--duration", "1s", "--quick", "--no-pin", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for b in ["coroutine", "threads", "tokio"] {
        assert!(stdout.contains(&format!("| {b} |")), "{stdout}");
    }
    assert!(!stdout.contains("| epoll |"), "{stdout}");
    // The certificates were made for the run, beside the report.
    assert!(dir.join("tls/ca.pem").exists());
    // The setup line says how the builds were reached.
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        md.contains("over TLS, a new connection and handshake every 20 replies"),
        "{md}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    for r in json["rows"].as_array().unwrap() {
        assert!(r["rps"].as_f64().unwrap() > 0.0, "{r}");
    }
    let _ = std::fs::remove_dir_all(&dir);

    let out = mayfly()
        .args(["compare", "--tls", "--builds", "coroutine,epoll", "--quick"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tls runs the echo builds"));
}

/// `mayfly serve file` over TLS with `dir`'s server certificate, a fresh root, a stats page.
fn serve_file_tls(dir: &Path, root: &Path, extra: &[&str]) -> ServerChild {
    serve_file(Some(dir), root, extra)
}

/// `serve file` of `root` with a stats page, over TLS with `tls`'s pair if given.
fn serve_file(tls: Option<&Path>, root: &Path, extra: &[&str]) -> ServerChild {
    let mut cmd = mayfly();
    cmd.args(["serve", "file", "--addr", "127.0.0.1:0", "--grace", "1s"])
        .args(["--stats-addr", "127.0.0.1:0", "--root"])
        .arg(root);
    if let Some(dir) = tls {
        cmd.arg("--tls-cert")
            .arg(dir.join("server.pem"))
            .arg("--tls-key")
            .arg(dir.join("server.key"));
    }
    cmd.args(extra).stderr(Stdio::null());
    ServerChild::spawn(cmd, true)
}

/// Runs `mayfly ARGS`: (exit code, stdout, stderr).
fn run(args: &[&std::ffi::OsStr]) -> (i32, String, String) {
    let out = mayfly().args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A `/stats` gauge of the plaintext stats page at `addr`.
fn gauge(addr: &str, name: &str) -> u64 {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(b"GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    let _ = c.read_to_string(&mut text);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    v["gauges"][name].as_u64().unwrap_or(0)
}

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

fn have_python() -> bool {
    let ok = Command::new("python3").arg("--version").output().is_ok();
    if !ok {
        eprintln!("SKIPPED: python3 is not installed");
    }
    ok
}

#[test]
fn file_put_and_get_over_tls_with_mayfly_cert_files() {
    let dir = certs(&[]);
    let root = tempfile::tempdir().unwrap();
    let local = tempfile::tempdir().unwrap();
    let server = serve_file_tls(&dir, root.path(), &[]);
    let ca = dir.join("ca.pem").into_os_string();
    // 3 MiB and a bit: many buffered chunks (over TLS a get never uses sendfile).
    let data: Vec<u8> = (0..3_200_007u32).map(|i| (i % 251) as u8).collect();
    let src = local.path().join("big.bin");
    std::fs::write(&src, &data).unwrap();
    let addr = os(&server.addr);
    // The TLS flags before the subcommand, and after it.
    let (code, out, err) = run(&[
        os("file"),
        os("--addr"),
        addr,
        os("--tls"),
        os("--tls-ca"),
        &ca,
        os("put"),
        src.as_os_str(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(std::fs::read(root.path().join("big.bin")).unwrap(), data);
    let dest = local.path().join("back.bin");
    let (code, out, err) = run(&[
        os("file"),
        os("--addr"),
        addr,
        os("get"),
        os("big.bin"),
        os("-o"),
        dest.as_os_str(),
        os("--tls"),
        os("--tls-ca"),
        &ca,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(std::fs::read(&dest).unwrap() == data, "the bytes differ");
    // The handshakes were counted on the stats page (one per command).
    assert!(gauge(server.stats.as_ref().unwrap(), "tls_handshakes") >= 2);
    // A plaintext client against the TLS port: a clear failure, not a hang.
    let (code, _, err) = run(&[os("file"), os("--addr"), addr, os("list")]);
    assert_ne!(code, 0, "{err}");
    // A client that does not trust the server's CA: refused at the handshake, exit 8.
    let other = certs(&[]);
    let (code, _, err) = run(&[
        os("file"),
        os("--addr"),
        addr,
        os("--tls"),
        os("--tls-ca"),
        other.join("ca.pem").as_os_str(),
        os("list"),
    ]);
    assert_eq!(code, 8, "{err}");
    assert!(err.contains("TLS with"), "{err}");
    // --tls-insecure: works, with the warning.
    let (code, _, err) = run(&[
        os("file"),
        os("--addr"),
        addr,
        os("--tls"),
        os("--tls-insecure"),
        os("list"),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("WARNING: --tls-insecure"), "{err}");
    let mut server = server;
    stop_child(&mut server);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&other);
}

fn stop_child(s: &mut ServerChild) {
    let st = s.sigterm_and_wait(Duration::from_secs(20));
    assert!(st.success(), "server exited with {st}");
}

/// The framed protocol in Python (PROTOCOL.md: a 4-byte little-endian length, a JSON
/// header, the body), the start of the Python peers below.
macro_rules! py_frames {
    () => {
        r#"
import hashlib, json, socket, ssl, struct, sys
def send(s, h, body=b""):
    j = json.dumps(h).encode()
    s.sendall(struct.pack("<i", len(j)) + j + body)
def recv_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError("closed")
        b += c
    return b
def reply(s):
    n = struct.unpack("<i", recv_exact(s, 4))[0]
    return json.loads(recv_exact(s, n))
"#
    };
}

/// Python's `ssl` speaking the file server's framed protocol: a put, a get of it, and a put
/// cut off mid-body without close_notify (argv: ca, addr, mode).
const PY_FILE_PEER: &str = concat!(
    py_frames!(),
    r#"
ctx = ssl.create_default_context(cafile=sys.argv[1])
host, port = sys.argv[2].rsplit(":", 1)
data = bytes(range(256)) * 1000
raw = socket.create_connection((host, int(port)), timeout=10)
s = ctx.wrap_socket(raw, server_hostname="localhost")
if sys.argv[3] == "roundtrip":
    send(s, {"cmd": "put", "filename": "py.bin", "filesize": len(data)}, data)
    r = reply(s); assert r["status"] == "ok", r
    send(s, {"cmd": "get", "filename": "py.bin"})
    r = reply(s); assert r["status"] == "ok", r
    got = recv_exact(s, r["total_size"])
    assert got == data and r["sha256"] == hashlib.sha256(data).hexdigest(), r
    print("ok", s.version())
    s.close()
else:
    send(s, {"cmd": "put", "filename": "cut.bin", "filesize": 1000000}, data)
    # SSLSocket.shutdown drops the TLS state first: a TCP FIN, no close_notify.
    s.shutdown(socket.SHUT_RDWR)
    s.close()
    print("cut")
"#
);

/// Runs the Python `script` with `args` (`what` names the run in a failure): asserts that it
/// succeeded and returns its stdout, trimmed.
fn python(what: &str, script: &str, args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new("python3")
        .args(["-c", script])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn python_file_peer(ca: &Path, addr: &str, mode: &str) -> String {
    python(mode, PY_FILE_PEER, &[ca.as_os_str(), os(addr), os(mode)])
}

#[test]
fn python_ssl_speaks_the_file_protocol_and_a_put_cut_without_close_notify_lands_nothing() {
    if !have_python() {
        return;
    }
    let dir = certs(&[]);
    let root = tempfile::tempdir().unwrap();
    let mut server = serve_file_tls(&dir, root.path(), &[]);
    let ca = dir.join("ca.pem");
    assert_eq!(
        python_file_peer(&ca, &server.addr, "roundtrip"),
        "ok TLSv1.3"
    );
    assert_eq!(
        std::fs::read(root.path().join("py.bin")).unwrap().len(),
        256_000
    );
    assert_eq!(python_file_peer(&ca, &server.addr, "cut"), "cut");
    // The server saw the truncation: the connection ends as an error, the upload's
    // temporary file is removed, nothing lands under the name.
    let stats = server.stats.clone().unwrap();
    let started = std::time::Instant::now();
    loop {
        let names: Vec<String> = std::fs::read_dir(root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        if names == ["py.bin"] {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "left behind: {names:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(gauge(&stats, "tls_handshakes") >= 2);
    stop_child(&mut server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A TLS file server that answers one `get` with half the body it promises, then closes
/// the TCP connection without close_notify (argv: cert, key).
const PY_CUTTING_SERVER: &str = concat!(
    py_frames!(),
    r#"
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
data = b"x" * 1000000
l = socket.create_server(("127.0.0.1", 0))
l.settimeout(60)
print("listening on 127.0.0.1:%d" % l.getsockname()[1], flush=True)
raw, _ = l.accept()
raw.settimeout(30)
s = ctx.wrap_socket(raw, server_side=True)
n = struct.unpack("<i", recv_exact(s, 4))[0]
req = json.loads(recv_exact(s, n))
h = json.dumps({"status": "ok", "filename": req["filename"], "filesize": len(data),
                "offset": 0, "sha256": hashlib.sha256(data).hexdigest(),
                "total_size": len(data)}).encode()
s.sendall(struct.pack("<i", len(h)) + h + data[:300000])
s.shutdown(socket.SHUT_RDWR)
s.close()
"#
);

#[test]
fn a_get_cut_without_close_notify_fails_and_never_lands_a_short_file() {
    if !have_python() {
        return;
    }
    let dir = certs(&[]);
    let mut cmd = Command::new("python3");
    cmd.args(["-c", PY_CUTTING_SERVER])
        .arg(dir.join("server.pem"))
        .arg(dir.join("server.key"));
    let server = ServerChild::spawn(cmd, false);
    let local = tempfile::tempdir().unwrap();
    let dest = local.path().join("cut.bin");
    let (code, out, err) = run(&[
        os("file"),
        os("--addr"),
        os(&server.addr),
        os("--tls"),
        os("--tls-ca"),
        dir.join("ca.pem").as_os_str(),
        os("get"),
        os("cut.bin"),
        os("-o"),
        dest.as_os_str(),
    ]);
    assert_eq!(code, 5, "{out}{err}");
    assert!(err.contains("truncated"), "{err}");
    assert!(!dest.exists(), "a short file landed");
    // What arrived waits in the .part for --resume, never more than was sent.
    let part = std::fs::metadata(local.path().join("cut.bin.part")).map_or(0, |m| m.len());
    assert!(part <= 300_000, "{part}");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `mayfly serve cmd` over TLS with a secret file in `dir`; `extra` adds flags.
fn serve_cmd_tls(dir: &Path, extra: &[&std::ffi::OsStr]) -> ServerChild {
    std::fs::write(dir.join("secret"), "a secret of sixteen bytes or more").unwrap();
    let mut cmd = mayfly();
    cmd.args(["serve", "cmd", "--addr", "127.0.0.1:0", "--grace", "1s"])
        .arg("--secret-file")
        .arg(dir.join("secret"))
        .arg("--tls-cert")
        .arg(dir.join("server.pem"))
        .arg("--tls-key")
        .arg(dir.join("server.key"))
        .args(extra)
        .stderr(Stdio::null());
    ServerChild::spawn(cmd, false)
}

#[test]
fn cmd_over_tls_with_and_without_a_client_certificate() {
    let dir = certs(&[]);
    let p = |f: &str| dir.join(f).into_os_string();
    let (ca, secret) = (p("ca.pem"), p("secret"));
    let mut server = serve_cmd_tls(&dir, &[os("--tls-client-ca"), &ca]);
    let addr = server.addr.clone();
    let base = |extra: &[&std::ffi::OsStr]| {
        let mut v: Vec<std::ffi::OsString> = ["cmd", "--addr", &addr, "--tls", "--tls-ca"]
            .iter()
            .map(std::ffi::OsString::from)
            .collect();
        v.push(ca.clone());
        v.push("--secret-file".into());
        v.push(secret.clone());
        v.extend(extra.iter().map(|s| s.to_os_string()));
        v.extend(["--", "echo", "over", "tls"].map(std::ffi::OsString::from));
        let out = mayfly().args(&v).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = base(&[
        os("--tls-client-cert"),
        &p("client.pem"),
        os("--tls-client-key"),
        &p("client.key"),
    ]);
    assert_eq!((code, out.as_str()), (0, "over tls\n"), "{err}");
    // No client certificate: the server refuses the handshake; no challenge, exit 8.
    let (code, out, err) = base(&[]);
    assert_eq!(code, 8, "{out}{err}");
    assert!(err.contains("TLS with"), "{err}");
    // A certificate from another CA: refused the same way.
    let other = certs(&[]);
    let (code, _, err) = base(&[
        os("--tls-client-cert"),
        other.join("client.pem").as_os_str(),
        os("--tls-client-key"),
        other.join("client.key").as_os_str(),
    ]);
    assert_eq!(code, 8, "{err}");
    stop_child(&mut server);
    // Without --tls-client-ca the server takes any TLS client (and still wants the secret).
    let mut server = serve_cmd_tls(&dir, &[]);
    let (code, out, err) = run(&[
        os("cmd"),
        os("--addr"),
        os(&server.addr),
        os("--tls"),
        os("--tls-ca"),
        &ca,
        os("--secret-file"),
        &secret,
        os("--"),
        os("echo"),
        os("hi"),
    ]);
    assert_eq!((code, out.as_str()), (0, "hi\n"), "{err}");
    stop_child(&mut server);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&other);
}

/// Python's `ssl` speaking the command protocol (PROTOCOL.md): the challenge, the
/// HMAC-SHA256 answer from the secret file, one command; prints the reply as JSON
/// (argv: ca, addr, secret file, `right` or `wrong` secret).
const PY_CMD_PEER: &str = concat!(
    py_frames!(),
    r#"
import hmac
ctx = ssl.create_default_context(cafile=sys.argv[1])
host, port = sys.argv[2].rsplit(":", 1)
secret = open(sys.argv[3], "rb").read().rstrip(b"\r\n")
if sys.argv[4] == "wrong":
    secret = b"not the secret, but as long as one"
raw = socket.create_connection((host, int(port)), timeout=10)
s = ctx.wrap_socket(raw, server_hostname="localhost")
h = reply(s)
assert h["algorithm"] == "hmac-sha256", h
challenge = bytes.fromhex(h["challenge"])
send(s, {"hmac": hmac.new(secret, challenge, hashlib.sha256).hexdigest()})
r = reply(s)
if r["status"] != "ok":
    print(json.dumps({"login": r}))
    sys.exit(0)
send(s, {"cmd": "run", "command": "printf 'tls:%s' $((6*7)); echo oops >&2; exit 3"})
r = reply(s)
body = recv_exact(s, r["total_size"])
n = r["stdout_size"]
print(json.dumps({"version": s.version(), "exit_code": r["exit_code"],
                  "stdout": body[:n].hex(), "stderr": body[n:].hex()}))
s.close()
"#
);

#[test]
fn python_ssl_logs_in_to_the_cmd_server_and_runs_a_command() {
    if !have_python() {
        return;
    }
    let dir = certs(&[]);
    let mut server = serve_cmd_tls(&dir, &[]);
    let peer = |which: &str| {
        let (ca, secret) = (dir.join("ca.pem"), dir.join("secret"));
        let out = python(
            which,
            PY_CMD_PEER,
            &[
                ca.as_os_str(),
                os(&server.addr),
                secret.as_os_str(),
                os(which),
            ],
        );
        serde_json::from_str::<serde_json::Value>(&out).unwrap()
    };
    let v = peer("right");
    assert_eq!(v["version"], "TLSv1.3", "{v}");
    assert_eq!(v["exit_code"], 3, "{v}");
    // The bytes as hex: b"tls:42" on stdout, b"oops\n" on stderr.
    assert_eq!(v["stdout"], "746c733a3432", "{v}");
    assert_eq!(v["stderr"], "6f6f70730a", "{v}");
    // The wrong secret: refused at the login, nothing run.
    let v = peer("wrong");
    assert_eq!(v["login"]["code"], "auth", "{v}");
    stop_child(&mut server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_cmd_server_refuses_a_remote_address_without_client_certificates() {
    let dir = certs(&[]);
    std::fs::write(dir.join("secret"), "a secret of sixteen bytes or more").unwrap();
    let p = |f: &str| dir.join(f).into_os_string();
    let serve = |extra: &[&std::ffi::OsStr]| {
        let mut args = vec![
            os("serve").to_os_string(),
            "cmd".into(),
            "--addr".into(),
            "0.0.0.0:0".into(),
            "--secret-file".into(),
            p("secret"),
        ];
        args.extend(extra.iter().map(|s| s.to_os_string()));
        let refs: Vec<&std::ffi::OsStr> = args.iter().map(|s| s.as_os_str()).collect();
        run(&refs)
    };
    // Plaintext beyond loopback: refused (nothing is bound).
    let (code, _, err) = serve(&[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--tls-client-ca") && err.contains("--allow-remote"),
        "{err}"
    );
    // TLS without client certificates: refused, saying what would do.
    let (code, _, err) = serve(&[
        os("--tls-cert"),
        &p("server.pem"),
        os("--tls-key"),
        &p("server.key"),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("TLS without --tls-client-ca") && err.contains("add --tls-client-ca FILE"),
        "{err}"
    );
    // The course's plaintext format takes no TLS.
    let (code, _, err) = run(&[
        os("serve"),
        os("cmd"),
        os("--course-protocol"),
        os("--addr"),
        os("127.0.0.1:0"),
        os("--tls-cert"),
        &p("server.pem"),
        os("--tls-key"),
        &p("server.key"),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--course-protocol"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Python's `ssl` fetching `/stats` over HTTPS (argv: ca, addr); prints the page's
/// `tls_handshakes` gauge.
const PY_HTTPS_STATS: &str = r#"
import http.client, json, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
host, port = sys.argv[2].rsplit(":", 1)
c = http.client.HTTPSConnection("localhost", int(port), context=ctx, timeout=10)
c.request("GET", "/stats")
r = c.getresponse()
assert r.status == 200, r.status
print(json.loads(r.read())["connections"]["accepted"] >= 0)
"#;

#[test]
fn the_stats_page_serves_https_with_the_servers_pair_or_its_own() {
    let dir = certs(&[]);
    let p = |f: &str| dir.join(f).into_os_string();
    // --stats-tls: the echo server's own pair.
    let mut cmd = mayfly();
    cmd.args(ServeEchoCommand::new(Mode::Coroutine).args())
        .args(["--stats-addr", "127.0.0.1:0", "--stats-tls", "--tls-cert"])
        .arg(p("server.pem"))
        .arg("--tls-key")
        .arg(p("server.key"))
        .stderr(Stdio::null());
    let mut echo = ServerChild::spawn(cmd, true);
    // A plain file server with a page of its own pair.
    let root = tempfile::tempdir().unwrap();
    let mut cmd = mayfly();
    cmd.args(["serve", "file", "--addr", "127.0.0.1:0", "--root"])
        .arg(root.path())
        .args(["--stats-addr", "127.0.0.1:0", "--stats-tls-cert"])
        .arg(p("server.pem"))
        .arg("--stats-tls-key")
        .arg(p("server.key"))
        .stderr(Stdio::null());
    let mut file = ServerChild::spawn(cmd, true);
    for page in [echo.stats.clone().unwrap(), file.stats.clone().unwrap()] {
        // Plain HTTP to the HTTPS page: no answer that parses as /stats.
        use std::io::{Read, Write};
        let mut c = std::net::TcpStream::connect(&page).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.write_all(b"GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut got = Vec::new();
        let _ = c.read_to_end(&mut got);
        assert!(
            !got.starts_with(b"HTTP/1.1 200"),
            "{page} answered plaintext"
        );
        if !have_python() {
            continue;
        }
        let ca = dir.join("ca.pem");
        let out = python(&page, PY_HTTPS_STATS, &[ca.as_os_str(), os(&page)]);
        assert_eq!(out, "True");
    }
    stop_child(&mut echo);
    stop_child(&mut file);
    // --stats-tls for a server without a pair of its own: exit 2.
    let (code, _, err) = run(&[
        os("serve"),
        os("file"),
        os("--addr"),
        os("127.0.0.1:0"),
        os("--root"),
        root.path().as_os_str(),
        os("--stats-addr"),
        os("127.0.0.1:0"),
        os("--stats-tls"),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--stats-tls-cert"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_client_at_the_wrong_kind_of_port_is_told_which_flag_to_change() {
    let dir = certs(&[]);
    let root = tempfile::tempdir().unwrap();
    let ca = dir.join("ca.pem").into_os_string();
    // Plaintext `mayfly file` at a TLS port: the server's alert read as a frame.
    let mut tls_server = serve_file_tls(&dir, root.path(), &[]);
    let (code, out, err) = run(&[os("file"), os("--addr"), os(&tls_server.addr), os("list")]);
    assert_eq!(code, 5, "{out}{err}");
    assert!(
        err.contains("the server answered with TLS: this port speaks TLS; add --tls"),
        "{err}"
    );
    assert!(!err.contains("header length"), "{err}");
    stop_child(&mut tls_server);
    // `mayfly file --tls` at a plaintext port: refused at the handshake, exit 8.
    let mut plain = serve_file(None, root.path(), &[]);
    let (code, out, err) = run(&[
        os("file"),
        os("--addr"),
        os(&plain.addr),
        os("--tls"),
        os("--tls-ca"),
        &ca,
        os("list"),
    ]);
    assert_eq!(code, 8, "{out}{err}");
    assert!(
        err.contains("the server does not speak TLS: this port is plaintext; drop --tls"),
        "{err}"
    );
    stop_child(&mut plain);
    // `mayfly cmd --tls` at a plaintext cmd server: its challenge is no TLS record.
    std::fs::write(dir.join("secret"), "a secret of sixteen bytes or more").unwrap();
    let secret = dir.join("secret").into_os_string();
    let mut cmd = mayfly();
    cmd.args(["serve", "cmd", "--addr", "127.0.0.1:0", "--grace", "1s"])
        .arg("--secret-file")
        .arg(&secret)
        .stderr(Stdio::null());
    let mut plain = ServerChild::spawn(cmd, false);
    let (code, out, err) = run(&[
        os("cmd"),
        os("--addr"),
        os(&plain.addr),
        os("--tls"),
        os("--tls-ca"),
        &ca,
        os("--secret-file"),
        &secret,
        os("--"),
        os("true"),
    ]);
    assert_eq!(code, 8, "{out}{err}");
    assert!(err.contains("the server does not speak TLS"), "{err}");
    stop_child(&mut plain);
    // Plaintext `mayfly cmd` at a TLS cmd server: both wait for the other to speak first
    // until the server's handshake timeout closes the connection; exit 5 with the hint.
    let mut tls_cmd = serve_cmd_tls(&dir, &[os("--tls-handshake-timeout"), os("300ms")]);
    let (code, out, err) = run(&[
        os("cmd"),
        os("--addr"),
        os(&tls_cmd.addr),
        os("--secret-file"),
        &secret,
        os("--"),
        os("true"),
    ]);
    assert_eq!(code, 5, "{out}{err}");
    assert!(
        err.contains("before its challenge") && err.contains("if this port speaks TLS, add --tls"),
        "{err}"
    );
    stop_child(&mut tls_cmd);
    let _ = std::fs::remove_dir_all(&dir);
}
