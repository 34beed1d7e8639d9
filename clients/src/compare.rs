//! `mayfly compare`: each echo-server build as its own process, the same client against it,
//! one table.
//!
//! For every connection count in the sweep, the builds run one after another (coroutine,
//! threads, epoll, then the next count), so slow drift of a noisy machine hits them alike.
//! Server CPU time is read from `/proc` exactly when the client's measured window opens and
//! closes (the client prints marks), so connection set-up is not billed to requests.
//!
//! It produces a typed [`Report`]; the tables, the chart and the page are its renderers in
//! [`crate::report`].

use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mayfly::process::{self as procfs, ProcSample};
use mayfly_proto::child::{ServeEchoCommand, StressCommand, Window, WindowMark};
use mayfly_proto::echo::Mode;

use crate::child::{ChildError, ServerProcess};
use crate::report::{html, markdown, svg, Ratio, Report, Row, Settings};
use crate::stress::{ClientMode, StressReport};

/// Default [`CompareOptions::connections`]: the sweep.
pub const DEFAULT_CONNECTIONS: [usize; 3] = [500, 2000, 10000];
/// Default [`CompareOptions::duration`].
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);
/// Default [`CompareOptions::client`]: greenlets drive 10,000+ connections from one thread.
pub const DEFAULT_CLIENT: ClientMode = ClientMode::Coroutine;
/// Default [`CompareOptions::client_threads`].
pub const DEFAULT_CLIENT_THREADS: usize = crate::stress::DEFAULT_THREADS;
/// Default [`CompareOptions::repeat`].
pub const DEFAULT_REPEAT: usize = 1;

/// Why a comparison (or one run of it) failed.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// `--pin` on a machine with one CPU.
    #[error("--pin needs two CPUs, this machine has {cpus}")]
    PinNeedsTwoCpus {
        /// CPUs available.
        cpus: usize,
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
    /// Server builds, in order.
    pub builds: Vec<Mode>,
    /// Connection counts to sweep.
    pub connections: Vec<usize>,
    /// Measured window per run.
    pub duration: Duration,
    /// Server on CPU 0, client on CPU 1 (the same for every build).
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
}

/// Runs the sweep and returns the report (and writes files if `out` is set).
///
/// A run that fails is a row with its reason in `limit`, not an error.
///
/// # Errors
///
/// [`CompareError::PinNeedsTwoCpus`], or the report files could not be written.
pub fn run(opts: &CompareOptions) -> Result<Report, CompareError> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if opts.pin && cpus < 2 {
        return Err(CompareError::PinNeedsTwoCpus { cpus });
    }
    let mut runs = Vec::new();
    let repeat = opts.repeat.max(1);
    for round in 1..=repeat {
        for &n in &opts.connections {
            for &build in &opts.builds {
                if opts.verbose {
                    eprintln!("compare: {build} with {n} connections (run {round} of {repeat})…");
                }
                let row = run_one(opts, build, n).unwrap_or_else(|e| Row {
                    build: build.to_string(),
                    connections: n as u64,
                    limit: Some(chain(&e)),
                    ..Row::default()
                });
                if opts.verbose {
                    eprintln!("compare:   {}", one_line(&row));
                }
                runs.push(row);
            }
        }
    }
    let rows = medians(&runs);
    let report = Report {
        ratios: ratios(&rows),
        rows,
        runs,
        settings: Settings {
            duration_s: opts.duration.as_secs_f64(),
            repeat,
            pin: opts.pin,
            client: opts.client,
            cpus,
        },
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
            "{:.0} req/s, p99 {} µs, {:.2} µs CPU/req",
            r.rps, r.p99_us, r.cpu_us_per_req
        ),
    }
}

