//! A server's counters: [`ServerStats`] (live, shared by the accept loop and the handlers),
//! [`StatsSnapshot`] (a copy at one moment) and [`ErrorClass`] (how a connection ended).
//! Every server build records into the same counters, so every build reports the same.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::net::ByteCounters;

use super::latency::{LatencyHistogram, LatencySnapshot, RequestStart};
use crate::worker_counter::WorkerCounter;

/// Counters a server keeps; read a consistent-enough copy with [`ServerStats::snapshot`].
///
/// [`StreamServer`](super::StreamServer) keeps them itself. Other servers (the threads and epoll echo builds)
/// record into one with [`conn_opened`](ServerStats::conn_opened),
/// [`conn_closed`](ServerStats::conn_closed) and friends, so every build reports the same.
///
/// ```
/// use mayfly::server::ServerStats;
/// let stats = ServerStats::new();
/// stats.conn_opened();
/// stats.bytes().add_read(5);
/// stats.conn_closed(&Err(std::io::ErrorKind::TimedOut.into()));
/// let s = stats.snapshot();
/// assert_eq!((s.accepted, s.active, s.closed, s.timeouts, s.bytes_in), (1, 0, 1, 1, 5));
/// ```
#[derive(Debug)]
pub struct ServerStats {
    started: Instant,
    accepted: AtomicU64,
    active: AtomicU64,
    closed: AtomicU64,
    /// On the worker a plain store (`worker_counter`): one a request.
    requests: WorkerCounter,
    timeouts: AtomicU64,
    resets: AtomicU64,
    protocol_errors: AtomicU64,
    other_errors: AtomicU64,
    panics: AtomicU64,
    accept_errors: AtomicU64,
    spawn_errors: AtomicU64,
    killed: AtomicU64,
    bytes: Arc<ByteCounters>,
    latency: LatencyHistogram,
    gauges: Mutex<Vec<(Metric, Arc<AtomicU64>)>>,
}

/// Whether a server-specific [`Metric`] only goes up (a counter) or goes up and down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// Only goes up (`/metrics`: a counter, `_total`).
    Counter,
    /// Goes up and down.
    Gauge,
}

/// A server-specific value the stats page shows: its name (the key under `"gauges"` in
/// `/stats`, `mayfly_NAME` in `/metrics`, with `_total` for a counter), its kind and the
/// `# HELP` line.
///
/// ```
/// use mayfly::server::{Metric, MetricKind};
/// const PARTIALS: Metric = Metric::gauge("partials", "Resumable partial uploads kept.");
/// assert_eq!((PARTIALS.name, PARTIALS.kind), ("partials", MetricKind::Gauge));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metric {
    /// Its name: lowercase words joined by `_`, no `_total`.
    pub name: &'static str,
    /// Counter or gauge.
    pub kind: MetricKind,
    /// One sentence saying what it counts.
    pub help: &'static str,
}

impl Metric {
    /// A value that only goes up.
    pub const fn counter(name: &'static str, help: &'static str) -> Metric {
        Metric {
            name,
            kind: MetricKind::Counter,
            help,
        }
    }

    /// A value that goes up and down.
    pub const fn gauge(name: &'static str, help: &'static str) -> Metric {
        Metric {
            name,
            kind: MetricKind::Gauge,
            help,
        }
    }
}

/// A copy of a server's counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Milliseconds since the counters started.
    pub uptime_ms: u64,
    /// Connections accepted.
    pub accepted: u64,
    /// Connections being handled now.
    pub active: u64,
    /// Connections finished (any way).
    pub closed: u64,
    /// Requests served (for the echo server: replies sent).
    pub requests: u64,
    /// Bytes read from clients.
    pub bytes_in: u64,
    /// Bytes written to clients.
    pub bytes_out: u64,
    /// Connections ended by a read or write timeout (idle, slow or not-reading clients).
    pub timeouts: u64,
    /// Connections the peer reset or broke (ECONNRESET, EPIPE, ECONNABORTED).
    pub resets: u64,
    /// Connections ended by bad input (`InvalidData`, a peer closing mid-message).
    pub protocol_errors: u64,
    /// Connections ended by any other error.
    pub other_errors: u64,
    /// Handlers that returned an error: the four kinds above together.
    pub handler_errors: u64,
    /// Handlers that panicked.
    pub panics: u64,
    /// Failed `accept` calls (EMFILE and friends).
    pub accept_errors: u64,
    /// Connections dropped because no greenlet could be spawned.
    pub spawn_errors: u64,
    /// Connections killed at shutdown after the grace period.
    pub killed: u64,
}

/// How a connection ended, by the error that ended it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// A read or write timed out.
    Timeout,
    /// The peer reset or broke the connection.
    Reset,
    /// Bad input.
    Protocol,
    /// Anything else.
    Other,
}

impl ErrorClass {
    /// Classifies an I/O error.
    ///
    /// ```
    /// use mayfly::server::ErrorClass;
    /// use std::io::ErrorKind;
    /// assert_eq!(ErrorClass::of(&ErrorKind::ConnectionReset.into()), ErrorClass::Reset);
    /// assert_eq!(ErrorClass::of(&ErrorKind::WouldBlock.into()), ErrorClass::Timeout);
    /// ```
    pub fn of(e: &io::Error) -> ErrorClass {
        use io::ErrorKind::*;
        match e.kind() {
            TimedOut | WouldBlock => ErrorClass::Timeout,
            ConnectionReset | ConnectionAborted | BrokenPipe | NotConnected => ErrorClass::Reset,
            InvalidData | InvalidInput | UnexpectedEof => ErrorClass::Protocol,
            _ => ErrorClass::Other,
        }
    }
}

