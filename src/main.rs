//! `mayfly`: the one front door. It parses flags and calls the library crates.
//!
//! ```text
//! mayfly serve echo --mode coroutine|threads|epoll --addr 127.0.0.1:8080
//! mayfly stress --addr 127.0.0.1:8080 --threads 500 --duration 10s
//! mayfly compare --connections 500,2000,10000 --duration 10s --pin --out report
//! mayfly serve file --root ./files --addr 127.0.0.1:9000
//! mayfly file --addr 127.0.0.1:9000 put ./big.iso
//! ```

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use clap::{Parser, Subcommand};
use mayfly::server::ServerStats;
use mayfly_clients::compare::{self, CompareOptions};
use mayfly_clients::stress::{self, ClientMode, StressOptions};
use mayfly_servers::echo::{self, Mode};
use mayfly_servers::file;

#[derive(Parser)]
#[command(
    name = "mayfly",
    version,
    about = "gevent's green threads on may: servers, load, comparison"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Commands,
}

#[derive(Subcommand)]
enum Commands {
    /// Run a demo server until SIGINT/SIGTERM.
    Serve {
        #[command(subcommand)]
        server: Serve,
    },
    /// The course's load test against an uppercase echo server.
    Stress(StressArgs),
    /// Run each echo-server build under the same load and compare them.
    Compare(CompareArgs),
    /// The file server's client: put, get, list, stat.
    File(FileArgs),
    /// Measure the file server: one big file up and down, then many small files at once.
    FileBench(FileBenchArgs),
    /// Run a shell command on a `mayfly serve cmd` server.
    Cmd(CmdArgs),
}

