//! `mayfly serve echo|http|file|cmd|udp-echo|time`: the process side of running a server. Register the stop
//! signals first (so none is missed), start the server with the options from
//! [`convert`](super::convert), publish its stats page if asked, print `listening on ADDR`,
//! wait for SIGINT/SIGTERM, let open connections drain for `--grace`, exit 0. With
//! `--workers N` (N > 1) the TCP servers hand over to [`supervise`] instead.
//!
//! This lifecycle stays in the binary rather than `mayfly-servers`: it owns process-wide
//! things a library should not take for itself (signal handlers, the SIGXFSZ disposition,
//! RLIMIT_NOFILE, stdout's contract lines, the exit code), and the library already offers
//! the mechanism it drives: each running server's `local_addr`, `stats` and `stop(grace)`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use mayfly::server::{Running, ServerStats};
use mayfly_servers::supervisor_heartbeat as heartbeat;
use mayfly_servers::{cmd, echo, file, http, plaintext, udp};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use super::args::{
    DatagramArgs, EchoArgs, HttpArgs, ServeCmdArgs, ServeFileArgs, StatsArgs, TimeArgs, UdpEchoArgs,
};
use super::drain::{Drain, DrainArgs};
use super::exit::Usage;
use super::supervise::WorkersArgs;
use super::tls_args::TlsServerArgs;
use super::{convert, hint, print, supervise};

/// `mayfly serve echo`.
pub fn echo(a: EchoArgs) -> Result<ExitCode> {
    // TLS is loaded (and refused for a build without it) before anything starts: a bad
    // certificate or key, or a key that is not the certificate's, exits 2 at once.
    if !echo::TLS_BUILDS.contains(&a.mode) {
        a.tls
            .refuse_for(&a.mode.to_string(), "coroutine, threads, tokio")?;
    }
    let tls = a.tls.acceptor()?;
    let name = format!("echo/{}", a.mode);
    let launch =
        Launch::tcp(&name, (&a.workers, &a.drain), &a.addr, &a.stats, a.grace.0).with_tls(&a.tls);
    serve(launch, || {
        let mut opts = convert::echo_options(&a);
        opts.tls = tls.clone();
        echo::start(a.mode, &opts).with_context(|| format!("binding {}", a.addr))
    })
}

/// `mayfly serve http`.
pub fn http(a: HttpArgs) -> Result<ExitCode> {
    let launch = Launch {
        name: format!("http/{}", a.mode),
        workers: Some(&a.workers),
        drain: Some(&a.drain),
        addr: &a.addr,
        stats: &a.stats,
        grace: a.grace.0,
        raise_nofile: true,
        tls: None,
    };
    serve(launch, || {
        let opts = convert::http_options(&a);
        plaintext::start(a.mode, &opts).with_context(|| format!("binding {}", a.addr))
    })
}

/// `mayfly serve file`.
pub fn file(a: ServeFileArgs) -> Result<ExitCode> {
    if !a.root.is_dir() {
        return Err(Usage(format!(
            "--root {}: no such directory; create it first (mkdir -p {0}) or give one that exists",
            a.root.display()
        ))
        .into());
    }
    // A bad certificate or key exits 2 before anything starts.
    let tls = a.tls.acceptor()?;
    let launch =
        Launch::tcp("file", (&a.workers, &a.drain), &a.addr, &a.stats, a.grace.0).with_tls(&a.tls);
    serve(launch, || {
        // Past RLIMIT_FSIZE a write must fail with EFBIG (an error reply), not kill the
        // server.
        // SAFETY: SIG_IGN installs no handler code; setting a disposition has no other effect.
        unsafe {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        }
        let mut opts = convert::file_options(&a);
        opts.tls = tls.clone();
        let server = file::start(&opts)
            .with_context(|| format!("serving {} on {}", a.root.display(), a.addr))?;
        Ok(Box::new(server))
    })
}

