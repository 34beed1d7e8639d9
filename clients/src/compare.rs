//! `mayfly compare`: each echo-server build as its own process, the same fair client against
//! it, and a verdict written from the data.
//!
//! By default it is rigorous: on two or more CPUs the server runs pinned to one CPU and the
//! client to the others, and the sweep runs [`DEFAULT_REPEAT`] rounds, interleaved (every
//! build at every connection count, then again), so slow drift of a noisy machine hits the
//! builds alike; the tables show medians and the spread. Server CPU time is read from `/proc`
//! exactly when the client's measured window opens and closes (the client prints marks), so
//! connection set-up is not billed to requests. The servers' and the client's own log lines
//! go to a log file named in the report, never into the output.
//!
//! It produces a typed [`Report`]; the verdict and ratios ([`crate::report::verdict`]), the
//! tables, the charts and the page are in [`crate::report`].

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mayfly::process::{self as procfs, ProcSample};
use mayfly_proto::child::{ServeEchoCommand, StressCommand, Window, WindowMark};
use mayfly_proto::echo::Mode;

pub use crate::build::Build;

use crate::child::{ChildError, ServerProcess};
use crate::fairness::Fairness;
use crate::report::{html, legend, markdown, svg, verdict, Report, Row, Settings};
use crate::sample;
use crate::stress::{ClientMode, StressReport, LATENCY_METHOD};

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
fn chain(e: &dyn std::error::Error) -> String {
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
    /// Server builds, in order (`coroutine×N`: N worker processes sharing the port).
    pub builds: Vec<Build>,
    /// Connection counts to sweep.
    pub connections: Vec<usize>,
    /// Measured window per run.
    pub duration: Duration,
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
    /// Print progress lines to stderr.
    pub verbose: bool,
    /// Where the servers' and the client's own log lines go (default: `compare.log` in `out`,
    /// else `mayfly-compare-<pid>.log` in the temporary directory).
    pub log: Option<PathBuf>,
    /// Start each server with this limit on open files (RLIMIT_NOFILE), to see how each build
    /// behaves at its limit. `None`: the limit this process has.
    pub server_fd_limit: Option<u64>,
}

impl CompareOptions {
    /// The defaults: the three course builds, [`DEFAULT_CONNECTIONS`], [`DEFAULT_DURATION`],
    /// [`DEFAULT_REPEAT`] rounds, pinned when the machine has two CPUs.
    pub fn new(exe: PathBuf) -> Self {
        CompareOptions {
            exe,
            builds: Mode::ALL.map(Build::single).to_vec(),
            connections: DEFAULT_CONNECTIONS.to_vec(),
            duration: DEFAULT_DURATION,
            pin: cpus_allowed().len() >= 2,
            client: DEFAULT_CLIENT,
            client_threads: DEFAULT_CLIENT_THREADS,
            out: None,
            repeat: DEFAULT_REPEAT,
            verbose: false,
            log: None,
            server_fd_limit: None,
        }
    }

