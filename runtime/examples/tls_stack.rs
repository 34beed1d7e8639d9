//! How much greenlet stack a TLS handshake (and an echo over it) needs: each side in a
//! greenlet whose stack may tracks exactly (an odd size in words: may prints the words used
//! when the greenlet ends), the other side on an OS thread, a plain TCP echo as the baseline.
//!
//! ```text
//! cargo run -p mayfly --example tls_stack                       # the workspace's dev profile
//! cargo run -p mayfly --example tls_stack --release
//! cargo run -p mayfly --example tls_stack \
//!     --config 'profile.dev.package."*".opt-level=0' \
//!     --config 'profile.dev.package.mayfly.opt-level=0'         # a user's plain debug build
//! ```
//!
//! It runs itself once per case as a child (may prints on the child's stdout) and prints
//! one line per case: the bytes of stack used and the share of the default 64 KiB stack.

use std::io::{Read, Write};
use std::process::Command;
use std::time::Duration;

use mayfly::net::{TcpListener, TcpStream};
use mayfly::tls::{TlsAcceptor, TlsConnector};

/// An odd number of words: may fills the stack with a pattern and reports what was touched.
const TRACKED_WORDS: usize = 128 * 1024 + 1;
/// `tcp-server`: a plain echo (the baseline); the others a TLS handshake and an echo, server
/// side, client side, and server side asking for a client certificate.
const CASES: [&str; 4] = ["tcp-server", "tls-server", "tls-client", "tls-server-mtls"];

fn pair(mtls: bool) -> (TlsAcceptor, TlsConnector) {
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca, rcgen::KeyPair::generate().unwrap()).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let ckey = rcgen::KeyPair::generate().unwrap();
    let client = rcgen::CertificateParams::new(Vec::<String>::new())
        .unwrap()
        .signed_by(&ckey, &ca)
        .unwrap();
    let mut acc = mayfly::tls::AcceptorBuilder::from_pem(
        leaf.pem().as_bytes(),
        key.serialize_pem().as_bytes(),
    )
    .unwrap();
    let mut conn = mayfly::tls::ConnectorBuilder::new()
        .ca_pem(ca.pem().as_bytes())
        .unwrap();
    if mtls {
        acc = acc.client_ca_pem(ca.pem().as_bytes()).unwrap();
        conn = conn
            .client_cert_pem(client.pem().as_bytes(), ckey.serialize_pem().as_bytes())
            .unwrap();
    }
    (acc.build().unwrap(), conn.build().unwrap())
}

fn tracked<F: FnOnce() + Send + 'static>(f: F) -> mayfly::Greenlet<()> {
    mayfly::Builder::new()
        .name("measured")
        .stack_size(TRACKED_WORDS * std::mem::size_of::<usize>())
        .spawn(f)
        .unwrap()
}

/// Reads four bytes and sends them back.
fn echo(mut s: impl Read + Write) {
    let mut b = [0u8; 4];
    s.read_exact(&mut b).unwrap();
    s.write_all(&b).unwrap();
}

/// Sends four bytes and reads them back.
fn ping(mut s: impl Read + Write) {
    s.write_all(b"ping").unwrap();
    let mut b = [0u8; 4];
    s.read_exact(&mut b).unwrap();
}

fn child(case: &str) {
    let (acc, conn) = pair(case.ends_with("mtls"));
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let tls = case.starts_with("tls");
    // The peer runs on an OS thread (mayfly's calls block a plain thread), so only the
    // measured greenlet's stack is tracked.
    let (peer, measured): (std::thread::JoinHandle<()>, Box<dyn FnOnce() + Send>) =
        if case.contains("server") {
            let peer = std::thread::spawn(move || {
                let tcp = TcpStream::connect(addr).unwrap();
                if tls {
                    ping(conn.connect("localhost", tcp).unwrap());
                } else {
                    ping(tcp);
                }
            });
            let measured = move || {
                let (tcp, _) = l.accept().unwrap();
                if tls {
                    echo(acc.accept(tcp).unwrap());
                } else {
                    echo(tcp);
                }
            };
            (peer, Box::new(measured))
        } else {
            let peer = std::thread::spawn(move || {
                let (tcp, _) = l.accept().unwrap();
                echo(acc.accept(tcp).unwrap());
            });
            let measured = move || {
                let tcp = TcpStream::connect(addr).unwrap();
                ping(conn.connect("localhost", tcp).unwrap());
            };
            (peer, Box::new(measured))
        };
    mayfly::run(move || {
        tracked(measured).join(None);
        // may reports the stack when it recycles the finished coroutine, on the worker.
        mayfly::sleep(Duration::from_millis(50));
    });
    peer.join().unwrap();
}

fn main() {
    if let Ok(case) = std::env::var("MAYFLY_TLS_STACK_CASE") {
        child(&case);
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let default = mayfly::hub::DEFAULT_STACK_SIZE;
    println!("stack used by one greenlet (bytes; default stack {default} bytes)");
    for case in CASES {
        let out = Command::new(&exe)
            .env("MAYFLY_TLS_STACK_CASE", case)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let words = text
            .lines()
            .find_map(|l| l.split("used size = ").nth(1))
            .and_then(|w| w.trim().parse::<usize>().ok());
        match words {
            Some(w) => {
                let bytes = w * std::mem::size_of::<usize>();
                println!(
                    "{case:<16} {bytes:>7} bytes  ({:.0}% of the default)",
                    100.0 * bytes as f64 / default as f64
                );
            }
            None => println!(
                "{case:<16} no report ({text} {})",
                String::from_utf8_lossy(&out.stderr)
            ),
        }
    }
}
