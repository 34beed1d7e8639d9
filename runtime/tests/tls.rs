//! mayfly::tls over loopback: mayfly on both ends, Python's `ssl` module and
//! `openssl s_client` as real peers, and the bad inputs (plaintext to a TLS port, TLS to a
//! plaintext port, a truncated ClientHello, a stalled handshake, a wrong CA, an expired
//! certificate, a key that is not the certificate's, bad PEM, a close without close_notify).

mod tls_certs;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mayfly::net::{TcpListener, TcpStream};
use mayfly::server::{RunningServer, StreamServer, TlsHandshakeStats};
use mayfly::tls::{
    AcceptorBuilder, ConfigError, ConnectorBuilder, HandshakeError, HandshakeFailure, TlsAcceptor,
    TlsConnector, Truncated,
};

fn acceptor(c: &tls_certs::Certs) -> TlsAcceptor {
    TlsAcceptor::from_pem(c.server.cert.as_bytes(), c.server.key.as_bytes()).unwrap()
}

fn connector(c: &tls_certs::Certs) -> TlsConnector {
    TlsConnector::from_ca_pem(c.ca.as_bytes()).unwrap()
}

/// A TLS echo server: each connection echoes until the peer closes, then sends close_notify.
fn echo_server(acc: TlsAcceptor) -> RunningServer {
    StreamServer::bind_tls("127.0.0.1:0", acc, |mut tls, _| loop {
        let data = tls.recv(4096)?;
        if data.is_empty() {
            return tls.close();
        }
        tls.sendall(&data)?;
    })
    .unwrap()
    .start()
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        mayfly::sleep(Duration::from_millis(5));
    }
}

fn failed(server: &RunningServer, reason: HandshakeFailure) -> u64 {
    TlsHandshakeStats::of(&server.counters()).failed(reason)
}

#[test]
fn mayfly_to_mayfly_echo_with_alpn_sni_and_close_notify() {
    let c = tls_certs::make();
    mayfly::run(move || {
        let acc = AcceptorBuilder::from_pem(c.server.cert.as_bytes(), c.server.key.as_bytes())
            .unwrap()
            .alpn(["mayfly-echo", "http/1.1"])
            .build()
            .unwrap();
        let seen = Arc::new(std::sync::Mutex::new(None));
        let seen2 = seen.clone();
        let server = StreamServer::bind_tls("127.0.0.1:0", acc, move |mut tls, _| {
            *seen2.lock().unwrap() = Some((
                tls.server_name().map(str::to_string),
                tls.alpn_protocol().map(<[u8]>::to_vec),
                tls.is_server(),
            ));
            let data = tls.recv(1024)?;
            tls.sendall(&data)?;
            tls.close()
        })
        .unwrap()
        .start();
        let conn = ConnectorBuilder::new()
            .ca_pem(c.ca.as_bytes())
            .unwrap()
            .alpn(["mayfly-echo"])
            .build()
            .unwrap();
        let tcp = TcpStream::connect(server.local_addr()).unwrap();
        let mut tls = conn.connect("localhost", tcp).unwrap();
        assert_eq!(tls.alpn_protocol(), Some(&b"mayfly-echo"[..]));
        assert!(!tls.is_server());
        assert!(tls.peer_certificates().is_some_and(|c| !c.is_empty()));
        tls.sendall(b"hello over tls").unwrap();
        assert_eq!(&tls.recv_exact(14).unwrap()[..], b"hello over tls");
        // The server closed with close_notify: a clean end, not a truncation.
        assert!(tls.recv(10).unwrap().is_empty());
        assert_eq!(
            *seen.lock().unwrap(),
            Some((
                Some("localhost".to_string()),
                Some(b"mayfly-echo".to_vec()),
                true
            ))
        );
        wait_for("the handshake count", || {
            TlsHandshakeStats::of(&server.counters()).done == 1
        });
        server.stop(Duration::from_secs(1));
        let s = server.stats();
        assert_eq!((s.accepted, s.handler_errors), (1, 0));
        assert!(
            s.bytes_in > 14,
            "bytes are counted on the wire: {}",
            s.bytes_in
        );
    });
}

