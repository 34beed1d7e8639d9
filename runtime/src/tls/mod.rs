//! TLS on the coroutine sockets (gevent's `ssl` module), over rustls with the ring provider.
//!
//! A [`TlsStream`] wraps a [`TcpStream`](crate::net::TcpStream): the handshake, every read
//! and write, and the `close_notify` park only the greenlet, never the worker; the socket's
//! timeouts and the greenlet's active [`Timeout`](crate::Timeout) bound them as they bound
//! the `TcpStream`. A server makes one with [`TlsAcceptor::accept`] (or lets
//! [`StreamServer::bind_tls`](crate::server::StreamServer::bind_tls) do it in each
//! connection's greenlet), a client with [`TlsConnector::connect`]. Configurations come from
//! PEM files; every mistake in them is a typed [`ConfigError`] at start, every failed
//! handshake a [`HandshakeError`] with a [`HandshakeFailure`] reason.
//!
//! | gevent / Python `ssl` | mayfly |
//! |---|---|
//! | `ctx = ssl.SSLContext(PROTOCOL_TLS_SERVER); ctx.load_cert_chain(cert, key)` | [`TlsAcceptor::from_pem_files(cert, key)`](TlsAcceptor::from_pem_files) (a key that is not the certificate's: [`ConfigError::KeyMismatch`]) |
//! | `ctx.load_verify_locations(ca)` + `ctx.verify_mode = CERT_REQUIRED` (server) | [`AcceptorBuilder::client_ca_pem_file(ca)`](AcceptorBuilder::client_ca_pem_file) |
//! | `ctx = ssl.create_default_context(cafile=ca)` (client) | [`TlsConnector::from_ca_pem_file(ca)`](TlsConnector::from_ca_pem_file) |
//! | `ctx.load_cert_chain(...)` on a client | [`ConnectorBuilder::client_cert_pem_files`] |
//! | `ctx.check_hostname = False; ctx.verify_mode = CERT_NONE` | [`ConnectorBuilder::insecure_skip_verify`] (tests only) |
//! | `ctx.set_alpn_protocols([...])`, `s.selected_alpn_protocol()` | [`AcceptorBuilder::alpn`], [`ConnectorBuilder::alpn`], [`TlsStream::alpn_protocol`] |
//! | `ctx.wrap_socket(sock, server_side=True)` | [`acceptor.accept(tcp)`](TlsAcceptor::accept) |
//! | `ctx.wrap_socket(sock, server_hostname="h")` (SNI) | [`connector.connect("h", tcp)`](TlsConnector::connect); the server reads it with [`TlsStream::server_name`] |
//! | `do_handshake_on_connect`, a handshake under `gevent.Timeout` | the handshake runs in `accept`/`connect`, bounded by [`DEFAULT_HANDSHAKE_TIMEOUT`] ([`TlsAcceptor::handshake_timeout`]) and any enclosing [`Timeout`](crate::Timeout) |
//! | `s.recv(n)`, `s.sendall(b)`, `s.settimeout(t)`, `s.makefile()` | [`recv`](TlsStream::recv), [`sendall`](TlsStream::sendall), [`settimeout`](TlsStream::settimeout); `Read`/`Write` (wrap in [`LineReader`](crate::net::LineReader)) |
//! | `s.unwrap()` / `s.shutdown(SHUT_WR)` (send `close_notify`) | [`TlsStream::close`]; a drop sends it too, never waiting |
//! | `SSLEOFError` (`suppress_ragged_eofs=False`) | [`Truncated`]: an `UnexpectedEof` read error |
//! | `ssl.SSLError`, `ssl.SSLCertVerificationError` | [`HandshakeError`] ([`HandshakeError::Certificate`]) |
//! | `s.version()`, `s.cipher()`, `s.getpeercert(binary_form=True)` | [`protocol_version`](TlsStream::protocol_version), [`cipher_suite`](TlsStream::cipher_suite), [`peer_certificates`](TlsStream::peer_certificates) |
//! | `StreamServer(addr, handle, ssl_context=ctx)` | [`StreamServer::bind_tls(addr, acceptor, handle)`](crate::server::StreamServer::bind_tls): the handler gets a `TlsStream`, handshakes counted per reason |
//!
//! TLS 1.2 and 1.3 only, ring's cipher suites; no renegotiation (rustls refuses it).
//!
//! **Stack.** rustls needs far more stack than a plain socket call, and most of it in an
//! unoptimised build. Measured with `runtime/examples/tls_stack.rs` (may's exact stack
//! tracking; the figures in docs/BENCHMARKS.md), one greenlet doing a handshake and an echo
//! used about 16 KiB (server side) and 20 KiB (client side) in a release build, but 58 to
//! 62 KiB in a build with every crate at opt-level 0 (a user's plain `cargo build`): the
//! 64 KiB default stack of an optimised build ([`crate::hub::DEFAULT_STACK_SIZE`]) would
//! leave a handler almost nothing in such a build, and reading a record needs nearly as much as the handshake. So a TLS connection's
//! greenlet gets at least [`TLS_STACK_SIZE`] bytes (128 KiB with debug assertions, the
//! default 64 KiB in an optimised build, where the deepest path used a third of it):
//! [`StreamServer::new_tls`](crate::server::StreamServer::new_tls)
//! sizes its connection greenlets so, and a greenlet of yours that calls
//! [`TlsAcceptor::accept`] or [`TlsConnector::connect`] should be spawned with
//! [`Builder::stack_size(TLS_STACK_SIZE)`](crate::Builder::stack_size). Only the pages a
//! greenlet touches are resident; the rest is address space. An overflow hits the guard page
//! below the stack and ends the process with may's "stack overflow detected, size=N" (N in
//! machine words: 8 bytes each).
//!
//! ```
//! # fn pair() -> (mayfly::tls::TlsAcceptor, mayfly::tls::TlsConnector) {
//! #   let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
//! #   ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
//! #   let ca = rcgen::CertifiedIssuer::self_signed(ca, rcgen::KeyPair::generate().unwrap()).unwrap();
//! #   let key = rcgen::KeyPair::generate().unwrap();
//! #   let leaf = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap()
//! #       .signed_by(&key, &ca).unwrap();
//! #   (mayfly::tls::TlsAcceptor::from_pem(leaf.pem().as_bytes(), key.serialize_pem().as_bytes()).unwrap(),
//! #    mayfly::tls::TlsConnector::from_ca_pem(ca.pem().as_bytes()).unwrap())
//! # }
//! # let (acceptor, connector) = pair(); // TlsAcceptor::from_pem_files(…), TlsConnector::from_ca_pem_file(…)
//! use mayfly::server::StreamServer;
//! use mayfly::net::TcpStream;
//!
//! mayfly::run(move || {
//!     let server = StreamServer::bind_tls("127.0.0.1:0", acceptor, |mut tls, _peer| {
//!         let line = tls.recv(1024)?;
//!         tls.sendall(&line)
//!     })
//!     .unwrap()
//!     .start();
//!     let tcp = TcpStream::connect(server.local_addr()).unwrap();
//!     let mut c = connector.connect("localhost", tcp).unwrap();
//!     c.sendall(b"ping").unwrap();
//!     assert_eq!(&c.recv_exact(4).unwrap()[..], b"ping");
//!     drop(c);
//!     server.stop(std::time::Duration::from_secs(1));
//!     assert_eq!(mayfly::server::TlsHandshakeStats::of(&server.counters()).done, 1);
//! });
//! ```