/// `mayfly serve cmd`.
pub fn cmd(a: ServeCmdArgs) -> Result<ExitCode> {
    if a.course.course_protocol && a.tls.enabled() {
        return Err(Usage(
            "--tls-cert/--tls-key: --course-protocol is the course's plaintext format, loopback \
             only; TLS is for the framed protocol (drop --course-protocol)"
                .into(),
        )
        .into());
    }
    // A bad certificate, key or client CA, and the remote rule, refuse (exit 2) before
    // anything starts.
    let opts = (!a.course.course_protocol)
        .then(|| convert::cmd_options(&a))
        .transpose()?;
    let launch = Launch {
        // Its caps are a few hundred connections; commands keep the limit it was given.
        raise_nofile: false,
        ..Launch::tcp("cmd", (&a.workers, &a.drain), &a.addr, &a.stats, a.grace.0).with_tls(&a.tls)
    };
    serve(launch, || {
        if a.course.course_protocol {
            let opts = convert::course_cmd_options(&a);
            let server = cmd::course_protocol::start(&opts)
                .with_context(|| format!("serving the course protocol on {}", a.addr))?;
            print::warning(cmd::course_protocol::WARNING);
            return Ok(Box::new(server));
        }
        let opts = opts.as_ref().expect("made above without --course-protocol");
        let server = cmd::start(opts).with_context(|| format!("serving commands on {}", a.addr))?;
        Ok(Box::new(server))
    })
}

/// `mayfly serve udp-echo`.
pub fn udp_echo(a: UdpEchoArgs) -> Result<ExitCode> {
    let launch = Launch::udp("udp-echo", &a.addr, &a.udp);
    serve(launch, || {
        let opts = convert::udp_options(&a.addr, &a.udp);
        let server =
            udp::echo::start(&opts).with_context(|| format!("binding {} (UDP)", a.addr))?;
        Ok(Box::new(server))
    })
}

/// `mayfly serve time`.
pub fn time(a: TimeArgs) -> Result<ExitCode> {
    let launch = Launch::udp("time", &a.addr, &a.udp);
    serve(launch, || {
        let opts = convert::time_options(&a);
        let server =
            udp::time::start(&opts).with_context(|| format!("binding {} (UDP)", a.addr))?;
        Ok(Box::new(server))
    })
}

/// What the one start sequence ([`serve`]) needs to know about a server besides how to
/// start it.
struct Launch<'a> {
    /// Its name on the stats page (`echo/coroutine`, `file`, …).
    name: String,
    /// `--workers` (TCP servers): more than one hands over to [`supervise`].
    workers: Option<&'a WorkersArgs>,
    /// `--check-addr` and `--drain-delay` (TCP servers).
    drain: Option<&'a DrainArgs>,
    /// `--addr`, for the supervisor.
    addr: &'a str,
    /// `--stats-addr` and the stats page's limits.
    stats: &'a StatsArgs,
    /// `--grace`.
    grace: Duration,
    /// Raise RLIMIT_NOFILE to its hard limit first (servers that hold many connections).
    raise_nofile: bool,
    /// The server's TLS flags, whose pair `--stats-tls` reuses (`None`: it has none).
    tls: Option<&'a TlsServerArgs>,
}

impl<'a> Launch<'a> {
    /// A TCP server: `--workers` may hand it to the supervisor, and it raises the fd limit
    /// for its connections.
    fn tcp(
        name: &str,
        (workers, drain): (&'a WorkersArgs, &'a DrainArgs),
        addr: &'a str,
        stats: &'a StatsArgs,
        grace: Duration,
    ) -> Self {
        Launch {
            name: name.into(),
            workers: Some(workers),
            drain: Some(drain),
            addr,
            stats,
            grace,
            raise_nofile: true,
            tls: None,
        }
    }

    /// With the server's TLS flags (for `--stats-tls`).
    fn with_tls(self, tls: &'a TlsServerArgs) -> Self {
        Launch {
            tls: Some(tls),
            ..self
        }
    }

    /// A UDP server: no supervisor, no connections to raise the fd limit for.
    fn udp(name: &str, addr: &'a str, udp: &'a DatagramArgs) -> Self {
        Launch {
            name: name.into(),
            workers: None,
            drain: None,
            addr,
            stats: &udp.stats,
            grace: udp.grace.0,
            raise_nofile: false,
            tls: None,
        }
    }
}

