//! The connection table of a readiness loop ([`Table`], keyed by fd as the course's
//! `fd_to_socket` dict is) and the one step every loop runs on a connection it is told is
//! ready ([`Conn::read_and_reply`]): read what is there (once, or until `EAGAIN` for an
//! edge-triggered loop), answer it uppercased, keep what could not be written.
//!
//! A connection's unsent replies are bounded by [`Options::max_pending`]: past it, a loop
//! stops asking to read from it until it drains, so a client that sends and never reads
//! costs bounded memory. [`Table::sweep`] closes a connection idle past
//! [`Options::read_timeout`] or whose replies made no progress for
//! [`Options::write_timeout`].

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use mayfly::server::{PeerSlot, ServerStats};

use super::fd_io::FdIo;
use crate::echo::{uppercase, Options, READ_BUF};

/// Longest gap between two timeout sweeps.
pub(crate) const SWEEP_MAX: Duration = Duration::from_millis(250);

/// How many reads one readiness report gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reads {
    /// One `recv(1024)`, as the course's loops do: a level-triggered wait reports the rest
    /// again.
    Once,
    /// Until `EAGAIN`: an edge-triggered wait reports new bytes only once, so what is left
    /// unread would wait for the client's next message.
    UntilWouldBlock,
}

/// One client.
pub(crate) struct Conn {
    stream: TcpStream,
    /// Replies not written yet.
    pending: Vec<u8>,
    /// The client closed its side (read returned 0).
    eof: bool,
    /// The events it is registered for (the epoll builds' bookkeeping, 0 elsewhere).
    pub(crate) interest: u32,
    /// Last time bytes arrived (or the connection opened).
    last_read: Instant,
    /// Last time replies moved out (or the backlog became non-empty).
    last_write: Instant,
    /// Its peer's slot under the per-peer cap, freed when the connection goes.
    _slot: Option<PeerSlot>,
}

impl Conn {
    pub(crate) fn new(stream: TcpStream, slot: Option<PeerSlot>) -> Conn {
        let now = Instant::now();
        Conn {
            stream,
            pending: Vec::new(),
            eof: false,
            interest: 0,
            last_read: now,
            last_write: now,
            _slot: slot,
        }
    }

    /// Its socket's fd.
    pub(crate) fn fd(&self) -> RawFd {
        self.stream.as_raw_fd()
    }

    /// Whether the loop should wait for it to be readable: the client has not closed and
    /// its unsent replies are under `max_pending`.
    pub(crate) fn wants_read(&self, max_pending: usize) -> bool {
        !self.eof && self.pending.len() < max_pending
    }

