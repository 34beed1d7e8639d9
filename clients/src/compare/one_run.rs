//! One run: a server child for one build (`serve echo` or `serve http`, by what the build
//! serves), the stress client against it (`--proto http` for an HTTP build), and the server's
//! `/proc` readings taken at the instants the client's measured window opens and closes,
//! turned into a [`Row`].

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mayfly::process::{self as procfs, ProcSample};
use mayfly_proto::builds::Serves;
use mayfly_proto::child::{ServeEchoCommand, StressCommand, Window, WindowMark};

use super::aggregate::client_limited;
use super::options::{chain, CompareError, CompareOptions};
use super::placement::{confine, Placement};
use crate::build::Build;
use crate::child::{ChildError, ServerProcess};
use crate::http_stress::HttpStressReport;
use crate::report::Row;
use crate::stress::StressReport;

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
        tls: opts.tls.as_ref().map(|t| (t.cert.clone(), t.key.clone())),
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
    server_io: Option<procfs::IoCalls>,
    client_cpu: Duration,
}

/// How long a stress client stopped early gets after SIGTERM before SIGKILL.
const CLIENT_STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// How often the run's waiting loop samples the server and looks for a stop signal.
const TICK: Duration = Duration::from_millis(50);

/// Runs `build` against `n` connections once and measures it; `None` if
/// [`CompareOptions::stop`] was set meanwhile (the server and the client are stopped then,
/// and waited for).
pub(super) fn run_one(
    opts: &CompareOptions,
    place: &mut Placement,
    build: Build,
    n: usize,
) -> Result<Option<Row>, CompareError> {
    let (server_cpus, client_cpus) = place.split(build);
    let server = start_server(opts, place, build, &server_cpus, n)?;
    let spid = server.pid();
    std::thread::sleep(Duration::from_millis(100));
    if opts.stopped().is_some() {
        let _ = server.stop();
        return Ok(None);
    }
    // A `--workers` server is a supervisor and its workers: every reading covers them all.
    // Its CPU with no client yet: a loop that never waits shows here.
    let (t0, idle0) = (
        Instant::now(),
        procfs::sample_tree(spid).ok_or(CompareError::ServerDied)?,
    );
    std::thread::sleep(opts.idle_window);
    let idle = procfs::sample_tree(spid).ok_or(CompareError::ServerDied)?;
    let idle_cpu =
        idle.cpu.saturating_sub(idle0.cpu).as_secs_f64() / t0.elapsed().as_secs_f64().max(1e-9);
    let fd_limit = procfs::fd_limit(spid).unwrap_or(0);

    let mut cmd = Command::new(&opts.exe);
    let http = opts.serves == Serves::Http;
    let stress = StressCommand {
        proto: http.then(|| "http".to_string()),
        json: true,
        marks: true,
        mode: Some(opts.client),
        connections: Some(n),
        threads: Some(opts.client_threads.min(n)),
        duration: Some(opts.duration),
        tls_ca: opts.tls.as_ref().map(|t| t.ca.clone()),
        reconnect_every: (opts.reconnect_every > 0).then_some(opts.reconnect_every),
        rate: opts.rate,
        ..StressCommand::new(server.addr.as_str())
    };
    cmd.args(stress.args())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    confine(&mut cmd, &client_cpus, None);
    procfs::die_with_parent(&mut cmd);
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
                let server_io = procfs::io_calls_tree(spid);
                let server_fds = fds_tree(spid);
                let _ = tx.send(Mark {
                    window: mark.window,
                    at,
                    server,
                    server_fds,
                    server_io,
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
        if opts.stopped().is_some() {
            stop_client(&mut client);
            let _ = reader.join();
            let _ = server.stop();
            return Ok(None);
        }
        std::thread::sleep(TICK);
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

    let rep: StressReport = if http {
        serde_json::from_str::<HttpStressReport>(out.trim()).map(StressReport::from)
    } else {
        serde_json::from_str(out.trim())
    }
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
        idle_cpu,
        fairness: rep.fairness,
        server_fds: peaks.fds,
        server_fd_limit: fd_limit,
        errors: rep.connect_errors + rep.io_errors + rep.wrong_replies + rep.fairness.unanswered,
        wrong_replies: rep.wrong_replies,
        rounds: 1,
        server_cpus: server_cpus.clone(),
        offered_rps: opts.rate,
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
            if let (Some(a), Some(b)) = (m0.server_io, m1.server_io) {
                let calls = b.reads.saturating_sub(a.reads) + b.writes.saturating_sub(a.writes);
                row.rw_calls_per_req = calls as f64 / rep.requests as f64;
            }
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
    Ok(Some(row))
}

/// SIGTERM to a stress client cut short, and wait for it; SIGKILL after
/// [`CLIENT_STOP_TIMEOUT`].
fn stop_client(client: &mut Child) {
    // SAFETY: kill(2) on our own child's pid, which has not been reaped (we hold it).
    unsafe { libc::kill(client.id() as libc::pid_t, libc::SIGTERM) };
    let deadline = Instant::now() + CLIENT_STOP_TIMEOUT;
    while Instant::now() < deadline {
        if !matches!(client.try_wait(), Ok(None)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = client.kill();
    let _ = client.wait();
}
