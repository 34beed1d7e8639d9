//! The course's UDP servers on [`mayfly::server::DatagramServer`] (one greenlet per
//! datagram): [`echo`] (`mayfly serve udp-echo`, the answer is the datagram uppercased) and
//! [`time`] (`mayfly serve time`, the answer is the local time in the strftime format the
//! client sent; [`zone_name`] gives its `%Z`). The wire pieces are `mayfly_proto::udp`'s.
//!
//! What the course says about UDP holds here, and the tests check it: a datagram is one
//! message (never two glued together, never half of one), but it may be lost, and there is
//! no handshake — the server answers whoever sent the datagram and cannot tell a client that
//! went away. So both servers answer any number of clients, one datagram at a time, and keep
//! no state about them.
//!
//! A datagram longer than [`Options::max_datagram`] is not read: its sender gets a
//! `too_large` refusal datagram (`{"status":"error","code":"too_large",…}`) and the server
//! goes on.
//!
//! **Forged sources.** Anyone can send a datagram in someone else's name, so a server that
//! answers every datagram is a reflector: two servers made to answer each other loop
//! forever, and a server that answers more than it is sent amplifies a flood. Three limits,
//! on by default (issue 25; docs/RELIABILITY.md has the figures):
//!
//! | limit | default | turned away (stats page gauge) |
//! |---|---|---|
//! | never answer the server's own address, port 0, or a well-known service port ([`mayfly::server::RESERVED_PORTS`]) — [`Options::answer_reserved_ports`] turns the last off | on | `udp_refused_source` |
//! | [`Options::max_replies_per_sec`] per source address (IP and port), [`Options::reply_burst`] saved up, [`Options::reply_budget_sources`] sources remembered | 1000/s, 200, 4096 | `udp_over_budget` (and `udp_budget_sources`) |
//! | [`Options::max_reply_ratio`]: an answer at most this many times its request, on the wire (headers included) | 3 | `udp_over_ratio`, `udp_refusals_shortened`, `udp_refusals_dropped` |
//!
//! One forged datagram that starts a loop then costs each server at most
//! [`DEFAULT_REPLY_BURST`] answers, once: the loop ends when its source's budget is spent.

pub mod echo;
mod reply_ratio;
pub mod time;
pub mod zone_name;

pub use reply_ratio::{GAUGE_OVER_RATIO, GAUGE_REFUSALS_DROPPED, GAUGE_REFUSALS_SHORTENED};

use std::io;
use std::sync::Arc;

use mayfly::net::Bind;
use mayfly::server::{
    Cap, DatagramServer, DatagramSocket, Oversize, ReplyBudget, RunningDatagramServer, ServerStats,
    SourceFilter,
};
use mayfly_proto::udp;

/// Default [`Options::max_datagram`]: gevent's 8192 bytes.
pub const DEFAULT_MAX_DATAGRAM: usize = mayfly::server::DEFAULT_MAX_DATAGRAM;
/// Default [`Options::max_handlers`]: datagrams handled at once before the server stops
/// reading.
pub const DEFAULT_MAX_HANDLERS: u64 = mayfly::server::DEFAULT_MAX_HANDLERS;
/// The largest answer a UDP datagram can carry over IPv4.
pub const MAX_UDP_PAYLOAD: usize = mayfly::server::MAX_UDP_PAYLOAD;
/// Default [`Options::max_replies_per_sec`]: answers a second to one source address.
pub const DEFAULT_MAX_REPLIES_PER_SEC: u64 = mayfly::server::DEFAULT_MAX_REPLIES_PER_SEC;
/// Default [`Options::reply_burst`].
pub const DEFAULT_REPLY_BURST: u64 = mayfly::server::DEFAULT_REPLY_BURST;
/// Default [`Options::reply_budget_sources`].
pub const DEFAULT_REPLY_BUDGET_SOURCES: usize = mayfly::server::DEFAULT_REPLY_BUDGET_SOURCES;
/// Default [`Options::max_reply_ratio`]: QUIC's 3×.
pub const DEFAULT_MAX_REPLY_RATIO: u64 = udp::DEFAULT_MAX_REPLY_RATIO;

