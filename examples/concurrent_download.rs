//! gevent's `examples/concurrent_download.py`, ported: several URLs fetched at once, one
//! greenlet each, `joinall` with a timeout.
//!
//! gevent's script spawns `urlopen(url).read()` for three public URLs and prints each body's
//! size. Here the URLs are a local HTTP server's that the example starts itself (each path
//! answers after its own delay), fetched with a few lines of HTTP/1.0 over
//! [`mayfly::net::TcpStream`] (there is no monkey-patched urllib): the three downloads take
//! about as long as the slowest one, not the sum.
//!
//! ```sh
//! cargo run --example concurrent_download
//! ```

use std::io::Read;
use std::time::{Duration, Instant};

use mayfly::net::{LineReader, TcpStream};
use mayfly::server::StreamServer;
use mayfly::{joinall, spawn, JoinAll};

const DELAY: Duration = Duration::from_millis(200);

/// The local server: `GET /<kib>` answers `<kib>` KiB after [`DELAY`].
fn serve_one(conn: TcpStream, _: std::net::SocketAddr) -> std::io::Result<()> {
    let mut reader = LineReader::new(conn);
    let request = reader.readline()?;
    while !matches!(&reader.readline()?[..], b"\r\n" | b"\n" | b"") {}
    let request = String::from_utf8_lossy(&request).into_owned();
    let kib: usize = request
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.trim_start_matches('/').parse().ok())
        .unwrap_or(0);
    mayfly::sleep(DELAY);
    let body = vec![b'x'; kib * 1024];
    let conn = reader.get_mut();
    conn.sendall(format!("HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes())?;
    conn.sendall(&body)
}

/// `urlopen(url).read()` for `http://host:port/path` (HTTP/1.0: the body ends at the close).
fn fetch(url: &str) -> std::io::Result<Vec<u8>> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| std::io::Error::other(format!("not an http:// URL: {url}")))?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut conn = TcpStream::connect(host)?;
    conn.sendall(format!("GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n").as_bytes())?;
    let mut response = Vec::new();
    conn.read_to_end(&mut response)?;
    let at = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no end of headers"))?;
    Ok(response.split_off(at + 4))
}

pub fn main() {
    mayfly::run(|| {
        let server = StreamServer::bind("127.0.0.1:0", serve_one)
            .unwrap()
            .start();
        let base = format!("http://{}", server.local_addr());
        let urls = [
            format!("{base}/64"),
            format!("{base}/128"),
            format!("{base}/16"),
        ];
        let start = Instant::now();
        let jobs: Vec<_> = urls
            .iter()
            .cloned()
            .map(|url| {
                spawn(move || {
                    println!("Starting {url}");
                    let data = fetch(&url).unwrap();
                    println!("{url}: {} bytes", data.len());
                    data.len()
                })
            })
            .collect();
        let done = joinall(&jobs, JoinAll::default().timeout(Duration::from_secs(10))).unwrap();
        let took = start.elapsed();
        assert_eq!(done.len(), 3, "not every download finished in time");
        let sizes: Vec<usize> = jobs.iter().map(|j| j.get().unwrap()).collect();
        assert_eq!(sizes, [64 * 1024, 128 * 1024, 16 * 1024]);
        println!("3 downloads in {took:.2?} (each waits {DELAY:?})");
        assert!(took < DELAY * 3, "{took:?}: one after another");
        server.stop(Duration::from_secs(5));
    });
}
