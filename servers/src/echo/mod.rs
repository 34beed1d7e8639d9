//! The course's uppercase echo server: read what arrives, answer it uppercased, until the
//! client closes. Five builds of the same handler, same bytes on the wire; their names and
//! facts (reference or not, compare's defaults, threads doing the work) are one table, the
//! build registry [`mayfly_proto::builds`]:
//!
//! | build | model | threads |
//! |---|---|---|
//! | [`Mode::Coroutine`] | mayfly `StreamServer`, one greenlet per connection | one worker (+ timers) |
//! | [`Mode::Threads`] | `std::net`, one OS thread per connection (`ThreadingTCPServer`) | one per connection |
//! | [`Mode::Epoll`] | a hand-written mio loop (the course's epoll IO model) | one |
//! | [`Mode::Tokio`] | reference: tokio's current-thread runtime, one task per connection | one |
//! | [`Mode::May`] | reference: raw may, one coroutine per connection, no mayfly layer | one worker |
//! | [`Mode::Blocking`] | the course's blocking IO: one client at a time (`blocking`) | one |
//! | [`Mode::Nonblocking`] | the course's non-blocking IO: a busy loop over `O_NONBLOCK` sockets (`nonblocking`) | one |
//! | [`Mode::Select`] | the course's `select` with read and write lists, fds below `FD_SETSIZE` (`select`) | one |
//! | [`Mode::EpollLt`], [`Mode::EpollEt`] | the course's epoll on raw `epoll_ctl`, level- and edge-triggered (`raw_epoll`) | one |
//!
//! The last five are the IO-models chapter (docs/IO_MODELS.md), written as the course
//! writes them, costs included; their loops share `ready_loop` (the non-blocking listener
//! and caps, the stop eventfd, the connection table and the uppercase-and-reply step).
//!
//! Tokio and may are what a Rust user would pick instead; `mayfly compare --builds …,tokio,may`
//! measures against them.
//!
//! With [`Options::tls`] the coroutine, threads and tokio builds serve the same echo over
//! TLS ([`TLS_BUILDS`]): `mayfly::tls`, rustls's blocking `StreamOwned`, tokio-rustls, all
//! on rustls with ring. The handshake runs in the connection's greenlet, thread or task,
//! bounded by the acceptor's handshake timeout, and is counted in the same gauges
//! (`tls_handshakes`, `tls_failed_<reason>`).
//!
//! Connection caps ([`Options::connection_cap`], [`Options::peer_cap`]): the coroutine,
//! threads and epoll builds stop accepting below the fd limit by default, and refuse one
//! peer's connections past its share, so one host cannot lock everyone else out. The
//! reference builds stay as a Rust user would write them: they apply only a cap given
//! explicitly (`max_connections`) and have no per-peer cap.
//!
//! Every build's [`start`] returns the runtime's [`Running`] handle, as the other servers do.
//!
//! ```
//! use std::io::{Read, Write};
//! use mayfly_servers::echo::{self, Mode, Options};
//!
//! for mode in [Mode::Coroutine, Mode::Threads, Mode::Epoll] {
//!     let server = echo::start(mode, &Options::new("127.0.0.1:0")).unwrap();
//!     let mut c = std::net::TcpStream::connect(server.local_addr()).unwrap();
//!     c.write_all(b"hello").unwrap();
//!     let mut got = [0u8; 5];
//!     c.read_exact(&mut got).unwrap();
//!     assert_eq!(&got, b"HELLO");
//!     drop(c);
//!     assert_eq!(server.stop(std::time::Duration::from_secs(1)), 0);
//! }
//! ```

mod blocking;
mod coroutine;
mod epoll;
mod nonblocking;
mod raw_epoll;
mod raw_may;
mod ready_loop;
mod select;
mod threads;
mod tokio_rt;

pub use select::{DEFAULT_SELECT_FDS, FD_SETSIZE, REFUSED_GAUGE as SELECT_REFUSED_GAUGE};

use std::io;
use std::time::Duration;

use mayfly::net::ByteCounters;
use mayfly::server::{default_max_connections, default_max_per_peer, Cap, Running, ServerStats};

