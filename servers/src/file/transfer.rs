//! How a `get` body leaves the server: the one function that sends a file's bytes to a
//! client ([`send_file`]), under the minimum rate, holding a bounded amount of memory whatever
//! the path.
//!
//! - **sendfile** (a plain TCP stream): `sendfile(2)` moves the bytes from the page cache to
//!   the socket; the connection holds no buffer of its own (a client that never reads costs
//!   the kernel's socket buffer, not ours). Before: 256 KiB read into a buffer per
//!   connection, which stayed resident for as long as the client did not read.
//! - **buffered** ([`send_buffered`]: a file `sendfile(2)` cannot read, or a stream that is
//!   not a plain socket, such as TLS): [`BUFFERED_CHUNK`] bytes at a time, read at an offset
//!   on the thread pool (`mayfly::fs`), then written.
//!
//! Each write's timeout ends with the rate guard's window, as for uploads, so a client that
//! stops reading is cut off on time.

use std::io;
use std::time::Instant;

use crate::conn::Conn;

use super::rate::RateGuard;

/// The buffer a buffered transfer holds per connection (the sendfile path holds none).
pub const BUFFERED_CHUNK: usize = 16 * 1024;

/// Sends `len` bytes of `file` from `offset` to `conn` under the rate guard `g`: sendfile
/// on a plain connection, the buffered path over TLS (every byte must be encrypted) or when
/// the file is one `sendfile(2)` cannot read.
///
/// # Errors
/// The write error; `TimedOut` when the client falls under the minimum rate or stalls past
/// the I/O timeout; `UnexpectedEof` when the file shrank under the transfer.
pub(crate) fn send_file(
    conn: &mut Conn,
    file: &mayfly::fs::File,
    offset: u64,
    len: u64,
    g: &mut RateGuard,
) -> io::Result<()> {
    let Some(tcp) = conn.plain() else {
        return send_buffered(conn, file, offset, len, g);
    };
    let mut sent = 0u64;
    while sent < len {
        tcp.set_write_timeout(g.timeout(Instant::now()));
        let want = usize::try_from(len - sent).unwrap_or(usize::MAX);
        let r = tcp.sendfile(file.as_std(), offset + sent, want);
        let now = Instant::now();
        match r {
            Ok(0) => return Err(shrank()),
            Ok(n) => {
                sent += n as u64;
                g.progress(n, now)?;
            }
            Err(e) if is_timeout(&e) => g.timed_out(now)?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // A file system whose files sendfile cannot read: the same bytes, buffered.
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) => {
                return send_buffered(conn, file, offset + sent, len - sent, g);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// [`send_file`] through a buffer of [`BUFFERED_CHUNK`] bytes: each piece read at its offset
/// on the thread pool, then written under the rate guard.
///
/// # Errors
/// As [`send_file`]; a read error of the file.
pub(crate) fn send_buffered(
    conn: &mut Conn,
    file: &mayfly::fs::File,
    offset: u64,
    len: u64,
    g: &mut RateGuard,
) -> io::Result<()> {
    let mut buf = vec![0u8; BUFFERED_CHUNK.min(usize::try_from(len).unwrap_or(usize::MAX))];
    let mut sent = 0u64;
    while sent < len {
        let want = (buf.len() as u64).min(len - sent) as usize;
        let n = file.read_at(&mut buf[..want], offset + sent)?;
        if n == 0 {
            return Err(shrank());
        }
        let mut data = &buf[..n];
        while !data.is_empty() {
            conn.set_write_timeout(g.timeout(Instant::now()));
            let r = conn.send(data);
            let now = Instant::now();
            match r {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(k) => {
                    data = &data[k..];
                    g.progress(k, now)?;
                }
                Err(e) if is_timeout(&e) => g.timed_out(now)?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        sent += n as u64;
    }
    Ok(())
}

/// The file is shorter than the length promised in the reply header: the connection must
/// close (the client would wait for bytes that never come).
fn shrank() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank while being sent")
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use mayfly::net::TcpStream;
    use std::io::{Read, Write};
    use std::time::Duration;

    fn guard() -> RateGuard {
        RateGuard::new(
            0,
            Duration::from_secs(20),
            Duration::from_secs(10),
            Instant::now(),
        )
    }

    /// Sends `data[offset..offset + len]` with `send` over loopback; returns what arrived and
    /// the result.
    fn over_loopback(
        data: &[u8],
        offset: u64,
        len: u64,
        send: fn(&mut Conn, &mayfly::fs::File, u64, u64, &mut RateGuard) -> io::Result<()>,
    ) -> (Vec<u8>, io::Result<()>) {
        let path = std::env::temp_dir().join(format!(
            "mayfly-transfer-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::File::create(&path)
            .unwrap()
            .write_all(data)
            .unwrap();
        let file = std::fs::File::open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        mayfly::run(move || {
            let l = mayfly::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let mut client = TcpStream::connect(l.local_addr().unwrap()).unwrap();
            let (conn, _) = l.accept().unwrap();
            let mut conn = Conn::Plain(conn);
            let sender = mayfly::spawn(move || {
                let r = send(
                    &mut conn,
                    &mayfly::fs::File::from_std(file),
                    offset,
                    len,
                    &mut guard(),
                );
                drop(conn);
                r
            });
            let mut got = Vec::new();
            client.read_to_end(&mut got).unwrap();
            (got, sender.into_result().unwrap())
        })
    }

    #[test]
    fn both_paths_send_the_range_and_a_short_file_is_an_error() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        for send in [send_file, send_buffered] {
            let (got, r) = over_loopback(&data, 1234, 200_000, send);
            r.unwrap();
            assert!(got == data[1234..201_234]);
            let (got, r) = over_loopback(&data, 290_000, 20_000, send);
            assert_eq!(r.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
            assert!(got == data[290_000..]);
        }
    }
}