#[derive(clap::Args)]
struct CmdArgs {
    /// The command server.
    #[arg(long, default_value = "127.0.0.1:9100")]
    addr: String,
    /// File holding the shared secret (default: the MAYFLY_CMD_SECRET variable).
    #[arg(long)]
    secret_file: Option<PathBuf>,
    /// The command (run by the server's /bin/sh -c).
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

#[derive(clap::Args)]
struct ServeCmdArgs {
    /// Address to listen on; loopback only unless --allow-remote.
    #[arg(long, default_value = "127.0.0.1:9100")]
    addr: String,
    /// File holding the shared secret, at least 16 bytes (default: the MAYFLY_CMD_SECRET variable).
    #[arg(long)]
    secret_file: Option<PathBuf>,
    /// Listen on a non-loopback address (anyone who has the secret can run commands).
    #[arg(long)]
    allow_remote: bool,
    /// Kill a command (and everything it started) after this long.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    timeout: Duration,
    /// Kill a command once it has printed this much (K, M suffixes).
    #[arg(long, default_value = "1M", value_parser = parse_size)]
    max_output: u64,
    /// Stop accepting while this many connections are open.
    #[arg(long)]
    max_connections: Option<u64>,
    /// On SIGINT/SIGTERM, let open connections finish for this long, then close them.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    grace: Duration,
    #[command(flatten)]
    stats: StatsArgs,
}

/// The shared secret from `--secret-file` or MAYFLY_CMD_SECRET.
fn cmd_secret(file: Option<&std::path::Path>) -> Result<Vec<u8>> {
    use mayfly_servers::cmd::auth;
    match file {
        Some(p) => Ok(auth::read_secret(p)?),
        None => {
            let s = std::env::var("MAYFLY_CMD_SECRET").map_err(|_| {
                anyhow!("no secret: pass --secret-file FILE or set MAYFLY_CMD_SECRET")
            })?;
            auth::check_secret(s.as_bytes())?;
            Ok(s.into_bytes())
        }
    }
}

#[derive(clap::Args)]
struct FileBenchArgs {
    /// Scratch directory for the server's root and the local files (default: the system
    /// temp directory). Put it on tmpfs (/dev/shm) to measure the protocol, not the disk.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Size of the big file (K, M, G suffixes: powers of 1024).
    #[arg(long, default_value = "1G", value_parser = parse_size)]
    size: u64,
    /// Timed rounds each way (after one warm-up round).
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Number of small files.
    #[arg(long, default_value_t = 1000)]
    small_files: usize,
    /// Largest small file (K, M suffixes).
    #[arg(long, default_value = "64K", value_parser = parse_size)]
    small_max: u64,
    /// Greenlets moving the small files at once.
    #[arg(long, default_value_t = 100)]
    greenlets: usize,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum Serve {
    /// The uppercase echo server.
    Echo(EchoArgs),
    /// The framed-protocol file server (the course's FTP homework).
    File(ServeFileArgs),
    /// The course's remote-command server, behind an HMAC challenge.
    Cmd(ServeCmdArgs),
}

#[derive(clap::Args)]
struct ServeFileArgs {
    /// Directory to serve (must exist). Only plain names directly inside it are reachable.
    #[arg(long)]
    root: PathBuf,
    /// Address to listen on; port 0 picks a free port (printed as `listening on ADDR`).
    #[arg(long, default_value = "127.0.0.1:9000")]
    addr: String,
    /// Listen backlog.
    #[arg(long, default_value_t = 1024)]
    backlog: i32,
    /// Stop accepting while this many connections are open.
    #[arg(long)]
    max_connections: Option<u64>,
    /// Largest upload accepted, in bytes (suffixes K, M, G, T: powers of 1024).
    #[arg(long, default_value = "16G", value_parser = parse_size)]
    max_file_size: u64,
    /// Close a connection that sends no request for this long.
    #[arg(long, default_value = "300s", value_parser = parse_duration)]
    idle_timeout: Duration,
    /// Drop a request whose bytes stop flowing for this long.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    io_timeout: Duration,
    /// fsync each upload before renaming it into place.
    #[arg(long)]
    fsync: bool,
    /// Delete a cut-off resumable upload not resumed for this long.
    #[arg(long, default_value = "24h", value_parser = parse_duration)]
    partial_ttl: Duration,
    /// On SIGINT/SIGTERM, let open connections finish for this long, then close them.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    grace: Duration,
    #[command(flatten)]
    stats: StatsArgs,
}

#[derive(clap::Args)]
struct FileArgs {
    /// The file server.
    #[arg(long, default_value = "127.0.0.1:9000")]
    addr: String,
    /// Print results as JSON.
    #[arg(long)]
    json: bool,
    #[command(subcommand)]
    op: FileOp,
}

#[derive(Subcommand)]
enum FileOp {
    /// Upload a file.
    Put {
        /// Local file.
        path: PathBuf,
        /// Name on the server (default: the local file name).
        #[arg(long)]
        name: Option<String>,
        /// Ask the server to keep the bytes if the upload is cut off.
        #[arg(long)]
        resumable: bool,
        /// Continue a cut-off resumable upload.
        #[arg(long)]
        resume: bool,
        /// Do not hash the file before sending (the hash is still checked after).
        #[arg(long)]
        no_prehash: bool,
    },
    /// Download a file (through NAME.part, renamed once the sha256 matches).
    Get {
        /// Name on the server.
        name: String,
        /// Local path (default: the name, in the current directory).
        #[arg(long, short)]
        out: Option<PathBuf>,
        /// Continue from an existing OUT.part.
        #[arg(long)]
        resume: bool,
    },
    /// List the server's files.
    List,
    /// Size, time and sha256 of one file, and any partial upload of it.
    Stat {
        /// Name on the server.
        name: String,
    },
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
    /// Close a connection that sends nothing for this long (idle or slowloris); 0: never.
    /// Echo has no message boundary, so this is also the idle timeout.
    #[arg(long, visible_alias = "idle-timeout", default_value = "300s", value_parser = parse_duration)]
    read_timeout: Duration,
    /// Close a connection whose replies cannot be sent for this long (it does not read); 0: never.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    write_timeout: Duration,
    /// epoll build: reply bytes held for a client that does not read before reading from it
    /// pauses (K, M suffixes).
    #[arg(long, default_value = "256K", value_parser = parse_size)]
    max_pending: u64,
    /// On SIGINT/SIGTERM, let open connections finish for this long, then close them.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    grace: Duration,
    #[command(flatten)]
    stats: StatsArgs,
}

/// The stats page every server can publish (`--stats-addr`).
#[derive(clap::Args)]
struct StatsArgs {
    /// Serve /stats (JSON), /metrics (Prometheus) and a live dashboard at / on this address
    /// (port 0: any free port, printed as `stats on ADDR`).
    #[arg(long)]
    stats_addr: Option<String>,
    /// Stats page: HTTP connections served at once (more wait in the backlog).
    #[arg(long, default_value_t = mayfly_servers::http::DEFAULT_MAX_CONNECTIONS)]
    stats_max_connections: u64,
    /// Stats page: time a client gets to send each request head.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    stats_idle_timeout: Duration,
    /// Stats page: longest request head, bytes (K suffix).
    #[arg(long, default_value = "8K", value_parser = parse_size)]
    stats_max_request: u64,
    /// Stats page: requests per second answered in all (more wait), which bounds the
    /// worker time HTTP can take from the server.
    #[arg(long, default_value_t = mayfly_servers::http::DEFAULT_MAX_RPS)]
    stats_max_rps: u64,
}

/// A zero duration on the command line means "no limit".
fn limit(d: Duration) -> Option<Duration> {
    (!d.is_zero()).then_some(d)
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
    /// Threads mode: after each request, drop the connection with this probability (a clean
    /// close, a reset, or a reset mid-message, in turn) and reconnect. For soak tests.
    #[arg(long, default_value_t = 0.0)]
    disconnect_rate: f64,
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
    /// Write report.json, report.md, report.svg and report.html into this directory.
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
        .map_err(|_| format!("{s:?} is not a duration like 10s, 500ms, 2m or 24h"))?;
    let secs = match unit {
        "s" | "" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("unknown unit in {s:?}: use ms, s, m or h")),
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("{s:?} is not a valid duration"));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit())
        .map_or((s, ""), |i| (&s[..i], &s[i..]));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size like 1048576, 512K, 16G"))?;
    let shift = match unit
        .trim()
        .to_ascii_uppercase()
        .trim_end_matches("IB")
        .trim_end_matches('B')
    {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return Err(format!("unknown unit in {s:?}: use K, M, G or T")),
    };
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("{s:?} is too large"))
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
        Commands::Serve {
            server: Serve::Echo(a),
        } => serve_echo(a),
        Commands::Serve {
            server: Serve::File(a),
        } => serve_file(a),
        Commands::File(a) => run_file(a),
        Commands::FileBench(a) => run_file_bench(a),
        Commands::Serve {
            server: Serve::Cmd(a),
        } => serve_cmd(a),
        Commands::Cmd(a) => run_cmd(a),
        Commands::Stress(a) => run_stress(a),
        Commands::Compare(a) => run_compare(a),
    }
}

