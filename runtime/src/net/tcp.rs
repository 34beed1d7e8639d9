//! TCP: a listener that accepts coroutine streams, and the stream itself.

use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, RawFd};
use std::time::Duration;

use bytes::Bytes;

use super::bind::Bind;
use super::stream::{timed, StreamState};

/// A TCP listening socket whose `accept` parks only the calling greenlet.
///
/// ```
/// let listener = mayfly::net::TcpListener::bind("127.0.0.1:0").unwrap();
/// assert_ne!(listener.local_addr().unwrap().port(), 0);
/// ```
#[derive(Debug)]
pub struct TcpListener {
    inner: may::net::TcpListener,
}

impl TcpListener {
    /// Binds with SO_REUSEADDR, no SO_REUSEPORT, backlog 1024. See [`Bind`] for options.
    ///
    /// # Errors
    /// As [`Bind::tcp`](crate::net::Bind::tcp).
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        Bind::new(addr).tcp()
    }

    /// Takes over a listening std socket.
    pub fn from_std(l: std::net::TcpListener) -> TcpListener {
        crate::start::ensure_started();
        let _ = l.set_nonblocking(true);
        // SAFETY: `into_raw_fd` hands over ownership of an open listening socket; may's
        // listener now owns (and will close) it.
        let inner = unsafe { may::net::TcpListener::from_raw_fd(l.into_raw_fd()) };
        TcpListener { inner }
    }

    /// Waits for a connection. Parks the greenlet; [`crate::Greenlet::kill`] interrupts it.
    ///
    /// Errors such as `EMFILE` (out of file descriptors) return at once without parking: a
    /// loop around `accept` must back off (as [`crate::server::StreamServer`] does).
    ///
    /// # Errors
    /// The error of `accept(2)`. EMFILE and its kind fail at once without yielding: a loop
    /// must back off ([`crate::server::AcceptBackoff`]).
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let r = self.inner.accept();
        crate::worker::hop_to_worker();
        let (s, a) = r?;
        Ok((TcpStream::from_may(s), a))
    }

    /// Like [`accept`](TcpListener::accept), for a server's accept loop: a connection the
    /// peer reset while it waited in the listen queue (an RST flood: connect, then close
    /// with `SO_LINGER {1, 0}`) comes back as [`Accepted::Reset`], closed, instead of as a
    /// stream whose first read fails. Each connection is taken with a plain `accept4` and its
    /// pending error (`SO_ERROR`) read before the stream is made, so a reset one never costs
    /// may's epoll registration, nor a greenlet; while the queue is empty it parks on the
    /// listener's readiness (a kill interrupts it, as it does `accept`).
    pub(crate) fn accept_checked(&self) -> io::Result<Accepted> {
        let listening = socket2::SockRef::from(self.inner.inner());
        loop {
            // The listener is non-blocking (bound by `Bind` or taken over by `from_std`):
            // this never parks.
            match listening.accept() {
                Ok((sock, addr)) => {
                    let peer = addr.as_socket().ok_or_else(|| {
                        io::Error::new(io::ErrorKind::InvalidData, "accept: not an IP peer")
                    })?;
                    if is_reset(sock.take_error()) {
                        return Ok(Accepted::Reset);
                    }
                    // SAFETY: `into_raw_fd` hands over ownership of the open connected
                    // socket accept4 just returned; may's stream now owns (and will close) it.
                    let s = unsafe { may::net::TcpStream::from_raw_fd(sock.into_raw_fd()) };
                    return Ok(Accepted::Open(TcpStream::from_may(s), peer));
                }
                // Nothing queued: wait for the next edge. One that came since the last wait is
                // already in the listener's flag word, so the wait returns at once.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    super::ready::wait_readable(&self.inner)?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The address bound (read the port back after binding port 0).
    ///
    /// # Errors
    /// The OS error of the underlying call.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// Stops listening at once, without closing the descriptor: new connections are refused
    /// and a greenlet blocked in [`accept`](TcpListener::accept) wakes with an error. Never
    /// blocks (a server stops this way from a greenlet that is being killed).
    pub(crate) fn stop_listening(&self) {
        // On Linux, shutdown(SHUT_RD) of a listening socket moves it out of LISTEN (pending
        // connections are reset, new ones refused) and wakes its pollers. The error (say,
        // ENOTCONN elsewhere) changes nothing: the caller closes the socket soon after.
        let _ = socket2::SockRef::from(self.inner.inner()).shutdown(Shutdown::Read);
    }

    /// Another handle to the same listening socket.
    ///
    /// # Errors
    /// The OS error of the underlying call.
    pub fn try_clone(&self) -> io::Result<TcpListener> {
        Ok(TcpListener {
            inner: self.inner.try_clone()?,
        })
    }
}

/// What [`TcpListener::accept_checked`] took off the listen queue.
#[derive(Debug)]
pub(crate) enum Accepted {
    /// A connection to serve, and its peer.
    Open(TcpStream, SocketAddr),
    /// A connection its peer had already reset (now closed).
    Reset,
}

/// Whether a socket's pending error (`SO_ERROR`, read and cleared) says the peer reset it.
fn is_reset(pending: io::Result<Option<io::Error>>) -> bool {
    matches!(pending, Ok(Some(e)) if matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted | io::ErrorKind::BrokenPipe
    ))
}

impl AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

/// A TCP connection whose reads and writes park only the calling greenlet.
///
/// ```no_run
/// use mayfly::net::TcpStream;
/// let mut s = TcpStream::connect("127.0.0.1:5000")?;
/// s.settimeout(Some(std::time::Duration::from_secs(5)));
/// s.sendall(b"Thread-1 say hello 0")?;
/// let reply = s.recv_exact(20)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct TcpStream {
    pub(super) inner: may::net::TcpStream,
    pub(super) st: StreamState,
}

