//! Servers: gevent's `StreamServer` (TCP, one greenlet per connection) and `DatagramServer`
//! (UDP, one greenlet per datagram), and [`Running`], what every started server offers: its
//! address, its counters, a graceful stop.
//!
//! One module a job: the two servers (`stream`, `datagram`) run their handlers in one engine
//! (`slots`: cap, pool, spawn, registry, drain); the counters are in `stats`
//! ([`ServerStats`], and [`Metric`]: a server's own value), the request latency histogram in
//! `latency` ([`LatencyHistogram`]), the accept back-off in `backoff` ([`AcceptBackoff`]), a
//! handler's error as a log event in `handler_log`, the per-peer cap and the default caps
//! in `limits` ([`PeerLimit`]), the one convention for count limits in `cap` ([`Cap`]), the
//! datagram server's guards against forged sources in `source_filter`
//! ([`SourceFilter`]) and `reply_budget` ([`ReplyBudget`]), the TLS form of `StreamServer` and
//! its handshake counts in `tls` ([`TlsHandshakeStats`]), the server over a Unix listener in
//! `unix` ([`UnixStreamServer`], from [`StreamServer::bind_unix`]). This file only re-exports
//! them.

mod backoff;
mod cap;
mod datagram;
mod handler_log;
mod latency;
mod limits;
mod reply_budget;
mod running;
mod slots;
mod source_filter;
mod stats;
mod stream;
mod tls;
mod unix;

pub use backoff::{
    accept_error_is_transient, AcceptBackoff, ACCEPT_BACKOFF_MAX, ACCEPT_BACKOFF_MIN,
};
pub use cap::Cap;
pub use datagram::{
    DatagramServer, DatagramSocket, Oversize, RunningDatagramServer, DEFAULT_MAX_DATAGRAM,
    DEFAULT_MAX_HANDLERS, GAUGE_BUDGET_SOURCES, GAUGE_OVER_BUDGET, GAUGE_REFUSED_SOURCE,
    MAX_UDP_PAYLOAD,
};
pub use latency::{LatencyHistogram, LatencySnapshot, RequestStart, LATENCY_BOUNDS};
pub use limits::{
    default_max_connections, default_max_per_peer, fd_limit, peer_key, PeerLimit, PeerSlot,
    DEFAULT_FD_RESERVE, DEFAULT_PEER_SHARE_PERCENT,
};
pub use reply_budget::{
    ReplyBudget, DEFAULT_MAX_REPLIES_PER_SEC, DEFAULT_REPLY_BUDGET_SOURCES, DEFAULT_REPLY_BURST,
};
pub use running::Running;
pub use source_filter::{Refused, SourceFilter, RESERVED_PORTS};
pub use stats::{ErrorClass, Metric, MetricKind, ServerStats, StatsSnapshot};
pub use stream::{RunningServer, StreamServer, DEFAULT_STOP_GRACE};
pub use tls::{tls_failed_gauge, TlsHandshakeStats, GAUGE_TLS_HANDSHAKES};
pub use unix::{RunningUnixServer, UnixStreamServer};