mod client_hello;
mod config;
mod error;
mod handshake;
mod insecure;
mod pem;
mod records;
mod spare;
mod stream;

pub use config::{
    AcceptorBuilder, ConnectorBuilder, TlsAcceptor, TlsConnector, DEFAULT_HANDSHAKE_TIMEOUT,
};
pub use error::{ConfigError, HandshakeError, HandshakeFailure, Truncated};
pub use stream::TlsStream;

/// The stack a greenlet that speaks TLS gets at least, in bytes. In a build with debug
/// assertions (a user's plain `cargo build`, where rustls is unoptimised too) 128 KiB, twice
/// the 63,512 bytes the deepest measured TLS path (a server handshake at opt-level 0) used; in
/// an optimised build 64 KiB, three times the deepest optimised path (19,656 bytes, a client
/// handshake) and equal to that build's [`DEFAULT_STACK_SIZE`](crate::hub::DEFAULT_STACK_SIZE),
/// so a TLS connection's stack comes from may's pool of default-sized stacks instead of being
/// mapped and unmapped for each connection (16 µs of a handshake's CPU, docs/BENCHMARKS.md).
/// Used by [`StreamServer::new_tls`](crate::server::StreamServer::new_tls) for each
/// connection (a larger [`Config`](crate::Config) stack is kept) and by `mayfly stress --tls`.
///
/// ```
/// let kib = mayfly::tls::TLS_STACK_SIZE / 1024;
/// assert_eq!(kib, if cfg!(debug_assertions) { 128 } else { 64 });
/// assert!(mayfly::tls::TLS_STACK_SIZE <= mayfly::hub::DEFAULT_STACK_SIZE);
/// ```
pub const TLS_STACK_SIZE: usize = if cfg!(debug_assertions) {
    128 * 1024
} else {
    64 * 1024
};
