//! The one conversion from each command's flags to the library's options: every field the
//! flags set is copied here and nowhere else. Clamps and checks belong to the libraries
//! (`StressOptions::checked`, `file_bench::run_in_scratch`, `mayfly_proto::cmd::secret::load_secret`);
//! what stays here is what a flag means ("0: never", "default: one per thread").

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use mayfly_clients::build::Build;
use mayfly_clients::compare::CompareOptions;
use mayfly_clients::file::{self as file_client, PutOptions};
use mayfly_clients::file_bench::{self, FileBenchOptions};
use mayfly_clients::http_stress::HttpStressOptions;
use mayfly_clients::report::Meta;
use mayfly_clients::stress::{ClientMode, StressOptions};
use mayfly_clients::udp_stress::Proto;
use mayfly_clients::udp_stress::UdpStressOptions;
use mayfly_proto::builds::Serves;
use mayfly_proto::cmd::secret::load_secret;
use mayfly_servers::{cmd, echo, file, http, plaintext, udp};

use super::args::{
    CompareArgs, DatagramArgs, EchoArgs, FileBenchArgs, HttpArgs, ServeCmdArgs, ServeFileArgs,
    StatsArgs, StressArgs, TimeArgs,
};
use super::exit::Usage;

/// A zero duration on the command line means "no limit".
fn limit(d: Duration) -> Option<Duration> {
    (!d.is_zero()).then_some(d)
}

/// `mayfly serve echo`.
pub fn echo_options(a: &EchoArgs) -> echo::Options {
    let mut o = echo::Options::new(a.addr.clone());
    o.backlog = a.backlog;
    o.max_connections = a.max_connections;
    o.max_per_peer = a.max_per_peer;
    o.read_timeout = limit(a.read_timeout.0);
    o.write_timeout = limit(a.write_timeout.0);
    o.max_pending = a.max_pending.0 as usize;
    o.select_fds = a.select_fds;
    o.reuse_port = a.workers.worker;
    o
}

/// `mayfly serve http`: every build takes the same limits.
pub fn http_options(a: &HttpArgs) -> plaintext::Options {
    let mut o = plaintext::Options::new(a.addr.clone());
    o.backlog = a.backlog;
    o.http.max_connections = a.max_connections;
    o.http.max_per_peer = a.max_per_peer;
    o.http.read_timeout = limit(a.read_timeout.0);
    o.http.write_timeout = limit(a.write_timeout.0);
    o.http.request_timeout = limit(a.request_timeout.0);
    o.http.max_head_bytes = a.max_head_bytes.0.min(usize::MAX as u64) as usize;
    o.http.max_headers = a.max_headers;
    o.reuse_port = a.workers.worker;
    o
}

/// `mayfly serve file`.
pub fn file_options(a: &ServeFileArgs) -> file::Options {
    let mut o = file::Options::new(a.addr.clone(), &a.root);
    o.backlog = a.backlog;
    o.max_connections = a.max_connections;
    o.max_per_peer = a.max_per_peer;
    o.max_file_size = a.max_file_size.0;
    o.idle_timeout = a.idle_timeout.0;
    o.io_timeout = a.io_timeout.0;
    o.min_rate = a.min_rate.0;
    o.rate_window = a.rate_window.0;
    o.fsync = a.fsync;
    o.partial_ttl = a.partial_ttl.0;
    o.max_concurrent_lists = a.max_concurrent_lists;
    o.hash_threads = a.hash_threads;
    o.max_partials = a.max_partials;
    o.max_partial_bytes = a.max_partial_bytes.0;
    o.min_free_space = a.min_free_space.0;
    o.reuse_port = a.workers.worker;
    o.users = a.users.users.clone();
    o.login_timeout = a.users.login_timeout.0;
    o.max_home_entries = a.users.max_home_entries;
    o.max_login_failures = a.users.max_login_failures;
    o.login_lockout = a.users.login_lockout.0;
    o
}