#[test]
fn an_ip_address_as_server_name_and_a_large_transfer() {
    let c = tls_certs::make();
    mayfly::run(move || {
        let server = echo_server(acceptor(&c));
        let tcp = TcpStream::connect(server.local_addr()).unwrap();
        let mut tls = connector(&c).connect("127.0.0.1", tcp).unwrap();
        // More than a record (16 KiB) and more than rustls's buffer, in both directions at
        // once: a writer greenlet on a clone is not possible on one TlsStream, so write and
        // read in turns of 64 KiB.
        let chunk: Vec<u8> = (0..65536u32).map(|i| (i % 251) as u8).collect();
        for _ in 0..16 {
            tls.sendall(&chunk).unwrap();
            assert_eq!(&tls.recv_exact(chunk.len()).unwrap()[..], &chunk[..]);
        }
        server.stop(Duration::from_secs(1));
    });
}

#[test]
fn records_read_in_pieces_and_records_arriving_during_a_write_keep_their_order() {
    let c = tls_certs::make();
    mayfly::run(move || {
        let server = StreamServer::bind_tls("127.0.0.1:0", acceptor(&c), |mut tls, _| {
            // Three records, then an answer to the client's write.
            for part in [&b"first record;"[..], b"second;", b"third and last"] {
                tls.sendall(part)?;
            }
            let ack = tls.recv_exact(3)?;
            tls.sendall(&ack.to_ascii_uppercase())?;
            tls.close()
        })
        .unwrap()
        .start();
        let tcp = TcpStream::connect(server.local_addr()).unwrap();
        let mut tls = connector(&c).connect("localhost", tcp).unwrap();
        mayfly::sleep(Duration::from_millis(100)); // all three records arrive
        let mut got = Vec::new();
        let mut five = [0u8; 5];
        let n = tls.read(&mut five).unwrap();
        got.extend_from_slice(&five[..n]);
        // A write while the rest of the first record and two more wait to be read.
        tls.sendall(b"ack").unwrap();
        let mut three = [0u8; 3];
        loop {
            let n = tls.read(&mut three).unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&three[..n]);
        }
        assert_eq!(
            String::from_utf8_lossy(&got),
            "first record;second;third and lastACK"
        );
        server.stop(Duration::from_secs(1));
        assert_eq!(server.stats().handler_errors, 0);
    });
}

#[test]
fn data_and_close_notify_sent_right_after_the_handshake_reach_the_server() {
    // The client's Finished, its data and its close_notify reach the server in one read:
    // rustls reports the close before the data, and the accept must still succeed with the
    // data waiting for the first read.
    let c = tls_certs::make();
    mayfly::run(move || {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let acc = acceptor(&c);
        let server = mayfly::Builder::new()
            .stack_size(mayfly::tls::TLS_STACK_SIZE)
            .spawn(move || -> Result<(Vec<u8>, usize), String> {
                let (tcp, _) = l.accept().unwrap();
                let mut tls = acc.accept(tcp).map_err(|e| format!("accept: {e}"))?;
                let data = tls.recv(100).map_err(|e| format!("recv: {e}"))?;
                let end = tls.recv(100).map_err(|e| format!("second recv: {e}"))?;
                Ok((data.to_vec(), end.len()))
            })
            .unwrap();
        let tcp = TcpStream::connect(addr).unwrap();
        let mut tls = connector(&c).connect("localhost", tcp).unwrap();
        tls.sendall(b"hello").unwrap();
        tls.close().unwrap();
        assert_eq!(server.get().unwrap(), Ok((b"hello".to_vec(), 0)));
    });
}

