//! `mayfly serve echo|file|cmd --workers N`: the binary's side of
//! [`mayfly_servers::supervisor`]. With N > 1 the process becomes a supervisor: it holds the
//! port, re-executes itself N times with the same arguments plus the hidden `--worker` flag
//! and the resolved address, prints `listening on ADDR` once, forwards SIGINT/SIGTERM (after
//! `--drain-delay`, with the check port it holds closed at the signal: [`super::drain`]) and
//! exits 0 after the workers drained. A worker (or N = 1) serves as before, with
//! SO_REUSEPORT on in a worker.

use std::ffi::OsString;
use std::fmt;
use std::net::SocketAddr;
use std::process::{Command, ExitCode};
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, Result};
use mayfly_servers::supervisor::{self, Options, Supervisor};
use mayfly_servers::supervisor_stats;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use super::drain::{Drain, DrainArgs};
use super::human::HumanDuration;
use super::print;

/// `--workers`: a count, or `auto` (the CPUs this process may run on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workers {
    /// One per CPU in this process's affinity mask.
    Auto,
    /// This many (at least 1).
    Count(usize),
}

impl Workers {
    /// How many worker processes.
    pub fn count(self) -> usize {
        match self {
            Workers::Auto => supervisor::cpus(),
            Workers::Count(n) => n,
        }
    }
}

impl fmt::Display for Workers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Workers::Auto => f.write_str("auto"),
            Workers::Count(n) => write!(f, "{n}"),
        }
    }
}

impl FromStr for Workers {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "auto" {
            return Ok(Workers::Auto);
        }
        match s.parse::<usize>() {
            Ok(n) if n >= 1 => Ok(Workers::Count(n)),
            _ => Err(format!("`{s}` is not a worker count (1, 2, … or auto)")),
        }
    }
}

/// The `--workers` flags of the TCP servers.
#[derive(clap::Args, Debug)]
#[command(next_help_heading = "Supervisor (--workers)")]
pub struct WorkersArgs {
    /// Worker processes sharing the port with SO_REUSEPORT (multi-process + greenlets), under
    /// a supervisor that restarts them; `auto`: one per CPU this process may run on. 1: one
    /// process, no supervisor.
    #[arg(long, default_value_t = Workers::Count(1))]
    pub workers: Workers,
    /// Supervisor: give up (stop all, exit non-zero) when workers die this many times within
    /// --worker-death-window.
    #[arg(long, default_value_t = supervisor::DEFAULT_MAX_DEATHS)]
    pub max_worker_deaths: u32,
    /// Supervisor: the window worker deaths are counted in.
    #[arg(long, default_value_t = HumanDuration(supervisor::DEFAULT_DEATH_WINDOW))]
    pub worker_death_window: HumanDuration,
    /// Supervisor: wait before restarting a dead worker; doubles with each death in the
    /// window, up to 5 s.
    #[arg(long, default_value_t = HumanDuration(supervisor::DEFAULT_RESTART_BACKOFF))]
    pub worker_restart_backoff: HumanDuration,
    /// Supervisor: a starting worker must print `listening on` within this.
    #[arg(long, default_value_t = HumanDuration(supervisor::DEFAULT_START_TIMEOUT))]
    pub worker_start_timeout: HumanDuration,
    /// Supervisor: SIGKILL and restart a worker that sent no heartbeat for this long (its
    /// greenlet thread stuck: a handler that spins or blocks it, a SIGSTOP); counts as a
    /// death for --max-worker-deaths. Each worker beats from a greenlet every quarter of it
    /// (at most 1 s). 0: off.
    #[arg(long, default_value_t = HumanDuration(supervisor::DEFAULT_WORKER_TIMEOUT))]
    pub worker_timeout: HumanDuration,
    /// Internal: this process is a worker of a supervisor (bind with SO_REUSEPORT).
    #[arg(long, hide = true)]
    pub worker: bool,
}