/// The secret of `mayfly file --user`: `--secret-file`, else the `MAYFLY_FILE_SECRET`
/// variable.
pub fn file_secret(file: Option<&std::path::Path>) -> Result<Vec<u8>> {
    match file {
        Some(p) => Ok(mayfly_proto::cmd::secret::read_secret(p)?),
        None => {
            let s = std::env::var("MAYFLY_FILE_SECRET").map_err(|_| {
                super::exit::Usage("--user needs --secret-file FILE (or MAYFLY_FILE_SECRET)".into())
            })?;
            mayfly_proto::cmd::secret::check_secret(s.as_bytes())?;
            Ok(s.into_bytes())
        }
    }
}

/// `mayfly serve cmd`, with the secret from `--secret-file` or the environment.
pub fn cmd_options(a: &ServeCmdArgs) -> Result<cmd::Options> {
    let mut o = cmd::Options::new(a.addr.clone(), load_secret(a.secret_file.as_deref())?);
    o.allow_remote = a.allow_remote;
    o.timeout = a.timeout.0;
    o.max_output = a.max_output.0 as usize;
    o.max_connections = a.max_connections;
    o.max_per_peer = a.max_per_peer;
    o.auth_timeout = a.auth_timeout.0;
    o.max_unauthenticated = a.max_unauthenticated;
    o.max_auth_failures = a.max_auth_failures;
    o.auth_lockout = a.auth_lockout.0;
    o.max_running = a.max_running;
    o.reuse_port = a.workers.worker;
    o.tls = a.tls.acceptor()?;
    Ok(o)
}

/// `mayfly serve cmd --course-protocol`: the command limits of `serve cmd`, and its own.
pub fn course_cmd_options(a: &ServeCmdArgs) -> cmd::course_protocol::Options {
    let mut o = cmd::course_protocol::Options::new(a.addr.clone());
    o.max_command = a.course.course_max_command.0.min(usize::MAX as u64) as usize;
    o.idle_timeout = a.course.course_idle_timeout.0;
    o.timeout = a.timeout.0;
    o.max_output = a.max_output.0 as usize;
    o.max_connections = a.max_connections;
    o.max_per_peer = a.max_per_peer;
    o.max_running = a.max_running;
    o.reuse_port = a.workers.worker;
    o
}

/// `mayfly serve udp-echo` and the datagram part of `mayfly serve time`.
pub fn udp_options(addr: &str, a: &DatagramArgs) -> udp::Options {
    let mut o = udp::Options::new(addr);
    o.max_datagram = a.max_datagram.0.min(usize::MAX as u64) as usize;
    o.max_handlers = a.max_handlers;
    o.answer_reserved_ports = a.answer_reserved_ports;
    o.max_replies_per_sec = a.max_replies_per_sec;
    o.reply_burst = a.reply_burst;
    o.reply_budget_sources = a.reply_budget_sources;
    o.max_reply_ratio = a.max_reply_ratio;
    o
}

/// `mayfly serve time`.
pub fn time_options(a: &TimeArgs) -> udp::time::TimeOptions {
    udp::time::TimeOptions {
        udp: udp_options(&a.addr, &a.udp),
        max_format: a.max_format.0.min(usize::MAX as u64) as usize,
    }
}

/// The stats page of any `mayfly serve …`, if `--stats-addr` asks for one.
pub fn stats_options(a: &StatsArgs) -> Option<http::Options> {
    let addr = a.stats_addr.as_ref()?;
    let mut o = http::Options::new(addr.clone());
    o.max_connections = a.stats_max_connections;
    o.idle_timeout = a.stats_idle_timeout.0;
    o.max_request = a.stats_max_request.0 as usize;
    o.max_rps = a.stats_max_rps;
    o.max_per_peer = a.stats_max_per_peer;
    o.first_request_timeout = a.stats_first_request_timeout.0;
    o.linger = a.stats_linger.0;
    Some(o)
}

fn resolve(addr: &str) -> Result<SocketAddr> {
    super::hint::check_addr("--addr", addr)?;
    addr.to_socket_addrs()
        .with_context(|| format!("resolving {addr}"))?
        .next()
        .ok_or_else(|| anyhow!("{addr} resolves to nothing"))
}

