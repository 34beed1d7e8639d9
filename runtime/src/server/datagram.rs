//! `DatagramServer`: gevent's UDP server — a receive loop that runs a handler in a new
//! greenlet per datagram, bounded by a cap or a [`Pool`](crate::pool::Pool), with the largest
//! datagram named and configurable, counters in [`ServerStats`], and a graceful stop.
//!
//! UDP is not TCP, and the course says how:
//!
//! - **Datagrams never stick together.** One `send_to` is one `recv_from`: the handler gets
//!   exactly one datagram, never half of one or two glued together (no framing needed).
//! - **Datagrams may be lost** (or reordered, or duplicated). The server never knows: a reply
//!   may not arrive, and a client must time out and ask again. While the handler cap is
//!   reached the server stops reading, and datagrams that do not fit the kernel's receive
//!   buffer are dropped by the kernel, uncounted here.
//! - **No handshake, no connection.** The server cannot tell a client that went away: a
//!   reply to it is sent into the void without an error, and nothing ends.
//!
//! A datagram longer than [`DatagramServer::max_datagram`] (default
//! [`DEFAULT_MAX_DATAGRAM`], gevent's 8192) is detected, not cut short: the server reads with
//! one byte of room more than the limit, so a datagram that fills it was longer (the kernel
//! drops what does not fit, as with `MSG_TRUNC`). It never reaches the handler: it is counted
//! as a protocol error and dropped, or answered with the [`Oversize::Reply`] datagram.
//!
//! Forged sources: a UDP source address can be set by anyone, so a server that answers
//! every datagram can be made to answer itself or another server forever (a reflection
//! loop). Two guards, both off by default (gevent has neither), both checked before a
//! datagram takes a handler: [`refuse_sources`](DatagramServer::refuse_sources) (a
//! [`SourceFilter`]: never the server's own address, a well-known service port or port 0)
//! and [`reply_budget`](DatagramServer::reply_budget) (a [`ReplyBudget`]: so many datagrams
//! a second per source address). What they turn away is dropped unanswered and counted in
//! the gauges [`GAUGE_REFUSED_SOURCE`] and [`GAUGE_OVER_BUDGET`];
//! [`GAUGE_BUDGET_SOURCES`] is the size of the budget's table.
//!
//! How the [`ServerStats`] counters read for datagrams:
//!
//! | counter | counts |
//! |---|---|
//! | `accepted` | datagrams handed to a handler |
//! | `active`, `closed` | handlers running now, handlers finished |
//! | `requests` | what the handler counts (the demo servers: replies sent) |
//! | `bytes_in`, `bytes_out` | bytes received (oversized ones too, up to the limit + 1), bytes sent with [`DatagramSocket`] |
//! | `protocol_errors` | oversized datagrams, and handlers that failed with bad input |
//! | `timeouts`, `resets`, `other_errors`, `panics` | handlers that failed that way |
//! | `accept_errors` | failed receives |
//! | `spawn_errors` | datagrams dropped because no greenlet could be spawned |
//! | `killed` | handlers still running after the grace period of [`stop`](RunningDatagramServer::stop) |

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::backoff::AcceptBackoff;
use super::cap::Cap;
use super::reply_budget::ReplyBudget;
use super::running::Running;
use super::slots::Slots;
use super::source_filter::SourceFilter;
use super::stats::{ErrorClass, Metric, ServerStats, StatsSnapshot};
use crate::greenlet::{Builder, Greenlet};
use crate::lock::Lock;
use crate::net::{ByteCounters, UdpSocket};

