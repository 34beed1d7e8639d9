//! The command line as clap structs: every flag, its help text and its default. Defaults
//! are the library crates' constants (`default_value_t`), so they are written once; the
//! doc comments are the `--help` text, except where the build registry
//! (`mayfly_proto::builds`) writes it: `--mode` and `--builds` name every build from it.

use std::path::PathBuf;
use std::sync::OnceLock;

use clap::{Parser, Subcommand};
use mayfly::server::Cap;
use mayfly_clients::stress::ClientMode;
use mayfly_clients::udp_stress::{self, Proto};
use mayfly_clients::{compare, file_bench, http_stress, stress};
use mayfly_proto::builds::{spoken_list, BuildInfo, Serves, BUILDS};
use mayfly_servers::echo::Mode;
use mayfly_servers::{cmd, echo, file, http, plaintext, udp, DEFAULT_BACKLOG, DEFAULT_GRACE};

use super::course_args::{CourseProtocolArgs, FileLoginArgs, FileUsersArgs};
use super::drain::DrainArgs;
use super::exit;
use super::human::{comma_list, count, HumanDuration, HumanSize};
use super::logging::{LogArgs, LogFormatArgs};
use super::supervise::WorkersArgs;

#[derive(Parser)]
#[command(
    name = "mayfly",
    version = version_text(),
    about = "gevent's green threads on may: servers, load, comparison",
    after_help = root_after_help()
)]
pub struct Cli {
    #[command(flatten)]
    pub log: LogArgs,
    #[command(subcommand)]
    pub cmd: Commands,
}

/// A command's `--help` epilogue: its examples, then the units every flag takes.
fn examples(lines: &[&str]) -> String {
    let mut s = String::from("Examples:\n");
    for l in lines {
        s += &format!("  {l}\n");
    }
    s + "\n" + super::human::UNITS
}

/// What `mayfly --help` ends with: the units every flag takes, then the exit codes.
fn root_after_help() -> &'static str {
    static S: OnceLock<String> = OnceLock::new();
    S.get_or_init(|| format!("{}\n\n{}", super::human::UNITS, exit::help()))
}

/// `--version`: the version and the commit (`unknown` outside a git checkout).
fn version_text() -> &'static str {
    static S: OnceLock<String> = OnceLock::new();
    S.get_or_init(super::version::long)
}

