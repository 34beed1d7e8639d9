//! What a comparison is asked to do: [`CompareOptions`] and its defaults (the `DEFAULT_*`
//! constants clap takes its defaults from), the check that they can run, and
//! [`CompareError`], why a comparison or one run of it failed.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mayfly_proto::builds::{Mode, Serves};

use crate::build::Build;
use crate::child::ChildError;
use crate::report::Meta;
use crate::stress::ClientMode;

/// Default [`CompareOptions::connections`]: the sweep.
pub const DEFAULT_CONNECTIONS: [usize; 3] = [500, 2000, 10000];
/// Default [`CompareOptions::duration`]: the default comparison (3 builds × 3 connection
/// counts × 3 rounds) then takes about three minutes on a 2-core machine; docs/BENCHMARKS.md
/// has the spread it gives.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(6);
/// Default [`CompareOptions::client`]: greenlets drive 10,000+ connections from one thread.
pub const DEFAULT_CLIENT: ClientMode = ClientMode::Coroutine;
/// Default [`CompareOptions::client_threads`].
pub const DEFAULT_CLIENT_THREADS: usize = crate::stress::DEFAULT_THREADS;
/// [`CompareOptions::course`]'s connection counts.
pub const COURSE_CONNECTIONS: [usize; 3] = [10, 100, 1000];
/// [`CompareOptions::course`]'s measured window: 8 builds × 3 counts in about two minutes.
pub const COURSE_DURATION: Duration = Duration::from_secs(2);
/// [`CompareOptions::course`]'s builds, in the chapter's order: its five IO models, the
/// production epoll loop, a thread per connection, greenlets.
pub const COURSE_BUILDS: [Mode; 8] = [
    Mode::Blocking,
    Mode::Nonblocking,
    Mode::Select,
    Mode::EpollLt,
    Mode::EpollEt,
    Mode::Epoll,
    Mode::Threads,
    Mode::Coroutine,
];

/// Default [`CompareOptions::idle_window`]: long enough for `/proc`'s 10 ms CPU ticks to
/// tell a busy loop (100%) from a build that sleeps (0%).
pub const DEFAULT_IDLE_WINDOW: Duration = Duration::from_millis(500);
/// Default [`CompareOptions::repeat`]: rounds, interleaved; `--quick` runs one.
pub const DEFAULT_REPEAT: usize = 3;