impl Default for ServerStats {
    fn default() -> Self {
        ServerStats::new()
    }
}

impl ServerStats {
    /// Zeroed counters; uptime starts now.
    pub fn new() -> Self {
        let z = || AtomicU64::new(0);
        ServerStats {
            started: Instant::now(),
            accepted: z(),
            active: z(),
            closed: z(),
            requests: WorkerCounter::new(),
            timeouts: z(),
            resets: z(),
            protocol_errors: z(),
            other_errors: z(),
            panics: z(),
            accept_errors: z(),
            spawn_errors: z(),
            killed: z(),
            bytes: Arc::new(ByteCounters::default()),
            latency: LatencyHistogram::default(),
            gauges: Mutex::new(Vec::new()),
        }
    }

    /// The counters now.
    pub fn snapshot(&self) -> StatsSnapshot {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let (timeouts, resets, protocol_errors, other_errors) = (
            l(&self.timeouts),
            l(&self.resets),
            l(&self.protocol_errors),
            l(&self.other_errors),
        );
        StatsSnapshot {
            uptime_ms: self.started.elapsed().as_millis() as u64,
            accepted: l(&self.accepted),
            active: l(&self.active),
            closed: l(&self.closed),
            requests: self.requests.get(),
            bytes_in: self.bytes.read(),
            bytes_out: self.bytes.written(),
            timeouts,
            resets,
            protocol_errors,
            other_errors,
            handler_errors: timeouts + resets + protocol_errors + other_errors,
            panics: l(&self.panics),
            accept_errors: l(&self.accept_errors),
            spawn_errors: l(&self.spawn_errors),
            killed: l(&self.killed),
        }
    }

    /// The byte counters (attach them to a stream with `count_bytes`, or add to them).
    pub fn bytes(&self) -> Arc<ByteCounters> {
        self.bytes.clone()
    }

    /// A connection was accepted and is being served.
    pub fn conn_opened(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
        self.active.fetch_add(1, Ordering::AcqRel);
    }

    /// A connection ended, with its handler's result.
    pub fn conn_closed(&self, outcome: &io::Result<()>) {
        if let Err(e) = outcome {
            self.error(ErrorClass::of(e));
        }
        self.active.fetch_sub(1, Ordering::AcqRel);
        self.closed.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one error of `class`.
    pub fn error(&self, class: ErrorClass) {
        let c = match class {
            ErrorClass::Timeout => &self.timeouts,
            ErrorClass::Reset => &self.resets,
            ErrorClass::Protocol => &self.protocol_errors,
            ErrorClass::Other => &self.other_errors,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts `n` requests served.
    #[inline]
    pub fn requests(&self, n: u64) {
        self.requests.add(n);
    }

    /// A handler panicked.
    pub fn panicked(&self) {
        self.panics.fetch_add(1, Ordering::Relaxed);
    }

    /// An `accept` failed.
    pub fn accept_error(&self) {
        self.accept_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection was dropped because no greenlet (or thread) could be started for it.
    pub fn spawn_error(&self) {
        self.spawn_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Connections killed after the grace period.
    pub fn killed(&self, n: u64) {
        self.killed.fetch_add(n, Ordering::Relaxed);
    }

    /// Connections open now.
    pub fn active(&self) -> u64 {
        self.active.load(Ordering::Acquire)
    }

    /// One request took `d` (from its arrival to its answer, as the server can time it):
    /// two adds, see [`LatencyHistogram`].
    #[inline]
    pub fn request_took(&self, d: Duration) {
        self.latency.observe(d);
    }

    /// One request that started at `start` is answered:
    /// [`request_took`](ServerStats::request_took) of its time since then, read and recorded
    /// in integers (see [`RequestStart`]).
    ///
    /// ```
    /// use mayfly::server::{RequestStart, ServerStats};
    /// let stats = ServerStats::new();
    /// let start = RequestStart::now();
    /// stats.request_done(start);
    /// assert_eq!(stats.latency().count, 1);
    /// ```
    #[inline]
    pub fn request_done(&self, start: RequestStart) {
        self.latency.observe_ns(start.elapsed_ns());
    }

    /// The request latency histogram now.
    pub fn latency(&self) -> LatencySnapshot {
        self.latency.snapshot()
    }

    /// The server-specific value `metric` (created at 0 on first use, found by name after):
    /// the server stores into it, the stats page shows every one under `"gauges"` in
    /// `/stats` and as its own family in `/metrics`.
    ///
    /// ```
    /// use std::sync::atomic::Ordering;
    /// use mayfly::server::{Metric, ServerStats};
    /// let stats = ServerStats::new();
    /// stats.gauge(Metric::gauge("partials", "Partial uploads kept.")).store(3, Ordering::Relaxed);
    /// assert_eq!(stats.gauges(), vec![("partials", 3)]);
    /// ```
    pub fn gauge(&self, metric: Metric) -> Arc<AtomicU64> {
        let mut g = self.gauges.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, v)) = g.iter().find(|(m, _)| m.name == metric.name) {
            return v.clone();
        }
        let v = Arc::new(AtomicU64::new(0));
        g.push((metric, v.clone()));
        v
    }

    /// Every server-specific value by name, in the order they were created.
    pub fn gauges(&self) -> Vec<(&'static str, u64)> {
        self.metrics()
            .into_iter()
            .map(|(m, v)| (m.name, v))
            .collect()
    }

    /// Every server-specific value with its [`Metric`], in the order they were created.
    pub fn metrics(&self) -> Vec<(Metric, u64)> {
        let g = self.gauges.lock().unwrap_or_else(|p| p.into_inner());
        g.iter()
            .map(|(m, v)| (*m, v.load(Ordering::Relaxed)))
            .collect()
    }
}
