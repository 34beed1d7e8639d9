//! gevent's `examples/geventsendfile.py`, ported: a file sent with `sendfile(2)` from
//! greenlets, the page cache straight to the socket.
//!
//! gevent's example wraps `sendfile` in a loop: on a non-blocking socket the call fails with
//! `EAGAIN` once the send buffer is full, and the loop calls `gevent.socket.wait_write(fd)`,
//! which switches to the hub until the socket is writable, then goes on from the offset
//! reached. mayfly's [`TcpStream::sendfile`](mayfly::net::TcpStream::sendfile) is that
//! loop's body (it parks the greenlet on `EAGAIN`), and
//! [`sendfile_all`](mayfly::net::TcpStream::sendfile_all) the loop.
//!
//! Here a server sends one 16 MiB file to three clients at once, one of which reads slowly:
//! each gets every byte, and the fast two are not held up by the slow one. The one open
//! `File` is shared by every connection: `sendfile` reads at an offset of its own and never
//! moves the file's position.
//!
//! ```sh
//! cargo run --example geventsendfile
//! ```

use std::fs::File;
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mayfly::net::TcpStream;
use mayfly::server::StreamServer;

const FILE_SIZE: usize = 16 << 20;

/// gevent's `gevent_sendfile(out_fd, in_fd, offset, count)`: returns `(offset + sent, sent)`.
fn gevent_sendfile(
    out: &mut TcpStream,
    file: &File,
    offset: u64,
    count: u64,
) -> std::io::Result<(u64, u64)> {
    let mut total_sent = 0;
    while total_sent < count {
        // EAGAIN never reaches us: the greenlet parks until the socket is writable
        // (gevent's wait_write) and the call goes on.
        let want = usize::try_from(count - total_sent).unwrap_or(usize::MAX);
        let sent = out.sendfile(file, offset + total_sent, want)?;
        if sent == 0 {
            break; // the file ended
        }
        total_sent += sent as u64;
    }
    Ok((offset + total_sent, total_sent))
}

/// Downloads everything the server sends; a slow client sleeps after every 64 KiB.
fn download(addr: std::net::SocketAddr, slow: bool) -> (Vec<u8>, Duration) {
    let t = Instant::now();
    let mut conn = TcpStream::connect(addr).unwrap();
    let mut got = Vec::with_capacity(FILE_SIZE);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = conn.read(&mut buf).unwrap();
        if n == 0 {
            return (got, t.elapsed());
        }
        got.extend_from_slice(&buf[..n]);
        if slow {
            mayfly::sleep(Duration::from_millis(2));
        }
    }
}

/// Runs the example; panics if a client did not get the file or the slow one held up the
/// others (the test in `tests/examples.rs` runs it).
pub fn main() {
    let data: Vec<u8> = (0..FILE_SIZE as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let path = std::env::temp_dir().join(format!("mayfly-geventsendfile-{}", std::process::id()));
    File::create(&path).unwrap().write_all(&data).unwrap();
    let file = Arc::new(File::open(&path).unwrap());
    std::fs::remove_file(&path).unwrap(); // the open handle keeps the bytes

    let data = Arc::new(data);
    mayfly::run(move || {
        let len = file.metadata().unwrap().len();
        let server = StreamServer::bind("127.0.0.1:0", move |mut conn, peer| {
            let (offset, sent) = gevent_sendfile(&mut conn, &file, 0, len)?;
            println!("server: sent {sent} bytes to {peer} (offset now {offset})");
            Ok(())
        })
        .unwrap()
        .start();
        let addr = server.local_addr();
        let clients: Vec<_> = [("slow", true), ("fast 1", false), ("fast 2", false)]
            .into_iter()
            .map(|(name, slow)| {
                let data = data.clone();
                mayfly::spawn(move || {
                    let (got, took) = download(addr, slow);
                    assert!(got == *data, "{name}: {} bytes, not the file", got.len());
                    println!("client {name}: the whole file in {took:.1?}");
                    took
                })
            })
            .collect();
        let took: Vec<Duration> = clients.into_iter().map(|g| g.get().unwrap()).collect();
        assert!(
            took[1] < took[0] && took[2] < took[0],
            "the fast clients waited for the slow one: {took:?}"
        );
        println!("every client got all {len} bytes; the slow one held up nobody");
        server.stop(Duration::from_secs(1));
    });
}
