//! [`TlsStream`]: a TLS connection over a coroutine [`TcpStream`], client or server side.
//! Every read and write goes through the `TcpStream`, so it parks only the greenlet and is
//! bounded by the socket's timeouts and the greenlet's active [`crate::Timeout`], as on the
//! `TcpStream` itself. A read after the peer closed without `close_notify` fails with
//! [`Truncated`]; dropping the stream sends `close_notify` without ever waiting.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use bytes::Bytes;
use rustls::pki_types::CertificateDer;

use super::error::Truncated;
use super::records::{Conn, Failure, Goal, Session, Step, MAX_WRITE};
use crate::net::TcpStream;

/// A TLS connection over a coroutine [`TcpStream`] (gevent's `SSLSocket`): made by
/// [`TlsAcceptor::accept`](super::TlsAcceptor::accept) on a server and
/// [`TlsConnector::connect`](super::TlsConnector::connect) on a client.
///
/// `Read` and `Write` carry application data; [`recv`](Self::recv),
/// [`recv_exact`](Self::recv_exact), [`sendall`](Self::sendall) and the timeouts are the
/// `TcpStream`'s. A write returns once its bytes are encrypted and handed to the socket.
/// [`close`](Self::close) sends `close_notify` and shuts the write side; a drop sends
/// `close_notify` if there is room in the socket buffer, never waiting.
///
/// **Memory.** It runs rustls's unbuffered connection over buffers of its own
/// (`tls/records.rs`), held only while bytes are in them: an idle `TlsStream` holds no
/// read or write buffer (rustls's buffered connection keeps a 4 KiB one for its whole life).
pub struct TlsStream {
    /// Boxed: rustls's connection state is over a kilobyte, and a `TlsStream` held in a
    /// handler's frame (moved there from the handshake) would keep that much of every parked
    /// connection's stack resident; on the heap it is one pointer in each frame.
    session: Box<Session>,
    tcp: TcpStream,
    /// `close_notify` was sent (by `close` or a drop).
    notified: bool,
}

impl std::fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream")
            .field("server", &self.is_server())
            .field("version", &self.protocol_version())
            .field("tcp", &self.tcp)
            .finish_non_exhaustive()
    }
}

impl TlsStream {
    /// A stream over a session whose handshake is done.
    pub(crate) fn new(session: Box<Session>, tcp: TcpStream) -> TlsStream {
        TlsStream {
            session,
            tcp,
            notified: false,
        }
    }

    /// Reads at most `n` bytes of application data; empty means the peer closed with
    /// `close_notify`.
    ///
    /// # Errors
    /// As [`TcpStream::recv`]; [`Truncated`] (kind `UnexpectedEof`) if the peer closed
    /// without `close_notify`; `InvalidData` for a TLS protocol error.
    pub fn recv(&mut self, n: usize) -> io::Result<Bytes> {
        let mut buf = bytes::BytesMut::zeroed(n);
        let got = self.read(&mut buf)?;
        buf.truncate(got);
        Ok(buf.freeze())
    }

    /// Reads exactly `n` bytes, or fails with `UnexpectedEof` if the peer closes first.
    ///
    /// # Errors
    /// As [`recv`](Self::recv).
    pub fn recv_exact(&mut self, n: usize) -> io::Result<Bytes> {
        let mut buf = bytes::BytesMut::zeroed(n);
        self.read_exact(&mut buf)?;
        Ok(buf.freeze())
    }

    /// Writes some of `data`; returns how much.
    ///
    /// # Errors
    /// As [`TcpStream::send`].
    pub fn send(&mut self, data: &[u8]) -> io::Result<usize> {
        self.write(data)
    }

    /// Writes all of `data` (Python's `sendall`).
    ///
    /// # Errors
    /// As [`TcpStream::sendall`].
    pub fn sendall(&mut self, data: &[u8]) -> io::Result<()> {
        self.write_all(data)
    }

    /// Sends `close_notify` and shuts the write side (Python's `unwrap()` then `shutdown`):
    /// the peer reads a clean end. Reading stays possible until the peer closes too.
    ///
    /// # Errors
    /// The write error (the peer gone, a write timeout).
    pub fn close(&mut self) -> io::Result<()> {
        if !self.notified {
            self.session.out.send(&mut self.tcp)?;
            self.session.queue_close_notify(&mut self.tcp)?;
            self.notified = true;
        }
        // close_notify, and on a second call after a failed send whatever is still queued.
        self.session.out.send(&mut self.tcp)?;
        match self.tcp.shutdown(Shutdown::Write) {
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            other => other,
        }
    }

    /// Sets the read and write timeouts, as [`TcpStream::settimeout`].
    pub fn settimeout(&mut self, t: Option<Duration>) {
        self.tcp.settimeout(t);
    }

    /// The read timeout, as [`TcpStream::gettimeout`].
    pub fn gettimeout(&self) -> Option<Duration> {
        self.tcp.gettimeout()
    }

    /// Sets the read timeout, as [`TcpStream::set_read_timeout`].
    pub fn set_read_timeout(&mut self, t: Option<Duration>) {
        self.tcp.set_read_timeout(t);
    }

    /// Sets the write timeout, as [`TcpStream::set_write_timeout`].
    pub fn set_write_timeout(&mut self, t: Option<Duration>) {
        self.tcp.set_write_timeout(t);
    }

