//! The reply-size rule of the UDP servers: an answer is at most `max_reply_ratio` times its
//! request on the wire (`mayfly_proto::udp::max_reply`), so a forged request cannot make a
//! server send more than a small multiple of it to someone else. [`RatioGuard`] applies it
//! to a handler's answer and counts what it held back in the stats page's gauges.

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use mayfly::server::{Metric, ServerStats};
use mayfly_proto::udp;

/// The stats page's gauge: answers not sent because they would exceed
/// `Options::max_reply_ratio` (a refusal went instead, or nothing).
pub const GAUGE_OVER_RATIO: Metric = Metric::counter(
    "udp_over_ratio",
    "Answers not sent because they would exceed the reply ratio.",
);
/// The stats page's gauge: refusals sent without their words, to fit the ratio.
pub const GAUGE_REFUSALS_SHORTENED: Metric = Metric::counter(
    "udp_refusals_shortened",
    "Refusals sent without their words, to fit the reply ratio.",
);
/// The stats page's gauge: refusals not sent at all, as even the short one would not fit.
pub const GAUGE_REFUSALS_DROPPED: Metric = Metric::counter(
    "udp_refusals_dropped",
    "Refusals not sent at all, as even the short one would not fit the ratio.",
);

/// What a handler sends in answer to a request of `request_len` bytes from `peer`: the
/// answer if it fits the reply ratio (`Options::max_reply_ratio`), else the refusal `too_large` made to
/// fit, else nothing; counted in the ratio's gauges.
pub(crate) struct RatioGuard {
    ratio: u64,
    over_ratio: Arc<AtomicU64>,
    shortened: Arc<AtomicU64>,
    dropped: Arc<AtomicU64>,
}

impl RatioGuard {
    pub(crate) fn new(ratio: u64, stats: &ServerStats) -> Self {
        RatioGuard {
            ratio,
            over_ratio: stats.gauge(GAUGE_OVER_RATIO),
            shortened: stats.gauge(GAUGE_REFUSALS_SHORTENED),
            dropped: stats.gauge(GAUGE_REFUSALS_DROPPED),
        }
    }

    /// The longest answer `peer` may get to a request of `request_len` bytes.
    pub(crate) fn limit(&self, request_len: usize, peer: SocketAddr) -> usize {
        let ipv6 = !peer.ip().to_canonical().is_ipv4();
        udp::max_reply(request_len, ipv6, self.ratio)
    }

    /// `refusal` as a datagram of at most `limit` bytes, or `None` (counted).
    pub(crate) fn refusal(&self, refusal: &mayfly_proto::Refusal, limit: usize) -> Option<Vec<u8>> {
        let sent = udp::refusal_within(refusal, limit);
        match &sent {
            None => self.dropped.fetch_add(1, Relaxed),
            Some(s) if s.len() < udp::refusal(refusal).len() => {
                self.shortened.fetch_add(1, Relaxed)
            }
            Some(_) => 0,
        };
        sent
    }

    /// An answer over the limit was not sent (counted).
    pub(crate) fn over(&self) {
        self.over_ratio.fetch_add(1, Relaxed);
    }
}
