//! TLS end to end: `mayfly cert` makes the certificates, `mayfly serve echo --tls-cert
//! --tls-key` serves them (coroutine, threads and tokio builds), Python's `ssl` module and
//! `mayfly stress --tls` are the clients; the bad inputs exit as documented.

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
            let out = Command::new("python3")
                .args(["-c", PY_ECHO])
                .arg(&ca)
                .arg(&server.addr)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{mode}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(
                String::from_utf8_lossy(&out.stdout).trim(),
                "HELLO TLS TLSv1.3",
                "{mode}"
            );
        } else {
            eprintln!("SKIPPED: python3 is not installed");
        }
        for client in ["coroutine", "threads"] {
            let ca_s = ca.to_str().unwrap();
            let (v, code, err) =
                stress(&server.addr, &["--tls", "--tls-ca", ca_s, "--mode", client]);
            assert_eq!(code, 0, "{mode} with {client} clients: {err} {v}");
            assert!(v["requests"].as_u64().unwrap() > 20, "{mode}: {v}");
            assert_eq!(v["wrong_replies"].as_u64(), Some(0), "{mode}: {v}");
            // A new connection, and a new handshake, every 5 replies.
            let (v, code, err) = stress(
                &server.addr,
                &[
                    "--tls",
                    "--tls-ca",
                    ca_s,
                    "--mode",
                    client,
                    "--reconnect-every",
                    "5",
                ],
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
    let (v, code, err) = stress(&server.addr, &["--tls", "--tls-ca", ca.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(v["connected"].as_u64(), Some(0), "{v}");
    assert!(err.contains("expired"), "{err}");
    // A server whose CA the client does not trust: refused too.
    let good_server = serve_tls(Mode::Coroutine, &good, "server.pem", "server.key");
    let (_, code, err) = stress(
        &good_server.addr,
        &["--tls", "--tls-ca", ca.to_str().unwrap()],
    );
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
    let (v, code, err) = stress(&plain.addr, &["--tls", "--tls-ca", other.to_str().unwrap()]);
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
