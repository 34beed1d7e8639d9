//! `sendfile(2)` on a coroutine TCP stream: a file's bytes go from the page cache to the
//! socket without passing through a buffer of ours, and the greenlet parks while the
//! socket's send buffer is full (gevent's `examples/geventsendfile.py`, which loops on
//! `sendfile` and calls `wait_write` on `EAGAIN`, built in).
//!
//! Two paths, chosen per call as a stream's `write` chooses (see [`super::ready`]):
//! - **the fast path** (in a greenlet, no [`crate::Timeout`] pending, the stream's timeouts
//!   unset or swept by its server): `sendfile(2)` until it fails with `EAGAIN`, then a wait
//!   for writability through the readiness machinery every write uses
//!   ([`ready::write_with`]: kills unwind, a swept write timeout returns `TimedOut`);
//! - **the timed path** (a socket timeout kept by timers, an active `Timeout`, or a plain OS
//!   thread): `sendfile(2)` while the buffer has room; when it is full, the next few bytes
//!   of the file ([`SENDFILE_PROBE_BYTES`] at most, read with `pread` into a buffer on the
//!   stack) go through the stream's own `write`, which waits under the write timeout and the
//!   `Timeout` exactly as a `write` does. So the wait costs one small copy, and the bytes
//!   sent are the file's either way.
//!
//! Bytes sent are counted in the stream's [`ByteCounters`](super::ByteCounters) as written.
//! The memory a transfer holds is the kernel's: no user buffer on the fast path, at most
//! [`SENDFILE_PROBE_BYTES`] on the stack while the timed path waits.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::FileExt;
use std::time::Instant;

use super::ready;
use super::stream::timed_out;
use super::tcp::TcpStream;

/// Most bytes one `sendfile(2)` call is asked to move (Linux moves at most this much per
/// call anyway: `MAX_RW_COUNT`).
const MAX_PER_CALL: usize = 0x7fff_f000;

/// The most file bytes the timed path copies (into a buffer on the stack) to wait for room in
/// the socket's send buffer (see the module docs): a few, so a greenlet parked there holds no
/// more memory than one parked in `write`. They join the data already queued in the full
/// buffer, so they never go out as a small segment of their own.
pub const SENDFILE_PROBE_BYTES: usize = 64;

