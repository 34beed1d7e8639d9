//! `mayfly`: the one front door. It parses flags and calls the library crates.
//!
//! ```text
//! mayfly serve echo --mode coroutine|threads|epoll --addr 127.0.0.1:8080
//! mayfly stress --addr 127.0.0.1:8080 --threads 500 --duration 10s
//! mayfly compare --connections 500,2000,10000 --duration 10s --pin --out report
//! ```

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use clap::{Parser, Subcommand};
use mayfly_clients::compare::{self, CompareOptions};
use mayfly_clients::stress::{self, ClientMode, StressOptions};
use mayfly_servers::echo::{self, Mode};

#[derive(Parser)]
#[command(
    name = "mayfly",
    version,
    about = "gevent's green threads on may: servers, load, comparison"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a demo server until SIGINT/SIGTERM.
    Serve {
        #[command(subcommand)]
        server: Serve,
    },
    /// The course's load test against an uppercase echo server.
    Stress(StressArgs),
    /// Run each echo-server build under the same load and compare them.
    Compare(CompareArgs),
}

#[derive(Subcommand)]
enum Serve {
    /// The uppercase echo server.
    Echo(EchoArgs),
}

#[derive(clap::Args)]
struct EchoArgs {
    /// coroutine (greenlets, one thread), threads (one per connection) or epoll (mio loop).
    #[arg(long, default_value = "coroutine")]
    mode: Mode,
    /// Address to listen on; port 0 picks a free port (printed as `listening on ADDR`).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: String,
    /// Listen backlog.
    #[arg(long, default_value_t = 1024)]
    backlog: i32,
    /// Stop accepting while this many connections are open.
    #[arg(long)]
    max_connections: Option<u64>,
    /// On SIGINT/SIGTERM, let open connections finish for this long, then close them.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    grace: Duration,
}

#[derive(clap::Args)]
struct StressArgs {
    /// The echo server.
    #[arg(long)]
    addr: String,
    /// OS threads (threads mode).
    #[arg(long, default_value_t = 500)]
    threads: usize,
    /// Connections in total (default: one per thread).
    #[arg(long)]
    connections: Option<usize>,
    /// How long to load the server.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// threads (std::net, one thread per connection share) or coroutine (mayfly greenlets).
    #[arg(long, default_value = "threads")]
    mode: ClientMode,
    /// Print one JSON object instead of the summary.
    #[arg(long)]
    json: bool,
    /// Print window start/end marks on stderr (used by `mayfly compare`).
    #[arg(long, hide = true)]
    marks: bool,
}

#[derive(clap::Args)]
struct CompareArgs {
    /// Connection counts to sweep.
    #[arg(long, value_delimiter = ',', default_value = "500,2000,10000")]
    connections: Vec<usize>,
    /// Measured time per run.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Builds to run.
    #[arg(long, value_delimiter = ',', default_value = "coroutine,threads,epoll")]
    builds: Vec<Mode>,
    /// Server on CPU 0, client on CPU 1, for every build.
    #[arg(long)]
    pin: bool,
    /// Client mode (coroutine drives 10,000+ connections from one thread).
    #[arg(long, default_value = "coroutine")]
    client: ClientMode,
    /// Client threads in threads mode.
    #[arg(long, default_value_t = 500)]
    client_threads: usize,
    /// Write report.json, report.md and report.svg into this directory.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Run the sweep this many times, interleaved, and report medians.
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, "s"), |i| (&s[..i], &s[i..]));
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 10s, 500ms or 2m"))?;
    let secs = match unit {
        "s" | "" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        _ => return Err(format!("unknown unit in {s:?}: use ms, s or m")),
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("{s:?} is not a valid duration"));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mayfly: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.cmd {
        Cmd::Serve {
            server: Serve::Echo(a),
        } => serve_echo(a),
        Cmd::Stress(a) => run_stress(a),
        Cmd::Compare(a) => run_compare(a),
    }
}

fn serve_echo(a: EchoArgs) -> Result<ExitCode> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    use std::io::Write;
    let _ = mayfly_servers::limits::raise_nofile();
    // Block on signals on this (main) thread; the server runs on its own threads.
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    let mut opts = echo::Options::new(a.addr.clone());
    opts.backlog = a.backlog;
    opts.max_connections = a.max_connections;
    let server = echo::start(a.mode, &opts).with_context(|| format!("binding {}", a.addr))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on {}", server.local_addr())?;
    out.flush()?;
    drop(out);
    let sig = signals.forever().next();
    eprintln!(
        "mayfly: signal {}; draining for up to {:?}",
        sig.unwrap_or(0),
        a.grace
    );
    let closed = server.shutdown(a.grace);
    if closed > 0 {
        eprintln!("mayfly: closed {closed} connections still open after the grace period");
    }
    Ok(ExitCode::SUCCESS)
}

fn resolve(addr: &str) -> Result<SocketAddr> {
    addr.to_socket_addrs()
        .with_context(|| format!("resolving {addr}"))?
        .next()
        .ok_or_else(|| anyhow!("{addr} resolves to nothing"))
}

fn run_stress(a: StressArgs) -> Result<ExitCode> {
    use std::io::IsTerminal;
    let mut o = StressOptions::new(resolve(&a.addr)?);
    o.threads = a.threads.max(1);
    o.connections = a.connections.unwrap_or(o.threads).max(1);
    o.duration = a.duration;
    o.mode = a.mode;
    o.marks = a.marks;
    o.progress = !a.json && std::io::stderr().is_terminal();
    let r = stress::run(&o);
    if a.json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        println!(
            "{} requests in {:.1} s: {:.0} req/s over {} connections ({} connected)",
            r.requests, r.seconds, r.rps, r.connections, r.connected
        );
        println!(
            "latency µs: p50 {}  p99 {}  p99.9 {}  max {}",
            r.latency_us.p50, r.latency_us.p99, r.latency_us.p999, r.latency_us.max
        );
        println!(
            "errors: {} connect, {} i/o, {} wrong replies{}",
            r.connect_errors,
            r.io_errors,
            r.wrong_replies,
            r.first_error
                .as_ref()
                .map(|e| format!(" (first: {e})"))
                .unwrap_or_default()
        );
    }
    Ok(if r.wrong_replies > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn run_compare(a: CompareArgs) -> Result<ExitCode> {
    let exe = std::env::current_exe().context("finding the mayfly binary")?;
    let opts = CompareOptions {
        exe,
        builds: a.builds,
        connections: a.connections,
        duration: a.duration,
        pin: a.pin,
        client: a.client,
        client_threads: a.client_threads,
        out: a.out.clone(),
        repeat: a.repeat,
        verbose: !a.json,
    };
    let report = compare::run(&opts)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{}", compare::markdown(&report));
        if let Some(dir) = &a.out {
            println!(
                "wrote {0}/report.json, {0}/report.md, {0}/report.svg",
                dir.display()
            );
        }
    }
    let wrong: u64 = report.rows.iter().map(|r| r.wrong_replies).sum();
    Ok(if wrong > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
