//! A server connection that is plain TCP or TLS ([`Conn`]), and the one way the file and
//! command servers make their `StreamServer` ([`stream_server`]): on the plain path, or on
//! `StreamServer::new_tls` when the options carry an acceptor, so the handshake runs in the
//! connection's greenlet and is counted in the server's stats (`tls_handshakes`,
//! `tls_failed_<reason>`). The protocol code is written once against [`Conn`].
//!
//! ```
//! use mayfly_servers::conn::{stream_server, Conn};
//! use std::io::{Read, Write};
//!
//! mayfly::run(|| {
//!     let l = mayfly::net::TcpListener::bind("127.0.0.1:0").unwrap();
//!     let addr = l.local_addr().unwrap();
//!     let server = stream_server(l, None, |mut c: Conn, _peer| {
//!         assert!(!c.is_tls());
//!         let mut b = [0u8; 2];
//!         c.read_exact(&mut b)?;
//!         c.write_all(&b)
//!     })
//!     .start();
//!     let mut s = mayfly::net::TcpStream::connect(addr).unwrap();
//!     s.write_all(b"hi").unwrap();
//!     let mut b = [0u8; 2];
//!     s.read_exact(&mut b).unwrap();
//!     assert_eq!(&b, b"hi");
//!     server.stop(std::time::Duration::from_secs(1));
//! });
//! ```

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::Duration;

use mayfly::net::{TcpListener, TcpStream};
use mayfly::server::StreamServer;
use mayfly::tls::{TlsAcceptor, TlsStream};

/// One accepted connection: plain TCP, or TLS after a finished handshake.
#[derive(Debug)]
pub enum Conn {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS (boxed: the rustls state is large).
    Tls(Box<TlsStream>),
}

impl Conn {
    /// Whether this connection is TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self, Conn::Tls(_))
    }

    /// The TCP socket, if this is a plain connection (for `sendfile`: TLS must encrypt every
    /// byte, so it never has one).
    pub fn plain(&mut self) -> Option<&mut TcpStream> {
        match self {
            Conn::Plain(s) => Some(s),
            Conn::Tls(_) => None,
        }
    }

    /// The TCP socket underneath.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Conn::Plain(s) => s,
            Conn::Tls(s) => s.get_ref(),
        }
    }

    /// Sets TCP_NODELAY on the socket.
    ///
    /// # Errors
    /// The OS error.
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.tcp().set_nodelay(on)
    }

    /// Sets the read and write timeouts.
    pub fn settimeout(&mut self, t: Option<Duration>) {
        match self {
            Conn::Plain(s) => s.settimeout(t),
            Conn::Tls(s) => s.settimeout(t),
        }
    }

    /// Sets the read timeout.
    pub fn set_read_timeout(&mut self, t: Option<Duration>) {
        match self {
            Conn::Plain(s) => s.set_read_timeout(t),
            Conn::Tls(s) => s.set_read_timeout(t),
        }
    }

    /// Sets the write timeout.
    pub fn set_write_timeout(&mut self, t: Option<Duration>) {
        match self {
            Conn::Plain(s) => s.set_write_timeout(t),
            Conn::Tls(s) => s.set_write_timeout(t),
        }
    }

    /// Writes some of `data`; returns how much.
    ///
    /// # Errors
    /// The write error, a timeout.
    pub fn send(&mut self, data: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.send(data),
            Conn::Tls(s) => s.send(data),
        }
    }

    /// Ends the write side: a TCP half-close, or over TLS `close_notify` and then the
    /// half-close, so the peer reads a clean end.
    ///
    /// # Errors
    /// The write error.
    pub fn shutdown_write(&mut self) -> io::Result<()> {
        match self {
            Conn::Plain(s) => s.shutdown(Shutdown::Write),
            Conn::Tls(s) => s.close(),
        }
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
        }
    }
}

/// A `StreamServer` on `listener` whose handler gets a [`Conn`]: plain without `tls`, else
/// on `StreamServer::new_tls` (the handshake in the connection's greenlet, counted in the
/// server's stats, a failed one never reaching `handler`).
pub fn stream_server<F>(
    listener: TcpListener,
    tls: Option<&TlsAcceptor>,
    handler: F,
) -> StreamServer
where
    F: Fn(Conn, SocketAddr) -> io::Result<()> + Send + Sync + 'static,
{
    match tls {
        None => StreamServer::new(listener, move |c, peer| handler(Conn::Plain(c), peer)),
        Some(acceptor) => StreamServer::new_tls(listener, acceptor.clone(), move |c, peer| {
            handler(Conn::Tls(Box::new(c)), peer)
        }),
    }
}
