//! The comparison's report: the typed result of `mayfly compare` ([`Report`]: one [`Row`]
//! per build and connection count, [`Ratio`]s, the [`Settings`] it ran with), and its
//! renderers. [`crate::compare`] produces a report; the renderers only read one:
//!
//! - [`table`]: the report's two tables as cells of text, the one place figures are
//!   formatted;
//! - [`markdown`]: those tables as Markdown (report.md, and what `mayfly compare` prints);
//! - [`svg`]: the chart (report.svg);
//! - [`html`]: one self-contained page with the chart and the tables (report.html).
//!
//! Nothing here imports `compare`, and the renderers do not read each other's output.

pub mod html;
pub mod markdown;
pub mod svg;
pub mod table;

use serde::{Deserialize, Serialize};

use mayfly_proto::echo::ClientMode;

/// One build at one connection count.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Row {
    /// Server build.
    pub build: String,
    /// Connections asked for.
    pub connections: u64,
    /// Connections established.
    pub connected: u64,
    /// Correct requests.
    pub requests: u64,
    /// Correct requests per second.
    pub rps: f64,
    /// Median latency, µs.
    pub p50_us: u64,
    /// 99th percentile latency, µs.
    pub p99_us: u64,
    /// Server CPU time per request in the measured window, µs.
    pub cpu_us_per_req: f64,
    /// Server CPU use in the window (1.0 = one core busy).
    pub server_cpu: f64,
    /// Client CPU use in the window.
    pub client_cpu: f64,
    /// Server peak resident memory, KiB.
    pub server_peak_rss_kib: u64,
    /// Server resident memory under load minus at idle, per connection, KiB.
    pub rss_per_conn_kib: f64,
    /// Most server OS threads seen.
    pub server_threads: u64,
    /// Connect errors + I/O errors + wrong replies.
    pub errors: u64,
    /// Wrong replies (a correctness failure, never a limit).
    pub wrong_replies: u64,
    /// Why the run could not do what was asked (fd, thread or port limits…), if so.
    pub limit: Option<String>,
    /// Set when the client, not the server, was the bottleneck.
    pub bottleneck: Option<String>,
}

/// coroutine ÷ another build at one connection count.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ratio {
    /// Connections.
    pub connections: u64,
    /// The other build.
    pub versus: String,
    /// coroutine rps ÷ other rps.
    pub rps: Option<f64>,
    /// coroutine CPU/request ÷ other CPU/request (lower is better).
    pub cpu_per_req: Option<f64>,
}

/// The whole comparison.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// One row per build and connection count: the median over the repeats.
    pub rows: Vec<Row>,
    /// Every single run, in run order (repeats interleaved: A B C A B C …).
    #[serde(default)]
    pub runs: Vec<Row>,
    /// coroutine/threads and coroutine/epoll.
    pub ratios: Vec<Ratio>,
    /// Run settings, for the record.
    pub settings: Settings,
}

/// How the comparison was run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    /// Seconds per run.
    pub duration_s: f64,
    /// Runs per build and connection count (the table shows medians).
    #[serde(default = "one")]
    pub repeat: usize,
    /// Pinned?
    pub pin: bool,
    /// Client mode.
    pub client: ClientMode,
    /// CPUs on the machine.
    pub cpus: usize,
}

fn one() -> usize {
    1
}
