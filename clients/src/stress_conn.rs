//! The stress client's connections, plain or TLS: the threads mode's std stream
//! ([`StdConn`], shared with the file and cmd clients: `tls_conn`) and the coroutine mode's
//! mayfly stream (plaintext, or [`mayfly::tls::TlsStream`]), each with the I/O timeout the
//! request loop sets ([`Timed`]).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::tls_conn::{ClientTls, StdConn};

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

/// A coroutine-mode connection.
pub(crate) enum GreenConn {
    Plain(mayfly::net::TcpStream),
    Tls(Box<mayfly::tls::TlsStream>),
}

impl GreenConn {
    /// `tcp`, with a TLS handshake first if `tls` is set.
    pub(crate) fn open(
        tcp: mayfly::net::TcpStream,
        tls: Option<&ClientTls>,
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
