//! UDP: datagrams never "stick" — one `send_to` is one `recv_from`.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use bytes::{Bytes, BytesMut};

use super::bind::Bind;
use super::stream::{timed, AppliedTimeout};

/// A UDP socket whose receives park only the calling greenlet.
///
/// ```
/// use mayfly::net::UdpSocket;
/// let a = UdpSocket::bind("127.0.0.1:0").unwrap();
/// let b = UdpSocket::bind("127.0.0.1:0").unwrap();
/// b.send_to(b"ping", a.local_addr().unwrap()).unwrap();
/// let (data, from) = a.recvfrom(1500).unwrap();
/// assert_eq!((&data[..], from), (&b"ping"[..], b.local_addr().unwrap()));
/// ```
#[derive(Debug)]
pub struct UdpSocket {
    inner: may::net::UdpSocket,
    timeout: Option<Duration>,
    applied_read: AppliedTimeout,
    applied_write: AppliedTimeout,
}

impl UdpSocket {
    pub(crate) fn from_may(inner: may::net::UdpSocket) -> Self {
        UdpSocket {
            inner,
            timeout: None,
            applied_read: AppliedTimeout::new(),
            applied_write: AppliedTimeout::new(),
        }
    }

    /// Binds; a port already in use is an error (see [`Bind`] for SO_REUSEPORT).
    ///
    /// # Errors
    /// As [`Bind::udp`](crate::net::Bind::udp).
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        Bind::new(addr).udp()
    }

    /// Sets the timeout of later receives and sends (`None`: wait forever).
    pub fn settimeout(&mut self, t: Option<Duration>) {
        self.timeout = t.filter(|d| !d.is_zero());
    }

    /// Sets the default peer for [`send`](UdpSocket::send) and [`recv`](UdpSocket::recv).
    ///
    /// # Errors
    /// The resolution error or the error of `connect(2)`.
    pub fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        self.inner.connect(addr)
    }

    /// Sends one datagram to `addr`.
    ///
    /// # Errors
    /// The resolution error, or the send error (`TimedOut` after the socket's timeout).
    pub fn send_to(&self, data: &[u8], addr: impl ToSocketAddrs) -> io::Result<usize> {
        let addr = addr
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address"))?;
        timed(self.timeout, |t| {
            self.applied_write
                .apply(t, |t| self.inner.set_write_timeout(t))?;
            self.inner.send_to(data, addr)
        })
    }

    /// Receives one datagram into `buf`: its length and sender.
    ///
    /// # Errors
    /// The read error; `TimedOut` after the socket's read timeout or when an enclosing
    /// [`crate::Timeout`] leaves no time.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        timed(self.timeout, |t| {
            self.applied_read
                .apply(t, |t| self.inner.set_read_timeout(t))?;
            self.inner.recv_from(buf)
        })
    }

    /// Receives one datagram of at most `n` bytes (Python's `recvfrom(n)`).
    ///
    /// # Errors
    /// The read error; `TimedOut` after the socket's read timeout or when an enclosing
    /// [`crate::Timeout`] leaves no time.
    pub fn recvfrom(&self, n: usize) -> io::Result<(Bytes, SocketAddr)> {
        let mut buf = BytesMut::zeroed(n);
        let (got, from) = self.recv_from(&mut buf)?;
        buf.truncate(got);
        Ok((buf.freeze(), from))
    }

    /// Sends to the connected peer.
    ///
    /// # Errors
    /// The write error; `TimedOut` after the socket's write timeout or when an enclosing
    /// [`crate::Timeout`] leaves no time.
    pub fn send(&self, data: &[u8]) -> io::Result<usize> {
        timed(self.timeout, |t| {
            self.applied_write
                .apply(t, |t| self.inner.set_write_timeout(t))?;
            self.inner.send(data)
        })
    }

    /// Receives from the connected peer.
    ///
    /// # Errors
    /// The read error; `TimedOut` after the socket's read timeout or when an enclosing
    /// [`crate::Timeout`] leaves no time.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        timed(self.timeout, |t| {
            self.applied_read
                .apply(t, |t| self.inner.set_read_timeout(t))?;
            self.inner.recv(buf)
        })
    }

    /// The address bound.
    ///
    /// # Errors
    /// The OS error of the underlying call.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// Another handle to the same socket.
    ///
    /// # Errors
    /// The OS error of the underlying call.
    pub fn try_clone(&self) -> io::Result<UdpSocket> {
        Ok(UdpSocket {
            inner: self.inner.try_clone()?,
            timeout: self.timeout,
            applied_read: AppliedTimeout::new(),
            applied_write: AppliedTimeout::new(),
        })
    }
}

impl AsRawFd for UdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

impl Bind {
    /// Binds a coroutine [`UdpSocket`] (without SO_REUSEADDR unless
    /// [`Bind::reuse_address`] asks for it; a port in use is an error either way).
    ///
    /// # Errors
    /// The resolution error, or the last socket/bind error when no address binds.
    ///
    /// # Panics
    /// If the runtime was not started and cannot start (see [`crate::hub::ensure_started`]).
    pub fn udp(&self) -> io::Result<UdpSocket> {
        Ok(UdpSocket::from_may(self.may_udp()?))
    }
}