    fn validate(&self) -> Result<(), CompareError> {
        if self.builds.is_empty() {
            return Err(CompareError::Invalid(
                "--builds must name at least one build",
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
        Ok(())
    }
}

/// The CPUs this process may run on, in order.
pub fn cpus_allowed() -> Vec<usize> {
    let Some(set) = affinity() else {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        return (0..n).collect();
    };
    // SAFETY: CPU_ISSET reads one bit of a valid cpu_set_t; the index is below CPU_SETSIZE.
    (0..libc::CPU_SETSIZE as usize)
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect()
}

/// The calling thread's CPU affinity (`None` if the kernel refuses to say).
fn affinity() -> Option<libc::cpu_set_t> {
    // SAFETY: an all-zero cpu_set_t is the empty set, which sched_getaffinity overwrites;
    // `set` is a valid, writable cpu_set_t of the size passed.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        let ok = libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set);
        (ok == 0).then_some(set)
    }
}

/// The set of `cpus`, indices as [`cpus_allowed`] gives them.
fn cpu_set(cpus: &[usize]) -> libc::cpu_set_t {
    // SAFETY: an all-zero cpu_set_t is the empty set; CPU_SET writes one bit of it for each
    // CPU index, all below CPU_SETSIZE (they came from sched_getaffinity).
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &c in cpus {
        unsafe { libc::CPU_SET(c, &mut set) };
    }
    set
}

/// Where a run's processes go ([`Placement::split`]) and the log file.
struct Placement {
    pin: bool,
    /// The CPUs this process may use.
    allowed: Vec<usize>,
    log: File,
}

impl Placement {
    /// The CPUs for the server and for the client (both empty when not pinned): one server
    /// CPU per worker process, leaving at least one CPU for the client, which gets the rest.
    fn split(&self, build: Build) -> (Vec<usize>, Vec<usize>) {
        if !self.pin || self.allowed.len() < 2 {
            return (Vec::new(), Vec::new());
        }
        let n = build.workers.clamp(1, self.allowed.len() - 1);
        (self.allowed[..n].to_vec(), self.allowed[n..].to_vec())
    }
}

/// Runs the sweep and returns the report (and writes files if `out` is set).
///
/// A run that fails is a row with its reason in `limit`, not an error.
///
/// # Errors
///
/// [`CompareError::Invalid`] for options that cannot run, [`CompareError::PinNeedsTwoCpus`],
/// [`CompareError::Log`] if the log file cannot be created, or the report files could not be
/// written.
pub fn run(opts: &CompareOptions) -> Result<Report, CompareError> {
    opts.validate()?;
    let allowed = cpus_allowed();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if opts.pin && allowed.len() < 2 {
        return Err(CompareError::PinNeedsTwoCpus {
            cpus: allowed.len(),
        });
    }
    let log_path = opts.log.clone().unwrap_or_else(|| match &opts.out {
        Some(dir) => dir.join("compare.log"),
        None => std::env::temp_dir().join(format!("mayfly-compare-{}.log", std::process::id())),
    });
    if let Some(dir) = log_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| CompareError::CreateDir {
            dir: dir.display().to_string(),
            source,
        })?;
    }
    let log = File::create(&log_path).map_err(|source| CompareError::Log {
        path: log_path.display().to_string(),
        source,
    })?;
    let mut place = Placement {
        pin: opts.pin,
        allowed,
        log,
    };
    let (server_cpus, client_cpus) = place.split(Build::single(Mode::Coroutine));
    // This thread (and the mark readers it spawns) must not queue behind a server's threads:
    // with 10,000 of them runnable on the server's CPU, a mark read late stretched or
    // shrank the window the server's CPU is divided by (138% of one CPU, once).
    let _pinned = PinnedThread::to(&client_cpus);
    let settings = Settings {
        duration_s: opts.duration.as_secs_f64(),
        repeat: opts.repeat,
        pin: opts.pin,
        server_cpus,
        client_cpus,
        client: opts.client,
        cpus,
        log: Some(log_path.display().to_string()),
    };
    let mut runs = Vec::new();
    for round in 1..=opts.repeat {
        for &n in &opts.connections {
            for &build in &opts.builds {
                if opts.verbose {
                    eprintln!(
                        "compare: {build} with {n} connections (round {round} of {})…",
                        opts.repeat
                    );
                }
                let _ = writeln!(
                    place.log,
                    "== {build}, {n} connections, round {round} of {} ==",
                    opts.repeat
                );
                let mut row = run_one(opts, &mut place, build, n).unwrap_or_else(|e| Row {
                    build: build.to_string(),
                    connections: n as u64,
                    limit: Some(chain(&e)),
                    ..Row::default()
                });
                row.warnings = legend::warnings(&row);
                if opts.verbose {
                    eprintln!("compare:   {}", one_line(&row));
                }
                runs.push(row);
            }
        }
    }
    let rows = medians(&runs);
    let ratios = verdict::ratios(&rows, &runs);
    let report = Report {
        verdict: verdict::of(&rows, &ratios),
        ratios,
        rows,
        runs,
        latency_method: LATENCY_METHOD.to_string(),
        settings,
    };
    if let Some(dir) = &opts.out {
        write_files(&report, dir)?;
    }
    Ok(report)
}

fn one_line(r: &Row) -> String {
    match &r.limit {
        Some(l) if r.requests == 0 => format!("failed: {l}"),
        _ => format!(
            "{:.2} µs CPU/req, {:.0} req/s, p99 {} µs, fairness {:.2}",
            r.cpu_us_per_req, r.rps, r.p99_us, r.fairness.jain
        ),
    }
}