/// What both UDP servers take.
#[derive(Debug, Clone)]
pub struct Options {
    /// Address to bind (port 0: any free port). A port in use is an error.
    pub addr: String,
    /// The largest datagram read, bytes; a longer one gets a `too_large` refusal.
    pub max_datagram: usize,
    /// Datagrams handled at once ([`Cap::Default`]: [`DEFAULT_MAX_HANDLERS`]); past it the
    /// server stops reading and the kernel's receive buffer holds (or drops) the rest.
    pub max_handlers: Cap,
    /// Answer datagrams from well-known service ports ([`mayfly::server::RESERVED_PORTS`]:
    /// echo, chargen, DNS, NTP, …) too. Off by default: such a datagram is a reflection
    /// attempt. The server's own address and port 0 are never answered.
    pub answer_reserved_ports: bool,
    /// Answers a second to one source address (IP and port); past it datagrams are
    /// dropped unanswered. 0: no budget.
    pub max_replies_per_sec: u64,
    /// Answers one source may save up (the budget's burst).
    pub reply_burst: u64,
    /// Sources the budget remembers at once (the table is bounded: forged sources cannot
    /// grow it).
    pub reply_budget_sources: usize,
    /// An answer is at most this many times its request, in bytes on the wire (0: no
    /// limit). A refusal that would exceed it goes without its words, or not at all.
    pub max_reply_ratio: u64,
}

impl Options {
    /// Defaults for `addr`.
    pub fn new(addr: impl Into<String>) -> Self {
        Options {
            addr: addr.into(),
            max_datagram: DEFAULT_MAX_DATAGRAM,
            max_handlers: Cap::Default,
            answer_reserved_ports: false,
            max_replies_per_sec: DEFAULT_MAX_REPLIES_PER_SEC,
            reply_burst: DEFAULT_REPLY_BURST,
            reply_budget_sources: DEFAULT_REPLY_BUDGET_SOURCES,
            max_reply_ratio: DEFAULT_MAX_REPLY_RATIO,
        }
    }
}

/// Binds and starts a datagram server with `handler` and `opts`' limits, counting into
/// `stats` (the handler counts its answers there); with SO_REUSEADDR if `reuse_address`.
fn start<F>(
    opts: &Options,
    reuse_address: bool,
    stats: Arc<ServerStats>,
    handler: F,
) -> io::Result<RunningDatagramServer>
where
    F: Fn(bytes::Bytes, std::net::SocketAddr, &DatagramSocket) -> io::Result<()>
        + Send
        + Sync
        + 'static,
{
    // The shortest oversized datagram is max_datagram + 1 bytes: its refusal fits the ratio
    // for that one, so it fits for every longer one.
    let limit = udp::max_reply(opts.max_datagram + 1, false, opts.max_reply_ratio);
    let oversize = udp::refusal_within(&udp::oversize_refusal(opts.max_datagram), limit)
        .map_or(Oversize::Drop, |r| Oversize::Reply(r.into()));
    let socket = Bind::new(opts.addr.as_str())
        .reuse_address(reuse_address)
        .udp()?;
    let mut server = DatagramServer::new(socket, handler)
        .max_datagram(opts.max_datagram)
        .oversize(oversize)
        .max_handlers(opts.max_handlers)
        .refuse_sources(SourceFilter {
            reserved_ports: !opts.answer_reserved_ports,
        })
        .with_counters(stats);
    if opts.max_replies_per_sec > 0 {
        server = server.reply_budget(ReplyBudget::new(
            opts.max_replies_per_sec,
            opts.reply_burst,
            opts.reply_budget_sources,
        ));
    }
    server.start()
}
