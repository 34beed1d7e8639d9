//! `StreamServer` over TLS: [`StreamServer::bind_tls`] and [`StreamServer::new_tls`] run each
//! connection's handshake inside its own greenlet (a slow or stalled handshake holds only
//! its slot, for at most the handshake timeout) and hand the handler a [`TlsStream`]. Every
//! handshake is counted in the server's [`ServerStats`] gauges (`tls_handshakes`,
//! `tls_failed_<reason>`), read back with [`TlsHandshakeStats::of`].

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::stats::{Metric, ServerStats};
use super::stream::{Handler, StreamServer};
use crate::net::{TcpListener, TcpStream};
use crate::tls::{HandshakeFailure, TlsAcceptor, TlsStream};

/// The counter of finished server handshakes.
pub const GAUGE_TLS_HANDSHAKES: Metric = Metric::counter(
    "tls_handshakes",
    "TLS handshakes that finished (the handler ran).",
);

/// The gauge counting handshakes that failed for `reason`: `tls_failed_<label>`.
///
/// ```
/// use mayfly::tls::HandshakeFailure;
/// assert_eq!(mayfly::server::tls_failed_gauge(HandshakeFailure::NotTls).name, "tls_failed_not_tls");
/// ```
pub fn tls_failed_gauge(reason: HandshakeFailure) -> Metric {
    const HELP: &str = "TLS handshakes that failed for this reason.";
    let name = match reason {
        HandshakeFailure::Timeout => "tls_failed_timeout",
        HandshakeFailure::Closed => "tls_failed_closed",
        HandshakeFailure::NotTls => "tls_failed_not_tls",
        HandshakeFailure::BadCertificate => "tls_failed_bad_certificate",
        HandshakeFailure::AlertReceived => "tls_failed_alert_received",
        HandshakeFailure::Incompatible => "tls_failed_incompatible",
        HandshakeFailure::Protocol => "tls_failed_protocol",
        HandshakeFailure::Io => "tls_failed_io",
    };
    Metric::counter(name, HELP)
}

/// A TLS server's handshake counts, read from its [`ServerStats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsHandshakeStats {
    /// Handshakes that finished (the handler ran).
    pub done: u64,
    /// Failed handshakes per reason, in [`HandshakeFailure::ALL`]'s order.
    pub failed: Vec<(HandshakeFailure, u64)>,
}

impl TlsHandshakeStats {
    /// The counts in `stats` (zero for a server that is not TLS).
    pub fn of(stats: &ServerStats) -> TlsHandshakeStats {
        let gauges = stats.gauges();
        let get = |name: &str| {
            gauges
                .iter()
                .find(|(n, _)| *n == name)
                .map_or(0, |(_, v)| *v)
        };
        TlsHandshakeStats {
            done: get(GAUGE_TLS_HANDSHAKES.name),
            failed: HandshakeFailure::ALL
                .iter()
                .map(|&r| (r, get(tls_failed_gauge(r).name)))
                .collect(),
        }
    }

    /// Handshakes that failed for `reason`.
    pub fn failed(&self, reason: HandshakeFailure) -> u64 {
        self.failed
            .iter()
            .find(|(r, _)| *r == reason)
            .map_or(0, |(_, n)| *n)
    }

    /// Handshakes that failed, any reason.
    pub fn failed_total(&self) -> u64 {
        self.failed.iter().map(|(_, n)| n).sum()
    }
}

impl StreamServer {
    /// A TLS server on an already-bound listener (gevent's `StreamServer(listener, handle,
    /// ssl_context=ctx)`): each connection's greenlet runs the handshake with `acceptor`
    /// (bounded by its handshake timeout), then `handler` with the [`TlsStream`]. A failed
    /// handshake ends the connection with its error (a timeout counts as a timeout, a refusal
    /// as a protocol error) and is counted by reason ([`TlsHandshakeStats`]). Every other
    /// setting (`max_connections`, timeouts, per-peer cap) is the plain server's; the read and
    /// write timeouts bound the handshake's reads and writes too. Each connection's greenlet
    /// gets [`TLS_STACK_SIZE`](crate::tls::TLS_STACK_SIZE) bytes of stack (or the runtime's
    /// default, if larger): rustls in an unoptimised build needs nearly 64 KiB.
    pub fn new_tls<F>(listener: TcpListener, acceptor: TlsAcceptor, handler: F) -> StreamServer
    where
        F: Fn(TlsStream, SocketAddr) -> io::Result<()> + Send + Sync + 'static,
    {
        let handler = move |tcp: TcpStream, peer: SocketAddr, stats: &Arc<ServerStats>| {
            let tls = handshake(&acceptor, tcp, stats)?;
            handler(tls, peer)
        };
        let stack = crate::tls::TLS_STACK_SIZE.max(crate::Config::current().stack_size);
        StreamServer::with_handler(listener, Arc::new(Handler::Counted(Box::new(handler))))
            .stack_size(stack)
            .boxed_handlers()
    }

    /// Binds `addr` and makes a TLS server (see [`new_tls`](Self::new_tls)).
    ///
    /// # Errors
    /// As [`Bind::tcp`](crate::net::Bind::tcp).
    pub fn bind_tls<F>(
        addr: impl ToSocketAddrs,
        acceptor: TlsAcceptor,
        handler: F,
    ) -> io::Result<StreamServer>
    where
        F: Fn(TlsStream, SocketAddr) -> io::Result<()> + Send + Sync + 'static,
    {
        Ok(Self::new_tls(TcpListener::bind(addr)?, acceptor, handler))
    }
}

/// One counted handshake. Not inlined: its frame (rustls's state, about 4 KiB in an optimised
/// build) is gone before the handler runs, instead of staying in the frame under every read
/// the connection parks in, resident for the connection's life.
#[inline(never)]
fn handshake(
    acceptor: &TlsAcceptor,
    tcp: TcpStream,
    stats: &Arc<ServerStats>,
) -> io::Result<TlsStream> {
    match acceptor.accept(tcp) {
        Ok(tls) => {
            stats
                .gauge(GAUGE_TLS_HANDSHAKES)
                .fetch_add(1, Ordering::Relaxed);
            Ok(tls)
        }
        Err(e) => {
            stats
                .gauge(tls_failed_gauge(e.failure()))
                .fetch_add(1, Ordering::Relaxed);
            Err(e.into())
        }
    }
}
