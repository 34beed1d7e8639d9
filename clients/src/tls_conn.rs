//! A blocking client connection that is plain TCP or TLS ([`StdConn`], rustls's
//! `StreamOwned` over a std `TcpStream`), and what TLS needs ([`ClientTls`]: the connector
//! and the name to check). The file client, the cmd client and stress's threads mode use it.
//! A TLS read that ends without the server's `close_notify` fails with
//! [`mayfly::tls::Truncated`] (kind `UnexpectedEof`), so a cut transfer is never taken for
//! a finished one; a drop sends `close_notify`. A client at the wrong kind of port is told
//! so: [`ServerSpeaksTls`] (a plaintext client whose first reply is a TLS record, through
//! [`hint_server_speaks_tls`]) and [`ServerNotTls`] (a handshake answered in plaintext).
//!
//! ```
//! use mayfly_clients::tls_conn::StdConn;
//! let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
//! let tcp = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
//! let c = StdConn::open(tcp, None).unwrap();
//! assert!(!c.is_tls());
//! ```

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Instant;

use mayfly_proto::frame::FrameError;

/// A plaintext client at a TLS port: the server's first bytes are a TLS record (its alert
/// at our request, read as a frame's length).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the server answered with TLS: this port speaks TLS; add --tls (and --tls-ca FILE)")]
pub struct ServerSpeaksTls;

/// A TLS client at a plaintext port: the server's answer to the handshake is not TLS.
#[derive(Debug, thiserror::Error)]
#[error("the server does not speak TLS: this port is plaintext; drop --tls")]
pub struct ServerNotTls(#[source] pub rustls::Error);

/// `e`, a failed read of a frame header, as [`ServerSpeaksTls`] (kind `InvalidData`) if the
/// length prefix refused is the head of a TLS record; else `e` as it is. The file and cmd
/// clients pass every header read through it.
///
/// ```
/// use mayfly_clients::tls_conn::{hint_server_speaks_tls, ServerSpeaksTls};
/// use mayfly_proto::frame::{FrameError, MAX_HEADER};
/// let alert = u32::from_le_bytes([0x15, 0x03, 0x03, 0x00]) as usize;
/// let e = hint_server_speaks_tls(FrameError::HeaderTooLong { len: alert, limit: MAX_HEADER }.into());
/// assert!(e.get_ref().unwrap().is::<ServerSpeaksTls>());
/// let other = hint_server_speaks_tls(FrameError::NegativeLength(-1).into());
/// assert!(!other.get_ref().unwrap().is::<ServerSpeaksTls>());
/// ```
pub fn hint_server_speaks_tls(e: io::Error) -> io::Error {
    if FrameError::from_io(&e).is_some_and(FrameError::is_tls_record) {
        io::Error::new(io::ErrorKind::InvalidData, ServerSpeaksTls)
    } else {
        e
    }
}

/// `e`, a failed handshake, as [`ServerNotTls`] (kind `InvalidData`) if rustls found the
/// server's answer not TLS at all (`mayfly::tls`'s own sorting); else `e` as it is.
fn hint_server_not_tls(e: io::Error) -> io::Error {
    let Some(err) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) else {
        return e;
    };
    match mayfly::tls::HandshakeError::from_rustls(err.clone()) {
        mayfly::tls::HandshakeError::NotTls(err) => {
            io::Error::new(io::ErrorKind::InvalidData, ServerNotTls(err))
        }
        _ => e,
    }
}

/// TLS for a client: the connector (a CA, or insecure; a client certificate if the server
/// asks for one) and the name the server's certificate must hold, sent as SNI.
#[derive(Debug, Clone)]
pub struct ClientTls {
    /// The client configuration.
    pub connector: mayfly::tls::TlsConnector,
    /// The name checked and sent as SNI.
    pub server_name: String,
}

/// A blocking connection: plain TCP, or TLS after a finished handshake.
#[derive(Debug)]
pub enum StdConn {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS (boxed: the rustls state is large).
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl From<TcpStream> for StdConn {
    fn from(s: TcpStream) -> StdConn {
        StdConn::Plain(s)
    }
}

impl StdConn {
    /// The TCP socket underneath.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            StdConn::Plain(s) => s,
            StdConn::Tls(s) => &s.sock,
        }
    }

    /// Whether this connection is TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self, StdConn::Tls(_))
    }

    /// `tcp`, with a TLS handshake first if `tls` is set (bounded by
    /// [`DEFAULT_HANDSHAKE_TIMEOUT`](mayfly::tls::DEFAULT_HANDSHAKE_TIMEOUT), as the
    /// socket's timeouts, restored after).
    ///
    /// # Errors
    /// A name rustls cannot check, the handshake's error (`InvalidData` for a certificate
    /// refused on either side), `TimedOut`, `UnexpectedEof` if the server closed during it.
    pub fn open(tcp: TcpStream, tls: Option<&ClientTls>) -> io::Result<StdConn> {
        let Some(tls) = tls else {
            return Ok(StdConn::Plain(tcp));
        };
        let name = rustls::pki_types::ServerName::try_from(tls.server_name.clone())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let mut conn = rustls::ClientConnection::new(tls.connector.config().clone(), name)
            .map_err(io::Error::other)?;
        let (rt, wt) = (tcp.read_timeout()?, tcp.write_timeout()?);
        let deadline = Instant::now() + mayfly::tls::DEFAULT_HANDSHAKE_TIMEOUT;
        let mut tcp = tcp;
        while conn.is_handshaking() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "TLS handshake timed out",
                ));
            }
            tcp.set_read_timeout(Some(left))?;
            tcp.set_write_timeout(Some(left))?;
            if conn.complete_io(&mut tcp).map_err(hint_server_not_tls)? == (0, 0) {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed during the TLS handshake",
                ));
            }
        }
        tcp.set_read_timeout(rt)?;
        tcp.set_write_timeout(wt)?;
        Ok(StdConn::Tls(Box::new(rustls::StreamOwned::new(conn, tcp))))
    }
}

impl Read for StdConn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            StdConn::Plain(s) => s.read(buf),
            StdConn::Tls(s) => match s.read(buf) {
                // rustls's reader: the TCP stream ended without close_notify.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    Err(mayfly::tls::Truncated.into())
                }
                other => other,
            },
        }
    }
}

impl Write for StdConn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            StdConn::Plain(s) => s.write(buf),
            StdConn::Tls(s) => {
                let n = s.write(buf)?;
                s.flush()?;
                Ok(n)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            StdConn::Plain(s) => s.flush(),
            StdConn::Tls(s) => s.flush(),
        }
    }
}

impl Drop for StdConn {
    fn drop(&mut self) {
        // A clean TLS end: close_notify, so the server does not count a truncation.
        if let StdConn::Tls(s) = self {
            s.conn.send_close_notify();
            let _ = s.conn.complete_io(&mut s.sock);
        }
    }
}