#[test]
fn a_write_whose_send_times_out_counts_its_bytes_once() {
    // Once a write has encrypted its bytes they are queued: the write returns their count and
    // the send's error comes with the next call, so a caller that retries after an error never
    // sends anything twice.
    let c = tls_certs::make();
    mayfly::run(move || {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let acc = acceptor(&c);
        let go = Arc::new(mayfly::event::Event::new());
        let read_now = go.clone();
        let server = mayfly::Builder::new()
            .stack_size(mayfly::tls::TLS_STACK_SIZE)
            .spawn(move || {
                let (tcp, _) = l.accept().unwrap();
                let mut tls = acc.accept(tcp).unwrap();
                read_now.wait(None);
                let mut all = Vec::new();
                tls.read_to_end(&mut all).unwrap();
                all
            })
            .unwrap();
        let tcp = TcpStream::connect(addr).unwrap();
        let mut tls = connector(&c).connect("localhost", tcp).unwrap();
        tls.set_write_timeout(Some(Duration::from_millis(200)));
        let chunk = |i: usize| vec![(i % 250) as u8 + 1; 16384];
        let mut accepted = Vec::new();
        // Write until the unread socket buffers are full and a write fails.
        let failed = loop {
            let i = accepted.len() / 16384;
            assert!(i < 20_000, "a write never timed out");
            match tls.write(&chunk(i)) {
                Ok(n) => {
                    assert_eq!(n, 16384);
                    accepted.extend_from_slice(&chunk(i));
                }
                Err(e) => break e,
            }
        };
        assert_eq!(failed.kind(), std::io::ErrorKind::TimedOut, "{failed}");
        go.set();
        tls.set_write_timeout(None);
        // The caller retries the write that failed, then closes.
        let i = accepted.len() / 16384;
        tls.write_all(&chunk(i)).unwrap();
        accepted.extend_from_slice(&chunk(i));
        tls.close().unwrap();
        let got = server.get().unwrap();
        assert_eq!(got.len(), accepted.len(), "bytes lost or sent twice");
        assert!(got == accepted, "the bytes arrived out of order");
    });
}

#[test]
fn client_certificates_are_checked_when_asked_for() {
    let c = tls_certs::make();
    mayfly::run(move || {
        let acc = AcceptorBuilder::from_pem(c.server.cert.as_bytes(), c.server.key.as_bytes())
            .unwrap()
            .client_ca_pem(c.ca.as_bytes())
            .unwrap()
            .build()
            .unwrap();
        let server = StreamServer::bind_tls("127.0.0.1:0", acc, |mut tls, _| {
            let n = tls.peer_certificates().map_or(0, |c| c.len());
            tls.sendall(&[n as u8])?;
            tls.close()
        })
        .unwrap()
        .start();
        let addr = server.local_addr();
        // Without a certificate: refused (TLS 1.3 reports it on the first read).
        let tcp = TcpStream::connect(addr).unwrap();
        let outcome = connector(&c)
            .connect("localhost", tcp)
            .map_err(|e| e.to_string())
            .and_then(|mut t| t.recv(1).map_err(|e| e.to_string()).map(|b| b.to_vec()));
        assert!(outcome.is_err(), "no client certificate was accepted");
        wait_for("the refusal", || {
            failed(&server, HandshakeFailure::BadCertificate) == 1
        });
        // With one from the CA: served, and the server sees it.
        let with_cert = ConnectorBuilder::new()
            .ca_pem(c.ca.as_bytes())
            .unwrap()
            .client_cert_pem(c.client.cert.as_bytes(), c.client.key.as_bytes())
            .unwrap()
            .build()
            .unwrap();
        let tcp = TcpStream::connect(addr).unwrap();
        let mut tls = with_cert.connect("localhost", tcp).unwrap();
        assert_eq!(&tls.recv_exact(1).unwrap()[..], &[1]);
        server.stop(Duration::from_secs(1));
    });
}

