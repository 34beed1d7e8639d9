//! The report's data: [`Report`] (one [`Row`] per build and connection count, every run,
//! the [`Ratio`]s, the [`Verdict`]'s sentences, the [`Settings`] it ran with, the [`Meta`]
//! data of the machine and the invocation). A leaf: the verdict, the tables and the
//! renderers read these types; nothing here reads them.
//!
//! In report.json a value that is not known is `null` (a single round's spread, a commit
//! not recorded at build time), never a made-up `0`.

use serde::{Deserialize, Serialize};

use mayfly_proto::echo::ClientMode;

use crate::fairness::Fairness;

/// One build at one connection count: one run, or (in [`Report::rows`]) the median of its
/// rounds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
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
    /// Median round-trip latency, µs ([`Report::latency_method`]).
    pub p50_us: u64,
    /// 99th percentile latency, µs.
    pub p99_us: u64,
    /// 99.9th percentile latency, µs.
    pub p999_us: u64,
    /// Slowest round trip, µs.
    pub max_us: u64,
    /// Server CPU time per request in the measured window, µs: the headline (lower is better).
    pub cpu_us_per_req: f64,
    /// Requests per second of server CPU time, 1e6 / `cpu_us_per_req` (higher is better).
    pub req_per_core_s: f64,
    /// Server CPU use in the window (1.0 = one core busy).
    pub server_cpu: f64,
    /// Server CPU use with no client connected, over a short window before the load
    /// ([`CompareOptions::idle_window`](crate::compare::CompareOptions::idle_window); 1.0 =
    /// one core busy): what the build burns while it waits.
    pub idle_cpu: f64,
    /// The server's `read(2)` and `write(2)` calls (`/proc/PID/io`: `syscr` + `syscw`, those
    /// that found nothing included) per answered request in the window; 0 when unread.
    pub rw_calls_per_req: f64,
    /// Client CPU use in the window.
    pub client_cpu: f64,
    /// Server peak resident memory, KiB.
    pub server_peak_rss_kib: u64,
    /// Server resident memory under load minus at idle, per connection, KiB.
    pub rss_per_conn_kib: f64,
    /// Most server OS threads seen (over all its processes).
    pub server_threads: u64,
    /// The CPUs the server was pinned to (empty: not pinned).
    pub server_cpus: Vec<usize>,
    /// How the replies were spread over the connections.
    pub fairness: Fairness,
    /// Most file descriptors the server held.
    pub server_fds: u64,
    /// The server's file-descriptor limit (RLIMIT_NOFILE, soft).
    pub server_fd_limit: u64,
    /// Connect errors + I/O errors + wrong replies + connections never answered.
    pub errors: u64,
    /// Wrong replies (a correctness failure, never a limit).
    pub wrong_replies: u64,
    /// Rounds this row is the median of (1 for a single run; 0 if every round failed).
    pub rounds: usize,
    /// Spread of server CPU per request over the rounds: (max − min) / median, percent;
    /// `None` (null) with fewer than two measured rounds, where it is unknown.
    pub spread_pct: Option<f64>,
    /// True when the load generator, not the server, was the bottleneck: req/s then measures
    /// the client.
    pub client_limited: bool,
    /// The load's offered rate in requests per second when it was paced (`compare --rate`).
    pub offered_rps: Option<f64>,
    /// Why the run could not do what was asked (fd, thread or port limits…), if so.
    pub limit: Option<String>,
    /// What a reader must know before trusting this row ([`legend::warnings`](super::legend::warnings)).
    pub warnings: Vec<String>,
}

/// coroutine ÷ another build at one connection count.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Ratio {
    /// Connections.
    pub connections: u64,
    /// The build on top of the ratio (coroutine).
    pub build: String,
    /// The other build.
    pub versus: String,
    /// build rps ÷ other rps (medians).
    pub rps: Option<f64>,
    /// build CPU/request ÷ other CPU/request (medians; lower is better for `build`).
    pub cpu_per_req: Option<f64>,
    /// The same ratio round by round (round k of one build against round k of the other).
    pub cpu_per_req_rounds: Vec<f64>,
    /// The rounds agree: at least two, all on the same side of 1, and their spread is smaller
    /// than the difference from 1.
    pub conclusive: bool,
}

/// The version of report.json's shape, [`Report::schema_version`]: raised whenever a field
/// changes meaning or type (2: `schema_version`, `meta`, `spread_pct` null when unknown,
/// `verdict.headline`).
pub const SCHEMA_VERSION: u32 = 2;

/// The whole comparison.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Report {
    /// The shape of this JSON ([`SCHEMA_VERSION`] when written by this build).
    pub schema_version: u32,
    /// When, by which mayfly, how it was invoked and on what machine.
    pub meta: Meta,
    /// What the data says, in sentences ([`verdict::of`](super::verdict::of)).
    pub verdict: Verdict,
    /// One row per build and connection count: the median over the rounds.
    pub rows: Vec<Row>,
    /// Every single run, in run order (rounds interleaved: A B C A B C …).
    pub runs: Vec<Row>,
    /// coroutine ÷ every other build.
    pub ratios: Vec<Ratio>,
    /// How latency was measured.
    pub latency_method: String,
    /// Run settings, for the record.
    pub settings: Settings,
}

