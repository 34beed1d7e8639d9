//! The course's UDP servers on [`mayfly::server::DatagramServer`] (one greenlet per
//! datagram): [`echo`] (`mayfly serve udp-echo`, the answer is the datagram uppercased) and
//! [`time`] (`mayfly serve time`, the answer is the local time in the strftime format the
//! client sent). The wire pieces are `mayfly_proto::udp`'s.
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

pub mod echo;
pub mod time;

use std::io;
use std::sync::Arc;

use mayfly::server::{
    Cap, DatagramServer, DatagramSocket, Oversize, RunningDatagramServer, ServerStats,
};
use mayfly_proto::udp;

/// Default [`Options::max_datagram`]: gevent's 8192 bytes.
pub const DEFAULT_MAX_DATAGRAM: usize = mayfly::server::DEFAULT_MAX_DATAGRAM;
/// Default [`Options::max_handlers`]: datagrams handled at once before the server stops
/// reading.
pub const DEFAULT_MAX_HANDLERS: u64 = mayfly::server::DEFAULT_MAX_HANDLERS;
/// The largest answer a UDP datagram can carry over IPv4.
pub const MAX_UDP_PAYLOAD: usize = mayfly::server::MAX_UDP_PAYLOAD;

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
}

impl Options {
    /// Defaults for `addr`.
    pub fn new(addr: impl Into<String>) -> Self {
        Options {
            addr: addr.into(),
            max_datagram: DEFAULT_MAX_DATAGRAM,
            max_handlers: Cap::Default,
        }
    }
}

/// Binds and starts a datagram server with `handler` and `opts`' limits, counting into
/// `stats` (the handler counts its answers there).
fn start<F>(
    opts: &Options,
    stats: Arc<ServerStats>,
    handler: F,
) -> io::Result<RunningDatagramServer>
where
    F: Fn(bytes::Bytes, std::net::SocketAddr, &DatagramSocket) -> io::Result<()>
        + Send
        + Sync
        + 'static,
{
    let refusal = udp::refusal(&udp::oversize_refusal(opts.max_datagram));
    DatagramServer::bind(opts.addr.as_str(), handler)?
        .max_datagram(opts.max_datagram)
        .oversize(Oversize::Reply(refusal.into()))
        .max_handlers(opts.max_handlers)
        .with_counters(stats)
        .start()
}
