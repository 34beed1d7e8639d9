//! The stress client's connections, plain or TLS: [`StressTls`] (what `--tls` configures),
//! the threads mode's std stream (plaintext, or rustls's blocking `StreamOwned`) and the
//! coroutine mode's mayfly stream (plaintext, or [`mayfly::tls::TlsStream`]), each with the
//! I/O timeout the request loop sets ([`Timed`]).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// TLS for the stress client: the connector (CA or insecure) and the name the server's
/// certificate must hold, sent as SNI.
#[derive(Debug, Clone)]
pub struct StressTls {
    /// The client configuration.
    pub connector: mayfly::tls::TlsConnector,
    /// The name checked and sent as SNI.
    pub server_name: String,
}

/// A stream whose read and write timeouts the request loop sets.
pub(crate) trait Timed {
    fn set_io_timeout(&mut self, t: Duration) -> io::Result<()>;
}

impl Timed for TcpStream {
    fn set_io_timeout(&mut self, t: Duration) -> io::Result<()> {
        self.set_read_timeout(Some(t))?;
        self.set_write_timeout(Some(t))
    }
}

impl Timed for mayfly::net::TcpStream {
    fn set_io_timeout(&mut self, t: Duration) -> io::Result<()> {
        self.settimeout(Some(t));
        Ok(())
    }
}

/// A threads-mode connection.
pub(crate) enum StdConn {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl StdConn {
    /// The TCP socket underneath.
    pub(crate) fn tcp(&self) -> &TcpStream {
        match self {
            StdConn::Plain(s) => s,
            StdConn::Tls(s) => &s.sock,
        }
    }

    /// `tcp`, with a TLS handshake first if `tls` is set (bounded by the connector's
    /// handshake timeout, as the socket's timeouts, restored after).
    pub(crate) fn open(tcp: TcpStream, tls: Option<&StressTls>) -> io::Result<StdConn> {
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
            if conn.complete_io(&mut tcp)? == (0, 0) {
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
            StdConn::Tls(s) => s.read(buf),
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

impl Timed for StdConn {
    fn set_io_timeout(&mut self, t: Duration) -> io::Result<()> {
        let mut tcp = self.tcp();
        Timed::set_io_timeout(&mut tcp, t)
    }
}

impl Timed for &TcpStream {
    fn set_io_timeout(&mut self, t: Duration) -> io::Result<()> {
        self.set_read_timeout(Some(t))?;
        self.set_write_timeout(Some(t))
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

/// A coroutine-mode connection.
pub(crate) enum GreenConn {
    Plain(mayfly::net::TcpStream),
    Tls(Box<mayfly::tls::TlsStream>),
}

impl GreenConn {
    /// `tcp`, with a TLS handshake first if `tls` is set.
    pub(crate) fn open(
        tcp: mayfly::net::TcpStream,
        tls: Option<&StressTls>,
    ) -> io::Result<GreenConn> {
        match tls {
            None => Ok(GreenConn::Plain(tcp)),
            Some(t) => Ok(GreenConn::Tls(Box::new(
                t.connector.connect(&t.server_name, tcp)?,
            ))),
        }
    }
}

impl Read for GreenConn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            GreenConn::Plain(s) => s.read(buf),
            GreenConn::Tls(s) => s.read(buf),
        }
    }
}

impl Write for GreenConn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            GreenConn::Plain(s) => s.write(buf),
            GreenConn::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Timed for GreenConn {
    fn set_io_timeout(&mut self, t: Duration) -> io::Result<()> {
        match self {
            GreenConn::Plain(s) => s.settimeout(Some(t)),
            GreenConn::Tls(s) => s.settimeout(Some(t)),
        }
        Ok(())
    }
}
