//! The handshake: [`TlsAcceptor::accept`] and [`TlsConnector::connect`] drive rustls over a
//! coroutine [`TcpStream`] until the handshake is done, every read and write parking only the
//! greenlet, the whole of it bounded by the handshake timeout (a [`crate::with_timeout`]
//! scope, so an enclosing `Timeout` that ends sooner still wins), each failure sorted into a
//! [`HandshakeError`].

use std::io;

use rustls::pki_types::ServerName;

use super::client_hello::{self, Sni};
use super::config::{TlsAcceptor, TlsConnector};
use super::error::{ConfigError, HandshakeError};
use super::records::{Conn, Failure, Goal, Session, Step};
use super::stream::TlsStream;
use crate::net::TcpStream;

impl TlsAcceptor {
    /// Runs the server side of a handshake on `tcp` and returns the TLS stream. Parks the
    /// greenlet; gives up after the handshake timeout.
    ///
    /// ```
    /// # fn pair() -> (mayfly::tls::TlsAcceptor, mayfly::tls::TlsConnector) {
    /// #   let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    /// #   ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    /// #   let ca = rcgen::CertifiedIssuer::self_signed(ca, rcgen::KeyPair::generate().unwrap()).unwrap();
    /// #   let key = rcgen::KeyPair::generate().unwrap();
    /// #   let leaf = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap()
    /// #       .signed_by(&key, &ca).unwrap();
    /// #   (mayfly::tls::TlsAcceptor::from_pem(leaf.pem().as_bytes(), key.serialize_pem().as_bytes()).unwrap(),
    /// #    mayfly::tls::TlsConnector::from_ca_pem(ca.pem().as_bytes()).unwrap())
    /// # }
    /// # let (acceptor, connector) = pair(); // TlsAcceptor::from_pem_files(…), TlsConnector::from_ca_pem_file(…)
    /// use mayfly::net::{TcpListener, TcpStream};
    ///
    /// mayfly::run(move || -> std::io::Result<()> {
    ///     let listener = TcpListener::bind("127.0.0.1:0")?;
    ///     let addr = listener.local_addr()?;
    ///     let server = mayfly::spawn(move || -> std::io::Result<()> {
    ///         let (tcp, _) = listener.accept()?;
    ///         let mut tls = acceptor.accept(tcp)?;
    ///         let data = tls.recv(1024)?;
    ///         tls.sendall(&data.to_ascii_uppercase())?;
    ///         tls.close()
    ///     });
    ///     let mut client = connector.connect("localhost", TcpStream::connect(addr)?)?;
    ///     client.sendall(b"hello")?;
    ///     assert_eq!(&client.recv_exact(5)?[..], b"HELLO");
    ///     assert!(client.recv(1)?.is_empty()); // close_notify: a clean end
    ///     server.into_result().unwrap()
    /// })
    /// .unwrap();
    /// ```
    ///
    /// # Errors
    /// [`HandshakeError`]: a timeout, a peer that closed or does not speak TLS, a refused
    /// certificate, an alert, an I/O error.
    pub fn accept(&self, tcp: TcpStream) -> Result<TlsStream, HandshakeError> {
        // Straight into its box: the connection state is over a kilobyte, and every copy of it
        // on the way would deepen the handshake's frames (pages a busy connection keeps).
        let session = Box::new(Session::new(Conn::Server(
            rustls::server::UnbufferedServerConnection::new(self.config.clone())
                .map_err(HandshakeError::Protocol)?,
        )));
        drive(session, tcp, self.handshake_timeout)
    }
}

impl TlsConnector {
    /// Runs the client side of a handshake on `tcp`, checking the server's certificate
    /// against `server_name` (a DNS name, sent as SNI, or an IP address). Parks the greenlet;
    /// gives up after the handshake timeout.
    ///
    /// # Errors
    /// As [`TlsAcceptor::accept`]; an invalid `server_name` is an `Io` error of kind
    /// `InvalidInput` holding [`ConfigError::BadServerName`].
    pub fn connect(&self, server_name: &str, tcp: TcpStream) -> Result<TlsStream, HandshakeError> {
        let name = ServerName::try_from(server_name.to_string()).map_err(|_| {
            HandshakeError::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                ConfigError::BadServerName(server_name.to_string()),
            ))
        })?;
        let session = Box::new(Session::new(Conn::Client(
            rustls::client::UnbufferedClientConnection::new(self.config.clone(), name)
                .map_err(HandshakeError::Protocol)?,
        )));
        drive(session, tcp, self.handshake_timeout)
    }
}

/// Reads and writes records until the handshake is done and its last flight (a server's
/// session tickets too) is out.
fn drive(
    mut session: Box<Session>,
    mut tcp: TcpStream,
    timeout: std::time::Duration,
) -> Result<TlsStream, HandshakeError> {
    // Only a server reads the name the client asks for.
    let mut sni_read = matches!(session.conn, Conn::Client(_));
    let r = crate::with_timeout(timeout, || {
        loop {
            match session.step(Goal::Nothing, &mut tcp) {
                Ok(Step::Again) => {}
                Ok(Step::Writable) if !session.conn.common().is_handshaking() => {
                    return session.out.send(&mut tcp).map_err(HandshakeError::from_io);
                }
                // A TLS 1.3 server may send data before the client's Finished has come:
                // the handshake is not done until it has.
                Ok(Step::Writable | Step::NeedInput) => {
                    session
                        .out
                        .send(&mut tcp)
                        .map_err(HandshakeError::from_io)?;
                    let handshaking = session.conn.common().is_handshaking();
                    if session
                        .incoming
                        .fill(&mut tcp, handshaking)
                        .map_err(HandshakeError::from_io)?
                        == 0
                    {
                        return Err(HandshakeError::Closed);
                    }
                    if !sni_read {
                        match client_hello::server_name(session.incoming.bytes()) {
                            Sni::NeedMore => {}
                            Sni::Name(name) => {
                                session.server_name = Some(name);
                                sni_read = true;
                            }
                            Sni::None => sni_read = true,
                        }
                    }
                }
                // The peer's last flight, data and close_notify can come in one read: rustls
                // then reports the close before the data is read, and the data waits in the
                // session for the first read (which then sees the end).
                Ok(Step::PeerClosed | Step::Closed) if !session.conn.common().is_handshaking() => {
                    return session.out.send(&mut tcp).map_err(HandshakeError::from_io);
                }
                Ok(_) => return Err(HandshakeError::Closed),
                Err(Failure::Io(e)) => return Err(HandshakeError::from_io(e)),
                Err(Failure::Tls(e)) => {
                    // rustls queued an alert saying why: send it, then fail.
                    session.send_alert(&mut tcp);
                    return Err(HandshakeError::from_rustls(e));
                }
            }
        }
    });
    match r {
        Ok(Ok(())) => Ok(TlsStream::new(session, tcp)),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(HandshakeError::Timeout(timeout)),
    }
}
