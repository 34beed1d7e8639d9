//! The stats page: every `mayfly serve …` can publish its counters over HTTP, served on the
//! same single worker as the server itself.
//!
//! - `GET /stats`: JSON — uptime, connections active/accepted/closed, requests, bytes,
//!   errors by kind, greenlets alive, RSS, CPU seconds, recent requests/s, and the last
//!   [`HISTORY`] one-second samples.
//! - `GET /metrics`: the same counters in Prometheus text format (HELP and TYPE lines).
//! - `GET /`: a dashboard (one HTML page, no external assets) charting active connections
//!   and requests/s, refreshed every second.
//!
//! The page is served in-process by [`guard`], a small HTTP/1.1 loop on a mayfly
//! `StreamServer`: it caps connections ([`Options::max_connections`]; more wait in the
//! backlog) and connections per client address ([`Options::max_per_peer`]; more get 503),
//! gives the first request head [`Options::first_request_timeout`] and each later one
//! [`Options::idle_timeout`] to arrive in full and [`Options::max_request`] bytes at most,
//! refuses bodies, answers unknown paths with 404 and other methods with 405, holds the
//! whole page to [`Options::max_rps`] requests per second (so HTTP can take only a bounded
//! share of the worker), and ends every connection it closes with a lingering close of at
//! most [`Options::linger`]. There is no other listener: earlier builds forwarded to
//! may_minihttp on an internal loopback port, which had none of these limits and spun the
//! worker when out of fds (docs/RELIABILITY.md says why it went). A misbehaving HTTP client
//! costs at most one greenlet and its bounded buffer until it times out; the echo traffic
//! never waits on it.
//!
//! ```
//! use std::sync::Arc;
//! use mayfly::server::ServerStats;
//! use mayfly_servers::http::{self, Options, Page};
//!
//! let page = Page::new("example", Arc::new(ServerStats::new()));
//! let stats = http::start(&Options::new("127.0.0.1:0"), page).unwrap();
//! let mut c = std::net::TcpStream::connect(stats.local_addr()).unwrap();
//! use std::io::{Read, Write};
//! c.write_all(b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
//! let mut reply = String::new();
//! c.read_to_string(&mut reply).unwrap();
//! assert!(reply.starts_with("HTTP/1.1 404"));
//! stats.stop();
//! ```

pub mod guard;
mod page;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mayfly::net::Bind;
use mayfly::server::{RunningServer, StreamServer};

use guard::Reply;
pub use page::{Page, Sample, HISTORY, SAMPLE_EVERY};

/// Default [`Options::max_request`]: 8 KiB of request line and headers.
pub const DEFAULT_MAX_REQUEST: usize = 8 * 1024;
/// Default [`Options::idle_timeout`].
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Default [`Options::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: u64 = 64;
/// Default [`Options::max_rps`].
pub const DEFAULT_MAX_RPS: u64 = 500;
/// Default [`Options::max_per_peer`]: a browser opens ~6, a few scrapers more.
pub const DEFAULT_MAX_PER_PEER: u64 = 16;
/// Default [`Options::first_request_timeout`].
pub const DEFAULT_FIRST_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Default [`Options::linger`].
pub const DEFAULT_LINGER: Duration = Duration::from_secs(2);

/// The dashboard page.
pub const DASHBOARD: &str = include_str!("dashboard.html");

/// How to serve the stats page.
#[derive(Debug, Clone)]
pub struct Options {
    /// Address to listen on (port 0: any free port).
    pub addr: String,
    /// Longest request head accepted; longer gets 431 and the connection closes.
    pub max_request: usize,
    /// Time a client gets to send each full request head after the first; then the
    /// connection closes.
    pub idle_timeout: Duration,
    /// Time a new connection gets to send its first full request head (at most
    /// `idle_timeout`), so idle connections cannot hold the slots for long.
    pub first_request_timeout: Duration,
    /// Connections open at once from one client address; more get 503 at once.
    pub max_per_peer: u64,
    /// Longest time a connection the page closes keeps draining the client's input, so the
    /// last reply is not lost to a reset.
    pub linger: Duration,
    /// HTTP connections served at once; more wait in the listen backlog.
    pub max_connections: u64,
    /// Requests per second the page answers in all; more wait their turn. Each costs the
    /// worker ~50 µs, so the default holds the page to ~2.5% of the worker.
    pub max_rps: u64,
}

impl Options {
    /// Defaults for `addr`.
    pub fn new(addr: impl Into<String>) -> Self {
        Options {
            addr: addr.into(),
            max_request: DEFAULT_MAX_REQUEST,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_rps: DEFAULT_MAX_RPS,
            first_request_timeout: DEFAULT_FIRST_REQUEST_TIMEOUT,
            max_per_peer: DEFAULT_MAX_PER_PEER,
            linger: DEFAULT_LINGER,
        }
    }
}

/// Answers a `GET` of one of the [`guard::ROUTES`].
fn render(page: &Page, path: &str) -> Reply {
    let (content_type, extra, body) = match path {
        "/stats" => (
            "application/json",
            "Cache-Control: no-store\r\n",
            page.json(),
        ),
        "/metrics" => (
            "text/plain; version=0.0.4; charset=utf-8",
            "",
            page.prometheus(),
        ),
        "/" => (
            "text/html; charset=utf-8",
            "",
            DASHBOARD.as_bytes().to_vec(),
        ),
        _ => return Reply::simple("404 Not Found", ""),
    };
    Reply {
        status: "200 OK",
        extra,
        content_type,
        body,
    }
}

/// A running stats page.
pub struct RunningStats {
    guard: RunningServer,
    sampling: Arc<AtomicBool>,
}

impl RunningStats {
    /// The public address.
    pub fn local_addr(&self) -> SocketAddr {
        self.guard.local_addr()
    }

    /// Stops the port and the sampler.
    pub fn stop(&self) {
        self.sampling.store(false, Ordering::Release);
        self.guard.stop(Duration::from_millis(100));
    }
}

/// Starts the stats page for `page` (and its once-a-second sampler).
///
/// # Errors
///
/// Binding `opts.addr` failed, or the sampler greenlet could not be spawned.
pub fn start(opts: &Options, page: Arc<Page>) -> io::Result<RunningStats> {
    let listener = Bind::new(opts.addr.as_str()).tcp()?;
    let limits = guard::Limits {
        max_request: opts.max_request,
        first_request_timeout: opts.first_request_timeout,
        idle_timeout: opts.idle_timeout,
        linger: opts.linger,
        rate: Arc::new(guard::RateLimit::new(opts.max_rps)),
    };
    let served = page.clone();
    // A peer over its cap is answered 503 in the accept loop: it takes no slot and waits
    // for nothing, so it cannot lock the page for others (mayfly's PeerLimit, IPv6 by /64).
    let busy = Reply::simple("503 Service Unavailable", "Retry-After: 1\r\n").encode(true);
    let guard = StreamServer::new(listener, move |conn, _peer: SocketAddr| {
        guard::serve(conn, &limits, |path| render(&served, path))
    })
    .max_connections(opts.max_connections.max(1))
    .max_per_peer(opts.max_per_peer.max(1))
    .refuse_with(busy)
    .write_timeout(Some(opts.idle_timeout))
    .start();
    let sampling = Arc::new(AtomicBool::new(true));
    let s2 = sampling.clone();
    mayfly::Builder::new()
        .name("stats-sampler")
        .spawn(move || {
            while s2.load(Ordering::Acquire) {
                mayfly::sleep(SAMPLE_EVERY);
                page.sample();
            }
        })
        .map_err(io::Error::other)?;
    Ok(RunningStats { guard, sampling })
}