#[test]
fn a_mismatched_key_and_bad_pem_are_refused_at_start() {
    let c = tls_certs::make();
    let err = TlsAcceptor::from_pem(c.server.cert.as_bytes(), c.client.key.as_bytes()).unwrap_err();
    assert!(matches!(err, ConfigError::KeyMismatch), "{err}");
    assert!(err.to_string().contains("does not match"), "{err}");

    let err = TlsAcceptor::from_pem(b"", c.server.key.as_bytes()).unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::NoPem {
                what: "certificate",
                ..
            }
        ),
        "{err}"
    );
    let err =
        TlsAcceptor::from_pem(c.server.cert.as_bytes(), c.server.cert.as_bytes()).unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::NoPem {
                what: "private key",
                ..
            }
        ),
        "{err}"
    );
    let broken = c.server.cert.replace("-----END CERTIFICATE-----", "");
    let err = TlsAcceptor::from_pem(broken.as_bytes(), c.server.key.as_bytes()).unwrap_err();
    assert!(matches!(err, ConfigError::BadPem { .. }), "{err}");
    let garbage = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    let err = TlsAcceptor::from_pem(garbage.as_bytes(), c.server.key.as_bytes()).unwrap_err();
    assert!(
        matches!(err, ConfigError::BadChain(_) | ConfigError::KeyMismatch),
        "{err}"
    );
    let err = TlsAcceptor::from_pem_files(c.path("missing.pem"), c.path("server.key")).unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::Read {
                what: "certificate",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("missing.pem"), "{err}");
    assert!(TlsAcceptor::from_pem_files(c.path("server.pem"), c.path("server.key")).is_ok());

    let err = ConnectorBuilder::new().build().unwrap_err();
    assert!(matches!(err, ConfigError::NoTrust), "{err}");
    let err = TlsConnector::from_ca_pem(b"nothing here").unwrap_err();
    assert!(matches!(err, ConfigError::NoPem { .. }), "{err}");
}

#[test]
fn a_wrong_ca_and_an_expired_certificate_are_refused_by_the_client() {
    let c = tls_certs::make();
    mayfly::run(move || {
        let server = echo_server(acceptor(&c));
        let other = TlsConnector::from_ca_pem(c.other_ca.as_bytes()).unwrap();
        let tcp = TcpStream::connect(server.local_addr()).unwrap();
        let err = other.connect("localhost", tcp).unwrap_err();
        assert_eq!(err.failure(), HandshakeFailure::BadCertificate, "{err}");
        assert!(err.to_string().contains("UnknownIssuer"), "{err}");
        // The server hears the client's alert.
        wait_for("the server's count", || {
            failed(&server, HandshakeFailure::AlertReceived) == 1
        });
        // The name is checked too.
        let tcp = TcpStream::connect(server.local_addr()).unwrap();
        let err = connector(&c).connect("example.com", tcp).unwrap_err();
        assert_eq!(err.failure(), HandshakeFailure::BadCertificate, "{err}");
        server.stop(Duration::from_secs(1));

        let expired =
            TlsAcceptor::from_pem(c.expired.cert.as_bytes(), c.expired.key.as_bytes()).unwrap();
        let server = echo_server(expired);
        let tcp = TcpStream::connect(server.local_addr()).unwrap();
        let err = connector(&c).connect("localhost", tcp).unwrap_err();
        assert!(matches!(err, HandshakeError::Certificate(_)), "{err}");
        assert!(err.to_string().contains("expired"), "{err}");
        server.stop(Duration::from_secs(1));
    });
}

#[test]
fn plaintext_to_a_tls_port_is_refused_and_counted() {
    let c = tls_certs::make();
    mayfly::run(move || {
        let server = echo_server(acceptor(&c));
        let mut tcp = TcpStream::connect(server.local_addr()).unwrap();
        tcp.settimeout(Some(Duration::from_secs(5)));
        tcp.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        // The server answers with an alert record (content type 21) or just closes; it never
        // echoes plaintext and never hangs.
        let mut got = Vec::new();
        let _ = tcp.read_to_end(&mut got);
        assert!(got.is_empty() || got[0] == 21, "got {got:?}");
        wait_for("the not_tls count", || {
            failed(&server, HandshakeFailure::NotTls) == 1
        });
        let s = server.stats();
        assert_eq!(s.protocol_errors, 1, "{s:?}");
        assert_eq!(TlsHandshakeStats::of(&server.counters()).done, 0);
        server.stop(Duration::from_secs(1));
    });
}