#[derive(Subcommand)]
pub enum Commands {
    /// Run a demo server until SIGINT/SIGTERM.
    Serve {
        #[command(flatten)]
        log: LogFormatArgs,
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
    ///
    /// The words are joined with single spaces, unquoted, and run by the server's
    /// `/bin/sh -c` (as ssh does): quote for the remote shell, e.g. `mayfly cmd -- 'ls | wc -l'`.
    /// stdin is not forwarded (the command reads /dev/null). The remote stdout goes to stdout,
    /// the remote stderr to stderr; the exit code is the command's (see the table in
    /// `mayfly --help`: 124 timed out, 123 output cut at the cap, 128+N killed by signal N).
    Cmd(CmdArgs),
    /// Run one of the course's lessons over loopback and check what it shows.
    Demo {
        #[command(subcommand)]
        demo: Demo,
    },
    /// Print the shell completion script (bash, zsh, fish, elvish, powershell) on stdout.
    #[command(after_help = examples(&["mayfly completions bash > ~/.local/share/bash-completion/completions/mayfly", "mayfly completions fish > ~/.config/fish/completions/mayfly.fish"]))]
    ///
    /// bash: `mayfly completions bash > ~/.local/share/bash-completion/completions/mayfly`;
    /// zsh: `mayfly completions zsh > ~/.zfunc/_mayfly` (with `fpath+=~/.zfunc`); fish:
    /// `mayfly completions fish > ~/.config/fish/completions/mayfly.fish`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page on stdout (`mayfly man | man -l -`), or write one per command.
    #[command(after_help = examples(&["mayfly man | man -l -", "mayfly man --dir ~/.local/share/man/man1"]))]
    Man {
        /// Write mayfly.1, mayfly-serve.1, mayfly-serve-echo.1, … into this directory instead.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Write a local CA and, signed by it, a server certificate (localhost, 127.0.0.1, ::1)
    /// and a client certificate, as PEM files: what --tls-cert, --tls-key and --tls-ca take.
    #[command(after_help = examples(&["mayfly cert --out certs", "mayfly cert --out certs --force --days 30", "mayfly cert --out expired --expired        # certificates that ended yesterday"]))]
    Cert(super::tls_args::CertArgs),
}

/// `mayfly demo …`: the course's lessons, run and checked.
#[derive(Subcommand)]
pub enum Demo {
    #[command(after_help = examples(&["mayfly demo sticky", "mayfly demo sticky --json"]))]
    /// Sticky packets (粘包): two quick sends read as one, a short recv that takes part of a
    /// message, then the course's three cures (length + recv_ready, a 4-byte length, a JSON
    /// header). Exits 1 if a step did not show what the course predicts.
    Sticky {
        /// Print the steps as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args)]
#[command(after_help = examples(&["mayfly cmd --addr 127.0.0.1:7000 --secret-file ~/.mayfly-secret -- ls -l", "mayfly cmd -- 'ls | wc -l'     # quoted for the remote shell", "MAYFLY_CMD_ADDR=10.0.0.5:7000 mayfly cmd -- uptime"]))]
pub struct CmdArgs {
    /// The command server.
    #[arg(long, env = "MAYFLY_CMD_ADDR", default_value = cmd::DEFAULT_ADDR)]
    pub addr: String,
    /// File holding the shared secret (default: the MAYFLY_CMD_SECRET variable).
    #[arg(long, env = "MAYFLY_CMD_SECRET_FILE")]
    pub secret_file: Option<PathBuf>,
    /// The command: its words joined with spaces, unquoted, run by the server's /bin/sh -c.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
    #[command(flatten)]
    pub tls: super::tls_args::TlsClientArgs,
}

#[derive(clap::Args)]
#[command(after_help = examples(&["head -c 32 /dev/urandom | base64 > secret && mayfly serve cmd --secret-file secret", "mayfly serve cmd --secret-file secret --timeout 30s --max-output 4M"]))]
pub struct ServeCmdArgs {
    /// Address to listen on; loopback only unless --allow-remote, or TLS with
    /// --tls-client-ca (clients must present a certificate that CA issued).
    #[arg(long, default_value = cmd::DEFAULT_ADDR)]
    pub addr: String,
    /// File holding the shared secret, at least 16 bytes (default: the MAYFLY_CMD_SECRET variable).
    #[arg(long, env = "MAYFLY_CMD_SECRET_FILE")]
    pub secret_file: Option<PathBuf>,
    /// Listen on a non-loopback address (anyone who has the secret can run commands).
    #[arg(long)]
    pub allow_remote: bool,
    /// Kill a command (and everything it started) after this long.
    #[arg(help_heading = "Limits", long, default_value_t = HumanDuration(cmd::DEFAULT_TIMEOUT))]
    pub timeout: HumanDuration,
    /// Kill a command once it has printed this much (K, M suffixes).
    #[arg(help_heading = "Limits", long, default_value_t = HumanSize(cmd::DEFAULT_MAX_OUTPUT as u64))]
    pub max_output: HumanSize,
    /// Stop accepting while this many connections are open (more wait in the backlog); 0: no cap.
    #[arg(help_heading = "Limits", long, default_value_t = Cap::AtMost(cmd::DEFAULT_MAX_CONNECTIONS))]
    pub max_connections: Cap,
    /// Close a peer's (an IP address's) new connections at once while it holds this many; 0: no cap.
    #[arg(help_heading = "Limits", long, default_value_t = Cap::AtMost(cmd::DEFAULT_MAX_PER_PEER))]
    pub max_per_peer: Cap,
    /// Time a client has for the whole login (challenge to answer), however it sends it.
    #[arg(help_heading = "Login", long, default_value_t = HumanDuration(cmd::DEFAULT_AUTH_TIMEOUT))]
    pub auth_timeout: HumanDuration,
    /// Connections not logged in yet; more are answered `busy` and closed; 0: no cap.
    #[arg(help_heading = "Login", long, default_value_t = cmd::DEFAULT_MAX_UNAUTHENTICATED)]
    pub max_unauthenticated: u64,
    /// Failed logins one peer may make per --auth-lockout before it is refused
    /// (`rate_limited`) until that window ends; 0: no limit.
    #[arg(help_heading = "Login", long, default_value_t = cmd::DEFAULT_MAX_AUTH_FAILURES)]
    pub max_auth_failures: u32,
    /// The window of --max-auth-failures.
    #[arg(help_heading = "Login", long, default_value_t = HumanDuration(cmd::DEFAULT_AUTH_LOCKOUT))]
    pub auth_lockout: HumanDuration,
    /// Commands running at once (child processes, each waited for by its connection's greenlet); more are answered `busy`, not queued.
    #[arg(help_heading = "Limits", long, default_value_t = cmd::DEFAULT_MAX_RUNNING)]
    pub max_running: usize,
    /// On SIGINT/SIGTERM, let open connections finish for this long, then close them.
    #[arg(help_heading = "Shutdown", long, default_value_t = HumanDuration(DEFAULT_GRACE))]
    pub grace: HumanDuration,
    #[command(flatten)]
    pub course: CourseProtocolArgs,
    #[command(flatten)]
    pub tls: super::tls_args::TlsServerArgs,
    #[command(flatten)]
    pub stats: StatsArgs,
    #[command(flatten)]
    pub workers: WorkersArgs,
    #[command(flatten)]
    pub drain: DrainArgs,
}

#[derive(clap::Args)]
#[command(after_help = examples(&["mayfly file-bench --dir /dev/shm", "mayfly file-bench --size 256M --rounds 3 --small-files 10k --json"]))]
pub struct FileBenchArgs {
    /// Scratch directory for the server's root and the local files (default: the system
    /// temp directory). Put it on tmpfs (/dev/shm) to measure the protocol, not the disk.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Size of the big file (K, M, G suffixes: powers of 1024).
    #[arg(long, default_value_t = HumanSize(file_bench::DEFAULT_SIZE))]
    pub size: HumanSize,
    /// Timed rounds each way (after one warm-up round).
    #[arg(long, default_value_t = file_bench::DEFAULT_ROUNDS, value_parser = count)]
    pub rounds: usize,
    /// Number of small files.
    #[arg(long, default_value_t = file_bench::DEFAULT_SMALL_FILES, value_parser = count)]
    pub small_files: usize,
    /// Largest small file (K, M suffixes).
    #[arg(long, default_value_t = HumanSize(file_bench::DEFAULT_SMALL_MAX as u64))]
    pub small_max: HumanSize,
    /// Greenlets moving the small files at once.
    #[arg(long, default_value_t = file_bench::DEFAULT_GREENLETS, value_parser = count)]
    pub greenlets: usize,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand)]
pub enum Serve {
    /// The uppercase echo server.
    Echo(Box<EchoArgs>),
    /// TechEmpower's plaintext and JSON tests over HTTP/1.1: `GET /plaintext`, `GET /json`.
    Http(Box<HttpArgs>),
    /// The framed-protocol file server (the course's FTP homework).
    File(Box<ServeFileArgs>),
    /// The course's remote-command server, behind an HMAC challenge.
    Cmd(Box<ServeCmdArgs>),
    /// The course's UDP server: each datagram answered uppercased.
    UdpEcho(UdpEchoArgs),
    /// The course's UDP time server: the local time in the strftime format the client sends
    /// (empty: %Y-%m-%d %X).
    Time(TimeArgs),
}

#[derive(clap::Args)]
#[command(after_help = examples(&["mayfly serve udp-echo --addr 127.0.0.1:8080", "mayfly stress --proto udp --addr 127.0.0.1:8080 --threads 10"]))]
pub struct UdpEchoArgs {
    /// Address to bind (UDP); port 0 picks a free port (printed as `listening on ADDR`).
    #[arg(long, default_value = udp::echo::DEFAULT_ADDR)]
    pub addr: String,
    #[command(flatten)]
    pub udp: DatagramArgs,
}

#[derive(clap::Args)]
#[command(after_help = examples(&["mayfly serve time --addr 127.0.0.1:8081", "printf '%H:%M' | nc -u -w1 127.0.0.1 8081"]))]
pub struct TimeArgs {
    /// Address to bind (UDP); port 0 picks a free port (printed as `listening on ADDR`).
    #[arg(long, default_value = udp::time::DEFAULT_ADDR)]
    pub addr: String,
    /// Longest format accepted, bytes; a longer one gets a `too_large` error datagram.
    #[arg(help_heading = "Limits", long, default_value_t = HumanSize(udp::time::DEFAULT_MAX_FORMAT as u64))]
    pub max_format: HumanSize,
    #[command(flatten)]
    pub udp: DatagramArgs,
}

/// What every UDP server takes.
#[derive(clap::Args)]
pub struct DatagramArgs {
    /// Largest datagram read, bytes (K suffix); a longer one gets a `too_large` error
    /// datagram and is not read.
    #[arg(help_heading = "Limits", long, default_value_t = HumanSize(udp::DEFAULT_MAX_DATAGRAM as u64))]
    pub max_datagram: HumanSize,
    /// Datagrams handled at once; past it the server stops reading (the kernel's buffer
    /// holds, then drops, the rest). 0: no cap.
    #[arg(help_heading = "Limits", long, default_value_t = Cap::AtMost(udp::DEFAULT_MAX_HANDLERS))]
    pub max_handlers: Cap,
    /// Answer datagrams from well-known service ports too (echo 7, chargen 19, DNS 53, NTP
    /// 123, …: a datagram "from" one is a reflection attempt). The server's own address
    /// and port 0 are never answered. Refused datagrams: the `udp_refused_source` gauge.
    #[arg(help_heading = "Limits", long)]
    pub answer_reserved_ports: bool,
    /// Answers a second to one source address (IP and port); past it, and past the burst,
    /// datagrams are dropped unanswered (the `udp_over_budget` gauge). Ends a loop between
    /// two servers started by one forged datagram. 0: no budget.
    #[arg(help_heading = "Limits", long, default_value_t = udp::DEFAULT_MAX_REPLIES_PER_SEC)]
    pub max_replies_per_sec: u64,
    /// Answers one source may save up beyond --max-replies-per-sec.
    #[arg(help_heading = "Limits", long, default_value_t = udp::DEFAULT_REPLY_BURST)]
    pub reply_burst: u64,
    /// Sources the reply budget remembers at once (bounded, so forged sources cannot grow
    /// it; refilled ones are forgotten first).
    #[arg(help_heading = "Limits", long, default_value_t = udp::DEFAULT_REPLY_BUDGET_SOURCES)]
    pub reply_budget_sources: usize,
    /// An answer is at most this many times its request, in bytes on the wire (IP and UDP
    /// headers included): a longer one is refused `too_large`, a refusal that would exceed
    /// it goes without its words or not at all. 0: no limit.
    #[arg(help_heading = "Limits", long, default_value_t = udp::DEFAULT_MAX_REPLY_RATIO)]
    pub max_reply_ratio: u64,
    /// On SIGINT/SIGTERM, stop reading and let running handlers finish for this long.
    #[arg(help_heading = "Shutdown", long, default_value_t = HumanDuration(DEFAULT_GRACE))]
    pub grace: HumanDuration,
    #[command(flatten)]
    pub stats: StatsArgs,
}

#[derive(clap::Args)]
#[command(after_help = examples(&["mkdir -p files && mayfly serve file --root files --addr 127.0.0.1:9000", "mayfly serve file --root files --max-file-size 4G --workers 2 --stats-addr 127.0.0.1:0"]))]
pub struct ServeFileArgs {
    /// Directory to serve (must exist). Only plain names directly inside it are reachable.
    #[arg(long, env = "MAYFLY_FILE_ROOT")]
    pub root: PathBuf,
    /// Address to listen on; port 0 picks a free port (printed as `listening on ADDR`).
    #[arg(long, default_value = file::DEFAULT_ADDR)]
    pub addr: String,
    /// Listen backlog.
    #[arg(help_heading = "Limits", long, default_value_t = DEFAULT_BACKLOG)]
    pub backlog: i32,
    /// Stop accepting while this many connections are open (more wait in the backlog).
    /// Default: the fd limit less a reserve, divided by 3 (fds one connection may hold);
    /// 0: no cap.
    #[arg(help_heading = "Limits", long, default_value_t = Cap::Default, hide_default_value = true)]
    pub max_connections: Cap,
    /// Close a peer's (an IP address's) new connections at once while it holds this many.
    /// Default: 75% of the connection cap; 0: no cap.
    #[arg(help_heading = "Limits", long, default_value_t = Cap::Default, hide_default_value = true)]
    pub max_per_peer: Cap,
    /// Largest upload accepted, in bytes (suffixes K, M, G, T: powers of 1024).
    #[arg(help_heading = "Limits", long, default_value_t = HumanSize(file::DEFAULT_MAX_FILE_SIZE))]
    pub max_file_size: HumanSize,
    /// Close a connection that sends no request for this long.
    #[arg(help_heading = "Limits", long, default_value_t = HumanDuration(file::DEFAULT_IDLE_TIMEOUT))]
    pub idle_timeout: HumanDuration,
    /// Drop a request whose bytes stop flowing for this long.
    #[arg(help_heading = "Limits", long, default_value_t = HumanDuration(file::DEFAULT_IO_TIMEOUT))]
    pub io_timeout: HumanDuration,
    /// Cut off an upload or download moving fewer bytes per second than this, averaged over
    /// each --rate-window (0: no minimum; suffixes K, M: powers of 1024).
    #[arg(help_heading = "Limits", long, default_value_t = HumanSize(file::DEFAULT_MIN_RATE))]
    pub min_rate: HumanSize,
    /// The window --min-rate is averaged over (the first one is the grace to start).
    #[arg(help_heading = "Limits", long, default_value_t = HumanDuration(file::DEFAULT_RATE_WINDOW))]
    pub rate_window: HumanDuration,
    /// fsync each upload before renaming it into place.
    #[arg(long)]
    pub fsync: bool,
    /// Delete a cut-off resumable upload not resumed for this long.
    #[arg(help_heading = "Limits", long, default_value_t = HumanDuration(file::DEFAULT_PARTIAL_TTL))]
    pub partial_ttl: HumanDuration,
    /// Read the directory for at most this many `list` requests at once (more are answered
    /// `busy`; 0 refuses every list).
    #[arg(help_heading = "Limits", long, default_value_t = file::DEFAULT_MAX_CONCURRENT_LISTS)]
    pub max_concurrent_lists: usize,
    /// Threads hashing files not hashed before (the file server's own pool; 0 is taken as
    /// 1).
    #[arg(help_heading = "Limits", long, default_value_t = file::DEFAULT_HASH_THREADS)]
    pub hash_threads: usize,
    /// Keep at most this many cut-off resumable uploads (the oldest idle one goes first; 0
    /// refuses every resumable upload).
    #[arg(help_heading = "Limits", long, default_value_t = file::DEFAULT_MAX_PARTIALS)]
    pub max_partials: usize,
    /// Bytes all kept resumable uploads may hold on disk, and the largest resumable upload
    /// (suffixes K, M, G, T).
    #[arg(help_heading = "Limits", long, default_value_t = HumanSize(file::DEFAULT_MAX_PARTIAL_BYTES))]
    pub max_partial_bytes: HumanSize,
    /// Never write a resumable upload while the disk has less than this free (suffixes K,
    /// M, G, T); the oldest kept ones are deleted first when that can make room.
    #[arg(help_heading = "Limits", long, default_value_t = HumanSize(file::DEFAULT_MIN_FREE_SPACE))]
    pub min_free_space: HumanSize,
    /// On SIGINT/SIGTERM, let open connections finish for this long, then close them.
    #[arg(help_heading = "Shutdown", long, default_value_t = HumanDuration(DEFAULT_GRACE))]
    pub grace: HumanDuration,
    #[command(flatten)]
    pub users: FileUsersArgs,
    #[command(flatten)]
    pub tls: super::tls_args::TlsServerArgs,
    #[command(flatten)]
    pub stats: StatsArgs,
    #[command(flatten)]
    pub workers: WorkersArgs,
    #[command(flatten)]
    pub drain: DrainArgs,
}

#[derive(clap::Args)]
#[command(after_help = examples(&["mayfly file --addr 127.0.0.1:9000 put ./big.iso --resumable", "mayfly file get big.iso -o /tmp/big.iso", "mayfly file list --json", "MAYFLY_FILE_ADDR=10.0.0.5:9000 mayfly file stat big.iso"]))]
pub struct FileArgs {
    /// The file server (before or after the subcommand).
    #[arg(long, global = true, env = "MAYFLY_FILE_ADDR", default_value = file::DEFAULT_ADDR)]
    pub addr: String,
    /// Print results as JSON (before or after the subcommand).
    #[arg(long, global = true)]
    pub json: bool,
    #[command(flatten)]
    pub login: FileLoginArgs,
    #[command(flatten)]
    pub tls: super::tls_args::TlsClientArgs,
    #[command(subcommand)]
    pub op: FileOp,
}

#[derive(Subcommand)]
pub enum FileOp {
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
    /// Download a file (through OUT.part, renamed once the sha256 matches). Nothing local is
    /// written before the server has the file; an existing OUT with the same content is left
    /// as it is, one with other content (or an OUT.part) is refused without --force.
    Get {
        /// Name on the server.
        name: String,
        /// Local path (default: the name, in the current directory, if it is a plain file name).
        #[arg(long, short)]
        out: Option<PathBuf>,
        /// Continue from an existing OUT.part.
        #[arg(long)]
        resume: bool,
        /// Replace an existing OUT with other content, and start an existing OUT.part over.
        #[arg(long)]
        force: bool,
    },
    /// List the server's files.
    List,
    /// Size, modification time (UTC) and sha256 of one file, and any partial upload of it.
    Stat {
        /// Name on the server.
        name: String,
    },
    /// The FTP homework's interactive client: the course's `>>: put a.txt` prompt with line
    /// editing, over one connection (log in with --user and --secret-file). Commands: put,
    /// get, ls, cd, mkdir, pwd, help, quit. From a pipe, each line is echoed after the
    /// prompt and the exit code is the last failed command's.
    Shell,
    /// Add a user to a users file (made, mode 0600, if missing) and print the new secret
    /// (for the user's --secret-file). Works on the file; no server is contacted.
    Adduser {
        /// The user's name (also their home directory's).
        name: String,
        /// The users file.
        #[arg(long)]
        users: PathBuf,
        /// Bytes the user's home may hold (K, M, G, T suffixes).
        #[arg(long, default_value_t = HumanSize(file::users::DEFAULT_QUOTA))]
        quota: HumanSize,
    },
}

#[derive(clap::Args)]
#[command(after_help = examples(&["mayfly serve echo --addr 127.0.0.1:8080", "mayfly serve echo --mode threads --addr 127.0.0.1:0 --stats-addr 127.0.0.1:0", "mayfly serve echo --workers auto --addr 0.0.0.0:8080 --read-timeout 0"]))]
pub struct EchoArgs {
    /// The build to run (help text: `mode_help`, from the build registry).
    #[arg(long, default_value_t = Mode::Coroutine, help = mode_help())]
    pub mode: Mode,
    /// Address to listen on; port 0 picks a free port (printed as `listening on ADDR`).
    #[arg(long, default_value = echo::DEFAULT_ADDR)]
    pub addr: String,
    /// Listen backlog.
    #[arg(help_heading = "Limits", long, default_value_t = DEFAULT_BACKLOG)]
    pub backlog: i32,
    /// Stop accepting while this many connections are open (more wait in the backlog).
    /// Default: the fd limit less 64 (coroutine, threads, epoll and the chapter's loops; tokio
    /// and may: no cap); 0: no cap. blocking holds one connection at a time: no cap applies.
    #[arg(help_heading = "Limits", long, default_value_t = Cap::Default, hide_default_value = true)]
    pub max_connections: Cap,
    /// Close a peer's (an IP address's) new connections at once while it holds this many, so
    /// one host cannot take every slot. Default: 75% of the connection cap (coroutine,
    /// threads, epoll and the chapter's loops; tokio, may and blocking: none); 0: no cap.
    #[arg(help_heading = "Limits", long, default_value_t = Cap::Default, hide_default_value = true)]
    pub max_per_peer: Cap,
    /// Close a connection that sends nothing for this long (idle or slowloris); 0: never.
    /// Echo has no message boundary, so this is also the idle timeout. (The course's servers
    /// never close an idle client; `--read-timeout 0` behaves as they do.)
    #[arg(help_heading = "Limits", long, visible_alias = "idle-timeout", default_value_t = HumanDuration(echo::DEFAULT_READ_TIMEOUT))]
    pub read_timeout: HumanDuration,
    /// Close a connection whose replies cannot be sent for this long (it does not read); 0: never.
    #[arg(help_heading = "Limits", long, default_value_t = HumanDuration(echo::DEFAULT_WRITE_TIMEOUT))]
    pub write_timeout: HumanDuration,
    /// select build: watch only file descriptors numbered below this (select(2)'s fd_set has
    /// FD_SETSIZE = 1024 bits, the most); a connection on an fd at or past it is closed at once,
    /// counted in the select_refused gauge and logged once.
    #[arg(help_heading = "Limits", long, default_value_t = echo::DEFAULT_SELECT_FDS, value_parser = select_fds)]
    pub select_fds: usize,
    /// epoll, nonblocking, select, epoll-lt and epoll-et builds: reply bytes held for a client
    /// that does not read before reading from it pauses (K, M suffixes).
    #[arg(help_heading = "Limits", long, default_value_t = HumanSize(echo::DEFAULT_MAX_PENDING as u64))]
    pub max_pending: HumanSize,
    /// On SIGINT/SIGTERM, let open connections finish for this long, then close them.
    #[arg(help_heading = "Shutdown", long, default_value_t = HumanDuration(DEFAULT_GRACE))]
    pub grace: HumanDuration,
    #[command(flatten)]
    pub stats: StatsArgs,
    #[command(flatten)]
    pub workers: WorkersArgs,
    #[command(flatten)]
    pub drain: DrainArgs,
    #[command(flatten)]
    pub tls: super::tls_args::TlsServerArgs,
}

#[derive(clap::Args)]
#[command(after_help = examples(&["mayfly serve http --addr 127.0.0.1:8080 && curl http://127.0.0.1:8080/plaintext", "mayfly serve http --mode tokio --addr 127.0.0.1:0", "mayfly serve http --workers 2 --stats-addr 127.0.0.1:9100"]))]
pub struct HttpArgs {
    /// The build to run (help text: `http_mode_help`, from the build registry).
    #[arg(long, default_value = Mode::HttpCoroutine.name(), value_parser = http_mode, help = http_mode_help())]
    pub mode: Mode,
    /// Address to listen on; port 0 picks a free port (printed as `listening on ADDR`).
    #[arg(long, default_value = plaintext::DEFAULT_ADDR)]
    pub addr: String,
    /// Listen backlog.
    #[arg(help_heading = "Limits", long, default_value_t = DEFAULT_BACKLOG)]
    pub backlog: i32,
    /// Stop accepting while this many connections are open (more wait in the backlog).
    /// Default: the fd limit less 64 (every build, hyper's too); 0: no cap.
    #[arg(help_heading = "Limits", long, default_value_t = Cap::Default, hide_default_value = true)]
    pub max_connections: Cap,
    /// Close a peer's (an IP address's) new connections at once while it holds this many.
    /// Default: 75% of the connection cap; 0: no cap.
    #[arg(help_heading = "Limits", long, default_value_t = Cap::Default, hide_default_value = true)]
    pub max_per_peer: Cap,
    /// Close a connection that sends nothing for this long (the keep-alive idle timeout, and
    /// the longest pause in a request); 0: never.
    #[arg(help_heading = "Limits", long, visible_alias = "idle-timeout", default_value_t = HumanDuration(mayfly_http::DEFAULT_READ_TIMEOUT))]
    pub read_timeout: HumanDuration,
    /// Close a connection whose answers cannot be sent for this long (it does not read); 0: never.
    #[arg(help_heading = "Limits", long, default_value_t = HumanDuration(mayfly_http::DEFAULT_WRITE_TIMEOUT))]
    pub write_timeout: HumanDuration,
    /// A request's head (and body) must all arrive within this of its first byte (408;
    /// hyper: its header-read timeout); 0: no limit but --read-timeout.
    #[arg(help_heading = "Limits", long, default_value_t = HumanDuration(mayfly_http::DEFAULT_REQUEST_TIMEOUT))]
    pub request_timeout: HumanDuration,
    /// Longest request line and headers, bytes (K suffix); longer gets 431 (hyper: its read
    /// buffer, at least 8K).
    #[arg(help_heading = "Limits", long, default_value_t = HumanSize(mayfly_http::DEFAULT_MAX_HEAD_BYTES as u64))]
    pub max_head_bytes: HumanSize,
    /// Most headers in a request; more get 431.
    #[arg(help_heading = "Limits", long, default_value_t = mayfly_http::DEFAULT_MAX_HEADERS)]
    pub max_headers: usize,
    /// On SIGINT/SIGTERM, let open connections finish for this long, then close them.
    #[arg(help_heading = "Shutdown", long, default_value_t = HumanDuration(DEFAULT_GRACE))]
    pub grace: HumanDuration,
    #[command(flatten)]
    pub stats: StatsArgs,
    #[command(flatten)]
    pub workers: WorkersArgs,
    #[command(flatten)]
    pub drain: DrainArgs,
}

/// `serve http --mode`: an HTTP build by its name.
fn http_mode(s: &str) -> Result<Mode, String> {
    Serves::Http.parse(s)
}

/// The stats page every server can publish (`--stats-addr`).
#[derive(clap::Args)]
#[command(next_help_heading = "Stats page")]
pub struct StatsArgs {
    /// Serve /stats (JSON), /metrics (Prometheus) and a live dashboard at / on this address
    /// (port 0: any free port, printed as `stats on ADDR`).
    #[arg(long)]
    pub stats_addr: Option<String>,
    /// Stats page: HTTP connections served at once (more wait in the backlog).
    #[arg(long, default_value_t = http::DEFAULT_MAX_CONNECTIONS)]
    pub stats_max_connections: u64,
    /// Stats page: time a client gets to send each request head.
    #[arg(long, default_value_t = HumanDuration(http::DEFAULT_IDLE_TIMEOUT))]
    pub stats_idle_timeout: HumanDuration,
    /// Stats page: longest request head, bytes (K suffix).
    #[arg(long, default_value_t = HumanSize(http::DEFAULT_MAX_REQUEST as u64))]
    pub stats_max_request: HumanSize,
    /// Stats page: requests per second answered in all (more wait), which bounds the
    /// worker time HTTP can take from the server.
    #[arg(long, default_value_t = http::DEFAULT_MAX_RPS)]
    pub stats_max_rps: u64,
    /// Stats page: connections open at once from one client address (more get 503).
    #[arg(long, default_value_t = http::DEFAULT_MAX_PER_PEER)]
    pub stats_max_per_peer: u64,
    /// Stats page: time a new connection gets to send its first request head.
    #[arg(long, default_value_t = HumanDuration(http::DEFAULT_FIRST_REQUEST_TIMEOUT))]
    pub stats_first_request_timeout: HumanDuration,
    /// Stats page: longest time a closing connection drains the client's input so the last
    /// reply is not lost to a reset (lingering close).
    #[arg(long, default_value_t = HumanDuration(http::DEFAULT_LINGER))]
    pub stats_linger: HumanDuration,
    #[command(flatten)]
    pub tls: super::tls_args::StatsTlsArgs,
}

#[derive(clap::Args)]
#[command(after_help = examples(&["mayfly stress --addr 127.0.0.1:8080 --threads 500 --duration 10s", "mayfly stress --addr 127.0.0.1:8080 --mode coroutine --connections 10k --stats-addr 127.0.0.1:9100", "mayfly stress --proto http --addr 127.0.0.1:8080 --threads 4 --connections 256 --pipeline 16", "MAYFLY_ADDR=127.0.0.1:8080 mayfly stress --json"]))]
pub struct StressArgs {
    /// After this many replies on a connection, close it and connect again (over TLS: a new
    /// handshake each time, to measure handshake cost). 0: keep each connection.
    #[arg(help_heading = "Load", long, value_name = "N", default_value_t = 0)]
    pub reconnect_every: u64,
    /// The server to load (HOST:PORT, the one it printed as `listening on ADDR`).
    #[arg(long, env = "MAYFLY_ADDR")]
    pub addr: String,
    /// How long the one connect made before the load may take: past it (or refused) the
    /// server is unreachable and stress exits 4 at once instead of loading nothing.
    #[arg(long, value_name = "D", default_value_t = HumanDuration(super::reach::PROBE_TIMEOUT))]
    pub probe_timeout: HumanDuration,
    /// OS threads (threads mode).
    #[arg(help_heading = "Load", long, default_value_t = stress::DEFAULT_THREADS, value_parser = at_least_one)]
    pub threads: usize,
    /// Connections in total (default: one per thread).
    #[arg(help_heading = "Load", long, value_parser = at_least_one)]
    pub connections: Option<usize>,
    /// How long to load the server.
    #[arg(help_heading = "Load", long, default_value_t = HumanDuration(stress::DEFAULT_DURATION))]
    pub duration: HumanDuration,
    /// threads (std::net, one thread per connection share) or coroutine (mayfly greenlets).
    #[arg(help_heading = "Load", long, default_value_t = stress::DEFAULT_MODE)]
    pub mode: ClientMode,
    /// Print one JSON object instead of the summary.
    #[arg(long)]
    pub json: bool,
    /// Print window start/end marks on stderr (used by `mayfly compare`).
    #[arg(long, hide = true)]
    pub marks: bool,
    /// Requests per second over all connections (TCP): each request waits for its slot, so
    /// every server is offered the same load (without it, each connection sends its next
    /// request as soon as it has the reply).
    #[arg(help_heading = "Load", long, value_name = "REQ_PER_S", value_parser = rate)]
    pub rate: Option<f64>,
    /// After each request (TCP: threads mode; HTTP: either mode), drop the connection with
    /// this probability (a clean close, a reset, or a reset mid-message, at random) and
    /// reconnect. For soak tests.
    #[arg(help_heading = "Load", long, default_value_t = 0.0)]
    pub disconnect_rate: f64,
    /// tcp (`serve echo`), udp (`serve udp-echo`: one datagram per request, counting lost,
    /// late and wrong answers; threads mode only, --connections is the number of sockets) or
    /// http (`serve http`: keep-alive GETs of --path, checking status and body; threads or
    /// coroutine mode).
    #[arg(long, default_value_t = Proto::Tcp)]
    pub proto: Proto,
    /// HTTP: the path every request asks for (/plaintext and /json bodies are checked).
    #[arg(help_heading = "HTTP (--proto http)", long, default_value = http_stress::DEFAULT_PATH)]
    pub path: String,
    /// HTTP: requests sent at once on each connection (pipelining); 1: one in flight.
    #[arg(help_heading = "HTTP (--proto http)", long, default_value_t = http_stress::DEFAULT_PIPELINE, value_parser = at_least_one)]
    pub pipeline: usize,
    /// UDP: an answer that has not come after this long counts as lost.
    #[arg(help_heading = "UDP (--proto udp)", long, default_value_t = HumanDuration(udp_stress::DEFAULT_REPLY_TIMEOUT))]
    pub reply_timeout: HumanDuration,
    /// The server's stats page (what `serve --stats-addr` printed as `stats on ADDR`): read
    /// before and after the run to print the server's CPU per request beside req/s.
    #[arg(help_heading = "Server cost", long, env = "MAYFLY_STATS_ADDR")]
    pub stats_addr: Option<String>,
    #[command(flatten)]
    pub tls: super::tls_args::TlsClientArgs,
}

#[derive(clap::Args)]
#[command(after_help = examples(&["mayfly compare --quick                       # one round, about 1 min", "mayfly compare --out report                  # 3 rounds, about 3 min; report/report.html", "mayfly compare --builds coroutine,threads,epoll,tokio,may --connections 1k,10k", "mayfly compare --proto http --json > report.json"]))]
pub struct CompareArgs {
    /// Connection counts to sweep (each at least 1).
    #[arg(help_heading = "What to compare", long, value_delimiter = ',', default_value = default_connections(), value_parser = at_least_one)]
    pub connections: Vec<usize>,
    /// Measured time per run.
    #[arg(help_heading = "What to compare", long, default_value_t = HumanDuration(compare::DEFAULT_DURATION))]
    pub duration: HumanDuration,
    /// Before each run's load, how long the server's CPU is read with no client connected
    /// (the idle CPU column: a busy loop shows 100%).
    #[arg(long, default_value_t = HumanDuration(compare::DEFAULT_IDLE_WINDOW))]
    pub idle_window: HumanDuration,
    /// The course's IO-models chapter: blocking, nonblocking, select, epoll-lt, epoll-et,
    /// epoll, threads and coroutine at 10, 100 and 1,000 connections, 2 s each, one round
    /// (about two minutes), with one sentence per build in the verdict.
    #[arg(long, conflicts_with_all = ["builds", "connections", "duration", "repeat", "quick", "proto"])]
    pub course: bool,
    /// Builds to run (help text: `builds_help`, from the build registry).
    #[arg(help_heading = "What to compare", long, value_delimiter = ',', help = builds_help())]
    pub builds: Option<Vec<compare::Build>>,
    /// tcp: the echo builds under the echo load; http: the HTTP builds (`serve http`) under
    /// `stress --proto http` (its client is OS threads: --client threads is implied).
    #[arg(help_heading = "What to compare", long, default_value_t = Proto::Tcp)]
    pub proto: Proto,
    /// Pin the server to one CPU and the client to the others (the default on 2+ CPUs;
    /// an error on one CPU).
    #[arg(help_heading = "How to run", long, conflicts_with = "no_pin")]
    pub pin: bool,
    /// Do not pin: server and client share every CPU.
    #[arg(help_heading = "How to run", long)]
    pub no_pin: bool,
    /// Client mode (coroutine drives 10,000+ connections from one thread).
    #[arg(help_heading = "How to run", long, default_value_t = compare::DEFAULT_CLIENT)]
    pub client: ClientMode,
    /// Client threads in threads mode.
    #[arg(help_heading = "How to run", long, default_value_t = compare::DEFAULT_CLIENT_THREADS, value_parser = at_least_one)]
    pub client_threads: usize,
    /// Offer every run this many requests per second (`stress --rate`) instead of as many as
    /// the client can send: every build answers the same load, so CPU per request does not
    /// follow the client's speed. Pick a rate below what every build reaches unpaced (a row
    /// that falls short is flagged rate-short). TCP only.
    #[arg(help_heading = "How to run", long, value_name = "REQ_PER_S", value_parser = rate)]
    pub rate: Option<f64>,
    /// Write report.json, report.md, report.svg, report.html and compare.log into this directory.
    #[arg(help_heading = "Output", long)]
    pub out: Option<PathBuf>,
    /// Rounds: the sweep runs this many times, interleaved; tables show medians and spread.
    #[arg(help_heading = "How to run", long, default_value_t = compare::DEFAULT_REPEAT, value_parser = at_least_one, conflicts_with = "quick")]
    pub repeat: usize,
    /// One round instead of three: quicker, but no result is conclusive.
    #[arg(help_heading = "How to run", long)]
    pub quick: bool,
    /// Where the servers' and the client's own log lines go (default: compare.log in --out,
    /// else a file in the temporary directory; the report names it).
    #[arg(help_heading = "Output", long)]
    pub log: Option<PathBuf>,
    /// Start each server with this many file descriptors (RLIMIT_NOFILE), to see how each
    /// build behaves at its limit.
    #[arg(help_heading = "How to run", long, value_parser = clap::value_parser!(u64).range(8..))]
    pub server_fd_limit: Option<u64>,
    /// Print the report as JSON.
    #[arg(help_heading = "Output", long)]
    pub json: bool,
    #[command(flatten)]
    pub tls: super::tls_args::CompareTlsArgs,
}

/// `--rate`: requests a second, as a number (`2500`, `0.5`) or a count (`50k`, `1M`).
fn rate(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(r) => Ok(r),
        Err(_) => count(s).map(|n| n as f64),
    }
}

/// A count that must be at least 1 (`--connections 0` is a usage error); `10k` is 10,000.
fn at_least_one(s: &str) -> Result<usize, String> {
    match count(s)? {
        0 => Err("must be at least 1".to_string()),
        n => Ok(n),
    }
}

/// `--select-fds`: 1..=FD_SETSIZE (an fd_set has no bit for a larger fd).
fn select_fds(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if (1..=echo::FD_SETSIZE).contains(&n) => Ok(n),
        Ok(n) => Err(format!(
            "{n} is not in 1..={} (select's fd_set has FD_SETSIZE bits)",
            echo::FD_SETSIZE
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// `--connections`' default as one comma-separated value, as `--help` has always shown it
/// (`default_values_t` would show the values separated by spaces).
fn default_connections() -> &'static str {
    static S: OnceLock<String> = OnceLock::new();
    S.get_or_init(|| comma_list(&compare::DEFAULT_CONNECTIONS))
}

/// `--builds`' default for a protocol: its compare defaults, in report order.
fn default_builds(serves: Serves) -> String {
    let names: Vec<&str> = serves
        .builds()
        .filter(|m| m.info().compare_default)
        .map(Mode::name)
        .collect();
    names.join(",")
}

/// The echo builds of the registry's rows that `take` picks, as `f` writes each one.
fn builds_where(take: fn(&BuildInfo) -> bool, f: fn(&BuildInfo) -> String) -> Vec<String> {
    BUILDS
        .iter()
        .filter(|b| b.serves == Serves::Echo && take(b))
        .map(f)
        .collect()
}

/// `--mode`'s help, from the build registry: each build with its few words, the reference
/// builds last.
fn mode_help() -> &'static str {
    static S: OnceLock<String> = OnceLock::new();
    S.get_or_init(|| {
        let about = |b: &BuildInfo| format!("{} ({})", b.name, b.about);
        format!(
            "{}; the reference builds {}; the IO-models chapter's builds {}",
            spoken_list(&builds_where(|b| !b.reference && !b.lesson, about), "or"),
            spoken_list(&builds_where(|b| b.reference, about), "and"),
            spoken_list(&builds_where(|b| b.lesson, about), "and"),
        )
    })
}

/// `serve http --mode`'s help, from the build registry's HTTP rows.
fn http_mode_help() -> &'static str {
    static S: OnceLock<String> = OnceLock::new();
    S.get_or_init(|| {
        let about = |b: &BuildInfo| format!("{} ({})", b.name, b.about);
        let http = |reference: bool| -> Vec<String> {
            BUILDS
                .iter()
                .filter(|b| b.serves == Serves::Http && b.reference == reference)
                .map(about)
                .collect()
        };
        format!(
            "{}; the reference build {}",
            spoken_list(&http(false), "or"),
            spoken_list(&http(true), "and"),
        )
    })
}

/// `--builds`' help, from the build registry.
fn builds_help() -> &'static str {
    static S: OnceLock<String> = OnceLock::new();
    S.get_or_init(|| {
        let name = |b: &BuildInfo| b.name.to_string();
        let c = Mode::Coroutine;
        format!(
            "Builds to run: {}, and the reference builds {}; `{c}×N` (or `{c}xN`) runs N \
             worker processes sharing the port (`serve --workers N`), each pinned to its own \
             CPU while one is left for the client. Default: {} (--proto http: {}); with \
             --proto http the names are the HTTP builds' ({}). The IO-models chapter's builds: \
             {}",
            builds_where(|b| !b.reference && !b.lesson, name).join(", "),
            spoken_list(&builds_where(|b| b.reference, name), "and"),
            default_builds(Serves::Echo),
            default_builds(Serves::Http),
            Serves::Http
                .builds()
                .map(Mode::name)
                .collect::<Vec<_>>()
                .join(", "),
            spoken_list(&builds_where(|b| b.lesson, name), "and"),
        )
    })
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn flags_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_command_has_examples_and_its_limits_are_grouped() {
        fn leaves(c: &clap::Command, path: String, out: &mut Vec<(String, clap::Command)>) {
            if c.get_subcommands().next().is_none() {
                out.push((path.clone(), c.clone()));
            }
            for sub in c.get_subcommands() {
                leaves(sub, format!("{path} {}", sub.get_name()), out);
            }
        }
        let mut all = Vec::new();
        leaves(&Cli::command(), "mayfly".into(), &mut all);
        for (path, c) in &all {
            // `file put|get|…` share `file`'s examples; `help` is clap's own.
            if path.starts_with("mayfly file ") || path.ends_with(" help") {
                continue;
            }
            let after = c
                .get_after_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            assert!(
                after.starts_with("Examples:\n  mayfly") || after.contains("\n  mayfly"),
                "{path}: {after}"
            );
            assert!(after.ends_with(super::super::human::UNITS), "{path}");
        }
        let echo = all.iter().find(|(p, _)| p == "mayfly serve echo").unwrap();
        let heading = |flag: &str| {
            echo.1
                .get_arguments()
                .find(|a| a.get_long() == Some(flag))
                .and_then(|a| a.get_help_heading())
                .map(str::to_string)
        };
        assert_eq!(heading("max-connections").as_deref(), Some("Limits"));
        assert_eq!(heading("stats-addr").as_deref(), Some("Stats page"));
        assert_eq!(
            heading("workers").as_deref(),
            Some("Supervisor (--workers)")
        );
        assert_eq!(heading("addr"), None);
    }

    #[test]
    fn defaults_come_from_the_constants() {
        let cli = Cli::try_parse_from(["mayfly", "serve", "file", "--root", "."]).unwrap();
        let Commands::Serve {
            server: Serve::File(a),
            ..
        } = cli.cmd
        else {
            panic!("parsed as another command");
        };
        assert_eq!(a.max_file_size.0, file::DEFAULT_MAX_FILE_SIZE);
        assert_eq!(a.partial_ttl.0, file::DEFAULT_PARTIAL_TTL);
        assert_eq!(a.grace.0, DEFAULT_GRACE);
        assert_eq!(
            a.stats.stats_max_request.0 as usize,
            http::DEFAULT_MAX_REQUEST
        );
        let cli = Cli::try_parse_from(["mayfly", "compare"]).unwrap();
        let Commands::Compare(a) = cli.cmd else {
            panic!("parsed as another command");
        };
        assert_eq!(a.connections, compare::DEFAULT_CONNECTIONS);
        // No --builds: the protocol's defaults, the course's three echo builds for tcp.
        assert_eq!(a.builds, None);
        assert_eq!(a.proto, Proto::Tcp);
        assert_eq!(default_builds(Serves::Echo), comma_list(&Mode::ALL));
        assert_eq!(
            compare::CompareOptions::new("mayfly".into()).builds,
            Mode::ALL.map(compare::Build::single)
        );
        assert_eq!(default_builds(Serves::Http), "coroutine,threads");
        assert_eq!(a.client, compare::DEFAULT_CLIENT);
    }

    #[test]
    fn serve_http_takes_the_http_builds_by_name() {
        let cli = Cli::try_parse_from(["mayfly", "serve", "http"]).unwrap();
        let Commands::Serve {
            server: Serve::Http(a),
            ..
        } = cli.cmd
        else {
            panic!("parsed as another command");
        };
        assert_eq!(a.mode, Mode::HttpCoroutine);
        assert_eq!(a.read_timeout.0, mayfly_http::DEFAULT_READ_TIMEOUT);
        for (name, mode) in [("threads", Mode::HttpThreads), ("tokio", Mode::HttpTokio)] {
            let cli = Cli::try_parse_from(["mayfly", "serve", "http", "--mode", name]).unwrap();
            let Commands::Serve {
                server: Serve::Http(a),
                ..
            } = cli.cmd
            else {
                panic!("parsed as another command");
            };
            assert_eq!(a.mode, mode);
        }
        assert!(Cli::try_parse_from(["mayfly", "serve", "http", "--mode", "epoll"]).is_err());
        assert_eq!(
            http_mode_help(),
            "coroutine (mayfly-http, greenlets, one thread) or threads (one per connection, the \
             same parser); the reference build tokio (hyper, current-thread runtime)"
        );
    }

    #[test]
    fn build_help_names_every_build_from_the_registry() {
        assert_eq!(
            mode_help(),
            "coroutine (greenlets, one thread), threads (one per connection) or epoll (mio \
             loop); the reference builds tokio (current-thread runtime) and may (raw may, one \
             worker); the IO-models chapter's builds blocking (one client at a time), \
             nonblocking (busy loop over O_NONBLOCK sockets), select (select(2), at most \
             FD_SETSIZE fds), epoll-lt (raw epoll, level-triggered) and epoll-et (raw epoll, \
             edge-triggered)"
        );
        assert!(
            builds_help().starts_with(
                "Builds to run: coroutine, threads, epoll, and the reference builds tokio and \
                 may; `coroutine×N` (or `coroutinexN`) runs N worker processes"
            ),
            "{}",
            builds_help()
        );
    }
}
