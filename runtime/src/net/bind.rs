//! Listening sockets made with socket2, then handed to may.
//!
//! may's own `TcpListener::bind` always sets SO_REUSEPORT with a backlog of 1024, so a second
//! server on a busy port binds silently and steals half its connections. Here SO_REUSEADDR is
//! on (restart while the port is in TIME_WAIT), SO_REUSEPORT is off unless asked for, and the
//! backlog is yours to choose: binding a port in use is an `AddrInUse` error.
//!
//! UDP sockets go without SO_REUSEADDR unless [`Bind::reuse_address`] asks for it (the
//! course's time server sets it); then a free port is checked first, so a port in use is
//! still an error.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{FromRawFd, IntoRawFd};

use socket2::{Domain, Protocol, Socket, Type};

/// Options for binding a listening or datagram socket.
///
/// ```
/// use mayfly::net::Bind;
/// let a = Bind::new("127.0.0.1:0").backlog(128).tcp().unwrap();
/// let port = a.local_addr().unwrap().port();
/// // The port is taken: a second plain bind fails instead of sharing it.
/// assert!(Bind::new(("127.0.0.1", port)).tcp().is_err());
/// ```
#[derive(Debug)]
pub struct Bind {
    addrs: io::Result<Vec<SocketAddr>>,
    backlog: i32,
    reuse_port: bool,
    reuse_address: Option<bool>,
    only_v6: Option<bool>,
}

/// The default listen backlog of every TCP listener mayfly binds, and of every TCP server in
/// `mayfly-servers`.
pub const DEFAULT_BACKLOG: i32 = 1024;

impl Bind {
    /// Bind options for `addr` (the first address it resolves to that binds).
    pub fn new(addr: impl ToSocketAddrs) -> Self {
        Bind {
            addrs: addr.to_socket_addrs().map(|a| a.collect()),
            backlog: DEFAULT_BACKLOG,
            reuse_port: false,
            reuse_address: None,
            only_v6: None,
        }
    }

    /// Sets the listen backlog (the queue of connections not yet accepted). Default 1024.
    pub fn backlog(mut self, n: i32) -> Self {
        self.backlog = n.max(1);
        self
    }

    /// Sets SO_REUSEPORT, so several processes can share the port (multi-process + greenlets).
    pub fn reuse_port(mut self, yes: bool) -> Self {
        self.reuse_port = yes;
        self
    }

    /// Sets SO_REUSEADDR or leaves it off. By default a TCP listener sets it (restart while
    /// the port is in TIME_WAIT) and a UDP socket does not.
    ///
    /// For UDP, Linux lets two sockets that both set SO_REUSEADDR share a port, the second
    /// silently taking its datagrams. So a UDP bind with it first binds the address without
    /// it, once, and closes that socket: a port some socket holds is still an `AddrInUse`
    /// error, whether or not that socket set SO_REUSEADDR. (Only a socket that binds the
    /// port between that check and the real bind, a few microseconds, could share it; and
    /// only one that sets SO_REUSEADDR itself.)
    ///
    /// ```
    /// use mayfly::net::Bind;
    /// let a = Bind::new("127.0.0.1:0").reuse_address(true).udp().unwrap();
    /// let port = a.local_addr().unwrap().port();
    /// let again = Bind::new(("127.0.0.1", port)).reuse_address(true).udp();
    /// assert_eq!(again.unwrap_err().kind(), std::io::ErrorKind::AddrInUse);
    /// ```
    pub fn reuse_address(mut self, yes: bool) -> Self {
        self.reuse_address = Some(yes);
        self
    }

    /// For IPv6 addresses, sets IPV6_V6ONLY.
    pub fn only_v6(mut self, yes: bool) -> Self {
        self.only_v6 = Some(yes);
        self
    }

    fn socket(&self, addr: &SocketAddr, ty: Type, proto: Protocol) -> io::Result<Socket> {
        let s = Socket::new(Domain::for_address(*addr), ty, Some(proto))?;
        s.set_cloexec(true)?;
        // SO_REUSEADDR lets a TCP server restart while its port is in TIME_WAIT. For UDP it
        // would let a second socket bind the same port silently, and UDP has no TIME_WAIT:
        // off unless asked for, and then only on a port an exclusive bind finds free.
        let reuse_address = self.reuse_address.unwrap_or(ty == Type::STREAM);
        if reuse_address {
            if ty == Type::DGRAM && addr.port() != 0 {
                let probe = Socket::new(Domain::for_address(*addr), ty, Some(proto))?;
                if let (SocketAddr::V6(_), Some(v6)) = (addr, self.only_v6) {
                    probe.set_only_v6(v6)?;
                }
                probe.bind(&(*addr).into())?;
            }
            s.set_reuse_address(true)?;
        }
        if self.reuse_port {
            s.set_reuse_port(true)?;
        }
        if let (SocketAddr::V6(_), Some(v6)) = (addr, self.only_v6) {
            s.set_only_v6(v6)?;
        }
        s.bind(&(*addr).into())?;
        Ok(s)
    }

    fn each<T>(&self, f: impl Fn(&SocketAddr) -> io::Result<T>) -> io::Result<T> {
        let addrs = match &self.addrs {
            Ok(a) => a,
            Err(e) => return Err(io::Error::new(e.kind(), e.to_string())),
        };
        let mut last = io::Error::new(io::ErrorKind::InvalidInput, "no address to bind");
        for a in addrs {
            match f(a) {
                Ok(t) => return Ok(t),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Binds and listens: a non-blocking std listener, which [`Bind::tcp`] (in `tcp.rs`, so
    /// that this module stays below the socket types) hands to may.
    pub(super) fn std_tcp(&self) -> io::Result<std::net::TcpListener> {
        crate::start::ensure_started();
        self.each(|a| {
            let s = self.socket(a, Type::STREAM, Protocol::TCP)?;
            s.listen(self.backlog)?;
            s.set_nonblocking(true)?;
            Ok(s.into())
        })
    }

    /// Binds a non-blocking UDP socket for may, which [`Bind::udp`] (in `udp.rs`) wraps.
    pub(super) fn may_udp(&self) -> io::Result<may::net::UdpSocket> {
        crate::start::ensure_started();
        self.each(|a| {
            let s = self.socket(a, Type::DGRAM, Protocol::UDP)?;
            s.set_nonblocking(true)?;
            // SAFETY: `into_raw_fd` gives up ownership of a valid, open UDP socket fd, which
            // may's UdpSocket takes over (and closes on drop).
            Ok(unsafe { may::net::UdpSocket::from_raw_fd(s.into_raw_fd()) })
        })
    }
}