#[test]
fn tls_to_a_plaintext_port_fails_clearly() {
    let c = tls_certs::make();
    mayfly::run(move || {
        // A plaintext server that greets and echoes a line, as a line-protocol server would.
        let server = StreamServer::bind("127.0.0.1:0", |mut conn, _| {
            conn.sendall(b"220 hello\r\n")?;
            let d = conn.recv(4096)?;
            conn.sendall(&d)
        })
        .unwrap()
        .start();
        let tcp = TcpStream::connect(server.local_addr()).unwrap();
        let err = connector(&c).connect("localhost", tcp).unwrap_err();
        assert_eq!(err.failure(), HandshakeFailure::NotTls, "{err}");
        assert!(err.to_string().contains("does not speak TLS"), "{err}");
        server.stop(Duration::from_secs(1));
    });
}

#[test]
fn truncated_and_stalled_handshakes_end_and_others_are_served_meanwhile() {
    let c = tls_certs::make();
    mayfly::run(move || {
        let acc = acceptor(&c).handshake_timeout(Duration::from_millis(300));
        let server = echo_server(acc);
        let addr = server.local_addr();
        // A real ClientHello, cut short: capture one from a client talking to a listener
        // that records and never answers.
        let hello = capture_client_hello(&c);
        assert!(hello.len() > 100 && hello[0] == 22, "{hello:?}");

        // 1. Cut short, then closed: the server sees a close mid-handshake.
        let mut t = TcpStream::connect(addr).unwrap();
        t.sendall(&hello[..40]).unwrap();
        drop(t);
        wait_for("the closed count", || {
            failed(&server, HandshakeFailure::Closed) == 1
        });

        // 2. Cut short and stalled, and one that sends nothing: both time out, while a
        //    well-behaved client is served in the meantime (the stall parks one greenlet).
        let t0 = Instant::now();
        let mut stalled = TcpStream::connect(addr).unwrap();
        stalled.sendall(&hello[..40]).unwrap();
        let _silent = TcpStream::connect(addr).unwrap();
        let tcp = TcpStream::connect(addr).unwrap();
        let mut ok = connector(&c).connect("localhost", tcp).unwrap();
        ok.sendall(b"x").unwrap();
        assert_eq!(&ok.recv_exact(1).unwrap()[..], b"x");
        assert!(
            t0.elapsed() < Duration::from_millis(250),
            "{:?}",
            t0.elapsed()
        );
        wait_for("the timeout count", || {
            failed(&server, HandshakeFailure::Timeout) == 2
        });
        let waited = t0.elapsed();
        assert!(
            waited >= Duration::from_millis(290) && waited < Duration::from_secs(3),
            "{waited:?}"
        );
        assert_eq!(server.stats().timeouts, 2);
        server.stop(Duration::from_secs(1));
    });
}

/// The first flight of a mayfly client, as it reaches the server.
fn capture_client_hello(c: &tls_certs::Certs) -> Vec<u8> {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let conn = connector(c).handshake_timeout(Duration::from_millis(200));
    let client = mayfly::spawn(move || {
        let tcp = TcpStream::connect(addr).unwrap();
        let _ = conn.connect("localhost", tcp);
    });
    let (mut s, _) = l.accept().unwrap();
    s.settimeout(Some(Duration::from_secs(5)));
    let mut head = s.recv_exact(5).unwrap().to_vec();
    let len = u16::from_be_bytes([head[3], head[4]]) as usize;
    head.extend_from_slice(&s.recv_exact(len).unwrap());
    client.join(Some(Duration::from_secs(5)));
    head
}

