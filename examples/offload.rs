//! A blocking call offloaded without freezing the echo server. A greenlet needs a 500 ms
//! blocking call (think `std::fs` on a slow disk, DNS, a subprocess). Run on the worker it
//! freezes every client; run on `mayfly::threadpool` nobody notices.
//!
//! ```sh
//! cargo run --release --example offload
//! ```

use std::time::{Duration, Instant};

use std::io::{Read, Write};
use std::sync::Arc;

use mayfly::event::AsyncResult;
use mayfly::server::StreamServer;

/// Pings the server from a plain OS thread (outside the worker, like a real client) for
/// 700 ms while `during` runs in a greenlet; returns the slowest round trip seen.
fn worst_echo_latency(
    addr: std::net::SocketAddr,
    during: impl FnOnce() + Send + 'static,
) -> Duration {
    let worst = Arc::new(AsyncResult::new());
    let w = worst.clone();
    std::thread::spawn(move || {
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        let mut reply = [0u8; 4];
        let mut most = Duration::ZERO;
        let t = Instant::now();
        while t.elapsed() < Duration::from_millis(700) {
            let s = Instant::now();
            c.write_all(b"ping").unwrap();
            c.read_exact(&mut reply).unwrap();
            most = most.max(s.elapsed());
            std::thread::sleep(Duration::from_millis(5));
        }
        w.set(most);
    });
    mayfly::sleep(Duration::from_millis(50));
    mayfly::spawn(during).join(None);
    worst.get(None).unwrap()
}

fn main() {
    mayfly::run(|| {
        let server = StreamServer::bind("127.0.0.1:0", |mut c, _| loop {
            let d = c.recv(64)?;
            if d.is_empty() {
                return Ok(());
            }
            c.sendall(&d.to_ascii_uppercase())?;
        })
        .unwrap()
        .start();
        let addr = server.local_addr();
        let blocked = worst_echo_latency(addr, || std::thread::sleep(Duration::from_millis(500)));
        let offloaded = worst_echo_latency(addr, || {
            mayfly::threadpool::apply(|| std::thread::sleep(Duration::from_millis(500))).unwrap()
        });
        println!("worst echo round trip while a greenlet blocks the worker: {blocked:.0?}");
        println!("worst echo round trip while the call runs on the thread pool: {offloaded:.1?}");
        assert!(offloaded * 5 < blocked);
        server.stop(Duration::from_secs(1));
    });
}