/// `mayfly stress`: `--connections` defaults to one per thread; a progress line only on a
/// terminal and without `--json`.
pub fn stress_options(a: &StressArgs) -> Result<StressOptions> {
    use std::io::IsTerminal;
    let mut o = StressOptions::new(resolve(&a.addr)?);
    o.threads = a.threads;
    o.connections = a.connections.unwrap_or(a.threads);
    o.duration = a.duration.0;
    o.mode = a.mode;
    o.marks = a.marks;
    o.disconnect_rate = a.disconnect_rate;
    o.progress = !a.json && std::io::stderr().is_terminal();
    o.reconnect_every = a.reconnect_every;
    o.rate = a.rate;
    o.tls = a.tls.client(&a.addr)?;
    Ok(o.checked()?)
}

/// `--rate` paces the TCP echo load only: refused, not ignored, for the others.
fn refuse_rate(a: &StressArgs, proto: &str) -> Result<()> {
    match a.rate {
        Some(_) => Err(Usage(format!(
            "--rate paces the TCP echo load only (--proto tcp), not --proto {proto}"
        ))
        .into()),
        None => Ok(()),
    }
}

/// `mayfly stress --proto udp`: `--connections` is the number of sockets (default: one
/// per thread); the TCP-only flags are refused rather than ignored.
pub fn udp_stress_options(a: &StressArgs) -> Result<UdpStressOptions> {
    if a.mode != ClientMode::Threads {
        return Err(Usage(format!(
            "--proto udp runs OS threads only (no --mode {})",
            a.mode
        ))
        .into());
    }
    if a.disconnect_rate != 0.0 {
        return Err(
            Usage("--disconnect-rate has no meaning over UDP (no connection)".to_string()).into(),
        );
    }
    refuse_rate(a, "udp")?;
    let mut o = UdpStressOptions::new(resolve(&a.addr)?);
    o.threads = a.threads;
    o.sockets = a.connections.unwrap_or(a.threads);
    o.duration = a.duration.0;
    o.reply_timeout = a.reply_timeout.0;
    Ok(o)
}

/// `mayfly stress --proto http`: either client mode, `--disconnect-rate` as over TCP; a
/// `--path` that cannot go on a request line is refused.
pub fn http_stress_options(a: &StressArgs) -> Result<HttpStressOptions> {
    if !a.path.starts_with('/')
        || a.path
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err(Usage(format!(
            "--path {:?}: must start with / and hold no spaces",
            a.path
        ))
        .into());
    }
    refuse_rate(a, "http")?;
    let mut o = HttpStressOptions::new(resolve(&a.addr)?);
    o.threads = a.threads;
    o.connections = a.connections.unwrap_or(a.threads);
    o.duration = a.duration.0;
    o.path = a.path.clone();
    o.pipeline = a.pipeline;
    o.marks = a.marks;
    o.mode = a.mode;
    o.disconnect_rate = a.disconnect_rate;
    Ok(o.checked()?)
}

/// The `mayfly` binary itself, which compare and file-bench start as child processes.
fn this_exe() -> Result<std::path::PathBuf> {
    std::env::current_exe().context("finding the mayfly binary")
}

