//! Reads and writes that wait for readiness the way tokio does, instead of through may's
//! socket calls: the fast path of every coroutine stream.
//!
//! may's `TcpStream::read` first tries the read (a `recvfrom` that usually fails with
//! `EAGAIN` on a server waiting for its client), parks, and reads again after the wake-up:
//! three system calls per echo round trip with the write. It also arms one of may's I/O
//! timers for every parked call when the socket has a timeout. This module does what tokio
//! does instead:
//! - after a read shorter than the buffer, the socket's receive queue is known to be empty,
//!   so the next read waits for readiness (may's [`WaitIo`]) before it reads: one `read` and
//!   one `write` per round trip. Not after end of stream (a read of 0) or once the peer's
//!   close or reset was seen (`EPOLLRDHUP`, `EPOLLHUP`, `EPOLLERR`): those are final states
//!   whose one edge may have come with the last data, so reads then always try first, as
//!   tokio keeps "read closed" readiness set;
//! - a wake-up for the other direction only (may registers every socket for
//!   `EPOLLIN | EPOLLOUT`, edge-triggered, with one flag word) does not cost a read that
//!   fails: the flag bits say which direction woke it;
//! - timeouts are not timers: a stream whose timeouts a server manages carries a
//!   [`Watch`](super::sweep::Watch), a deadline word the server's sweep checks
//!   ([`super::sweep`]).
//!
//! Why the skipped read loses no data: may's event loop ORs every epoll event into the
//! socket's flag word and only [`WaitIo::wait_io`] clears it here. A read that came back short
//! left the receive queue empty; data that arrives afterwards raises a new edge (the wake-up
//! that led to the read had already taken the old one off epoll's ready list), which sets
//! the flag, and `wait_io` returns at once when the flag is set. Everything else that clears
//! the flag (may's own socket calls, a wait in the write direction) marks the stream "not
//! drained", so its next read tries first, as may does; after may's calls (which may have
//! cleared a close edge unseen) a short read does not count as draining until one of this
//! module's waits has seen the flag again.
//!
//! Kills: may's `wait_io` clears a pending cancel instead of unwinding. So after every wait
//! that parked, this module asks the greenlet's own record whether it was killed and, if so,
//! restores may's cancel state and unwinds exactly as may's socket calls would
//! ([`check_killed`]); a killed greenlet that is already unwinding gets a "Canceled" error
//! instead of parking. A wait that finds the flag already set does not park and leaves a
//! pending cancel to the next one that does.
//!
//! One case where a short read does not drain the socket: TCP urgent data (a read stops at
//! the urgent mark) and, on Unix sockets, a message carrying file descriptors or credentials.
//! The next read then waits for new data or the read timeout. tokio has the same caveat;
//! nothing in mayfly sends either.
//!
//! The fast path is taken only in a greenlet, with no [`crate::Timeout`] pending for it, and
//! when the stream's own timeouts are either unset or swept; everything else goes through
//! may's calls under [`super::stream::timed`], as before.

use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;

use std::sync::atomic::Ordering;

use may::io::{AsIoData, WaitIo};

use super::nocancel;
use super::stream::StreamState;
use super::sweep::Watch;