/// Bytes read per `recv`, as in the course (`recv(1024)`). It lives on each greenlet's stack,
/// so it is also what a parked connection costs in touched stack pages.
pub const READ_BUF: usize = 1024;
/// Default for [`Options::max_pending`]: bytes the epoll build holds for a client that does
/// not read its replies before it stops reading from that client.
pub const DEFAULT_MAX_PENDING: usize = 256 * 1024;

/// Default address: the course's port, loopback.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";

/// Default [`Options::read_timeout`] (also the idle timeout: echo has no message boundary).
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(300);
/// Default [`Options::write_timeout`].
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(60);

/// Which build of the echo server: the protocol's build names, defined in
/// `mayfly_proto::echo` so the clients that start a build by name share them.
pub use mayfly_proto::echo::Mode;

/// Server options shared by every build.
#[derive(Debug, Clone)]
pub struct Options {
    /// Address to listen on (port 0: any free port).
    pub addr: String,
    /// Listen backlog.
    pub backlog: i32,
    /// Stop accepting while this many connections are open. [`Cap::Default`]: the fd limit
    /// less a reserve ([`mayfly::server::default_max_connections`]). See
    /// [`connection_cap`](Options::connection_cap).
    pub max_connections: Cap,
    /// Close a peer's new connections at once while it holds this many. [`Cap::Default`]:
    /// [`mayfly::server::DEFAULT_PEER_SHARE_PERCENT`] of the connection cap. See
    /// [`peer_cap`](Options::peer_cap).
    pub max_per_peer: Cap,
    /// Stack size of each connection's thread (threads build).
    pub thread_stack: usize,
    /// Bytes of unsent replies held per connection before reading from it pauses (epoll).
    pub max_pending: usize,
    /// A connection that sends nothing for this long is closed (idle and slowloris clients).
    pub read_timeout: Option<Duration>,
    /// A connection whose replies cannot be written for this long (it does not read) is
    /// closed.
    pub write_timeout: Option<Duration>,
    /// Set SO_REUSEPORT so several processes share the port (`mayfly serve --workers N`).
    pub reuse_port: bool,
    /// select build: watch only fds below this (at most [`FD_SETSIZE`]); a connection on an
    /// fd at or past it is closed at once and counted (the `select_refused` gauge).
    pub select_fds: usize,
    /// Serve TLS with this configuration (the coroutine, threads and tokio builds; the others
    /// refuse to start with it: [`TLS_BUILDS`]). `None`: plaintext.
    pub tls: Option<mayfly::tls::TlsAcceptor>,
}

/// The builds that serve TLS: the coroutine build on `mayfly::tls`, the threads build on
/// rustls's blocking `StreamOwned`, the tokio build on tokio-rustls (all rustls with ring).
pub const TLS_BUILDS: [Mode; 3] = [Mode::Coroutine, Mode::Threads, Mode::Tokio];

impl Options {
    /// Defaults for `addr`.
    pub fn new(addr: impl Into<String>) -> Self {
        Options {
            addr: addr.into(),
            backlog: crate::DEFAULT_BACKLOG,
            max_connections: Cap::Default,
            max_per_peer: Cap::Default,
            thread_stack: 64 * 1024,
            max_pending: DEFAULT_MAX_PENDING,
            read_timeout: Some(DEFAULT_READ_TIMEOUT),
            write_timeout: Some(DEFAULT_WRITE_TIMEOUT),
            reuse_port: false,
            select_fds: DEFAULT_SELECT_FDS,
            tls: None,
        }
    }
}

impl Options {
    /// The overall cap the coroutine, threads and epoll builds apply (`None`: no cap). Read
    /// it after raising the fd limit: the default is derived from it.
    ///
    /// ```
    /// let mut o = mayfly_servers::echo::Options::new("127.0.0.1:0");
    /// assert!(o.connection_cap().is_some());
    /// o.max_connections = mayfly::server::Cap::Unlimited;
    /// assert_eq!(o.connection_cap(), None);
    /// assert_eq!(o.peer_cap(), None);
    /// ```
    pub fn connection_cap(&self) -> Option<u64> {
        self.max_connections
            .limit(|| Some(default_max_connections(1)))
    }

    /// The per-peer cap the coroutine, threads and epoll builds apply (`None`: no cap).
    pub fn peer_cap(&self) -> Option<u64> {
        self.max_per_peer
            .limit(|| self.connection_cap().map(default_max_per_peer))
    }