/// Default [`DatagramServer::max_datagram`]: 8192 bytes, what gevent's `DatagramServer`
/// reads (`recvfrom(8192)`).
pub const DEFAULT_MAX_DATAGRAM: usize = 8192;
/// The largest payload one UDP datagram can carry over IPv4: 65,535 minus the IP and UDP
/// headers. A bigger `send_to` fails with `EMSGSIZE` at the sender.
pub const MAX_UDP_PAYLOAD: usize = 65_507;
/// Default [`DatagramServer::max_handlers`]: handlers running at once before the server
/// stops reading (datagrams then wait in the kernel's receive buffer, or are dropped there).
pub const DEFAULT_MAX_HANDLERS: u64 = 1024;
/// The stats page's gauge: datagrams dropped unanswered for their source (the server's own
/// address, a reserved port, port 0; see [`SourceFilter`]).
pub const GAUGE_REFUSED_SOURCE: Metric = Metric::counter(
    "udp_refused_source",
    "Datagrams dropped unanswered for their source (own address, reserved port, port 0).",
);
/// The stats page's gauge: datagrams dropped unanswered because their source had spent its
/// [`ReplyBudget`].
pub const GAUGE_OVER_BUDGET: Metric = Metric::counter(
    "udp_over_budget",
    "Datagrams dropped unanswered because their source had spent its reply budget.",
);
/// The stats page's gauge: sources the [`ReplyBudget`] remembers now.
pub const GAUGE_BUDGET_SOURCES: Metric = Metric::gauge(
    "udp_budget_sources",
    "Sources the reply budget remembers now.",
);

type Handler = dyn Fn(Bytes, SocketAddr, &DatagramSocket) -> io::Result<()> + Send + Sync + 'static;

/// What a [`DatagramServer`] does with a datagram longer than its
/// [`max_datagram`](DatagramServer::max_datagram). Either way it is counted as a protocol
/// error and never reaches the handler.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Oversize {
    /// Drop it (the default): the sender hears nothing, as if it were lost.
    #[default]
    Drop,
    /// Answer its sender with this datagram (an error message).
    Reply(Bytes),
}

/// The server's socket as a handler sees it (gevent's `self.socket`): it sends, to the peer
/// or anyone else; receiving is the server's job. Sends are counted in the server's
/// `bytes_out`.
///
/// It is a second handle on the server's socket, so a send that has to wait (the socket's
/// send buffer is full) never disturbs the receive loop; sends are taken one at a time.
#[derive(Debug)]
pub struct DatagramSocket {
    sock: UdpSocket,
    one_at_a_time: Lock,
    bytes: Arc<ByteCounters>,
}

impl DatagramSocket {
    /// Sends one datagram to `addr` (Python's `sendto`). A peer that is gone is not an error:
    /// UDP has no connection, the datagram is simply lost.
    ///
    /// # Errors
    /// The resolution error, or the send error (`EMSGSIZE`: longer than
    /// [`MAX_UDP_PAYLOAD`]).
    pub fn send_to(&self, data: &[u8], addr: impl ToSocketAddrs) -> io::Result<usize> {
        let _one = self.one_at_a_time.acquire();
        let n = self.sock.send_to(data, addr)?;
        self.bytes.add_written(n as u64);
        Ok(n)
    }

    /// The address the server is bound to.
    ///
    /// # Errors
    /// The OS error of the underlying call.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.local_addr()
    }
}

/// A UDP server: one greenlet per datagram (gevent's `DatagramServer`).
///
/// ```
/// use std::time::Duration;
/// use mayfly::net::UdpSocket;
/// use mayfly::server::DatagramServer;
///
/// mayfly::run(|| {
///     // The course's UDP server: answer each datagram uppercased.
///     let server = DatagramServer::bind("127.0.0.1:0", |data, peer, sock| {
///         sock.send_to(&data.to_ascii_uppercase(), peer)?;
///         Ok(())
///     }).unwrap();
///     let running = server.start().unwrap();
///     let mut client = UdpSocket::bind("127.0.0.1:0").unwrap();
///     client.settimeout(Some(Duration::from_secs(5)));
///     client.send_to(b"hello", running.local_addr()).unwrap();
///     let (reply, _) = client.recvfrom(1024).unwrap();
///     assert_eq!(&reply[..], b"HELLO");
///     running.stop(Duration::from_secs(1));
///     assert_eq!(running.stats().accepted, 1);
/// });
/// ```
pub struct DatagramServer {
    socket: UdpSocket,
    handler: Arc<Handler>,
    max_datagram: usize,
    oversize: Oversize,
    max_handlers: Option<u64>,
    pool: Option<crate::pool::Pool>,
    counters: Option<Arc<ServerStats>>,
    source_filter: Option<SourceFilter>,
    reply_budget: Option<ReplyBudget>,
}