/// Epoll bits that let a read make progress (data, end of stream, error).
const READABLE: usize =
    (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as usize;
/// Epoll bits that never go away: the peer closed or reset. The edge that brought them may
/// have come together with the last data, so after seeing them a short read no longer
/// means that the next read would block (it returns 0 or the error at once).
const CLOSED: usize = (libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as usize;
/// Epoll bits that let a write make progress.
const WRITABLE: usize = (libc::EPOLLOUT | libc::EPOLLHUP | libc::EPOLLERR) as usize;

/// What the fast path needs from a may stream: its readiness flag and its raw socket.
pub(crate) trait RawStream: AsIoData {
    /// One nonblocking `recvfrom(2)` on the socket ([`nocancel::recv`]).
    fn raw_read(&self, buf: &mut [u8]) -> io::Result<usize>;
    /// One nonblocking `sendto(2)` on the socket ([`nocancel::send`]).
    fn raw_write(&self, buf: &[u8]) -> io::Result<usize>;
    /// One nonblocking `writev(2)` on the socket: every buffer in one call
    /// ([`nocancel::sendv`]).
    fn raw_write_vectored(&self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize>;
}

macro_rules! raw_stream {
    ($may:ty) => {
        impl RawStream for $may {
            fn raw_read(&self, buf: &mut [u8]) -> io::Result<usize> {
                nocancel::recv(self.inner().as_raw_fd(), buf)
            }
            fn raw_write(&self, buf: &[u8]) -> io::Result<usize> {
                nocancel::send(self.inner().as_raw_fd(), buf)
            }
            fn raw_write_vectored(&self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
                nocancel::sendv(self.inner().as_raw_fd(), bufs)
            }
        }
    };
}
raw_stream!(may::net::TcpStream);
raw_stream!(may::os::unix::net::UnixStream);

/// Whether this call may take the fast path (see the module docs).
#[inline]
pub(crate) fn usable(st: &StreamState) -> bool {
    (st.watch.as_deref().is_some_and(Watch::live)
        || (st.read_timeout.is_none() && st.write_timeout.is_none()))
        && may::coroutine::is_coroutine()
        && crate::timeout::effective_deadline(None).is_none()
}

/// One read, waiting for readiness first when the last read drained the socket.
///
/// # Errors
/// The read error; `TimedOut` when the swept read timeout passes first.
pub(crate) fn read<S: RawStream>(
    sock: &S,
    st: &mut StreamState,
    buf: &mut [u8],
) -> io::Result<usize> {
    if buf.is_empty() {
        return Ok(0);
    }
    let mut waited = Waited::new(st.watch.as_deref(), st.read_timeout);
    if st.drained {
        st.peer_closed |= waited.wait(sock, READABLE)? & CLOSED != 0;
        st.flag_ours = true;
    }
    loop {
        match read_once(sock, buf, &mut st.drained, st.flag_ours && !st.peer_closed) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                st.peer_closed |= waited.wait(sock, READABLE)? & CLOSED != 0;
                st.flag_ours = true;
            }
            r => return r,
        }
    }
}

/// One `read(2)`, retried if interrupted; sets `drained` when it shows the receive queue
/// empty: a short read when `trusted` (this module has seen every bit of the flag and no
/// close), or `WouldBlock`.
fn read_once<S: RawStream>(
    sock: &S,
    buf: &mut [u8],
    drained: &mut bool,
    trusted: bool,
) -> io::Result<usize> {
    loop {
        match sock.raw_read(buf) {
            Ok(n) => {
                *drained = n > 0 && n < buf.len() && trusted;
                return Ok(n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                *drained = true;
                return Err(e);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Parks until a read would not block, if the last read emptied the socket (otherwise returns
/// at once): for a caller that takes a buffer only once there is something to read into it
/// (a TLS stream's record buffer, which an idle connection then does not hold). Bounded by
/// the swept read timeout as [`read`] is; the read that follows tries at once.
///
/// # Errors
/// `TimedOut` when the swept read timeout passes first; "Canceled" as in [`read`].
pub(crate) fn wait_for_data<S: RawStream>(sock: &S, st: &mut StreamState) -> io::Result<()> {
    if st.drained {
        let mut waited = Waited::new(st.watch.as_deref(), st.read_timeout);
        st.peer_closed |= waited.wait(sock, READABLE)? & CLOSED != 0;
        st.flag_ours = true;
        st.drained = false;
    }
    Ok(())
}

/// One read that never parks: `WouldBlock` when the socket has nothing now, after which the
/// next [`wait_for_data`] waits for readiness (the queue was seen empty, so any data from
/// here on raises a new edge).
///
/// # Errors
/// The read error; `WouldBlock` as above.
pub(crate) fn read_nowait<S: RawStream>(
    sock: &S,
    st: &mut StreamState,
    buf: &mut [u8],
) -> io::Result<usize> {
    read_once(sock, buf, &mut st.drained, st.flag_ours && !st.peer_closed)
}

/// One write, waiting for readiness only when the socket's buffer is full.
///
/// # Errors
/// The write error; `TimedOut` when the swept write timeout passes first.
pub(crate) fn write<S: RawStream>(sock: &S, st: &mut StreamState, buf: &[u8]) -> io::Result<usize> {
    if buf.is_empty() {
        return Ok(0);
    }
    write_with(sock, st, || sock.raw_write(buf))
}

/// One `writev(2)` of every buffer, waiting for readiness only when the socket's buffer is
/// full: rustls hands its queued records over this way, a handshake flight in one call.
///
/// # Errors
/// The write error; `TimedOut` when the swept write timeout passes first.
pub(crate) fn write_vectored<S: RawStream>(
    sock: &S,
    st: &mut StreamState,
    bufs: &[io::IoSlice<'_>],
) -> io::Result<usize> {
    if bufs.iter().all(|b| b.is_empty()) {
        return Ok(0);
    }
    write_with(sock, st, || sock.raw_write_vectored(bufs))
}

/// One nonblocking call that moves bytes out of the socket (`op`: a `write(2)`, a
/// `sendfile(2)`), called again after waiting for writability while it fails with `EAGAIN`.
///
/// # Errors
/// `op`'s error; `TimedOut` when the swept write timeout passes first.
pub(crate) fn write_with<S: AsIoData>(
    sock: &S,
    st: &mut StreamState,
    mut op: impl FnMut() -> io::Result<usize>,
) -> io::Result<usize> {
    let mut waited = Waited::new(st.watch.as_deref(), st.write_timeout);
    loop {
        match op() {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                // The wait may consume read edges it does not look at (a close among them):
                // the next read must try first, and not trust a short read until it waited.
                st.drained = false;
                st.flag_ours = false;
                st.peer_closed |= waited.wait(sock, WRITABLE)? & CLOSED != 0;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Parks until `sock` is readable — for a listening socket, until a connection is queued
/// (or the listener is shut) — without a timeout. A kill unwinds as in [`read`].
///
/// # Errors
/// "Canceled" if the greenlet is already unwinding from a kill.
pub(crate) fn wait_readable<S: AsIoData>(sock: &S) -> io::Result<()> {
    Waited::new(None, None).wait(sock, READABLE).map(|_| ())
}

/// The waits of one read or write call: arms the swept deadline on the first park, disarms
/// it when the call ends however it ends.
struct Waited<'a> {
    watch: Option<&'a Watch>,
    timeout: Option<Duration>,
    armed: bool,
}

impl<'a> Waited<'a> {
    fn new(watch: Option<&'a Watch>, timeout: Option<Duration>) -> Self {
        Waited {
            watch,
            timeout,
            armed: false,
        }
    }

    /// Parks until one of `interest`'s bits comes (returns the bits seen), the swept deadline
    /// passes (`TimedOut`), or the greenlet is killed (unwinds; while already unwinding,
    /// returns a "Canceled" error at once, as may's calls do).
    fn wait<S: AsIoData>(&mut self, sock: &S, interest: usize) -> io::Result<usize> {
        if !self.armed {
            if let Some(w) = self.watch {
                w.arm(self.timeout);
            }
            self.armed = true;
        }
        loop {
            let io = sock.as_io_data();
            let events = if io.io_flag.load(Ordering::Acquire) != 0 {
                io.reset() // an event came since the flag was last cleared: no park
            } else {
                // A killed greenlet never parks again (its destructors may do I/O).
                check_killed()?;
                let events = sock.wait_io();
                crate::worker::hop_to_worker();
                // A kill wakes the greenlet like an event, and may's wait_io forgets it.
                check_killed()?;
                events
            };
            if events & interest != 0 {
                return Ok(events);
            }
            if self.watch.is_some_and(Watch::fired) {
                return Err(super::stream::timed_out());
            }
            if self.watch.is_some_and(Watch::take_release) {
                // Parked for the sweep's idle time: the frames below this one (a handshake's,
                // the last request's) are dead; give their pages back and wait on.
                crate::stack::release_unused();
            }
            // Woken by the other direction's readiness or by the sweep for nothing: wait again.
        }
    }
}

impl Drop for Waited<'_> {
    fn drop(&mut self) {
        if self.armed {
            if let Some(w) = self.watch {
                w.disarm();
            }
        }
    }
}

/// Before and after a park: if the greenlet was killed, unwind as may's own socket calls do
/// on a cancel; if it is already unwinding (a destructor doing I/O), fail at once with
/// "Canceled" as they do, instead of parking where no cancel can reach it any more. (One
/// atomic load while no greenlet in the process is being killed.)
#[inline]
fn check_killed() -> io::Result<()> {
    if !crate::context::current_killed() {
        return Ok(());
    }
    if std::thread::panicking() {
        return Err(io::Error::other("Canceled"));
    }
    // SAFETY: `cancel` on the running coroutine's own handle only sets its cancel bit (it is
    // not parked, so there is no parked I/O or coroutine to take and reschedule). That is the
    // state may's socket calls leave a cancelled coroutine in while it unwinds: its further
    // may calls in destructors return at once instead of parking, and this module's waits
    // return "Canceled" (above).
    unsafe { may::coroutine::current().cancel() };
    may::coroutine::trigger_cancel_panic();
}
