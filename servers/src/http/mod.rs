//! The stats page: every `mayfly serve …` can publish its counters over HTTP, served on the
//! same single worker as the server itself.
//!
//! - `GET /stats`: JSON — uptime, connections active/accepted/closed, requests, bytes,
//!   errors by kind, greenlets alive, RSS, CPU seconds, recent requests/s, and the last
//!   [`HISTORY`] one-second samples.
//! - `GET /metrics`: the same counters, a request latency histogram, the build and the
//!   standard `process_*` readings in the Prometheus text format ([`crate::metrics`]).
//! - `GET /metrics.json`: the figures behind `/metrics` as JSON ([`crate::metrics::Figures`]):
//!   what a `--workers` supervisor reads to render one exposition for all its workers.
//! - `GET /`: a dashboard (one HTML page, no external assets) charting active connections
//!   and requests/s, refreshed every second.
//!
//! With [`Options::tls`] the page is HTTPS (the handshake in each connection's greenlet,
//! counted in the page's own server stats), with every limit below unchanged.
//!
//! The page is served in-process by [`mayfly_http`] (HTTP/1.1 on the hardened
//! may_minihttp, one greenlet per connection on a mayfly `StreamServer`), which holds it to
//! every limit of [`Options`]: connections at once ([`Options::max_connections`]; more wait
//! in the backlog) and per client address ([`Options::max_per_peer`]; more get 503 at once,
//! in the accept loop), [`Options::first_request_timeout`] for a new connection's first
//! request and [`Options::idle_timeout`] for each later one, [`Options::max_request`] bytes
//! of head at most (431), at most [`MAX_HEADERS`] headers (400), no bodies (413; two
//! different `Content-Length`s are 400), [`Options::max_rps`] requests per second for the
//! whole page (so HTTP can take only a bounded share of the worker), and a lingering close
//! of at most [`Options::linger`] after the last answer. Unknown paths get 404, other
//! methods 405. There is no other listener: earlier builds forwarded to may_minihttp on an
//! internal loopback port, which had none of these limits and spun the worker when out of
//! fds (docs/RELIABILITY.md says why it went). A misbehaving HTTP client costs at most one
//! greenlet and its bounded buffer until it times out; the echo traffic never waits on it.
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

mod page;
mod routes;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mayfly::net::Bind;
use mayfly::server::{Cap, RunningServer};
use mayfly_http::HttpServer;

pub use page::{Page, Sample, HISTORY, SAMPLE_EVERY};
pub use routes::{DASHBOARD, ROUTES};

/// Headers accepted in one request; more get 400.
pub const MAX_HEADERS: usize = 16;
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
    /// Serve the page over HTTPS with this acceptor (`--stats-tls-cert/--stats-tls-key`, or
    /// the server's own pair with `--stats-tls`); `None`: plain HTTP.
    pub tls: Option<mayfly::tls::TlsAcceptor>,
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
            tls: None,
        }
    }
}

/// The mayfly-http limits of a page served with `opts`.
fn http_options(opts: &Options) -> mayfly_http::Options {
    mayfly_http::Options {
        max_head_bytes: opts.max_request,
        max_headers: MAX_HEADERS,
        // What the page has always said to too many headers.
        too_many_headers_status: 400,
        // No bodies: any request that announces one gets 413.
        max_body_bytes: 0,
        // A whole request head must arrive within the idle timeout of its first byte.
        request_timeout: Some(opts.idle_timeout),
        read_timeout: Some(opts.idle_timeout),
        first_request_timeout: Some(opts.first_request_timeout),
        write_timeout: Some(opts.idle_timeout),
        max_connections: Cap::AtMost(opts.max_connections.max(1)),
        // A peer over its cap is answered 503 in the accept loop: it takes no slot and waits
        // for nothing, so it cannot lock the page for others (mayfly's PeerLimit, IPv6 by /64).
        max_per_peer: Cap::AtMost(opts.max_per_peer.max(1)),
        max_rps: Some(opts.max_rps),
        linger: opts.linger,
        ..mayfly_http::Options::default()
    }
}

/// A running stats page.
pub struct RunningStats {
    server: RunningServer,
    sampling: Arc<AtomicBool>,
}

impl RunningStats {
    /// The public address.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Stops the port and the sampler.
    pub fn stop(&self) {
        self.sampling.store(false, Ordering::Release);
        self.server.stop(Duration::from_millis(100));
    }
}

/// Starts the stats page for `page` (and its once-a-second sampler).
///
/// # Errors
///
/// Binding `opts.addr` failed, or the sampler greenlet could not be spawned.
pub fn start(opts: &Options, page: Arc<Page>) -> io::Result<RunningStats> {
    let listener = Bind::new(opts.addr.as_str()).tcp()?;
    let served = page.clone();
    let mut server = HttpServer::new(listener, move |req, rsp| routes::answer(&served, req, rsp))
        .options(http_options(opts));
    if let Some(acceptor) = &opts.tls {
        server = server.tls(acceptor.clone());
    }
    let server = server.start();
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
    Ok(RunningStats { server, sampling })
}
