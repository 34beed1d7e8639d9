//! A web-fetch style fan-out: ten "pages" served by a local server with different delays,
//! fetched through a pool of 5 with `imap_unordered` — results arrive fastest first, and the
//! whole takes about the slowest pages' time, not the sum.
//!
//! ```sh
//! cargo run --example fanout
//! ```

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use mayfly::net::TcpStream;
use mayfly::server::StreamServer;

fn main() -> std::io::Result<()> {
    mayfly::run(|| {
        // The "web": replies to `GET <ms>` after <ms> milliseconds.
        let web = StreamServer::bind("127.0.0.1:0", |mut c, _| {
            let req = c.recv(64)?;
            let ms: u64 = String::from_utf8_lossy(&req[4..])
                .trim()
                .parse()
                .unwrap_or(0);
            mayfly::sleep(Duration::from_millis(ms));
            c.sendall(format!("page that took {ms} ms").as_bytes())
        })?
        .start();
        let addr = web.local_addr();
        let fetch = move |ms: u64| -> std::io::Result<String> {
            let mut c = TcpStream::connect(addr)?;
            c.write_all(format!("GET {ms}").as_bytes())?;
            let mut page = String::new();
            c.read_to_string(&mut page)?;
            Ok(page)
        };
        let t = Instant::now();
        let delays = [300, 50, 200, 10, 120, 80, 250, 30, 150, 60];
        let pool = mayfly::pool::Pool::new(5);
        for page in pool.imap_unordered(fetch, delays) {
            println!(
                "{:>6.0?}  {}",
                t.elapsed(),
                page.expect("no greenlet failed")?
            );
        }
        let took = t.elapsed();
        println!(
            "fetched {} pages in {took:.0?} (sum of delays: {} ms)",
            delays.len(),
            delays.iter().sum::<u64>()
        );
        web.stop(Duration::from_secs(1));
        Ok(())
    })
}
