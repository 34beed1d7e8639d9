//! Name resolution that never blocks the worker (gevent's default resolver: a thread pool).
//!
//! [`ConnectAddr`] is what [`TcpStream::connect`](super::tcp::TcpStream::connect) takes: a socket
//! address, an IP and a port, or a `"host:port"` string. Numeric forms are parsed on the spot
//! (the fast path: no thread, no allocation beyond the list); a name is resolved by
//! `getaddrinfo` on the shared [`crate::threadpool`], while only the calling greenlet parks —
//! so the greenlet's active [`crate::Timeout`] and a kill interrupt the wait.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, ToSocketAddrs};

/// An address to connect to: numeric, or a name to resolve off the worker.
///
/// Implemented for [`SocketAddr`] (and the V4/V6 forms), `(IpAddr, u16)` (and the
/// Ipv4/Ipv6 forms), `str`/`String` (`"127.0.0.1:80"`, `"[::1]:80"`, `"example.com:80"`),
/// `(&str, u16)`/`(String, u16)`, `[SocketAddr]`, and references to any of these — the same
/// shapes as `std::net::ToSocketAddrs`.
///
/// ```
/// use mayfly::net::ConnectAddr;
/// assert!(("127.0.0.1", 80).numeric().is_some());
/// assert!("localhost:80".numeric().is_none()); // a name: resolved on the thread pool
/// ```
pub trait ConnectAddr {
    /// The addresses, if they can be had without a lookup (numeric forms).
    fn numeric(&self) -> Option<Vec<SocketAddr>>;

    /// The `host:port` to resolve when [`numeric`](ConnectAddr::numeric) is `None`.
    fn to_lookup(&self) -> String;
}

/// Resolves `addr`: numeric forms at once, names on the shared thread pool (parking only the
/// calling greenlet; an enclosing [`crate::Timeout`] interrupts the wait).
///
/// # Errors
/// The lookup's error; `InvalidInput` if it found no address; `Other` if the thread pool
/// could not run it.
pub fn resolve(addr: &(impl ConnectAddr + ?Sized)) -> io::Result<Vec<SocketAddr>> {
    if let Some(addrs) = addr.numeric() {
        return Ok(addrs);
    }
    let name = addr.to_lookup();
    let pending =
        crate::threadpool::spawn(move || name.to_socket_addrs().map(|it| it.collect::<Vec<_>>()));
    let addrs = pending
        .take(None)
        .map_err(|e| io::Error::other(format!("name resolution: {e}")))??;
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the name resolved to no address",
        ));
    }
    Ok(addrs)
}

impl ConnectAddr for SocketAddr {
    fn numeric(&self) -> Option<Vec<SocketAddr>> {
        Some(vec![*self])
    }
    fn to_lookup(&self) -> String {
        self.to_string()
    }
}

macro_rules! numeric_via_socket_addr {
    ($($t:ty),*) => {$(
        impl ConnectAddr for $t {
            fn numeric(&self) -> Option<Vec<SocketAddr>> {
                Some(vec![SocketAddr::from(*self)])
            }
            fn to_lookup(&self) -> String {
                SocketAddr::from(*self).to_string()
            }
        }
    )*};
}
numeric_via_socket_addr!(
    SocketAddrV4,
    SocketAddrV6,
    (IpAddr, u16),
    (Ipv4Addr, u16),
    (Ipv6Addr, u16)
);

impl ConnectAddr for str {
    fn numeric(&self) -> Option<Vec<SocketAddr>> {
        self.parse::<SocketAddr>().ok().map(|a| vec![a])
    }
    fn to_lookup(&self) -> String {
        self.to_string()
    }
}

impl ConnectAddr for String {
    fn numeric(&self) -> Option<Vec<SocketAddr>> {
        self.as_str().numeric()
    }
    fn to_lookup(&self) -> String {
        self.clone()
    }
}

impl ConnectAddr for (&str, u16) {
    fn numeric(&self) -> Option<Vec<SocketAddr>> {
        self.0
            .parse::<IpAddr>()
            .ok()
            .map(|ip| vec![SocketAddr::new(ip, self.1)])
    }
    fn to_lookup(&self) -> String {
        format!("{}:{}", self.0, self.1)
    }
}

impl ConnectAddr for (String, u16) {
    fn numeric(&self) -> Option<Vec<SocketAddr>> {
        (self.0.as_str(), self.1).numeric()
    }
    fn to_lookup(&self) -> String {
        (self.0.as_str(), self.1).to_lookup()
    }
}

impl ConnectAddr for [SocketAddr] {
    fn numeric(&self) -> Option<Vec<SocketAddr>> {
        Some(self.to_vec())
    }
    fn to_lookup(&self) -> String {
        String::new()
    }
}

impl<T: ConnectAddr + ?Sized> ConnectAddr for &T {
    fn numeric(&self) -> Option<Vec<SocketAddr>> {
        (**self).numeric()
    }
    fn to_lookup(&self) -> String {
        (**self).to_lookup()
    }
}