    /// The ALPN protocol agreed on, if any (`Some(b"http/1.1")`).
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        self.common_state().alpn_protocol()
    }

    /// On a server: the name the client asked for (SNI), if it sent one. On a client: `None`.
    pub fn server_name(&self) -> Option<&str> {
        self.session.server_name.as_deref()
    }

    /// The TLS version agreed on.
    pub fn protocol_version(&self) -> Option<rustls::ProtocolVersion> {
        self.common_state().protocol_version()
    }

    /// The cipher suite agreed on.
    pub fn cipher_suite(&self) -> Option<rustls::SupportedCipherSuite> {
        self.common_state().negotiated_cipher_suite()
    }

    /// The certificates the peer presented (a server's chain; a client's, if it was asked).
    pub fn peer_certificates(&self) -> Option<&[CertificateDer<'static>]> {
        self.common_state().peer_certificates()
    }

    /// Whether this is the server side.
    pub fn is_server(&self) -> bool {
        matches!(self.session.conn, Conn::Server(_))
    }

    /// The remote address.
    ///
    /// # Errors
    /// The OS error of the underlying call.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.peer_addr()
    }

    /// The local address.
    ///
    /// # Errors
    /// The OS error of the underlying call.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }

    /// The TCP connection underneath (writing to it directly breaks the TLS stream).
    pub fn get_ref(&self) -> &TcpStream {
        &self.tcp
    }

    /// What rustls knows of the connection (both sides): the key exchange group, the
    /// handshake kind (full or resumed), and the values the accessors above read.
    pub fn common_state(&self) -> &rustls::CommonState {
        self.session.conn.common()
    }

    /// A rustls refusal: the alert goes to the peer, the error to the caller.
    fn refused(&mut self, e: rustls::Error) -> io::Error {
        self.session.send_alert(&mut self.tcp);
        io::Error::new(io::ErrorKind::InvalidData, e)
    }
}

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let kept = self.session.plain.take_into(buf);
        if kept > 0 {
            return Ok(kept);
        }
        if self.session.peer_closed {
            return Ok(0);
        }
        loop {
            match self.session.step(Goal::Read(buf), &mut self.tcp) {
                Ok(Step::Read(n)) => return Ok(n),
                Ok(Step::PeerClosed | Step::Closed) => return Ok(0),
                Ok(Step::Again) => {}
                Ok(_) => {
                    // Nothing decrypted yet: records queued by the last packets (a key
                    // update's answer, an alert) go out, then more are read (parks the
                    // greenlet). An end of the TCP stream here is an end without
                    // close_notify.
                    self.session.out.send(&mut self.tcp)?;
                    let handshaking = self.session.conn.common().is_handshaking();
                    if self.session.incoming.fill(&mut self.tcp, handshaking)? == 0 {
                        return Err(Truncated.into());
                    }
                }
                Err(Failure::Io(e)) => return Err(e),
                Err(Failure::Tls(e)) => return Err(self.refused(e)),
            }
        }
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.notified {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "TLS: write after close_notify",
            ));
        }
        // Records an earlier write could not send (a write timeout) go first.
        self.session.out.send(&mut self.tcp)?;
        let data = &buf[..buf.len().min(MAX_WRITE)];
        loop {
            match self.session.step(Goal::Encrypt(data), &mut self.tcp) {
                Ok(Step::Encrypted) => break,
                Ok(Step::Again | Step::PeerClosed) => {}
                Ok(Step::Closed) => {
                    return Err(io::Error::new(
                        io::ErrorKind::BrokenPipe,
                        "TLS: the connection is closed",
                    ))
                }
                Ok(_) => {
                    // Not ready for application data (cannot happen once the handshake is
                    // done): more records are needed from the peer.
                    let handshaking = self.session.conn.common().is_handshaking();
                    if self.session.incoming.fill(&mut self.tcp, handshaking)? == 0 {
                        return Err(Truncated.into());
                    }
                }
                Err(Failure::Io(e)) => return Err(e),
                Err(Failure::Tls(e)) => return Err(self.refused(e)),
            }
        }
        // The plaintext is encrypted and queued: it is this write's even if sending it fails
        // now, so the error waits for the next write, flush or close, which send the queued
        // records first (as rustls's own `Stream::write` does). Returning it here would make a
        // caller that retries send the bytes twice.
        let _ = self.session.out.send(&mut self.tcp);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.session.out.send(&mut self.tcp)
    }
}

impl AsRawFd for TlsStream {
    fn as_raw_fd(&self) -> RawFd {
        self.tcp.as_raw_fd()
    }
}

impl Drop for TlsStream {
    fn drop(&mut self) {
        // One try with MSG_DONTWAIT: a drop never parks (it may run while a killed greenlet
        // unwinds, when parking is not possible) and a peer that reads nothing cannot hold
        // it. An alert is 24 bytes: it fits unless the socket buffer is full.
        let mut w = DontWait(self.tcp.as_raw_fd());
        if !self.notified {
            self.notified = true;
            if self.session.out.send(&mut w).is_err()
                || self.session.queue_close_notify(&mut w).is_err()
            {
                return;
            }
        }
        // The close_notify, or the one a `close` whose send failed left queued (nothing to
        // send, no call, after a `close` that succeeded).
        let _ = self.session.out.send(&mut w);
    }
}

/// Writes to a socket without waiting: a full buffer is `WouldBlock`.
struct DontWait(RawFd);

impl Write for DontWait {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // SAFETY: the fd is the stream's socket, open for as long as the `TlsStream` that
        // made this writer (it is used only inside `drop`, before the `TcpStream` field is
        // dropped); `buf` is valid for `buf.len()` bytes; MSG_DONTWAIT never blocks and
        // MSG_NOSIGNAL turns a closed peer into EPIPE instead of SIGPIPE.
        let n = unsafe {
            libc::send(
                self.0,
                buf.as_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