impl TcpStream {
    /// Sends up to `len` bytes of `file`, starting at `offset`, with `sendfile(2)`; returns
    /// how many were sent (0: `offset` is at or past the end of the file, or `len` is 0).
    /// Like [`send`](TcpStream::send), it parks the greenlet while the socket's send buffer is
    /// full and returns once some bytes went; [`sendfile_all`](TcpStream::sendfile_all)
    /// sends them all. The file's own position is neither used nor moved.
    ///
    /// The socket's write timeout and the greenlet's active [`crate::Timeout`] bound the
    /// wait, as for a write; the bytes count in the stream's
    /// [`ByteCounters`](crate::net::ByteCounters). The file must be one `sendfile(2)` reads
    /// from: a regular file (or a block device), opened for reading.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use mayfly::net::{TcpListener, TcpStream};
    ///
    /// let path = std::env::temp_dir().join(format!("mayfly-sendfile-doc-{}", std::process::id()));
    /// std::fs::File::create(&path)?.write_all(b"hello, sendfile")?;
    /// let file = std::fs::File::open(&path)?;
    /// let got = mayfly::run(move || -> std::io::Result<Vec<u8>> {
    ///     let listener = TcpListener::bind("127.0.0.1:0")?;
    ///     let addr = listener.local_addr()?;
    ///     let server = mayfly::spawn(move || -> std::io::Result<()> {
    ///         let (mut conn, _) = listener.accept()?;
    ///         conn.sendfile_all(&file, 7, 8) // "sendfile"
    ///     });
    ///     let mut got = Vec::new();
    ///     TcpStream::connect(addr)?.read_to_end(&mut got)?;
    ///     server.into_result().unwrap()?;
    ///     Ok(got)
    /// })?;
    /// assert_eq!(got, b"sendfile");
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    /// The error of `sendfile(2)` (`EPIPE` or `ECONNRESET` once the peer is gone, `EINVAL`
    /// for a file it cannot read from, `EBADF` for one not open for reading);
    /// `InvalidInput` for an `offset` past what `off_t` holds; `TimedOut` after the socket's
    /// write timeout or when an enclosing [`crate::Timeout`] leaves no time (an expired
    /// `Timeout` unwinds to its `with_timeout`, as for every blocking call).
    pub fn sendfile(&mut self, file: &File, offset: u64, len: usize) -> io::Result<usize> {
        if len == 0 {
            return Ok(0);
        }
        let (sock, src) = (self.inner.as_raw_fd(), file.as_raw_fd());
        if ready::usable(&self.st) {
            let n = ready::write_with(&self.inner, &mut self.st, || {
                sendfile_once(sock, src, offset, len)
            })?;
            self.count_written(n);
            return Ok(n);
        }
        // The timed path: the deadlines first, as `timed` checks them before any call.
        if crate::timeout::effective_deadline(None).is_some_and(|at| at <= Instant::now()) {
            crate::timeout::check_expired();
            return Err(timed_out());
        }
        loop {
            match sendfile_once(sock, src, offset, len) {
                Ok(n) => {
                    self.count_written(n);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        // The send buffer is full: wait for room the way `write` does, by writing the next
        // few bytes of the file through it (counted there).
        let mut probe = [0u8; SENDFILE_PROBE_BYTES];
        let probe = &mut probe[..len.min(SENDFILE_PROBE_BYTES)];
        let got = loop {
            match file.read_at(probe, offset) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => break other?,
            }
        };
        if got == 0 {
            return Ok(0); // the file ends at `offset`
        }
        self.write(&probe[..got])
    }

    /// Sends exactly `len` bytes of `file` from `offset` (Python's `socket.sendfile`,
    /// gevent's `gevent_sendfile` loop): [`sendfile`](TcpStream::sendfile) until all went.
    ///
    /// # Errors
    /// As [`sendfile`](TcpStream::sendfile); `UnexpectedEof` if the file ends before `len`
    /// bytes were sent (some may have been). Either way the number sent before the error is
    /// lost, as with `write_all`; loop on [`sendfile`](TcpStream::sendfile) to keep it.
    pub fn sendfile_all(&mut self, file: &File, offset: u64, len: u64) -> io::Result<()> {
        let mut sent = 0u64;
        while sent < len {
            let at = offset.checked_add(sent).ok_or_else(too_far)?;
            let want = usize::try_from(len - sent).unwrap_or(usize::MAX);
            match self.sendfile(file, at, want) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("the file ended {sent} bytes into the {len} to send"),
                    ))
                }
                Ok(n) => sent += n as u64,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn count_written(&self, n: usize) {
        if let Some(c) = &self.st.counters {
            c.add_written(n as u64);
        }
    }
}

fn too_far() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "sendfile offset past the largest file offset",
    )
}

/// One nonblocking `sendfile(2)` of up to `len` bytes of `src` from `offset` to `sock`.
fn sendfile_once(sock: RawFd, src: RawFd, offset: u64, len: usize) -> io::Result<usize> {
    let mut off = libc::off_t::try_from(offset).map_err(|_| too_far())?;
    let count = len.min(MAX_PER_CALL);
    // SAFETY: sendfile reads no memory of ours and writes only `off`, a live local `off_t`
    // the pointer is derived from for the duration of the call. The two descriptors are
    // borrowed from a `&File` and from the stream the caller holds, so both stay open (and
    // are not reused for something else) until the call returns; were either not a valid
    // descriptor, the call would fail with EBADF, not touch memory. With an offset pointer
    // the file's own position is neither read nor moved.
    let n = unsafe { libc::sendfile(sock, src, &mut off, count) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}
