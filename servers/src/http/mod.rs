//! The stats page: every `mayfly serve …` can publish its counters over HTTP, served by
//! may_minihttp on the same single worker as the server itself.
//!
//! - `GET /stats`: JSON — uptime, connections active/accepted/closed, requests, bytes,
//!   errors by kind, greenlets alive, RSS, CPU seconds, recent requests/s, and the last
//!   [`HISTORY`] one-second samples.
//! - `GET /metrics`: the same counters in Prometheus text format (HELP and TYPE lines).
//! - `GET /`: a dashboard (one HTML page, no external assets) charting active connections
//!   and requests/s, refreshed every second.
//!
//! may_minihttp has no limits of its own, so the public port is a guard
//! ([`guard`]) that caps connections ([`Options::max_connections`]; more wait in the
//! backlog), gives each request head [`Options::idle_timeout`] to arrive in full and
//! [`Options::max_request`] bytes at most, refuses bodies, answers unknown paths with 404
//! and other methods with 405, holds the whole page to [`Options::max_rps`] requests per
//! second (so HTTP can take only a bounded share of the worker), and forwards the rest to
//! may_minihttp on an internal loopback port, with a random per-process token header that
//! may_minihttp checks (403 without it), so the internal port is no way around the guard. A misbehaving HTTP client costs at most one guard greenlet and its
//! bounded buffer until it times out; the echo traffic never waits on it.
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

use may_minihttp::{HttpServer, HttpService, Request, Response};
use mayfly::net::Bind;
use mayfly::server::{RunningServer, StreamServer};

pub use page::{Page, Sample, HISTORY, SAMPLE_EVERY};

/// Default [`Options::max_request`]: 8 KiB of request line and headers.
pub const DEFAULT_MAX_REQUEST: usize = 8 * 1024;
/// Default [`Options::idle_timeout`].
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Default [`Options::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: u64 = 64;
/// Default [`Options::max_rps`].
pub const DEFAULT_MAX_RPS: u64 = 500;

/// The dashboard page.
pub const DASHBOARD: &str = include_str!("dashboard.html");

/// How to serve the stats page.
#[derive(Debug, Clone)]
pub struct Options {
    /// Address to listen on (port 0: any free port).
    pub addr: String,
    /// Longest request head accepted; longer gets 431 and the connection closes.
    pub max_request: usize,
    /// Time a client gets to send each full request head; then the connection closes.
    pub idle_timeout: Duration,
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
        }
    }
}

/// may_minihttp's side: renders the three pages, for requests that carry the guard's token.
#[derive(Clone)]
struct StatsService(Arc<Page>, Arc<str>);

impl HttpService for StatsService {
    fn call(&mut self, req: Request, rsp: &mut Response) -> io::Result<()> {
        let through_guard = req.headers().iter().any(|h| {
            h.name.eq_ignore_ascii_case(guard::TOKEN_HEADER) && h.value == self.1.as_bytes()
        });
        if !through_guard {
            rsp.status_code(403, "Forbidden");
            rsp.body("403 Forbidden: use the public stats address\n");
            return Ok(());
        }
        match req.path().split('?').next().unwrap_or("/") {
            "/stats" => {
                rsp.header("Content-Type: application/json")
                    .header("Cache-Control: no-store");
                rsp.body_vec(self.0.json());
            }
            "/metrics" => {
                rsp.header("Content-Type: text/plain; version=0.0.4; charset=utf-8");
                rsp.body_vec(self.0.prometheus());
            }
            "/" => {
                rsp.header("Content-Type: text/html; charset=utf-8");
                rsp.body(DASHBOARD);
            }
            _ => {
                // The guard only forwards known paths.
                rsp.status_code(404, "Not Found");
                rsp.body("404 Not Found\n");
            }
        }
        Ok(())
    }
}

/// A running stats page.
pub struct RunningStats {
    guard: RunningServer,
    sampling: Arc<AtomicBool>,
    internal: SocketAddr,
}

impl RunningStats {
    /// The public address.
    pub fn local_addr(&self) -> SocketAddr {
        self.guard.local_addr()
    }

    /// may_minihttp's internal loopback address (it answers only the guard: 403 otherwise).
    pub fn internal_addr(&self) -> SocketAddr {
        self.internal
    }

    /// Stops the public port and the sampler. (may_minihttp's internal listener has no stop
    /// of its own; it goes with the process, answering 403 to anything but the guard.)
    pub fn stop(&self) {
        self.sampling.store(false, Ordering::Release);
        self.guard.stop(Duration::from_millis(100));
    }
}

/// Starts the stats page for `page` (and its once-a-second sampler).
pub fn start(opts: &Options, page: Arc<Page>) -> io::Result<RunningStats> {
    let listener = Bind::new(opts.addr.as_str()).tcp()?;
    let mut random = [0u8; 16];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut random)?;
    let token: Arc<str> = mayfly_proto::hex(&random).into();
    let inner = start_minihttp(page.clone(), token.clone())?;
    let limits = guard::Limits {
        max_request: opts.max_request,
        idle_timeout: opts.idle_timeout,
        rate: Arc::new(guard::RateLimit::new(opts.max_rps)),
        token_header: format!("{}: {token}", guard::TOKEN_HEADER).into(),
    };
    let guard = StreamServer::new(listener, move |conn, _| guard::serve(conn, inner, &limits))
        .max_connections(Some(opts.max_connections.max(1)))
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
    Ok(RunningStats {
        guard,
        sampling,
        internal: inner,
    })
}

/// Starts may_minihttp on a free loopback port and returns it. may_minihttp binds by itself
/// and does not say which port it got, so a free one is found first (and tried again if
/// another process takes it in between).
fn start_minihttp(page: Arc<Page>, token: Arc<str>) -> io::Result<SocketAddr> {
    mayfly::hub::ensure_started();
    let mut last = None;
    for _ in 0..10 {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        match HttpServer(StatsService(page.clone(), token.clone())).start(addr) {
            Ok(_handle) => return Ok(addr),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no free port for the stats page")))
}