/// Why a comparison (or one run of it) failed.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// `--pin` on a machine with one CPU.
    #[error("--pin needs two CPUs, this machine has {cpus}")]
    PinNeedsTwoCpus {
        /// CPUs available.
        cpus: usize,
    },
    /// Options that cannot run: no builds, a zero connection count, zero rounds.
    #[error("{0}")]
    Invalid(&'static str),
    /// The log file could not be created.
    #[error("creating the log file {path}")]
    Log {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The server child could not be started or stopped.
    #[error(transparent)]
    Server(#[from] ChildError),
    /// The server exited before the run began.
    #[error("server died at start")]
    ServerDied,
    /// The stress client could not be started.
    #[error("starting the client")]
    StartClient(#[source] io::Error),
    /// The client's report is missing or not JSON.
    #[error("the client printed no report: {last_line}")]
    NoReport {
        /// The client's last stderr line.
        last_line: String,
        /// Why its stdout did not parse.
        #[source]
        source: serde_json::Error,
    },
    /// The output directory could not be created.
    #[error("creating {dir}")]
    CreateDir {
        /// The directory.
        dir: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The report could not be written as JSON.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// Waiting for the client, reading its output, or writing a report file failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// An error and its causes on one line, `cause: cause of cause: …` (how the CLI prints
/// errors), for the `limit` note of a run.
pub(super) fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

/// What to compare.
#[derive(Debug, Clone)]
pub struct CompareOptions {
    /// The `mayfly` binary to start servers and clients with.
    pub exe: PathBuf,
    /// What the builds serve, and so which load the client puts on them: the echo builds
    /// under the TCP stress client, or the HTTP builds under `stress --proto http`
    /// ([`crate::http_stress`], OS threads: [`client`](CompareOptions::client) must be
    /// threads).
    pub serves: Serves,
    /// Server builds, in order (`coroutine×N`: N worker processes sharing the port), all
    /// serving [`serves`](CompareOptions::serves).
    pub builds: Vec<Build>,
    /// Connection counts to sweep.
    pub connections: Vec<usize>,
    /// Measured window per run.
    pub duration: Duration,
    /// Before the load, how long the server's CPU is read with no client connected (its
    /// idle CPU; [`Row::idle_cpu`](crate::report::Row::idle_cpu)).
    pub idle_window: Duration,
    /// Server on one CPU, the client on the others (the same for every build). Needs two CPUs.
    pub pin: bool,
    /// How the client drives connections.
    pub client: ClientMode,
    /// Client threads in threads mode.
    pub client_threads: usize,
    /// Write report.json, report.md, report.svg and report.html here.
    pub out: Option<PathBuf>,
    /// Run the whole sweep this many times (interleaved) and report medians.
    pub repeat: usize,
    /// What the report's metadata says about the invocation: the version, the commit and
    /// the command line (the caller knows them: [`CompareOptions::new`] sets only the
    /// version). The date, the kernel and the CPU model are filled in by the run.
    pub meta: Meta,
    /// Where the servers' and the client's own log lines go (default: `compare.log` in `out`,
    /// else `mayfly-compare-<pid>.log` in the temporary directory, removed after a run where
    /// every run was measured and no reply was wrong).
    pub log: Option<PathBuf>,
    /// Start each server with this limit on open files (RLIMIT_NOFILE), to see how each build
    /// behaves at its limit. `None`: the limit this process has.
    pub server_fd_limit: Option<u64>,
    /// A signal number stored here (0: none) stops the comparison: between runs, and within
    /// a run in about 50 ms (its children are stopped, the run is left out). The report then
    /// covers the runs measured so far ([`Settings::partial`](crate::report::Settings)).
    /// The caller registers the handlers: a library takes no signals for itself. With
    /// signal-hook: `signal_hook::flag::register_usize(SIGTERM, opts.stop.clone(), 15)`.
    pub stop: Arc<AtomicUsize>,
    /// Run the echo builds over TLS (`compare --tls`): the servers with these files, the
    /// client trusting `ca`. Only the builds that serve TLS
    /// (`mayfly_servers::echo::TLS_BUILDS`: coroutine, threads, tokio) can run so.
    pub tls: Option<CompareTls>,
    /// The client opens a new connection (over TLS: a new handshake) every this many
    /// replies (`--reconnect-every N`); 0: long connections.
    pub reconnect_every: u64,
    /// Offer every run this many requests per second (`--rate`, [`crate::pace`]) instead of
    /// as many as the client can send: every build then answers the same load, and its CPU
    /// per request no longer follows the client's speed. TCP echo load only.
    pub rate: Option<f64>,
}

/// The certificate files of `compare --tls`.
#[derive(Debug, Clone)]
pub struct CompareTls {
    /// The server's certificate chain (PEM).
    pub cert: PathBuf,
    /// Its key (PEM).
    pub key: PathBuf,
    /// The CA the client trusts (PEM).
    pub ca: PathBuf,
}

/// The echo builds that serve TLS (the same list as `mayfly_servers::echo::TLS_BUILDS`,
/// which the clients cannot depend on).
pub const TLS_BUILD_NAMES: [&str; 3] = ["coroutine", "threads", "tokio"];

impl CompareOptions {
    /// The defaults: the three course builds, [`DEFAULT_CONNECTIONS`], [`DEFAULT_DURATION`],
    /// [`DEFAULT_REPEAT`] rounds, pinned when the machine has two CPUs.
    pub fn new(exe: PathBuf) -> Self {
        CompareOptions {
            exe,
            serves: Serves::Echo,
            builds: Serves::Echo
                .builds()
                .filter(|m| m.info().compare_default)
                .map(Build::single)
                .collect(),
            connections: DEFAULT_CONNECTIONS.to_vec(),
            duration: DEFAULT_DURATION,
            idle_window: DEFAULT_IDLE_WINDOW,
            pin: mayfly::process::cpus_allowed().len() >= 2,
            client: DEFAULT_CLIENT,
            client_threads: DEFAULT_CLIENT_THREADS,
            out: None,
            repeat: DEFAULT_REPEAT,
            meta: Meta {
                mayfly_version: Some(env!("CARGO_PKG_VERSION").to_string()),
                ..Meta::default()
            },
            log: None,
            server_fd_limit: None,
            stop: Arc::default(),
            tls: None,
            reconnect_every: 0,
            rate: None,
        }
    }

    /// `mayfly compare --course`: the IO-models chapter ([`COURSE_BUILDS`]) at
    /// [`COURSE_CONNECTIONS`], [`COURSE_DURATION`] each, one round.
    ///
    /// ```
    /// let o = mayfly_clients::compare::CompareOptions::course("mayfly".into());
    /// assert_eq!((o.builds.len(), o.connections, o.repeat), (8, vec![10, 100, 1000], 1));
    /// ```
    pub fn course(exe: PathBuf) -> Self {
        CompareOptions {
            builds: COURSE_BUILDS.map(Build::single).to_vec(),
            connections: COURSE_CONNECTIONS.to_vec(),
            duration: COURSE_DURATION,
            repeat: 1,
            ..CompareOptions::new(exe)
        }
    }

    /// The signal that asked the comparison to stop, if one did.
    pub(super) fn stopped(&self) -> Option<i32> {
        match self.stop.load(Ordering::Relaxed) {
            0 => None,
            sig => Some(sig as i32),
        }
    }

    pub(super) fn validate(&self) -> Result<(), CompareError> {
        if self.builds.is_empty() {
            return Err(CompareError::Invalid(
                "--builds must name at least one build",
            ));
        }
        if self
            .builds
            .iter()
            .any(|b| b.mode.info().serves != self.serves)
        {
            return Err(CompareError::Invalid(
                "--builds must all serve the protocol compared",
            ));
        }
        if self.serves == Serves::Http && self.client != ClientMode::Threads {
            return Err(CompareError::Invalid(
                "the HTTP load runs OS threads only (--client threads)",
            ));
        }
        if self.connections.is_empty() || self.connections.contains(&0) {
            return Err(CompareError::Invalid(
                "--connections must be counts of at least 1",
            ));
        }
        if self.repeat == 0 {
            return Err(CompareError::Invalid("--repeat must be at least 1"));
        }
        if self.client_threads == 0 {
            return Err(CompareError::Invalid("--client-threads must be at least 1"));
        }
        if self.duration.is_zero() {
            return Err(CompareError::Invalid("--duration must be more than 0"));
        }
        if let Some(rate) = self.rate {
            if crate::pace::check_rate(rate).is_err() {
                return Err(CompareError::Invalid(
                    "--rate must be a positive number of requests per second",
                ));
            }
            if self.serves != Serves::Echo {
                return Err(CompareError::Invalid(
                    "--rate paces the TCP echo load only (--proto tcp)",
                ));
            }
            if self
                .connections
                .iter()
                .any(|&n| crate::pace::check_slots(rate, self.duration, n).is_err())
            {
                return Err(CompareError::Invalid(
                    "--rate × --duration must be at least the largest --connections (one request \
                     for every connection), or some would never be answered",
                ));
            }
        }
        if self.tls.is_some()
            && (self.serves != Serves::Echo
                || self
                    .builds
                    .iter()
                    .any(|b| !TLS_BUILD_NAMES.contains(&b.mode.name())))
        {
            return Err(CompareError::Invalid(
                "--tls runs the echo builds that serve TLS: --builds coroutine,threads,tokio",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_that_cannot_run_are_refused() {
        let base = CompareOptions::new(PathBuf::from("mayfly"));
        let mut o = base.clone();
        o.connections = vec![500, 0];
        assert!(matches!(o.validate(), Err(CompareError::Invalid(_))));
        let mut o = base.clone();
        o.builds.clear();
        assert!(matches!(o.validate(), Err(CompareError::Invalid(_))));
        let mut o = base.clone();
        o.repeat = 0;
        assert!(matches!(o.validate(), Err(CompareError::Invalid(_))));
        let mut o = base.clone();
        o.serves = Serves::Http;
        assert!(matches!(o.validate(), Err(CompareError::Invalid(_))));
        o.builds = Serves::Http.builds().map(Build::single).collect();
        assert!(matches!(o.validate(), Err(CompareError::Invalid(_))));
        o.client = ClientMode::Threads;
        assert!(o.validate().is_ok());
    }
}