impl std::fmt::Debug for DatagramServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatagramServer")
            .field("local_addr", &self.socket.local_addr().ok())
            .field("max_datagram", &self.max_datagram)
            .field("oversize", &self.oversize)
            .field("max_handlers", &self.max_handlers)
            .field("pool", &self.pool)
            .field("source_filter", &self.source_filter)
            .field("reply_budget", &self.reply_budget)
            .finish_non_exhaustive()
    }
}

impl DatagramServer {
    /// A server on an already-bound socket.
    pub fn new<F>(socket: UdpSocket, handler: F) -> Self
    where
        F: Fn(Bytes, SocketAddr, &DatagramSocket) -> io::Result<()> + Send + Sync + 'static,
    {
        let mut socket = socket;
        socket.settimeout(None);
        DatagramServer {
            socket,
            handler: Arc::new(handler),
            max_datagram: DEFAULT_MAX_DATAGRAM,
            oversize: Oversize::Drop,
            max_handlers: Some(DEFAULT_MAX_HANDLERS),
            pool: None,
            counters: None,
            source_filter: None,
            reply_budget: None,
        }
    }

    /// Binds `addr` (see [`crate::net::Bind::udp`]: a port in use is an error) and makes a
    /// server.
    ///
    /// # Errors
    /// As [`Bind::udp`](crate::net::Bind::udp).
    pub fn bind<F>(addr: impl ToSocketAddrs, handler: F) -> io::Result<Self>
    where
        F: Fn(Bytes, SocketAddr, &DatagramSocket) -> io::Result<()> + Send + Sync + 'static,
    {
        Ok(Self::new(UdpSocket::bind(addr)?, handler))
    }

    /// The largest datagram handed to the handler, in bytes (default
    /// [`DEFAULT_MAX_DATAGRAM`]; at least 1, at most [`MAX_UDP_PAYLOAD`] + 1). A longer one is
    /// detected and handled as [`oversize`](DatagramServer::oversize) says.
    ///
    /// ```
    /// use mayfly::server::{DatagramServer, Oversize};
    /// let server = DatagramServer::bind("127.0.0.1:0", |_d, _p, _s| Ok(())).unwrap()
    ///     .max_datagram(1024)
    ///     .oversize(Oversize::Reply("too long".into()));
    /// ```
    pub fn max_datagram(mut self, bytes: usize) -> Self {
        self.max_datagram = bytes.clamp(1, MAX_UDP_PAYLOAD + 1);
        self
    }

    /// What to do with a datagram over [`max_datagram`](DatagramServer::max_datagram):
    /// drop it (default) or answer with a fixed error datagram.
    pub fn oversize(mut self, what: Oversize) -> Self {
        self.oversize = what;
        self
    }

    /// Caps the handlers running at once: while that many run, the server stops reading. A
    /// count (`0`: no cap) or a [`Cap`]; [`Cap::Default`] is [`DEFAULT_MAX_HANDLERS`],
    /// [`Cap::Unlimited`] is gevent's default.
    ///
    /// ```
    /// use mayfly::server::{Cap, DatagramServer};
    /// let server = DatagramServer::bind("127.0.0.1:0", |_d, _p, _s| Ok(())).unwrap()
    ///     .max_handlers(Cap::Unlimited);
    /// ```
    pub fn max_handlers(mut self, cap: impl Into<Cap>) -> Self {
        self.max_handlers = cap.into().limit(|| Some(DEFAULT_MAX_HANDLERS));
        self
    }

    /// Runs handlers in `pool` (gevent's `DatagramServer(addr, handle, spawn=Pool(n))`):
    /// while the pool is full the server stops reading. Applies besides
    /// [`max_handlers`](DatagramServer::max_handlers).
    pub fn pool(mut self, pool: crate::pool::Pool) -> Self {
        self.pool = Some(pool);
        self
    }