/// Prints `listening on ADDR`, waits for SIGINT/SIGTERM, then calls `stop(grace)`, which
/// returns how many connections it had to close.
fn serve_until_signal(
    signals: &mut signal_hook::iterator::Signals,
    addr: SocketAddr,
    grace: Duration,
    stats: (&StatsArgs, &str, Arc<ServerStats>),
    stop: impl FnOnce(Duration) -> u64,
) -> Result<ExitCode> {
    use std::io::Write;
    let (stats_args, name, counters) = stats;
    let page = match &stats_args.stats_addr {
        Some(a) => {
            let mut o = mayfly_servers::http::Options::new(a.clone());
            o.max_connections = stats_args.stats_max_connections;
            o.idle_timeout = stats_args.stats_idle_timeout;
            o.max_request = stats_args.stats_max_request as usize;
            o.max_rps = stats_args.stats_max_rps;
            let page = mayfly_servers::http::Page::new(name, counters);
            Some(
                mayfly_servers::http::start(&o, page)
                    .with_context(|| format!("serving stats on {a}"))?,
            )
        }
        None => None,
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", mayfly_proto::child::Announce::Listening(addr))?;
    if let Some(p) = &page {
        writeln!(
            out,
            "{}",
            mayfly_proto::child::Announce::Stats(p.local_addr())
        )?;
    }
    out.flush()?;
    drop(out);
    let sig = signals.forever().next();
    eprintln!(
        "mayfly: signal {}; draining for up to {:?}",
        sig.unwrap_or(0),
        grace
    );
    let closed = stop(grace);
    if closed > 0 {
        eprintln!("mayfly: closed {closed} connections still open after the grace period");
    }
    Ok(ExitCode::SUCCESS)
}

/// Signals a server waits for; registered before the server starts so none is missed.
fn stop_signals() -> Result<signal_hook::iterator::Signals> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    Ok(signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?)
}

