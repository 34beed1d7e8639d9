//! Lingering close: after its last answer the client may still be sending (the body of a
//! 413, the rest of a pipeline), and closing a socket with unread input sends a reset that
//! can destroy the answers before the client reads them. So the write side is shut first,
//! and what still comes is read and dropped for a short while
//! ([`Options::linger`](crate::Options::linger)).

use std::time::{Duration, Instant};

use crate::stream::ConnStream;

/// At most this much is read and dropped (the time bound is the main one; this bounds the
/// work a client sending at full speed can cause).
const LINGER_BYTES: usize = 4 * 1024 * 1024;

/// Shuts the write side of `stream`, then reads and drops input until the client closes,
/// `linger` passes or [`LINGER_BYTES`] came. `linger` zero: returns at once (the caller
/// closes).
pub(crate) fn linger(stream: &mut impl ConnStream, linger: Duration) {
    if linger.is_zero() || stream.shutdown_write().is_err() {
        return;
    }
    let until = Instant::now() + linger;
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