#[test]
fn a_close_without_close_notify_is_a_truncation() {
    let c = tls_certs::make();
    mayfly::run(move || {
        let server = StreamServer::bind_tls("127.0.0.1:0", acceptor(&c), |mut tls, _| {
            tls.sendall(b"partial")?;
            // Cut the TCP connection under TLS: the drop's close_notify cannot go out.
            tls.get_ref().shutdown(std::net::Shutdown::Both)
        })
        .unwrap()
        .start();
        let tcp = TcpStream::connect(server.local_addr()).unwrap();
        let mut tls = connector(&c).connect("localhost", tcp).unwrap();
        assert_eq!(&tls.recv_exact(7).unwrap()[..], b"partial");
        let err = tls.recv(10).unwrap_err();
        assert!(Truncated::is(&err), "{err}");
        assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
        server.stop(Duration::from_secs(1));
    });
}

#[test]
fn read_timeouts_and_an_active_timeout_bound_tls_reads() {
    let c = tls_certs::make();
    mayfly::run(move || {
        let server = echo_server(acceptor(&c));
        let tcp = TcpStream::connect(server.local_addr()).unwrap();
        let mut tls = connector(&c).connect("localhost", tcp).unwrap();
        tls.set_read_timeout(Some(Duration::from_millis(100)));
        let t0 = Instant::now();
        let err = tls.recv(10).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{err}");
        assert!(
            t0.elapsed() >= Duration::from_millis(95),
            "{:?}",
            t0.elapsed()
        );
        // Still usable after a timeout, as a TcpStream is.
        tls.settimeout(None);
        tls.sendall(b"again").unwrap();
        assert_eq!(&tls.recv_exact(5).unwrap()[..], b"again");
        // An enclosing Timeout interrupts a read that has no socket timeout.
        let t0 = Instant::now();
        let r = mayfly::with_timeout(Duration::from_millis(100), || tls.recv(10));
        assert!(r.is_err(), "the Timeout fired");
        assert!(t0.elapsed() < Duration::from_secs(2));
        server.stop(Duration::from_secs(1));
    });
}

#[test]
fn handshakes_park_the_greenlet_not_the_worker() {
    let c = tls_certs::make();
    mayfly::run(move || {
        let server = echo_server(acceptor(&c));
        let addr: SocketAddr = server.local_addr();
        let ticks = Arc::new(AtomicU64::new(0));
        let t2 = ticks.clone();
        let ticker = mayfly::spawn(move || {
            for _ in 0..1000 {
                t2.fetch_add(1, Ordering::Relaxed);
                mayfly::sleep(Duration::from_millis(1));
            }
        });
        let clients: Vec<_> = (0..20)
            .map(|i| {
                let conn = connector(&c);
                mayfly::spawn(move || {
                    let tcp = TcpStream::connect(addr).unwrap();
                    let mut tls = conn.connect("localhost", tcp).unwrap();
                    tls.sendall(format!("{i:04}").as_bytes()).unwrap();
                    tls.recv_exact(4).unwrap().to_vec()
                })
            })
            .collect();
        for (i, g) in clients.into_iter().enumerate() {
            assert_eq!(g.get().unwrap(), format!("{i:04}").into_bytes());
        }
        assert!(
            ticks.load(Ordering::Relaxed) > 0,
            "the ticker ran during handshakes"
        );
        ticker.kill();
        assert_eq!(TlsHandshakeStats::of(&server.counters()).done, 20);
        server.stop(Duration::from_secs(1));
    });
}

fn have(cmd: &str) -> bool {
    let ok = Command::new(cmd)
        .arg(if cmd == "openssl" {
            "version"
        } else {
            "--version"
        })
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("SKIPPED: {cmd} is not installed");
    }
    ok
}

const PY_CLIENT: &str = r#"
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
ctx.set_alpn_protocols(["mayfly-echo"])
with socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=10) as raw:
    with ctx.wrap_socket(raw, server_hostname=sys.argv[3]) as s:
        s.sendall(b"hello from python")
        got = b""
        while len(got) < 17:
            got += s.recv(100)
        print(got.decode(), s.version(), s.selected_alpn_protocol())
"#;

