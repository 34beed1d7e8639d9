//! The blocking listening socket the builds that do not run on mayfly's sockets bind (the
//! threads, epoll, tokio and raw-may echo builds; the threads and hyper HTTP builds): one
//! place for its options, so every build listens alike.

use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};

use socket2::{Domain, Socket, Type};

/// Binds `addr` with SO_REUSEADDR, SO_REUSEPORT only if `reuse_port` (`--workers`), and
/// listens with `backlog`.
pub(crate) fn bind_std(addr: &str, backlog: i32, reuse_port: bool) -> io::Result<TcpListener> {
    let addr: SocketAddr = addr
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address"))?;
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    s.set_reuse_address(true)?;
    if reuse_port {
        s.set_reuse_port(true)?;
    }
    s.bind(&addr.into())?;
    s.listen(backlog)?;
    Ok(s.into())
}
