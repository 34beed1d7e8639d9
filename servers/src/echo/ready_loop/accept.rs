//! [`Acceptor`]: the listening side of a readiness loop — a non-blocking listener bound as
//! every build binds it, the caps the production builds apply (stop accepting at
//! [`Options::connection_cap`], close a peer's connection past [`Options::peer_cap`]), and
//! accept errors that must not spin the loop (EMFILE pauses accepting for
//! [`ACCEPT_PAUSE`]).

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mayfly::server::{accept_error_is_transient, PeerLimit, ServerStats};

use super::conns::Conn;
use crate::echo::Options;

/// How long accepting pauses after an accept error that is not transient (EMFILE, ENFILE).
pub(crate) const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// What one [`Acceptor::accept`] got.
pub(crate) enum Accepted {
    /// A new connection, non-blocking, counted as opened.
    Conn(Conn),
    /// Nothing waiting (`EAGAIN`), accepting is paused, or the listener is closed.
    Nothing,
    /// A connection was accepted and closed at once (over its peer's cap): try again.
    Refused,
}

/// The listener and its admission rules.
pub(crate) struct Acceptor {
    listener: Option<TcpListener>,
    name: &'static str,
    cap: Option<u64>,
    peers: Option<Arc<PeerLimit>>,
    paused_until: Option<Instant>,
}

impl Acceptor {
    /// Binds `opts.addr` (non-blocking); `name` prefixes its log lines.
    ///
    /// # Errors
    /// Binding failed.
    pub(crate) fn bind(opts: &Options, name: &'static str) -> io::Result<(Acceptor, SocketAddr)> {
        let listener = crate::echo::bind_std(opts)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let acceptor = Acceptor {
            listener: Some(listener),
            name,
            cap: opts.connection_cap(),
            peers: opts.peer_cap().map(|n| Arc::new(PeerLimit::new(n))),
            paused_until: None,
        };
        Ok((acceptor, addr))
    }

    /// The listener's fd, while it is open.
    pub(crate) fn fd(&self) -> Option<RawFd> {
        self.listener.as_ref().map(AsRawFd::as_raw_fd)
    }

    /// Whether a loop with `open` connections should accept now: listening, under the
    /// connection cap, not paused after an error.
    pub(crate) fn wants(&mut self, open: usize) -> bool {
        if self.paused_until.is_some_and(|t| Instant::now() >= t) {
            self.paused_until = None;
        }
        self.listener.is_some()
            && self.paused_until.is_none()
            && self.cap.is_none_or(|m| (open as u64) < m)
    }

    /// When a pause after an accept error ends, if accepting is paused.
    pub(crate) fn paused_until(&self) -> Option<Instant> {
        self.paused_until
    }

    /// Accepts one connection (`accept4(2)`; the new socket is made non-blocking, as
    /// Python's `conn.setblocking(False)`).
    pub(crate) fn accept(&mut self, stats: &ServerStats) -> Accepted {
        let Some(l) = &self.listener else {
            return Accepted::Nothing;
        };
        match l.accept() {
            Ok((stream, peer)) => {
                let slot = match &self.peers {
                    Some(p) => match p.admit(peer.ip()) {
                        Some(slot) => Some(slot),
                        None => return Accepted::Refused, // over its peer's cap: closed here
                    },
                    None => None,
                };
                if let Err(e) = stream.set_nonblocking(true) {
                    stats.accept_error();
                    log::error!("{}: cannot make a connection non-blocking: {e}", self.name);
                    return Accepted::Refused;
                }
                stats.conn_opened();
                Accepted::Conn(Conn::new(stream, slot))
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Accepted::Nothing,
            Err(e) if accept_error_is_transient(&e) => {
                stats.accept_error();
                Accepted::Refused
            }
            Err(e) => {
                stats.accept_error();
                log::error!(
                    "{}: accept failed: {e}; pausing accept for {ACCEPT_PAUSE:?}",
                    self.name
                );
                self.paused_until = Some(Instant::now() + ACCEPT_PAUSE);
                Accepted::Nothing
            }
        }
    }

    /// Closes the listener: the kernel stops completing handshakes (new clients are refused).
    pub(crate) fn close(&mut self) {
        self.listener = None;
    }
}