fn python_client(ca: &std::path::Path, port: u16, name: &str) -> std::process::Output {
    Command::new("python3")
        .args(["-c", PY_CLIENT])
        .arg(ca)
        .arg(port.to_string())
        .arg(name)
        .output()
        .unwrap()
}

#[test]
fn python_ssl_client_talks_to_a_mayfly_tls_server() {
    if !have("python3") {
        return;
    }
    let c = tls_certs::make();
    let acc = AcceptorBuilder::from_pem_files(c.path("server.pem"), c.path("server.key"))
        .unwrap()
        .alpn(["mayfly-echo"])
        .build()
        .unwrap();
    // The server runs on the runtime's worker; this thread waits for Python.
    let server = echo_server(acc);
    let port = server.local_addr().port();
    let out = python_client(&c.path("ca.pem"), port, "localhost");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.trim(), "hello from python TLSv1.3 mayfly-echo");
    // Against the wrong CA Python refuses, and says why.
    let out = python_client(&c.path("other-ca.pem"), port, "localhost");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("CERTIFICATE_VERIFY_FAILED"), "{stderr}");
    server.stop(Duration::from_secs(1));
    let hs = TlsHandshakeStats::of(&server.counters());
    assert_eq!(hs.done, 1, "{hs:?}");
    assert_eq!(hs.failed_total(), 1, "{hs:?}");
}

#[test]
fn openssl_s_client_talks_to_a_mayfly_tls_server() {
    if !have("openssl") {
        return;
    }
    let c = tls_certs::make();
    let server = echo_server(
        TlsAcceptor::from_pem_files(c.path("server.pem"), c.path("server.key")).unwrap(),
    );
    let port = server.local_addr().port();
    let mut child = Command::new("openssl")
        .args(["s_client", "-quiet", "-no_ign_eof", "-verify_return_error"])
        .arg("-connect")
        .arg(format!("127.0.0.1:{port}"))
        .args(["-servername", "localhost", "-CAfile"])
        .arg(c.path("ca.pem"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"ping from openssl\n").unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    let until = Instant::now() + Duration::from_secs(10);
    while !got.ends_with(b"\n") && Instant::now() < until {
        match stdout.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    drop(stdin);
    let pid = child.id();
    let status = wait_child(&mut child, pid);
    assert_eq!(String::from_utf8_lossy(&got), "ping from openssl\n");
    assert!(status.is_some(), "s_client did not exit after stdin closed");
    server.stop(Duration::from_secs(1));
    assert_eq!(TlsHandshakeStats::of(&server.counters()).done, 1);
}

/// Waits up to 10 s for `child`, then kills it (by its own PID).
fn wait_child(child: &mut std::process::Child, _pid: u32) -> Option<std::process::ExitStatus> {
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

#[test]
fn a_tls_connection_greenlet_gets_tls_stack_size() {
    // TLS_STACK_SIZE less 32 KiB of locals (96 KiB with debug assertions, 32 KiB optimised),
    // on top of the handshake's frames: within TLS_STACK_SIZE (an overflow would end this
    // test process).
    const LOCALS: usize = mayfly::tls::TLS_STACK_SIZE - 32 * 1024;
    let c = tls_certs::make();
    mayfly::run(move || {
        let server = StreamServer::bind_tls("127.0.0.1:0", acceptor(&c), |mut tls, _| {
            let big = [1u8; LOCALS];
            let sum: u64 = std::hint::black_box(&big)
                .iter()
                .map(|&b| u64::from(b))
                .sum();
            tls.sendall(&sum.to_le_bytes())
        })
        .unwrap()
        .start();
        let tcp = TcpStream::connect(server.local_addr()).unwrap();
        let mut tls = connector(&c).connect("localhost", tcp).unwrap();
        let got = tls.recv_exact(8).unwrap();
        assert_eq!(
            u64::from_le_bytes(got[..].try_into().unwrap()),
            LOCALS as u64
        );
        server.stop(Duration::from_secs(1));
    });
}