    /// Drops, unanswered, every datagram whose source `filter` refuses (the server's own
    /// address, a reserved port, port 0), counted in [`GAUGE_REFUSED_SOURCE`]. Off by
    /// default.
    ///
    /// ```
    /// use mayfly::server::{DatagramServer, SourceFilter};
    /// let server = DatagramServer::bind("127.0.0.1:0", |_d, _p, _s| Ok(())).unwrap()
    ///     .refuse_sources(SourceFilter::default());
    /// ```
    pub fn refuse_sources(mut self, filter: SourceFilter) -> Self {
        self.source_filter = Some(filter);
        self
    }

    /// Hands a source's datagrams to the handler only while it has `budget` left (a token
    /// bucket per source address); the others are dropped unanswered, counted in
    /// [`GAUGE_OVER_BUDGET`]. Off by default.
    ///
    /// ```
    /// use mayfly::server::{DatagramServer, ReplyBudget};
    /// let server = DatagramServer::bind("127.0.0.1:0", |_d, _p, _s| Ok(())).unwrap()
    ///     .reply_budget(ReplyBudget::new(1000, 200, 4096));
    /// ```
    pub fn reply_budget(mut self, budget: ReplyBudget) -> Self {
        self.reply_budget = Some(budget);
        self
    }

    /// Records into `counters` instead of fresh ones (to share them with a stats page
    /// started before the server).
    pub fn with_counters(mut self, counters: Arc<ServerStats>) -> Self {
        self.counters = Some(counters);
        self
    }

    /// The address the server is bound to.
    ///
    /// # Errors
    /// The OS error of the underlying call.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Starts receiving in a greenlet named `recv-<addr>` and returns at once.
    ///
    /// # Errors
    /// The error of duplicating the socket for the handlers' sends.
    ///
    /// # Panics
    /// If the receive greenlet cannot be spawned (no stack).
    pub fn start(self) -> io::Result<RunningDatagramServer> {
        let addr = self.local_addr()?;
        let stats = self.counters.unwrap_or_default();
        let sender = Arc::new(DatagramSocket {
            sock: self.socket.try_clone()?,
            one_at_a_time: Lock::new(),
            bytes: stats.bytes(),
        });
        let guards = Guards {
            local: addr,
            refused: self
                .source_filter
                .map(|f| (f, stats.gauge(GAUGE_REFUSED_SOURCE))),
            budget: self.reply_budget.map(|b| {
                (
                    b,
                    stats.gauge(GAUGE_OVER_BUDGET),
                    stats.gauge(GAUGE_BUDGET_SOURCES),
                )
            }),
        };
        let slots = Arc::new(Slots::new(stats, self.max_handlers, self.pool));
        let settings = RecvSettings {
            max_datagram: self.max_datagram,
            oversize: self.oversize,
            guards,
        };
        let (s2, socket, handler) = (slots.clone(), self.socket, self.handler);
        let recv = Builder::new()
            .name(format!("recv-{addr}"))
            .spawn(move || recv_loop(socket, sender, handler, settings, s2))
            .unwrap_or_else(|e| panic!("DatagramServer::start: {e}"));
        Ok(RunningDatagramServer { addr, recv, slots })
    }

    /// Starts and serves until the server is stopped (gevent's `serve_forever`).
    ///
    /// # Errors
    /// As [`start`](DatagramServer::start).
    pub fn serve_forever(self) -> io::Result<()> {
        let running = self.start()?;
        running.recv.join(None);
        Ok(())
    }
}

struct RecvSettings {
    max_datagram: usize,
    oversize: Oversize,
    guards: Guards,
}

/// The receive loop's checks of a datagram's source, with the gauges they count in.
struct Guards {
    local: SocketAddr,
    refused: Option<(SourceFilter, Arc<AtomicU64>)>,
    budget: Option<(ReplyBudget, Arc<AtomicU64>, Arc<AtomicU64>)>,
}