/// The one start sequence of every `mayfly serve …`: the supervisor if `--workers` asks for
/// one; else raise the fd limit (if the server wants it), register the stop signals (before
/// the server starts, so none is missed), `start` the server, in a worker start its
/// heartbeat (a greenlet on mayfly's worker thread, [`heartbeat`]), then [`serve_running`].
fn serve(launch: Launch<'_>, start: impl FnOnce() -> Result<Box<dyn Running>>) -> Result<ExitCode> {
    hint::check_addr("--addr", launch.addr)?;
    if let Some(stats) = &launch.stats.stats_addr {
        hint::check_addr("--stats-addr", stats)?;
    }
    // The page's certificate is loaded (and refused, exit 2) before anything starts.
    let stats_tls = launch.stats.tls.acceptor(launch.tls)?;
    if stats_tls.is_some()
        && launch
            .workers
            .is_some_and(|w| !w.worker && w.workers.count() > 1)
    {
        return Err(Usage(
            "--stats-tls*: the --workers supervisor's summed stats page is plain HTTP only; \
             serve it on loopback, or run one process"
                .into(),
        )
        .into());
    }
    let addr = launch.addr;
    serve_inner(launch, stats_tls, start).map_err(|e| hint::start_failure(e, addr))
}

/// [`serve`] once the addresses are known to have a host.
fn serve_inner(
    launch: Launch<'_>,
    stats_tls: Option<mayfly::tls::TlsAcceptor>,
    start: impl FnOnce() -> Result<Box<dyn Running>>,
) -> Result<ExitCode> {
    if let (Some(workers), Some(drain)) = (launch.workers, launch.drain) {
        let stats_addr = launch.stats.stats_addr.as_deref();
        if let Some(code) =
            supervise::supervise_if_asked(workers, drain, launch.addr, stats_addr, launch.grace)?
        {
            return Ok(code);
        }
    }
    if launch.raise_nofile {
        let _ = mayfly::process::raise_nofile();
    }
    let mut signals = stop_signals()?;
    let server = start()?;
    if launch.workers.is_some_and(|w| w.worker) {
        // Before `listening on`: the supervisor has a beat by the time it hears that line.
        heartbeat::start_from_env().context("starting the worker's heartbeat")?;
    }
    let mut page = convert::stats_options(launch.stats);
    if let Some(p) = &mut page {
        p.tls = stats_tls;
    }
    // In a worker of a supervisor the supervisor holds the check port (and waits out the
    // delay); its argv reaches the worker without those flags.
    let drain = Drain::start(launch.drain)?;
    serve_running(
        Stop {
            signals: &mut signals,
            drain,
            grace: launch.grace,
        },
        server.as_ref(),
        &launch.name,
        page,
    )
}

/// What stops a server: the signals, the drain delay before the stop, the grace after it.
struct Stop<'a> {
    signals: &'a mut Signals,
    drain: Drain,
    grace: Duration,
}

/// Signals a server waits for; registered before the server starts so none is missed.
fn stop_signals() -> Result<Signals> {
    Ok(Signals::new([SIGINT, SIGTERM])?)
}

/// Starts the stats page for server `name` if `opts` asks for one.
fn stats_page(
    opts: Option<http::Options>,
    name: &str,
    counters: Arc<ServerStats>,
) -> Result<Option<http::RunningStats>> {
    let Some(o) = opts else {
        return Ok(None);
    };
    let page = http::Page::new(name, counters);
    let running = http::start(&o, page).with_context(|| format!("serving stats on {}", o.addr))?;
    Ok(Some(running))
}

/// The lifecycle of a server behind the runtime's [`Running`] handle (every one: echo, file,
/// cmd, udp-echo, time): its stats page if asked, then [`serve_until_signal`].
fn serve_running(
    stop: Stop<'_>,
    server: &dyn Running,
    name: &str,
    stats: Option<http::Options>,
) -> Result<ExitCode> {
    let page = stats_page(stats, name, server.counters())?;
    serve_until_signal(stop, server.local_addr(), page, |g| server.stop(g))
}

/// Prints `listening on ADDR` (and `stats on ADDR`, `check on ADDR`), waits for SIGINT/SIGTERM
/// and the drain delay after it ([`Drain::wait`]), then calls `stop(grace)`, which returns
/// how many connections it had to close.
fn serve_until_signal(
    mut stop: Stop<'_>,
    addr: SocketAddr,
    stats: Option<http::RunningStats>,
    stop_server: impl FnOnce(Duration) -> u64,
) -> Result<ExitCode> {
    let page = stats.as_ref().map(|p| p.local_addr());
    print::listening(addr, page, stop.drain.check_addr())?;
    let sig = stop.drain.wait(stop.signals);
    print::draining(sig, stop.grace);
    print::closed_after_grace(stop_server(stop.grace));
    Ok(ExitCode::SUCCESS)
}