    /// The cap of the reference builds: only one given explicitly.
    pub(crate) fn explicit_cap(&self) -> Option<u64> {
        self.max_connections.explicit()
    }
}

/// Binds and starts the chosen build: one arm per build of the registry, so a new [`Mode`]
/// variant does not compile until it has one. Every build keeps the same counters
/// ([`Running::counters`]); a second [`Running::stop`] waits for the first and returns 0.
///
/// # Errors
/// Binding the address, or starting the build's thread or runtime, failed.
pub fn start(mode: Mode, opts: &Options) -> io::Result<Box<dyn Running>> {
    if opts.tls.is_some() && !TLS_BUILDS.contains(&mode) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "the {mode} echo build does not serve TLS (these do: coroutine, threads, tokio)"
            ),
        ));
    }
    match mode {
        Mode::Coroutine => coroutine::start(opts),
        Mode::Threads => threads::start(opts),
        Mode::Epoll => epoll::start(opts),
        Mode::Tokio => tokio_rt::start(opts),
        Mode::May => raw_may::start(opts),
        Mode::Blocking => blocking::start(opts),
        Mode::Nonblocking => nonblocking::start(opts),
        Mode::Select => select::start(opts),
        Mode::EpollLt => raw_epoll::start(opts, raw_epoll::Trigger::Level),
        Mode::EpollEt => raw_epoll::start(opts, raw_epoll::Trigger::Edge),
        Mode::HttpCoroutine | Mode::HttpThreads | Mode::HttpTokio => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("HTTP build {mode} serves no echo: `mayfly serve http --mode {mode}`"),
        )),
    }
}

/// The course's communication loop, for any blocking stream (the coroutine and threads
/// builds): recv → uppercase → sendall, until the client closes. Each reply counts as one
/// request in `stats`, timed from its read to its reply written (`request_done`).
pub fn echo_until_closed<S: std::io::Read + std::io::Write>(
    conn: &mut S,
    stats: &ServerStats,
) -> io::Result<()> {
    let mut buf = [0u8; READ_BUF];
    loop {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        let read_at = mayfly::server::RequestStart::now();
        uppercase(&mut buf[..n]);
        conn.write_all(&buf[..n])?;
        stats.requests(1);
        stats.request_done(read_at);
    }
}

/// A blocking stream that adds its bytes to a server's counters (the builds whose sockets
/// are not mayfly's, which count on their own).
pub(crate) struct Counted<'a, S> {
    inner: S,
    bytes: &'a ByteCounters,
}

impl<'a, S> Counted<'a, S> {
    pub(crate) fn new(inner: S, bytes: &'a ByteCounters) -> Self {
        Counted { inner, bytes }
    }

    /// The stream underneath.
    pub(crate) fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: std::io::Read> std::io::Read for Counted<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes.add_read(n as u64);
        Ok(n)
    }
}

impl<S: std::io::Write> std::io::Write for Counted<'_, S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes.add_written(n as u64);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The handler's one piece of logic, shared by all builds: ASCII-uppercase in place.
#[inline]
pub fn uppercase(buf: &mut [u8]) {
    buf.make_ascii_uppercase();
}

/// A listening socket as every build binds it: SO_REUSEADDR, SO_REUSEPORT only if
/// [`Options::reuse_port`], the backlog.
pub(crate) fn bind_std(opts: &Options) -> io::Result<std::net::TcpListener> {
    crate::listen::bind_std(&opts.addr, opts.backlog, opts.reuse_port)
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use mayfly_proto::builds::Serves;

    use super::*;

    #[test]
    fn every_build_stops_once_and_a_second_stop_is_harmless() {
        for mode in Serves::Echo.builds() {
            let server = start(mode, &Options::new("127.0.0.1:0")).unwrap();
            let mut c = std::net::TcpStream::connect(server.local_addr()).unwrap();
            c.write_all(b"x").unwrap();
            let mut b = [0u8; 1];
            c.read_exact(&mut b).unwrap();
            // The client stays open past the grace period: the first stop closes it.
            assert_eq!(server.stop(Duration::from_millis(50)), 1, "{mode}");
            assert_eq!(server.stop(Duration::from_millis(50)), 0, "{mode}");
            assert_eq!(server.stats().killed, 1, "{mode}");
        }
    }
}