fn serve_echo(a: EchoArgs) -> Result<ExitCode> {
    let _ = mayfly::process::raise_nofile();
    let mut signals = stop_signals()?;
    let mut opts = echo::Options::new(a.addr.clone());
    opts.backlog = a.backlog;
    opts.max_connections = a.max_connections;
    opts.read_timeout = limit(a.read_timeout);
    opts.write_timeout = limit(a.write_timeout);
    opts.max_pending = a.max_pending as usize;
    let server = echo::start(a.mode, &opts).with_context(|| format!("binding {}", a.addr))?;
    let name = format!("echo/{}", a.mode);
    let counters = server.stats();
    serve_until_signal(
        &mut signals,
        server.local_addr(),
        a.grace,
        (&a.stats, &name, counters),
        |g| server.shutdown(g),
    )
}

fn serve_file(a: ServeFileArgs) -> Result<ExitCode> {
    let _ = mayfly::process::raise_nofile();
    // Past RLIMIT_FSIZE a write must fail with EFBIG (an error reply), not kill the server.
    // SAFETY: SIG_IGN installs no handler code; setting a disposition has no other effect.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    let mut signals = stop_signals()?;
    let mut opts = file::Options::new(a.addr.clone(), &a.root);
    opts.backlog = a.backlog;
    opts.max_connections = a.max_connections;
    opts.max_file_size = a.max_file_size;
    opts.idle_timeout = a.idle_timeout;
    opts.io_timeout = a.io_timeout;
    opts.fsync = a.fsync;
    opts.partial_ttl = a.partial_ttl;
    let server = file::start(&opts)
        .with_context(|| format!("serving {} on {}", a.root.display(), a.addr))?;
    let counters = server.stats_handle();
    serve_until_signal(
        &mut signals,
        server.local_addr(),
        a.grace,
        (&a.stats, "file", counters),
        |g| server.stop(g),
    )
}

fn serve_cmd(a: ServeCmdArgs) -> Result<ExitCode> {
    use mayfly_servers::cmd;
    let mut signals = stop_signals()?;
    let mut opts = cmd::Options::new(a.addr.clone(), cmd_secret(a.secret_file.as_deref())?);
    opts.allow_remote = a.allow_remote;
    opts.timeout = a.timeout;
    opts.max_output = a.max_output as usize;
    opts.max_connections = a.max_connections;
    let server = cmd::start(&opts).with_context(|| format!("serving commands on {}", a.addr))?;
    let counters = server.stats_handle();
    serve_until_signal(
        &mut signals,
        server.local_addr(),
        a.grace,
        (&a.stats, "cmd", counters),
        |g| server.stop(g),
    )
}

/// Prints the remote output; exits with the remote exit code (124 on the server's timeout,
/// like `timeout(1)`; 125 if it was killed otherwise).
fn run_cmd(a: CmdArgs) -> Result<ExitCode> {
    use std::io::Write;
    let secret = cmd_secret(a.secret_file.as_deref())?;
    let mut c = mayfly_clients::cmd::CmdClient::connect(&a.addr, &secret)?;
    let out = c.run(&a.command.join(" "))?;
    std::io::stdout().write_all(&out.output)?;
    if out.truncated {
        eprintln!("mayfly: output cut at the server's cap; the command was killed");
    }
    if out.timed_out {
        eprintln!("mayfly: the command ran past the server's time limit and was killed");
        return Ok(ExitCode::from(124));
    }
    Ok(match out.exit_code {
        Some(c) => ExitCode::from(c.clamp(0, 255) as u8),
        None => ExitCode::from(125),
    })
}