/// `mayfly compare`: pinned unless `--no-pin` (or one CPU), one round with `--quick`, the
/// report's metadata (commit, command line), progress lines unless `--json`; `--course` is
/// [`CompareOptions::course`]. `--proto http` takes the HTTP builds of the names given
/// (default: the HTTP compare defaults) and the threads client.
pub fn compare_options(a: &CompareArgs) -> Result<CompareOptions> {
    if a.course {
        let defaults = CompareOptions::course(this_exe()?);
        return Ok(CompareOptions {
            idle_window: a.idle_window.0,
            pin: a.pin || (defaults.pin && !a.no_pin),
            client: a.client,
            client_threads: a.client_threads,
            out: a.out.clone(),
            meta: Meta {
                git_commit: super::version::COMMIT.map(str::to_string),
                command_line: Some(super::version::command_line()),
                ..defaults.meta.clone()
            },
            log: a.log.clone(),
            server_fd_limit: a.server_fd_limit,
            rate: a.rate,
            ..defaults
        });
    }
    let defaults = CompareOptions::new(this_exe()?);
    let serves = match a.proto {
        Proto::Tcp => Serves::Echo,
        Proto::Http => Serves::Http,
        Proto::Udp => {
            return Err(Usage("compare has no UDP load: --proto tcp or http".to_string()).into())
        }
    };
    let builds = match &a.builds {
        // Over TLS: the builds that serve it.
        None if a.tls.tls => serves
            .builds()
            .filter(|m| mayfly_clients::compare::TLS_BUILD_NAMES.contains(&m.name()))
            .map(Build::single)
            .collect(),
        None => serves
            .builds()
            .filter(|m| m.info().compare_default)
            .map(Build::single)
            .collect(),
        // `--builds` names parse as echo builds; the same name picks the protocol's build.
        Some(given) => given
            .iter()
            .map(|b| {
                let mode = serves.parse(b.mode.name()).map_err(Usage)?;
                Ok(Build { mode, ..*b })
            })
            .collect::<Result<Vec<Build>>>()?,
    };
    let client = if serves == Serves::Http {
        ClientMode::Threads
    } else {
        a.client
    };
    Ok(CompareOptions {
        serves,
        builds,
        connections: a.connections.clone(),
        duration: a.duration.0,
        idle_window: a.idle_window.0,
        pin: a.pin || (defaults.pin && !a.no_pin),
        client,
        client_threads: a.client_threads,
        out: a.out.clone(),
        repeat: if a.quick { 1 } else { a.repeat },
        meta: Meta {
            git_commit: super::version::COMMIT.map(str::to_string),
            command_line: Some(super::version::command_line()),
            ..defaults.meta.clone()
        },
        log: a.log.clone(),
        server_fd_limit: a.server_fd_limit,
        tls: a.tls.files(a.out.as_deref())?,
        reconnect_every: a.tls.reconnect_every,
        rate: a.rate,
        ..defaults
    })
}

/// `mayfly file-bench`, in a fresh scratch directory under `--dir`.
pub fn file_bench_options(a: &FileBenchArgs) -> Result<FileBenchOptions> {
    Ok(FileBenchOptions {
        exe: this_exe()?,
        dir: file_bench::scratch_dir(a.dir.as_deref()),
        size: a.size.0,
        rounds: a.rounds,
        small_files: a.small_files,
        small_max: a.small_max.0 as usize,
        greenlets: a.greenlets,
    })
}

/// `mayfly file put`: the name on the server (`--name`, else the local file name) and
/// how to upload.
pub fn put_options(
    path: &std::path::Path,
    name: Option<String>,
    resumable: bool,
    resume: bool,
    no_prehash: bool,
) -> Result<(String, PutOptions)> {
    let name = match name {
        Some(n) => n,
        None => file_client::remote_name(path)?,
    };
    let opts = PutOptions {
        no_prehash,
        resumable,
        resume,
    };
    Ok((name, opts))
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use mayfly_clients::compare::{self, Build};

    use super::super::args::{Cli, Commands};
    use super::compare_options;

    #[test]
    fn compare_course_is_a_preset_that_takes_no_sweep_flags() {
        let cli = Cli::try_parse_from(["mayfly", "compare", "--course"]).unwrap();
        let Commands::Compare(a) = cli.cmd else {
            panic!("parsed as another command");
        };
        let o = compare_options(&a).unwrap();
        assert_eq!(o.builds, compare::COURSE_BUILDS.map(Build::single));
        assert_eq!(o.connections, compare::COURSE_CONNECTIONS);
        assert_eq!((o.duration, o.repeat), (compare::COURSE_DURATION, 1));
        for clash in [
            ["--builds", "epoll"],
            ["--connections", "5"],
            ["--repeat", "2"],
        ] {
            let mut argv = vec!["mayfly", "compare", "--course"];
            argv.extend(clash);
            assert!(Cli::try_parse_from(argv).is_err(), "{clash:?}");
        }
    }
}
