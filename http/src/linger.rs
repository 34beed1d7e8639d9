//! Lingering close: after a refusal the client may still be sending (the body of a 413, the
//! rest of a pipeline), and closing a socket with unread input sends a reset that can
//! destroy the refusal before the client reads it. So the write side is shut first, and
//! what still comes is read and dropped for a short while.

use std::io::Read;
use std::net::Shutdown;
use std::time::Instant;

use mayfly::net::TcpStream;

use crate::options::LINGER_TIME;

/// At most this much is read and dropped.
const LINGER_BYTES: usize = 256 * 1024;

/// Shuts the write side of `stream`, then reads and drops input until the client closes,
/// [`LINGER_TIME`] passes or [`LINGER_BYTES`] came.
pub(crate) fn linger(stream: &mut TcpStream) {
    if stream.shutdown(Shutdown::Write).is_err() {
        return;
    }
    let until = Instant::now() + LINGER_TIME;
    let mut buf = [0u8; 4096];
    let mut dropped = 0;
    while dropped < LINGER_BYTES {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        stream.set_read_timeout(Some(left));
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => dropped += n,
        }
    }
}
