//! What every coroutine stream shares: the per-stream state ([`StreamState`]: timeouts, the
//! timeouts last applied to the fd, byte counters, the fast path's readiness bits), the one
//! timed-call loop ([`timed`]) that bounds each blocking call by the socket's timeout and the
//! greenlet's active `Timeout`, and the Python-socket reads (`recv`, `recv_exact`). The
//! `Read`/`Write` implementation every stream type gets is in `stream_io`.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::sweep;
use crate::worker_counter::WorkerCounter;

/// Byte totals that many sockets add to: a server's bytes in and out.
///
/// ```
/// use std::sync::Arc;
/// use mayfly::net::ByteCounters;
/// let c = Arc::new(ByteCounters::default());
/// c.add_read(3);
/// assert_eq!((c.read(), c.written()), (3, 0));
/// ```
///
/// Safe to add to from any thread; on may's worker thread an add is a plain store, not a
/// locked instruction (`worker_counter`).
#[derive(Debug, Default)]
pub struct ByteCounters {
    read: WorkerCounter,
    written: WorkerCounter,
}

impl ByteCounters {
    /// Bytes read so far.
    pub fn read(&self) -> u64 {
        self.read.get()
    }
    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written.get()
    }
    /// Counts `n` bytes read.
    #[inline]
    pub fn add_read(&self, n: u64) {
        self.read.add(n);
    }
    /// Counts `n` bytes written.
    #[inline]
    pub fn add_written(&self, n: u64) {
        self.written.add(n);
    }
}

/// What a coroutine stream keeps besides its may socket: per-direction timeouts, the
/// timeouts last applied to the fd, and the counters its bytes go to.
#[derive(Debug)]
pub(crate) struct StreamState {
    pub(super) read_timeout: Option<Duration>,
    pub(super) write_timeout: Option<Duration>,
    pub(super) applied_read: AppliedTimeout,
    pub(super) applied_write: AppliedTimeout,
    pub(super) counters: Option<std::sync::Arc<ByteCounters>>,
    /// The deadline word a server's sweep enforces the timeouts with (see [`sweep`]).
    pub(super) watch: Option<std::sync::Arc<sweep::Watch>>,
    /// The last fast-path read came back short: the receive queue is empty (see [`ready`]).
    pub(super) drained: bool,
    /// The fast path saw the peer close or reset: never `drained` again (see [`ready`]).
    pub(super) peer_closed: bool,
    /// Since may's own calls last cleared the readiness flag, the fast path has seen every
    /// bit of it (see [`ready`]).
    pub(super) flag_ours: bool,
}

impl StreamState {
    pub(crate) fn new() -> Self {
        StreamState {
            read_timeout: None,
            write_timeout: None,
            applied_read: AppliedTimeout::new(),
            applied_write: AppliedTimeout::new(),
            counters: None,
            watch: None,
            drained: false,
            peer_closed: false,
            // may's accept or connect may have cleared a close edge already.
            flag_ours: false,
        }
    }

    /// may's own socket calls clear the readiness flag: the fast path must not trust what it
    /// inferred from it (see [`ready`]).
    pub(crate) fn may_owns_flag(&mut self) {
        self.drained = false;
        self.flag_ours = false;
    }

    /// The same settings for another handle on the same socket (a fresh applied cache: the
    /// new fd has no timeouts set yet; its timeouts are timers, not swept).
    pub(crate) fn for_clone(&self) -> Self {
        StreamState {
            read_timeout: self.read_timeout,
            write_timeout: self.write_timeout,
            applied_read: AppliedTimeout::new(),
            applied_write: AppliedTimeout::new(),
            counters: self.counters.clone(),
            watch: None,
            drained: false,
            peer_closed: false,
            // A new fd with its own event data: nothing of its flag has been seen yet.
            flag_ours: false,
        }
    }
}

/// Runs one blocking socket operation under the socket's own timeout and the greenlet's
/// active `Timeout`, whichever ends first.
///
/// `op` receives the time limit to apply (None: none) and performs the call. may's I/O timers
/// can fire up to a millisecond early; an early expiry is retried with the time that is left.
/// A socket timeout too long for an `Instant` to hold (`1e19` seconds) means none.
pub(crate) fn timed<R>(
    sock_timeout: Option<Duration>,
    mut op: impl FnMut(Option<Duration>) -> io::Result<R>,
) -> io::Result<R> {
    let own_deadline = sock_timeout.and_then(|t| Instant::now().checked_add(t));
    loop {
        let deadline = crate::timeout::effective_deadline(own_deadline);
        let limit = deadline.map(|at| at.saturating_duration_since(Instant::now()));
        if limit == Some(Duration::ZERO) {
            crate::timeout::check_expired();
            return Err(timed_out());
        }
        // may's I/O timers tick in milliseconds: round up so a sub-millisecond remainder
        // neither spins nor is lost.
        let r = op(limit.map(ceil_ms));
        crate::worker::hop_to_worker();
        match r {
            Err(e) if limit.is_some() && is_timeout(&e) => {
                crate::timeout::check_expired();
                if own_deadline.is_some_and(|at| Instant::now() >= at) {
                    return Err(timed_out());
                }
                // Fired early: go round again with what is left.
            }
            other => return other,
        }
    }
}

/// The timeout last handed to may for one direction of a socket. may's `set_read_timeout`
/// is a `setsockopt` system call besides storing the value, so calling it before every read
/// would cost a syscall per read; this remembers what is in force and skips unchanged values.
#[derive(Debug)]
pub(crate) struct AppliedTimeout(AtomicU64);

impl AppliedTimeout {
    const UNKNOWN: u64 = u64::MAX;

    pub(crate) fn new() -> Self {
        AppliedTimeout(AtomicU64::new(Self::UNKNOWN))
    }

    /// Calls `set` only if `limit` differs from what was last applied.
    pub(crate) fn apply(
        &self,
        limit: Option<Duration>,
        set: impl FnOnce(Option<Duration>) -> io::Result<()>,
    ) -> io::Result<()> {
        // Limits reach here rounded to whole milliseconds: 0 = none, ms + 1 otherwise.
        let code = limit.map_or(0, |d| {
            (d.as_millis() as u64).saturating_add(1).min(u64::MAX - 1)
        });
        if self.0.load(Ordering::Relaxed) != code {
            set(limit)?;
            self.0.store(code, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// Python's `recv(n)` for any stream: at most `n` bytes; empty means the peer closed.
pub(crate) fn recv_bytes(r: &mut impl io::Read, n: usize) -> io::Result<bytes::Bytes> {
    let mut buf = bytes::BytesMut::zeroed(n);
    let got = r.read(&mut buf)?;
    buf.truncate(got);
    Ok(buf.freeze())
}

/// Exactly `n` bytes, or `UnexpectedEof` if the peer closes first.
pub(crate) fn recv_exact_bytes(r: &mut impl io::Read, n: usize) -> io::Result<bytes::Bytes> {
    let mut buf = bytes::BytesMut::zeroed(n);
    r.read_exact(&mut buf)?;
    Ok(buf.freeze())
}

fn ceil_ms(d: Duration) -> Duration {
    Duration::from_millis(d.as_nanos().div_ceil(1_000_000) as u64)
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    )
}

pub(crate) fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "socket operation timed out")
}