/// Runs the supervisor when `--workers` asks for more than one process; `None`: serve in
/// this process (one worker, or a worker of a supervisor).
///
/// # Errors
/// The port cannot be held (in use by another program), the stats page cannot bind, a
/// worker did not start, workers died in a loop, or did not stop cleanly.
pub fn supervise_if_asked(
    w: &WorkersArgs,
    drain: &DrainArgs,
    addr: &str,
    stats_addr: Option<&str>,
    grace: Duration,
) -> Result<Option<ExitCode>> {
    let n = w.workers.count();
    if w.worker || n <= 1 {
        return Ok(None);
    }
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    let held = supervisor::hold_port(addr).with_context(|| format!("binding {addr}"))?;
    let local = held
        .local_addr()?
        .as_socket()
        .context("the held socket has no IP address")?;
    let argv = worker_argv(std::env::args_os().skip(1), local, stats_addr.is_some());
    let exe = std::env::current_exe().context("finding the mayfly binary to start workers")?;
    let mut opts = Options::new(n);
    opts.max_deaths = w.max_worker_deaths;
    opts.death_window = w.worker_death_window.0;
    opts.restart_backoff = w.worker_restart_backoff.0;
    opts.start_timeout = w.worker_start_timeout.0;
    opts.worker_timeout = w.worker_timeout.0;
    opts.grace = grace;
    let mut sup = Supervisor::start(&opts, move || {
        let mut c = Command::new(&exe);
        c.args(&argv);
        c
    })?;
    let pids: Vec<String> = sup.pids().iter().flatten().map(u32::to_string).collect();
    log::info!(workers = n, pids = pids.join(" ").as_str(); "{n} workers, pids {}", pids.join(" "));
    let page = match stats_addr {
        Some(a) => Some(
            supervisor_stats::start(
                &supervisor_stats::Options::new(a),
                sup.roster(),
                sup.counters(),
            )
            .with_context(|| format!("serving stats on {a}"))?,
        ),
        None => None,
    };
    // After the workers listen: a balancer's check passes only once they accept.
    let mut drain = Drain::start(Some(drain))?;
    print::listening(
        local,
        page.as_ref().map(|p| p.local_addr()),
        drain.check_addr(),
    )?;
    let mut got = None;
    let r = sup.run(|| {
        got = got.or_else(|| drain.poll(signals.pending().next()));
        got
    });
    if let Some(sig) = got {
        print::draining(sig, grace);
    }
    r?;
    drop(held);
    Ok(Some(ExitCode::SUCCESS))
}

/// The worker's arguments: the supervisor's, without `--workers`, `--addr`, `--stats-addr`
/// and the drain's `--check-addr` and `--drain-delay` (the supervisor holds those), plus `--addr LOCAL --worker` (and `--stats-addr 127.0.0.1:0`: each
/// worker's page on loopback, read by the supervisor's).
fn worker_argv(
    args: impl Iterator<Item = OsString>,
    local: SocketAddr,
    stats: bool,
) -> Vec<OsString> {
    const DROP: [&str; 5] = [
        "--workers",
        "--addr",
        "--stats-addr",
        "--check-addr",
        "--drain-delay",
    ];
    let mut out = Vec::new();
    let mut skip_value = false;
    for a in args {
        if skip_value {
            skip_value = false;
            continue;
        }
        let s = a.to_string_lossy();
        if DROP.contains(&s.as_ref()) {
            skip_value = true;
            continue;
        }
        if DROP.iter().any(|d| s.starts_with(&format!("{d}="))) {
            continue;
        }
        out.push(a);
    }
    out.extend(["--addr".into(), local.to_string().into(), "--worker".into()]);
    if stats {
        out.extend(["--stats-addr".into(), "127.0.0.1:0".into()]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_argv_replaces_addr_and_workers() {
        let args = [
            "serve",
            "echo",
            "--workers",
            "2",
            "--addr=127.0.0.1:0",
            "--grace",
            "1s",
            "--workers=3",
            "--addr",
            "x",
            "--stats-addr",
            "127.0.0.1:7000",
            "--check-addr",
            "127.0.0.1:0",
            "--drain-delay=2s",
        ]
        .map(OsString::from);
        let got = worker_argv(
            args.clone().into_iter(),
            "127.0.0.1:4000".parse().unwrap(),
            false,
        );
        let want = [
            "serve",
            "echo",
            "--grace",
            "1s",
            "--addr",
            "127.0.0.1:4000",
            "--worker",
        ]
        .map(OsString::from);
        assert_eq!(got, want);
        let with_stats = worker_argv(args.into_iter(), "127.0.0.1:4000".parse().unwrap(), true);
        assert_eq!(
            with_stats[want.len()..],
            ["--stats-addr", "127.0.0.1:0"].map(OsString::from)
        );
    }

    #[test]
    fn workers_parse() {
        assert_eq!("auto".parse(), Ok(Workers::Auto));
        assert_eq!("3".parse(), Ok(Workers::Count(3)));
        assert!("0".parse::<Workers>().is_err());
        assert!("many".parse::<Workers>().is_err());
        assert!(Workers::Auto.count() >= 1);
    }
}
