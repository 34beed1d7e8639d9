//! [`Figures`]: every number one server process puts on `/metrics`, read at one moment, as
//! plain data (serde) — what a stats page renders, and what a supervisor fetches from each
//! worker (`/metrics.json`) to render one exposition for all of them.

use std::time::UNIX_EPOCH;

use mayfly::server::{MetricKind, ServerStats, LATENCY_BOUNDS};
use serde::{Deserialize, Serialize};

/// One process's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Figures {
    /// The server (`echo/coroutine`, `http/tokio`, `file`, …): `mode` on `mayfly_build_info`.
    pub server: String,
    /// mayfly's version: `version` on `mayfly_build_info`.
    pub version: String,
    /// Seconds since the counters started.
    pub uptime_s: f64,
    /// Connections being served now.
    pub connections_active: u64,
    /// Connections accepted.
    pub connections_accepted: u64,
    /// Connections finished.
    pub connections_closed: u64,
    /// Requests served.
    pub requests: u64,
    /// Bytes read from clients.
    pub bytes_in: u64,
    /// Bytes written to clients.
    pub bytes_out: u64,
    /// Connections ended by an error, by kind: timeout, reset, protocol, other.
    pub connection_errors: ConnectionErrors,
    /// Handlers that panicked.
    pub panics: u64,
    /// Failed accept calls.
    pub accept_errors: u64,
    /// Connections dropped because no greenlet or thread could start for them.
    pub spawn_errors: u64,
    /// Connections closed at shutdown after the grace period.
    pub killed_at_shutdown: u64,
    /// Greenlets alive in the process.
    pub greenlets_alive: u64,
    /// The server's own values (`ServerStats::gauge`), in their order.
    pub values: Vec<Value>,
    /// Request latency.
    pub latency: Latency,
    /// The process's readings from `/proc`.
    pub process: Process,
}

/// Connections ended by an error, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ConnectionErrors {
    /// A read or write timed out.
    pub timeout: u64,
    /// The peer reset or broke the connection.
    pub reset: u64,
    /// Bad input.
    pub protocol: u64,
    /// Anything else.
    pub other: u64,
}

/// One server-specific value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Value {
    /// Its name (`partials`, `udp_over_budget`); the family is `mayfly_NAME`.
    pub name: String,
    /// True for a counter (`mayfly_NAME_total`), false for a gauge.
    pub counter: bool,
    /// Its help line.
    pub help: String,
    /// Its value now.
    pub value: u64,
}

/// The request latency histogram.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Latency {
    /// Upper bounds, seconds (a last bucket above them is implied).
    pub bounds_s: Vec<f64>,
    /// Requests per bucket, not cumulative: one per bound, then the rest.
    pub buckets: Vec<u64>,
    /// Requests timed.
    pub count: u64,
    /// Their total time, seconds.
    pub sum_s: f64,
}

/// Readings of the process (the standard `process_*` metrics).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct Process {
    /// When it started, seconds since the Unix epoch.
    pub start_time_s: f64,
    /// User and system CPU time, seconds.
    pub cpu_s: f64,
    /// Resident memory, bytes.
    pub resident_bytes: u64,
    /// Open file descriptors.
    pub open_fds: u64,
    /// The soft limit on open files (`None`: unlimited or unknown).
    pub max_fds: Option<u64>,
    /// OS threads.
    pub threads: u64,
}

impl Process {
    /// This process now.
    pub fn now() -> Process {
        let pid = std::process::id();
        let s = mayfly::process::sample(pid).unwrap_or_default();
        Process {
            start_time_s: mayfly::process::start_time(pid)
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0.0, |d| d.as_secs_f64()),
            cpu_s: s.cpu.as_secs_f64(),
            resident_bytes: s.rss_kib * 1024,
            open_fds: mayfly::process::fd_count(pid).unwrap_or(0) as u64,
            max_fds: mayfly::process::fd_limit(pid),
            threads: s.threads,
        }
    }
}

impl Figures {
    /// The figures of server `server` with counters `stats`, and this process, now.
    ///
    /// ```
    /// use mayfly::server::ServerStats;
    /// let stats = ServerStats::new();
    /// stats.conn_opened();
    /// stats.request_took(std::time::Duration::from_micros(30));
    /// let f = mayfly_servers::metrics::Figures::of("echo/coroutine", &stats);
    /// assert_eq!((f.connections_active, f.latency.count), (1, 1));
    /// assert!(f.process.resident_bytes > 0 && f.process.start_time_s > 0.0);
    /// ```
    pub fn of(server: &str, stats: &ServerStats) -> Figures {
        let s = stats.snapshot();
        let l = stats.latency();
        Figures {
            server: server.to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            uptime_s: s.uptime_ms as f64 / 1000.0,
            connections_active: s.active,
            connections_accepted: s.accepted,
            connections_closed: s.closed,
            requests: s.requests,
            bytes_in: s.bytes_in,
            bytes_out: s.bytes_out,
            connection_errors: ConnectionErrors {
                timeout: s.timeouts,
                reset: s.resets,
                protocol: s.protocol_errors,
                other: s.other_errors,
            },
            panics: s.panics,
            accept_errors: s.accept_errors,
            spawn_errors: s.spawn_errors,
            killed_at_shutdown: s.killed,
            greenlets_alive: mayfly::greenlets_alive(),
            values: stats
                .metrics()
                .into_iter()
                .map(|(m, value)| Value {
                    name: m.name.to_owned(),
                    counter: m.kind == MetricKind::Counter,
                    help: m.help.to_owned(),
                    value,
                })
                .collect(),
            latency: Latency {
                bounds_s: LATENCY_BOUNDS.iter().map(|b| b.as_secs_f64()).collect(),
                buckets: l.buckets,
                count: l.count,
                sum_s: l.sum.as_secs_f64(),
            },
            process: Process::now(),
        }
    }
}