impl TcpStream {
    pub(crate) fn from_may(inner: may::net::TcpStream) -> Self {
        TcpStream {
            inner,
            st: StreamState::new(),
        }
    }

    /// Connects, honouring the greenlet's active `Timeout`.
    ///
    /// A numeric address (`"127.0.0.1:80"`, a [`SocketAddr`]) is used as is; a name
    /// (`"localhost:80"`) is resolved on the thread pool, never on the worker (see
    /// [`ConnectAddr`](super::resolve::ConnectAddr)), and an enclosing [`crate::Timeout`] bounds the
    /// lookup too. Each resolved address is tried in turn.
    ///
    /// ```
    /// use mayfly::net::{TcpListener, TcpStream};
    /// mayfly::run(|| {
    ///     let l = TcpListener::bind("127.0.0.1:0").unwrap();
    ///     let port = l.local_addr().unwrap().port();
    ///     let by_name = TcpStream::connect(format!("localhost:{port}"));
    ///     assert!(by_name.is_ok());
    /// });
    /// ```
    ///
    /// # Errors
    /// The resolution error, or the connect error of the last address tried; `TimedOut` when
    /// an enclosing [`crate::Timeout`] expires first.
    pub fn connect(addr: impl super::resolve::ConnectAddr) -> io::Result<TcpStream> {
        crate::start::ensure_started();
        let mut last = io::Error::new(io::ErrorKind::InvalidInput, "no address to connect to");
        for a in super::resolve::resolve(&addr)? {
            let r = match crate::timeout::remaining() {
                None => may::net::TcpStream::connect(a),
                Some(_) => timed(None, |limit| Self::connect_may(&a, limit)),
            };
            match r {
                Ok(s) => return Ok(Self::from_may(s)),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Connects, giving up with `ErrorKind::TimedOut` after `timeout` (gevent's
    /// `create_connection(address, timeout)`). `addr` is anything [`connect`](Self::connect)
    /// takes: a name is resolved on the thread pool within the same `timeout`, and every
    /// address it gives is tried in turn with the time that is left.
    ///
    /// ```
    /// use std::time::Duration;
    /// mayfly::run(|| {
    ///     let l = mayfly::net::TcpListener::bind("127.0.0.1:0").unwrap();
    ///     let port = l.local_addr().unwrap().port();
    ///     let c = mayfly::net::TcpStream::connect_timeout(("localhost", port), Duration::from_secs(5));
    ///     assert!(c.is_ok());
    /// });
    /// ```
    ///
    /// # Errors
    /// The lookup or connect error (the last address's), or `TimedOut` after `timeout`.
    pub fn connect_timeout(
        addr: impl super::resolve::ConnectAddr,
        timeout: Duration,
    ) -> io::Result<TcpStream> {
        crate::start::ensure_started();
        let deadline = crate::timeout::deadline_after(timeout);
        let addrs = match addr.numeric() {
            Some(addrs) => addrs,
            None => crate::timeout::with_deadline(deadline, || super::resolve::resolve(&addr))
                .map_err(io::Error::from)??,
        };
        let mut last = io::Error::new(io::ErrorKind::InvalidInput, "no address to connect to");
        for a in addrs {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out"));
            }
            match timed(Some(left), |limit| Self::connect_may(&a, limit)) {
                Ok(s) => return Ok(Self::from_may(s)),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn connect_may(addr: &SocketAddr, limit: Option<Duration>) -> io::Result<may::net::TcpStream> {
        match limit {
            Some(t) => may::net::TcpStream::connect_timeout(addr, t.max(Duration::from_millis(1))),
            None => may::net::TcpStream::connect(addr),
        }
    }

    /// Reads at most `n` bytes; an empty result means the peer closed its side.
    ///
    /// # Errors
    /// The read error; `TimedOut` after the socket's read timeout or when an enclosing
    /// [`crate::Timeout`] leaves no time.
    pub fn recv(&mut self, n: usize) -> io::Result<Bytes> {
        super::stream::recv_bytes(self, n)
    }

    /// Reads exactly `n` bytes (TCP is a stream: one send may arrive in many pieces).
    /// Fails with `ErrorKind::UnexpectedEof` if the peer closes first.
    ///
    /// # Errors
    /// The read error; `TimedOut` after the socket's read timeout or when an enclosing
    /// [`crate::Timeout`] leaves no time.
    /// `UnexpectedEof` if the peer closes before `n` bytes came.
    pub fn recv_exact(&mut self, n: usize) -> io::Result<Bytes> {
        super::stream::recv_exact_bytes(self, n)
    }

    /// Writes some of `data`; returns how much was written.
    ///
    /// # Errors
    /// The write error; `TimedOut` after the socket's write timeout or when an enclosing
    /// [`crate::Timeout`] leaves no time.
    pub fn send(&mut self, data: &[u8]) -> io::Result<usize> {
        self.write(data)
    }

    /// Writes all of `data` (Python's `sendall`).
    ///
    /// # Errors
    /// The write error; `TimedOut` after the socket's write timeout or when an enclosing
    /// [`crate::Timeout`] leaves no time.
    pub fn sendall(&mut self, data: &[u8]) -> io::Result<()> {
        self.write_all(data)
    }

    /// Sets TCP_NODELAY (disables Nagle's algorithm, which merges small writes).
    ///
    /// # Errors
    /// The OS error of the underlying call.
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.inner.set_nodelay(on)
    }

    /// Shuts down the read side, the write side or both.
    ///
    /// # Errors
    /// The OS error of the underlying call.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.shutdown(how)
    }

    /// The remote address.
    ///
    /// # Errors
    /// The OS error of the underlying call.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }

    /// The local address.
    ///
    /// # Errors
    /// The OS error of the underlying call.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// Another handle to the same connection (for a reader and a writer greenlet).
    ///
    /// # Errors
    /// The OS error of the underlying call.
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        Ok(TcpStream {
            inner: self.inner.try_clone()?,
            st: self.st.for_clone(),
        })
    }

    /// Sets SO_LINGER (`Some(ZERO)` makes close send a reset).
    ///
    /// # Errors
    /// The OS error of the underlying call.
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        socket2::SockRef::from(self.inner.inner()).set_linger(linger)
    }
}

super::stream_io::timed_stream_io!(TcpStream);

impl AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

impl Bind {
    /// Binds and listens: a coroutine [`TcpListener`].
    ///
    /// # Errors
    /// The resolution error, or the last socket/bind/listen error when no address binds
    /// (`AddrInUse` for a port in use).
    ///
    /// # Panics
    /// If the runtime was not started and cannot start (see [`crate::hub::ensure_started`]).
    pub fn tcp(&self) -> io::Result<TcpListener> {
        Ok(TcpListener::from_std(self.std_tcp()?))
    }
}