fn run_file(a: FileArgs) -> Result<ExitCode> {
    use mayfly_clients::file::{FileClient, PutOptions};
    let mut c = FileClient::connect(a.addr.as_str())?;
    match a.op {
        FileOp::List => {
            let entries = c.list()?;
            if a.json {
                println!("{}", serde_json::to_string(&entries)?);
            } else {
                for e in entries {
                    println!("{:>14}  {}", e.filesize, e.filename);
                }
            }
        }
        FileOp::Stat { name } => {
            let st = c.stat(&name)?;
            if a.json {
                println!("{}", serde_json::to_string(&st)?);
            } else {
                match (st.filesize, &st.sha256) {
                    (Some(size), Some(sha)) => println!("{name}: {size} bytes, sha256 {sha}"),
                    _ => println!("{name}: no such file"),
                }
                if let Some(p) = st.partial_size {
                    println!("{name}: {p} bytes of a cut-off upload kept for --resume");
                }
            }
            if st.filesize.is_none() {
                return Ok(ExitCode::from(1));
            }
        }
        FileOp::Put {
            path,
            name,
            resumable,
            resume,
            no_prehash,
        } => {
            let name = match name {
                Some(n) => n,
                None => path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .ok_or_else(|| {
                        anyhow!("{} has no usable file name; pass --name", path.display())
                    })?
                    .to_owned(),
            };
            let size = std::fs::metadata(&path)
                .with_context(|| format!("reading {}", path.display()))?
                .len();
            let bar = progress_bar(size, a.json);
            let opts = PutOptions {
                no_prehash,
                resumable,
                resume,
            };
            let t = c.put_file(&path, &name, &opts, &mut |done, _| bar.set_position(done))?;
            bar.finish_and_clear();
            report_transfer("sent", &t, a.json)?;
        }
        FileOp::Get { name, out, resume } => {
            let dest = out.unwrap_or_else(|| PathBuf::from(&name));
            let bar = progress_bar(0, a.json);
            let t = c.get_file(&name, &dest, resume, &mut |done, total| {
                bar.set_length(total);
                bar.set_position(done)
            })?;
            bar.finish_and_clear();
            report_transfer("received", &t, a.json)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn run_file_bench(a: FileBenchArgs) -> Result<ExitCode> {
    use mayfly_clients::file_bench::{self, FileBenchOptions};
    let base = a.dir.unwrap_or_else(std::env::temp_dir);
    let dir = base.join(format!("mayfly-file-bench-{}", std::process::id()));
    let o = FileBenchOptions {
        exe: std::env::current_exe().context("finding the mayfly binary")?,
        dir: dir.clone(),
        size: a.size,
        rounds: a.rounds.max(1),
        small_files: a.small_files,
        small_max: a.small_max.max(1) as usize,
        greenlets: a.greenlets.max(1),
    };
    let json = a.json;
    let r = file_bench::run(&o, &mut |line| {
        if !json {
            eprintln!("{line}");
        }
    });
    let _ = std::fs::remove_dir_all(&dir);
    let r = r?;
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        println!(
            "{} MiB file, median of {} rounds: put {:.0} MB/s, get {:.0} MB/s",
            r.size >> 20,
            r.put_mb_s.len(),
            r.put_median_mb_s,
            r.get_median_mb_s
        );
        println!(
            "{} small files ({} KiB) from {} greenlets: put {:.0} files/s, get {:.0} files/s",
            r.small_files,
            r.small_bytes >> 10,
            r.greenlets,
            r.small_put_files_s,
            r.small_get_files_s
        );
        println!(
            "server peak RSS {:.1} MiB",
            r.server_peak_rss_kib as f64 / 1024.0
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A progress bar (bytes, rate, ETA) on a terminal; hidden otherwise.
fn progress_bar(total: u64, json: bool) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if json || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
        )
        .expect("a valid template"),
    );
    bar
}

fn report_transfer(verb: &str, t: &mayfly_clients::file::Transfer, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(t)?);
    } else {
        let rate = t.transferred as f64 / t.seconds.max(1e-9) / 1e6;
        println!(
            "{verb} {} ({} bytes, {} this time) in {:.2} s, {rate:.0} MB/s; sha256 {} verified",
            t.filename, t.filesize, t.transferred, t.seconds, t.sha256
        );
    }
    Ok(())
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
    if !(0.0..=1.0).contains(&a.disconnect_rate) {
        return Err(anyhow!("--disconnect-rate must be between 0 and 1"));
    }
    o.disconnect_rate = a.disconnect_rate;
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
        if r.reconnects > 0 {
            println!(
                "{} deliberate disconnects, each followed by a new connection",
                r.reconnects
            );
        }
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
        println!("{}", mayfly_clients::report::markdown::render(&report));
        if let Some(dir) = &a.out {
            println!(
                "wrote {0}/report.json, {0}/report.md, {0}/report.svg, {0}/report.html",
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
