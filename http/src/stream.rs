//! What a connection's stream must offer the HTTP loop besides `Read` and `Write`
//! ([`ConnStream`]: a read timeout and a half-close), for a plain [`TcpStream`] and a
//! [`TlsStream`] alike, so one loop serves both.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::time::Duration;

use mayfly::net::TcpStream;
use mayfly::tls::TlsStream;

/// A connection's stream: plain TCP or TLS.
pub(crate) trait ConnStream: Read + Write {
    /// Sets the read timeout.
    fn set_read_timeout(&mut self, t: Option<Duration>);
    /// Ends the write side (over TLS: `close_notify`, then the TCP half-close).
    fn shutdown_write(&mut self) -> io::Result<()>;
    /// Sets TCP_NODELAY.
    fn set_nodelay(&self, on: bool) -> io::Result<()>;
}

impl ConnStream for TcpStream {
    fn set_read_timeout(&mut self, t: Option<Duration>) {
        TcpStream::set_read_timeout(self, t);
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }

    fn set_nodelay(&self, on: bool) -> io::Result<()> {
        TcpStream::set_nodelay(self, on)
    }
}

impl ConnStream for TlsStream {
    fn set_read_timeout(&mut self, t: Option<Duration>) {
        TlsStream::set_read_timeout(self, t);
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.close()
    }

    fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.get_ref().set_nodelay(on)
    }
}