fn pinned(cmd: &mut Command, cpu: usize) {
    use std::os::unix::process::CommandExt;
    // SAFETY: an all-zero cpu_set_t is the empty set; CPU_SET writes one bit of it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: the closure runs between fork and exec; it only calls sched_setaffinity, a raw
    // system call that is async-signal-safe, on a value prepared before the fork, and
    // allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

fn start_server(
    opts: &CompareOptions,
    build: Mode,
    connections: usize,
) -> Result<ServerProcess, ChildError> {
    let mut cmd = Command::new(&opts.exe);
    let serve = ServeEchoCommand {
        backlog: Some(connections.clamp(128, 65535) as u32),
        ..ServeEchoCommand::new(build)
    };
    cmd.args(serve.args()).stderr(Stdio::inherit());
    if opts.pin {
        pinned(&mut cmd, 0);
    }
    ServerProcess::spawn(cmd)
}

/// The most server threads and resident memory seen during a run.
struct Peaks {
    threads: u64,
    rss_kib: u64,
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
    client_cpu: Duration,
}

fn run_one(opts: &CompareOptions, build: Mode, n: usize) -> Result<Row, CompareError> {
    let server = start_server(opts, build, n)?;
    let spid = server.pid();
    std::thread::sleep(Duration::from_millis(100));
    let idle = procfs::sample(spid).ok_or(CompareError::ServerDied)?;

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
    if opts.pin {
        pinned(&mut cmd, 1);
    }
    let mut client = cmd.spawn().map_err(CompareError::StartClient)?;
    let stderr = client.stderr.take().expect("piped");
    // Marks are read on their own thread, and the server sampled right there, so the
    // reading is taken within microseconds of the client's window opening or closing.
    let (tx, rx) = mpsc::channel::<Mark>();
    let reader = std::thread::spawn(move || {
        let mut other = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(mark) = WindowMark::parse_line(&line) {
                let server = procfs::sample(spid).unwrap_or_default();
                let at = Instant::now();
                let _ = tx.send(Mark {
                    window: mark.window,
                    at,
                    server,
                    client_cpu: Duration::from_micros(mark.cpu_us),
                });
            } else {
                other.push_str(&line);
                other.push('\n');
            }
        }
        other
    });

    // Sample until the client exits: peaks from every reading, CPU from the two marks.
    let mut start: Option<Mark> = None;
    let mut end: Option<Mark> = None;
    let mut peaks = Peaks {
        threads: idle.threads,
        rss_kib: idle.rss_kib,
    };
    let mut take = |m: Mark, peaks: &mut Peaks| {
        peaks.see(&m.server);
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
        if let Some(s) = procfs::sample(spid) {
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
    let client_stderr = reader.join().unwrap_or_default();
    while let Ok(m) = rx.try_recv() {
        take(m, &mut peaks);
    }
    let (max_threads, max_rss) = (peaks.threads, peaks.rss_kib);
    let server_alive = procfs::sample(spid);
    let peak = server_alive.map_or(max_rss, |s| s.peak_rss_kib.max(max_rss));
    let stop = server.stop();

    let rep: StressReport =
        serde_json::from_str(out.trim()).map_err(|source| CompareError::NoReport {
            last_line: client_stderr.lines().last().unwrap_or("").to_owned(),
            source,
        })?;
    let mut row = Row {
        build: build.to_string(),
        connections: n as u64,
        connected: rep.connected,
        requests: rep.requests,
        rps: rep.rps,
        p50_us: rep.latency_us.p50,
        p99_us: rep.latency_us.p99,
        server_peak_rss_kib: peak,
        rss_per_conn_kib: if rep.connected > 0 {
            max_rss.saturating_sub(idle.rss_kib) as f64 / rep.connected as f64
        } else {
            0.0
        },
        server_threads: max_threads,
        errors: rep.connect_errors + rep.io_errors + rep.wrong_replies,
        wrong_replies: rep.wrong_replies,
        ..Row::default()
    };
    if let (Some(m0), Some(m1)) = (&start, &end) {
        let wall = (m1.at - m0.at).as_secs_f64().max(1e-9);
        let scpu = m1.server.cpu.saturating_sub(m0.server.cpu).as_secs_f64();
        row.server_cpu = scpu / wall;
        row.client_cpu = m1.client_cpu.saturating_sub(m0.client_cpu).as_secs_f64() / wall;
        if rep.requests > 0 {
            row.cpu_us_per_req = scpu * 1e6 / rep.requests as f64;
        }
    }
    // The client drives its connections from one thread: 90% of a core is its limit.
    if row.client_cpu >= 0.9 && row.client_cpu > row.server_cpu {
        row.bottleneck = Some(format!(
            "client-bound: client {:.0}% CPU, server {:.0}%",
            row.client_cpu * 100.0,
            row.server_cpu * 100.0
        ));
    }
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

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// One row per (build, connections): each measured figure is the median of its runs (runs
/// that failed outright, with no requests, are left out of it); limits, errors, peak memory
/// and threads are the worst seen.
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
            let med = |f: fn(&Row) -> f64| median(ok.iter().map(|r| f(r)).collect());
            let mut notes: Vec<String> = Vec::new();
            for r in &all {
                for n in [&r.limit].into_iter().flatten() {
                    if !notes.contains(n) {
                        notes.push(n.clone());
                    }
                }
            }
            let bound = ok.iter().filter(|r| r.bottleneck.is_some()).count();
            Row {
                build: build.clone(),
                connections: n,
                connected: med(|r| r.connected as f64) as u64,
                requests: med(|r| r.requests as f64) as u64,
                rps: med(|r| r.rps),
                p50_us: med(|r| r.p50_us as f64) as u64,
                p99_us: med(|r| r.p99_us as f64) as u64,
                cpu_us_per_req: med(|r| r.cpu_us_per_req),
                server_cpu: med(|r| r.server_cpu),
                client_cpu: med(|r| r.client_cpu),
                server_peak_rss_kib: all.iter().map(|r| r.server_peak_rss_kib).max().unwrap_or(0),
                rss_per_conn_kib: med(|r| r.rss_per_conn_kib),
                server_threads: all.iter().map(|r| r.server_threads).max().unwrap_or(0),
                errors: all.iter().map(|r| r.errors).sum(),
                wrong_replies: all.iter().map(|r| r.wrong_replies).sum(),
                limit: (!notes.is_empty()).then(|| notes.join("; ")),
                bottleneck: (bound * 2 > ok.len())
                    .then(|| format!("client-bound in {bound} of {} runs", ok.len())),
            }
        })
        .collect()
}