/// The calling thread's CPU affinity, set to `cpus` for as long as it lives, then restored.
/// Threads spawned meanwhile inherit it. Does nothing for an empty list.
struct PinnedThread {
    before: Option<libc::cpu_set_t>,
}

impl PinnedThread {
    fn to(cpus: &[usize]) -> PinnedThread {
        if cpus.is_empty() {
            return PinnedThread { before: None };
        }
        let Some(before) = affinity() else {
            return PinnedThread { before: None };
        };
        let set = cpu_set(cpus);
        // SAFETY: `set` is a valid cpu_set_t of the size passed; this sets the calling
        // thread's affinity only.
        if unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) } != 0
        {
            return PinnedThread { before: None };
        }
        PinnedThread {
            before: Some(before),
        }
    }
}

impl Drop for PinnedThread {
    fn drop(&mut self) {
        if let Some(before) = &self.before {
            // SAFETY: restores the mask sched_getaffinity returned for this same thread.
            unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), before) };
        }
    }
}

/// Runs `cmd` on `cpus` only (nothing if empty), and with `fd_limit` open files if set.
fn confine(cmd: &mut Command, cpus: &[usize], fd_limit: Option<u64>) {
    use std::os::unix::process::CommandExt;
    if cpus.is_empty() && fd_limit.is_none() {
        return;
    }
    let set = cpu_set(cpus);
    let pin = !cpus.is_empty();
    let limit = fd_limit.map(|n| libc::rlimit {
        rlim_cur: n,
        rlim_max: n,
    });
    // SAFETY: the closure runs between fork and exec; it only calls sched_setaffinity and
    // setrlimit, raw system calls that are async-signal-safe, on values prepared before the
    // fork, and allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if pin && libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            if let Some(l) = &limit {
                if libc::setrlimit(libc::RLIMIT_NOFILE, l) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

fn start_server(
    opts: &CompareOptions,
    place: &Placement,
    build: Build,
    server_cpus: &[usize],
    connections: usize,
) -> Result<ServerProcess, ChildError> {
    let mut cmd = Command::new(&opts.exe);
    let serve = ServeEchoCommand {
        backlog: Some(connections.clamp(128, 65535) as u32),
        workers: (build.workers > 1).then_some(build.workers),
        ..ServeEchoCommand::new(build.mode)
    };
    cmd.args(serve.args()).stderr(place.log.try_clone()?);
    confine(&mut cmd, server_cpus, opts.server_fd_limit);
    ServerProcess::spawn(cmd)
}

/// The most file descriptors any one process of the server holds (each has its own limit).
fn fds_tree(pid: u32) -> u64 {
    procfs::tree(pid)
        .into_iter()
        .filter_map(procfs::fd_count)
        .max()
        .unwrap_or(0) as u64
}

/// The most server threads, resident memory and file descriptors seen during a run.
struct Peaks {
    threads: u64,
    rss_kib: u64,
    fds: u64,
}

impl Peaks {
    fn see(&mut self, s: &ProcSample) {
        self.threads = self.threads.max(s.threads);
        self.rss_kib = self.rss_kib.max(s.rss_kib);
    }
}

/// A reading taken at a client window mark.
struct Mark {
    window: Window,
    at: Instant,
    server: ProcSample,
    server_fds: u64,
    client_cpu: Duration,
}

fn run_one(
    opts: &CompareOptions,
    place: &mut Placement,
    build: Build,
    n: usize,
) -> Result<Row, CompareError> {
    let (server_cpus, client_cpus) = place.split(build);
    let server = start_server(opts, place, build, &server_cpus, n)?;
    let spid = server.pid();
    std::thread::sleep(Duration::from_millis(100));
    // A `--workers` server is a supervisor and its workers: every reading covers them all.
    let idle = procfs::sample_tree(spid).ok_or(CompareError::ServerDied)?;
    let fd_limit = procfs::fd_limit(spid).unwrap_or(0);

    let mut cmd = Command::new(&opts.exe);
    let stress = StressCommand {
        json: true,
        marks: true,
        mode: Some(opts.client),
        connections: Some(n),
        threads: Some(opts.client_threads.min(n)),
        duration: Some(opts.duration),
        ..StressCommand::new(server.addr.as_str())
    };
    cmd.args(stress.args())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    confine(&mut cmd, &client_cpus, None);
    let mut client = cmd.spawn().map_err(CompareError::StartClient)?;
    let stderr = client.stderr.take().expect("piped");
    // Marks are read on their own thread, and the server sampled right there, so the
    // reading is taken within microseconds of the client's window opening or closing.
    // The client's other stderr lines go to the log.
    let mut log = place.log.try_clone()?;
    let (tx, rx) = mpsc::channel::<Mark>();
    let reader = std::thread::spawn(move || {
        let mut last = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(mark) = WindowMark::parse_line(&line) {
                let server = procfs::sample_tree(spid).unwrap_or_default();
                let at = Instant::now();
                let server_fds = fds_tree(spid);
                let _ = tx.send(Mark {
                    window: mark.window,
                    at,
                    server,
                    server_fds,
                    client_cpu: Duration::from_micros(mark.cpu_us),
                });
            } else {
                let _ = writeln!(log, "client: {line}");
                last = line;
            }
        }
        last
    });

    // Sample until the client exits: peaks from every reading, CPU from the two marks.
    let mut start: Option<Mark> = None;
    let mut end: Option<Mark> = None;
    let mut peaks = Peaks {
        threads: idle.threads,
        rss_kib: idle.rss_kib,
        fds: 0,
    };
    let mut take = |m: Mark, peaks: &mut Peaks| {
        peaks.see(&m.server);
        peaks.fds = peaks.fds.max(m.server_fds);
        if m.window == Window::Start {
            start = Some(m);
        } else {
            end = Some(m);
        }
    };
    loop {
        while let Ok(m) = rx.try_recv() {
            take(m, &mut peaks);
        }
        if let Some(s) = procfs::sample_tree(spid) {
            peaks.see(&s);
        }
        if client.try_wait()?.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut out = String::new();
    client
        .stdout
        .take()
        .expect("piped")
        .read_to_string(&mut out)?;
    let last_line = reader.join().unwrap_or_default();
    while let Ok(m) = rx.try_recv() {
        take(m, &mut peaks);
    }
    let server_alive = procfs::sample_tree(spid);
    let peak = server_alive.map_or(peaks.rss_kib, |s| s.peak_rss_kib.max(peaks.rss_kib));
    let stop = server.stop();

    let rep: StressReport = serde_json::from_str(out.trim())
        .map_err(|source| CompareError::NoReport { last_line, source })?;
    let mut row = Row {
        build: build.to_string(),
        connections: n as u64,
        connected: rep.connected,
        requests: rep.requests,
        rps: rep.rps,
        p50_us: rep.latency_us.p50,
        p99_us: rep.latency_us.p99,
        p999_us: rep.latency_us.p999,
        max_us: rep.latency_us.max,
        server_peak_rss_kib: peak,
        rss_per_conn_kib: if rep.connected > 0 {
            peaks.rss_kib.saturating_sub(idle.rss_kib) as f64 / rep.connected as f64
        } else {
            0.0
        },
        server_threads: peaks.threads,
        fairness: rep.fairness,
        server_fds: peaks.fds,
        server_fd_limit: fd_limit,
        errors: rep.connect_errors + rep.io_errors + rep.wrong_replies + rep.fairness.unanswered,
        wrong_replies: rep.wrong_replies,
        rounds: 1,
        server_cpus: server_cpus.clone(),
        ..Row::default()
    };
    if let (Some(m0), Some(m1)) = (&start, &end) {
        let wall = (m1.at - m0.at).as_secs_f64().max(1e-9);
        let scpu = m1.server.cpu.saturating_sub(m0.server.cpu).as_secs_f64();
        row.server_cpu = scpu / wall;
        row.client_cpu = m1.client_cpu.saturating_sub(m0.client_cpu).as_secs_f64() / wall;
        if rep.requests > 0 {
            row.cpu_us_per_req = scpu * 1e6 / rep.requests as f64;
            row.req_per_core_s = 1e6 / row.cpu_us_per_req.max(1e-9);
        }
    }
    row.client_limited = client_limited(opts, build, (&server_cpus, &client_cpus), &row);
    let mut limits = Vec::new();
    if rep.connect_errors > 0 {
        limits.push(format!(
            "{} of {} connections failed ({})",
            rep.connect_errors,
            n,
            rep.first_error.clone().unwrap_or_default()
        ));
    } else if rep.io_errors > 0 {
        limits.push(format!(
            "{} connections broke ({})",
            rep.io_errors,
            rep.first_error.clone().unwrap_or_default()
        ));
    }
    if server_alive.is_none() {
        limits.push("the server died under load".into());
    } else if let Err(e) = stop {
        limits.push(chain(&e));
    }
    if !limits.is_empty() {
        row.limit = Some(limits.join("; "));
    }
    Ok(row)
}

/// Share of its CPUs the load generator may use before it counts as the bottleneck.
const SATURATED: f64 = 0.9;

/// Whether the client, not the server, limited the run: the client used at least
/// [`SATURATED`] of what it can use (one core in coroutine mode; its CPUs in threads mode)
/// while the server used less than that of its own.
fn client_limited(
    opts: &CompareOptions,
    build: Build,
    (server_cpus, client_cpus): (&[usize], &[usize]),
    r: &Row,
) -> bool {
    let machine = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let cores = |cpus: &[usize]| {
        if cpus.is_empty() {
            machine
        } else {
            cpus.len() as f64
        }
    };
    let client_cap = match opts.client {
        ClientMode::Coroutine => 1.0,
        ClientMode::Threads => cores(client_cpus),
    };
    let server_cap = match build.mode {
        Mode::Threads => cores(server_cpus),
        // One worker thread per process does the work.
        _ => (build.workers as f64).min(cores(server_cpus)),
    };
    r.client_cpu >= SATURATED * client_cap && r.server_cpu < SATURATED * server_cap
}

/// One row per (build, connections): each measured figure is the median of its runs (runs
/// that failed outright, with no requests, are left out of it); limits, errors, unanswered
/// connections, peak memory, threads and file descriptors are the worst seen; `spread_pct`
/// is how far CPU per request varied over the rounds.
pub fn medians(runs: &[Row]) -> Vec<Row> {
    let mut keys: Vec<(String, u64)> = Vec::new();
    for r in runs {
        let k = (r.build.clone(), r.connections);
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys.into_iter()
        .map(|(build, n)| {
            let all: Vec<&Row> = runs
                .iter()
                .filter(|r| r.build == build && r.connections == n)
                .collect();
            let ok: Vec<&Row> = all.iter().copied().filter(|r| r.requests > 0).collect();
            let med = |f: fn(&Row) -> f64| {
                let v: Vec<f64> = ok.iter().map(|r| f(r)).collect();
                sample::median(&v).unwrap_or(0.0)
            };
            let worst = |f: fn(&Row) -> u64| all.iter().map(|r| f(r)).max().unwrap_or(0);
            let mut notes: Vec<String> = Vec::new();
            for r in &all {
                for n in [&r.limit].into_iter().flatten() {
                    if !notes.contains(n) {
                        notes.push(n.clone());
                    }
                }
            }
            let cpu = med(|r| r.cpu_us_per_req);
            let cpus: Vec<f64> = ok.iter().map(|r| r.cpu_us_per_req).collect();
            let (lo, hi) = sample::range(&cpus).unwrap_or((0.0, 0.0));
            let bound = ok.iter().filter(|r| r.client_limited).count();
            let mut row = Row {
                build: build.clone(),
                connections: n,
                connected: med(|r| r.connected as f64) as u64,
                requests: med(|r| r.requests as f64) as u64,
                rps: med(|r| r.rps),
                p50_us: med(|r| r.p50_us as f64) as u64,
                p99_us: med(|r| r.p99_us as f64) as u64,
                p999_us: med(|r| r.p999_us as f64) as u64,
                max_us: worst(|r| r.max_us),
                cpu_us_per_req: cpu,
                req_per_core_s: if cpu > 0.0 { 1e6 / cpu } else { 0.0 },
                server_cpu: med(|r| r.server_cpu),
                client_cpu: med(|r| r.client_cpu),
                server_peak_rss_kib: worst(|r| r.server_peak_rss_kib),
                rss_per_conn_kib: med(|r| r.rss_per_conn_kib),
                server_threads: worst(|r| r.server_threads),
                server_cpus: all
                    .first()
                    .map(|r| r.server_cpus.clone())
                    .unwrap_or_default(),
                fairness: Fairness {
                    min: all.iter().map(|r| r.fairness.min).min().unwrap_or(0),
                    median: med(|r| r.fairness.median as f64) as u64,
                    max: worst(|r| r.fairness.max),
                    unanswered: worst(|r| r.fairness.unanswered),
                    jain: med(|r| r.fairness.jain),
                },
                server_fds: worst(|r| r.server_fds),
                server_fd_limit: all
                    .iter()
                    .map(|r| r.server_fd_limit)
                    .filter(|&l| l > 0)
                    .min()
                    .unwrap_or(0),
                errors: all.iter().map(|r| r.errors).sum(),
                wrong_replies: all.iter().map(|r| r.wrong_replies).sum(),
                rounds: ok.len(),
                spread_pct: if ok.len() >= 2 && cpu > 0.0 {
                    (hi - lo) / cpu * 100.0
                } else {
                    0.0
                },
                client_limited: bound * 2 > ok.len(),
                limit: (!notes.is_empty()).then(|| notes.join("; ")),
                warnings: Vec::new(),
            };
            row.warnings = legend::warnings(&row);
            row
        })
        .collect()
}

/// Writes report.json, report.md, report.svg and report.html into `dir`.
fn write_files(rep: &Report, dir: &Path) -> Result<(), CompareError> {
    std::fs::create_dir_all(dir).map_err(|source| CompareError::CreateDir {
        dir: dir.display().to_string(),
        source,
    })?;
    std::fs::write(dir.join("report.json"), serde_json::to_string_pretty(rep)?)?;
    std::fs::write(dir.join("report.md"), markdown::render(rep))?;
    std::fs::write(dir.join("report.svg"), svg::render(rep))?;
    std::fs::write(dir.join("report.html"), html::render(rep))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(build: &str, n: u64, rps: f64, cpu: f64) -> Row {
        Row {
            build: build.into(),
            connections: n,
            requests: (rps * 10.0) as u64,
            rps,
            cpu_us_per_req: cpu,
            ..Row::default()
        }
    }

    #[test]
    fn medians_take_each_figure_from_its_own_runs_and_skip_failed_runs() {
        let mut starved = row("epoll", 10, 70.0, 10.0);
        starved.fairness.unanswered = 3;
        let runs = vec![
            row("coroutine", 10, 100.0, 9.0),
            row("epoll", 10, 50.0, 8.0),
            row("coroutine", 10, 300.0, 7.0),
            row("epoll", 10, 0.0, 0.0), // failed run: no requests
            row("coroutine", 10, 200.0, 20.0),
            starved,
        ];
        let m = medians(&runs);
        assert_eq!(m.len(), 2);
        assert_eq!(
            (m[0].build.as_str(), m[0].rps, m[0].cpu_us_per_req),
            ("coroutine", 200.0, 9.0)
        );
        assert_eq!((m[0].rounds, m[0].spread_pct.round()), (3, 144.0));
        assert!(m[0].warnings.iter().any(|w| w.starts_with("high spread")));
        assert_eq!((m[1].rps, m[1].cpu_us_per_req), (60.0, 9.0));
        assert_eq!((m[1].rounds, m[1].fairness.unanswered), (2, 3));
        let r = verdict::ratios(&m, &runs);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].versus, "epoll");
        assert!((r[0].rps.unwrap() - 200.0 / 60.0).abs() < 1e-9);
        assert!((r[0].cpu_per_req.unwrap() - 1.0).abs() < 1e-9);
        // Round 2 of epoll failed: only rounds 1 and 3 pair up.
        assert_eq!(r[0].cpu_per_req_rounds, vec![9.0 / 8.0, 2.0]);
    }

    #[test]
    fn options_that_cannot_run_are_refused() {
        let base = CompareOptions::new(PathBuf::from("mayfly"));
        let mut o = base.clone();
        o.connections = vec![500, 0];
        assert!(matches!(o.validate(), Err(CompareError::Invalid(_))));
        let mut o = base.clone();
        o.builds.clear();
        assert!(matches!(o.validate(), Err(CompareError::Invalid(_))));
        let mut o = base;
        o.repeat = 0;
        assert!(matches!(o.validate(), Err(CompareError::Invalid(_))));
    }
}