    /// Whether the loop should wait for it to be writable: replies are pending.
    pub(crate) fn wants_write(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Nothing more to do: the client closed and every reply is written.
    pub(crate) fn done(&self) -> bool {
        self.eof && self.pending.is_empty()
    }

    /// The course's step: `recv(1024)` → uppercase → send, `reads` times; a reply the
    /// socket does not take at once is kept and [`flush`](Conn::flush)ed later. `buf` is
    /// the loop's one read buffer ([`READ_BUF`] bytes).
    ///
    /// # Errors
    /// The socket failed (reset, …): the loop closes the connection.
    pub(crate) fn read_and_reply(
        &mut self,
        buf: &mut [u8],
        reads: Reads,
        max_pending: usize,
        stats: &ServerStats,
    ) -> io::Result<()> {
        let len = READ_BUF.min(buf.len());
        let buf = &mut buf[..len];
        while self.wants_read(max_pending) {
            let n = match FdIo(&self.stream).read(buf) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break, // BlockingIOError
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let bytes = stats.bytes();
            bytes.add_read(n as u64);
            stats.requests(1);
            self.last_read = Instant::now();
            uppercase(&mut buf[..n]);
            if self.pending.is_empty() {
                self.last_write = self.last_read;
                match FdIo(&self.stream).write(&buf[..n]) {
                    Ok(w) => {
                        bytes.add_written(w as u64);
                        self.pending.extend_from_slice(&buf[w..n]);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        self.pending.extend_from_slice(&buf[..n]);
                    }
                    Err(e) => return Err(e),
                }
            } else {
                self.pending.extend_from_slice(&buf[..n]);
            }
            if reads == Reads::Once {
                break;
            }
        }
        Ok(())
    }

    /// Writes what it can of the pending replies.
    ///
    /// # Errors
    /// The socket failed: the loop closes the connection.
    pub(crate) fn flush(&mut self, stats: &ServerStats) -> io::Result<()> {
        let had = self.pending.len();
        while !self.pending.is_empty() {
            match FdIo(&self.stream).write(&self.pending) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        if self.pending.len() < had {
            stats.bytes().add_written((had - self.pending.len()) as u64);
            self.last_write = Instant::now();
        }
        Ok(())
    }

    /// Idle past the read timeout, or its replies stuck past the write timeout.
    fn expired(&self, now: Instant, opts: &Options) -> bool {
        let idle =
            self.pending.is_empty() && opts.read_timeout.is_some_and(|t| now - self.last_read >= t);
        let stuck = !self.pending.is_empty()
            && opts
                .write_timeout
                .is_some_and(|t| now - self.last_write >= t);
        idle || stuck
    }
}

/// The open connections by fd, and when the next timeout sweep is due.
pub(crate) struct Table {
    conns: HashMap<RawFd, Conn>,
    sweep_every: Option<Duration>,
    next_sweep: Option<Instant>,
}

impl Table {
    /// An empty table that sweeps for `opts`' timeouts (never, if it has none).
    pub(crate) fn new(opts: &Options) -> Table {
        let sweep_every = [opts.read_timeout, opts.write_timeout]
            .into_iter()
            .flatten()
            .min()
            .map(|t| (t / 4).clamp(Duration::from_millis(10), SWEEP_MAX));
        Table {
            conns: HashMap::new(),
            sweep_every,
            next_sweep: sweep_every.map(|d| Instant::now() + d),
        }
    }

    /// Open connections.
    pub(crate) fn len(&self) -> usize {
        self.conns.len()
    }

    /// True with no connection open.
    pub(crate) fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// Adds a connection under its fd.
    pub(crate) fn insert(&mut self, conn: Conn) {
        self.conns.insert(conn.fd(), conn);
    }

    /// The connection on `fd`.
    pub(crate) fn get_mut(&mut self, fd: RawFd) -> Option<&mut Conn> {
        self.conns.get_mut(&fd)
    }

    /// Every connection, by fd.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&RawFd, &Conn)> {
        self.conns.iter()
    }

    /// Every connection's fd (to walk the table while closing some).
    pub(crate) fn fds(&self) -> Vec<RawFd> {
        self.conns.keys().copied().collect()
    }

    /// Removes and closes `fd`'s connection, counting how it ended: a client that closed
    /// with every reply written ended cleanly, anything else with `error`.
    pub(crate) fn close(&mut self, fd: RawFd, error: Option<io::Error>, stats: &ServerStats) {
        if let Some(c) = self.conns.remove(&fd) {
            let outcome = match error {
                None if c.done() => Ok(()),
                None => Err(io::ErrorKind::UnexpectedEof.into()),
                Some(e) => Err(e),
            };
            stats.conn_closed(&outcome);
        }
    }

    /// How long a loop may wait before the next sweep is due (`None`: no timeouts).
    pub(crate) fn until_sweep(&self) -> Option<Duration> {
        self.next_sweep
            .map(|t| t.saturating_duration_since(Instant::now()))
    }

    /// If a sweep is due, closes every connection idle past the read timeout or stuck past
    /// the write timeout, calling `forget` with each fd before it is closed (epoll
    /// unregisters it).
    pub(crate) fn sweep(
        &mut self,
        opts: &Options,
        stats: &ServerStats,
        mut forget: impl FnMut(RawFd),
    ) {
        let now = Instant::now();
        let (Some(at), Some(every)) = (self.next_sweep, self.sweep_every) else {
            return;
        };
        if now < at {
            return;
        }
        self.next_sweep = Some(now + every);
        let dead: Vec<RawFd> = self
            .conns
            .iter()
            .filter(|(_, c)| c.expired(now, opts))
            .map(|(fd, _)| *fd)
            .collect();
        for fd in dead {
            forget(fd);
            self.close(fd, Some(io::ErrorKind::TimedOut.into()), stats);
        }
    }

    /// Closes every connection still open (the grace period is over) and returns how many,
    /// also counted as killed.
    pub(crate) fn kill_all(&mut self, stats: &ServerStats) -> u64 {
        let n = self.conns.len() as u64;
        for fd in self.fds() {
            self.close(fd, Some(io::Error::other("killed at stop")), stats);
        }
        stats.killed(n);
        n
    }
}