impl Guards {
    /// Whether a datagram from `peer` may be handled (counted when not).
    fn admit(&mut self, peer: SocketAddr) -> bool {
        if let Some((filter, refused)) = &self.refused {
            if filter.refuses(peer, self.local).is_some() {
                refused.fetch_add(1, Ordering::Relaxed);
                return false;
            }
        }
        if let Some((budget, over, sources)) = &mut self.budget {
            let ok = budget.allow(peer, Instant::now());
            sources.store(budget.sources() as u64, Ordering::Relaxed);
            if !ok {
                over.fetch_add(1, Ordering::Relaxed);
                return false;
            }
        }
        true
    }
}

/// A started [`DatagramServer`]: its address, counters, and
/// [`stop`](RunningDatagramServer::stop). Implements [`Running`].
pub struct RunningDatagramServer {
    addr: SocketAddr,
    recv: Greenlet<()>,
    /// The datagrams' handlers: cap, pool, registry, drain.
    slots: Arc<Slots>,
}

impl std::fmt::Debug for RunningDatagramServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningDatagramServer")
            .field("addr", &self.addr)
            .field("recv", &self.recv)
            .field("stats", &self.slots.stats().snapshot())
            .finish_non_exhaustive()
    }
}

impl RunningDatagramServer {
    /// The address it is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// A copy of its counters now.
    pub fn stats(&self) -> StatsSnapshot {
        self.slots.stats().snapshot()
    }

    /// The live counters, to share with a stats page.
    pub fn counters(&self) -> Arc<ServerStats> {
        self.slots.stats().clone()
    }

    /// Stops reading at once, lets running handlers finish for up to `grace` (they can
    /// still send), then kills the rest. Returns how many were killed. Once it returns
    /// the socket is closed (the port can be bound again). Callable from a greenlet or from
    /// any OS thread. A grace of `Duration::MAX` (or any too long for an `Instant`) waits
    /// without limit.
    pub fn stop(&self, grace: Duration) -> u64 {
        self.slots.begin_stop();
        self.recv.kill();
        self.slots.drain(grace)
    }

    /// Waits until the receive loop ends (after [`stop`](RunningDatagramServer::stop)).
    pub fn join(&self) {
        self.recv.join(None);
    }

    /// Like [`join`](RunningDatagramServer::join) with at most `timeout`; returns whether
    /// it ended.
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        self.recv.join_timeout(timeout)
    }
}

impl Running for RunningDatagramServer {
    fn local_addr(&self) -> SocketAddr {
        RunningDatagramServer::local_addr(self)
    }

    fn counters(&self) -> Arc<ServerStats> {
        RunningDatagramServer::counters(self)
    }

    fn stats(&self) -> StatsSnapshot {
        RunningDatagramServer::stats(self)
    }

    fn stop(&self, grace: Duration) -> u64 {
        RunningDatagramServer::stop(self, grace)
    }
}

fn recv_loop(
    socket: UdpSocket,
    sender: Arc<DatagramSocket>,
    handler: Arc<Handler>,
    mut settings: RecvSettings,
    slots: Arc<Slots>,
) {
    let mut backoff = AcceptBackoff::on("mayfly: recvfrom", socket.local_addr());
    // One byte more than the limit: a datagram that fills the buffer was longer.
    let mut buf = vec![0u8; settings.max_datagram + 1];
    slots.clone().serve(
        &mut backoff,
        || {
            let (n, peer) = socket.recv_from(&mut buf)?;
            Ok((Bytes::copy_from_slice(&buf[..n]), peer))
        },
        |(data, peer), backoff| {
            let stats = slots.stats();
            stats.bytes().add_read(data.len() as u64);
            if !settings.guards.admit(peer) {
                return;
            }
            if data.len() > settings.max_datagram {
                stats.error(ErrorClass::Protocol);
                if let Oversize::Reply(reply) = &settings.oversize {
                    // Lost like any datagram if it cannot be sent; nothing to do about it.
                    let _ = sender.send_to(reply, peer);
                }
                return;
            }
            let (h, tx) = (handler.clone(), sender.clone());
            slots.spawn(
                format!("dgram-{peer}"),
                format_args!("a datagram from {peer}"),
                backoff,
                move || h(data, peer, &tx),
            );
        },
    );
}