fn ratios(rows: &[Row]) -> Vec<Ratio> {
    let mut out = Vec::new();
    let find = |b: &str, n: u64| rows.iter().find(|r| r.build == b && r.connections == n);
    let mut counts: Vec<u64> = rows.iter().map(|r| r.connections).collect();
    counts.dedup();
    for n in counts {
        let Some(co) = find("coroutine", n) else {
            continue;
        };
        for other in ["threads", "epoll"] {
            if let Some(o) = find(other, n) {
                let div = |a: f64, b: f64| (a > 0.0 && b > 0.0).then(|| a / b);
                out.push(Ratio {
                    connections: n,
                    versus: other.into(),
                    rps: div(co.rps, o.rps),
                    cpu_per_req: div(co.cpu_us_per_req, o.cpu_us_per_req),
                });
            }
        }
    }
    out
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
        let runs = vec![
            row("coroutine", 10, 100.0, 9.0),
            row("epoll", 10, 50.0, 8.0),
            row("coroutine", 10, 300.0, 7.0),
            row("epoll", 10, 0.0, 0.0), // failed run: no requests
            row("coroutine", 10, 200.0, 20.0),
            row("epoll", 10, 70.0, 10.0),
        ];
        let m = medians(&runs);
        assert_eq!(m.len(), 2);
        assert_eq!(
            (m[0].build.as_str(), m[0].rps, m[0].cpu_us_per_req),
            ("coroutine", 200.0, 9.0)
        );
        assert_eq!((m[1].rps, m[1].cpu_us_per_req), (60.0, 9.0));
        let r = ratios(&m);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].versus, "epoll");
        assert!((r[0].rps.unwrap() - 200.0 / 60.0).abs() < 1e-9);
        assert!((r[0].cpu_per_req.unwrap() - 1.0).abs() < 1e-9);
    }
}