impl Default for Report {
    fn default() -> Self {
        Report {
            schema_version: SCHEMA_VERSION,
            meta: Meta::default(),
            verdict: Verdict::default(),
            rows: Vec::new(),
            runs: Vec::new(),
            ratios: Vec::new(),
            latency_method: String::new(),
            settings: Settings::default(),
        }
    }
}

/// What a reader needs to place a report: when it ran, which mayfly, the command, the
/// machine. `None` (null in JSON) is "not known" (a commit when built from a tarball).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Meta {
    /// When the comparison started, RFC 3339 in UTC (`2026-12-02T03:40:00Z`).
    pub date: Option<String>,
    /// The mayfly version that ran it.
    pub mayfly_version: Option<String>,
    /// The git commit it was built from (`git rev-parse --short HEAD` at build time, with
    /// `-dirty` for uncommitted changes).
    pub git_commit: Option<String>,
    /// The full command line, as typed (words joined with spaces, quoted where needed).
    pub command_line: Option<String>,
    /// The kernel, `Linux 6.1.0-18-amd64`.
    pub kernel: Option<String>,
    /// The CPU model, from /proc/cpuinfo.
    pub cpu_model: Option<String>,
}

/// How the comparison was run.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Seconds per run.
    pub duration_s: f64,
    /// Rounds per build and connection count (the table shows medians).
    pub repeat: usize,
    /// Pinned?
    pub pin: bool,
    /// CPUs the servers ran on (empty: not pinned).
    pub server_cpus: Vec<usize>,
    /// CPUs the client ran on (empty: not pinned).
    pub client_cpus: Vec<usize>,
    /// Client mode.
    pub client: ClientMode,
    /// CPUs on the machine.
    pub cpus: usize,
    /// Where the servers' and clients' own log lines went.
    pub log: Option<String>,
    /// Set when the comparison was stopped before every run was done: the report covers the
    /// runs measured until then.
    pub partial: Option<Partial>,
    /// The builds served TLS and every client connection checked it (`compare --tls`).
    pub tls: bool,
    /// The client opened a new connection every this many replies (over TLS: a new
    /// handshake each time); 0: long connections.
    pub reconnect_every: u64,
    /// Requests per second offered to every run (`compare --rate`); `None`: as many as the
    /// client could send.
    pub rate: Option<f64>,
}

/// Why a report covers fewer runs than were planned.
///
/// ```
/// use mayfly_clients::report::Partial;
/// let p = Partial { signal: 15, runs: 3, planned: 9 };
/// assert_eq!(p.to_string(), "interrupted by SIGTERM after 3 of 9 runs");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Partial {
    /// The signal that stopped the comparison (2: SIGINT, 15: SIGTERM).
    pub signal: i32,
    /// Runs measured and in the report (a run cut short is left out).
    pub runs: usize,
    /// Runs the sweep would have made.
    pub planned: usize,
}

impl std::fmt::Display for Partial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("interrupted by ")?;
        match self.signal {
            2 => f.write_str("SIGINT")?,
            15 => f.write_str("SIGTERM")?,
            n => write!(f, "signal {n}")?,
        }
        write!(f, " after {} of {} runs", self.runs, self.planned)
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            duration_s: 0.0,
            repeat: 1,
            pin: false,
            server_cpus: Vec::new(),
            client_cpus: Vec::new(),
            client: ClientMode::Coroutine,
            cpus: 1,
            log: None,
            partial: None,
            tls: false,
            reconnect_every: 0,
            rate: None,
        }
    }
}

/// The verdict: one plain-words headline, then sentences, most important first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Verdict {
    /// One sentence in plain words, for a reader who reads nothing else (it heads every
    /// report, `--quick` too).
    pub headline: String,
    /// True when the headline comparison ([`BASELINE`](super::verdict::BASELINE) ÷ [`HEADLINE`](super::verdict::HEADLINE) at the largest
    /// connection count) is conclusive.
    pub conclusive: bool,
    /// Comparisons at the largest connection count (one per other build).
    pub comparisons: usize,
    /// How many of them are conclusive.
    pub conclusive_comparisons: usize,
    /// The sentences.
    pub lines: Vec<String>,
}

impl Verdict {
    /// `Verdict: conclusive`, or `Verdict: not conclusive` when the headline comparison is
    /// not (its rounds disagree, or there is only one).
    ///
    /// ```
    /// use mayfly_clients::report::Verdict;
    /// assert_eq!(Verdict::default().heading(), "Verdict: not conclusive");
    /// ```
    pub fn heading(&self) -> &'static str {
        if self.conclusive {
            "Verdict: conclusive"
        } else {
            "Verdict: not conclusive"
        }
    }
}
