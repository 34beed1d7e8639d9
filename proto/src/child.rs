//! The `mayfly` binary as a child process: what it prints for the process that started it,
//! and typed builders for the command lines that start it. Both sides go through this
//! module — the binary and the stress client print with [`Announce`] and [`WindowMark`]'s
//! `Display`, and `mayfly compare`, `file-bench` and the tests parse with their
//! `parse_line` — so the text is written once.
//!
//! - A server (`mayfly serve …`) prints `listening on ADDR` as its first stdout line, then
//!   `stats on ADDR` if it serves a stats page, then `check on ADDR` if it serves a health-check
//!   port ([`Announce`]).
//! - The stress client with `--marks` prints `mayfly-stress: window start|end cpu_us=N` on
//!   stderr when its measured window opens and closes ([`WindowMark`]).
//!
//! ```
//! use mayfly_proto::child::{Announce, Window, WindowMark};
//! let addr = "127.0.0.1:9000".parse().unwrap();
//! let line = Announce::Listening(addr).to_string();
//! assert_eq!(line, "listening on 127.0.0.1:9000");
//! assert_eq!(Announce::parse_line(&format!("{line}\n")), Some(Announce::Listening(addr)));
//!
//! let mark = WindowMark { window: Window::Start, cpu_us: 1500 };
//! assert_eq!(mark.to_string(), "mayfly-stress: window start cpu_us=1500");
//! assert_eq!(WindowMark::parse_line(&mark.to_string()), Some(mark));
//! ```

use std::ffi::OsString;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::echo::{ClientMode, Mode};

/// What starts a server's first stdout line.
pub const LISTENING_PREFIX: &str = "listening on ";
/// What starts the line of the stats page's address.
pub const STATS_PREFIX: &str = "stats on ";
/// What starts the line of the health-check port's address (`--check-addr`).
pub const CHECK_PREFIX: &str = "check on ";
/// What starts a stress client's window mark.
pub const WINDOW_PREFIX: &str = "mayfly-stress: window ";

/// A line a `mayfly serve …` child prints on stdout to say where it listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Announce {
    /// `listening on ADDR`: the server's address (always the first line).
    Listening(SocketAddr),
    /// `stats on ADDR`: its stats page (the second line, with `--stats-addr`).
    Stats(SocketAddr),
    /// `check on ADDR`: its health-check port (the line after those, with `--check-addr`).
    Check(SocketAddr),
}

impl fmt::Display for Announce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Announce::Listening(a) => write!(f, "{LISTENING_PREFIX}{a}"),
            Announce::Stats(a) => write!(f, "{STATS_PREFIX}{a}"),
            Announce::Check(a) => write!(f, "{CHECK_PREFIX}{a}"),
        }
    }
}

impl Announce {
    /// Reads one line (surrounding whitespace ignored); `None` if it is not an announcement.
    pub fn parse_line(line: &str) -> Option<Announce> {
        let line = line.trim();
        if let Some(a) = line.strip_prefix(LISTENING_PREFIX) {
            return a.parse().ok().map(Announce::Listening);
        }
        if let Some(a) = line.strip_prefix(STATS_PREFIX) {
            return a.parse().ok().map(Announce::Stats);
        }
        line.strip_prefix(CHECK_PREFIX)
            .and_then(|a| a.parse().ok())
            .map(Announce::Check)
    }

    /// The address announced.
    pub fn addr(&self) -> SocketAddr {
        match self {
            Announce::Listening(a) | Announce::Stats(a) | Announce::Check(a) => *a,
        }
    }
}

/// Which edge of the stress client's measured window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// The window opened: every connection is up, counting starts.
    Start,
    /// The window closed.
    End,
}

impl Window {
    /// The word on the line.
    pub fn name(self) -> &'static str {
        match self {
            Window::Start => "start",
            Window::End => "end",
        }
    }
}

/// `mayfly-stress: window <start|end> cpu_us=<N>`: the stress client's CPU time (µs) when its
/// measured window opened or closed, printed on stderr, so the reader gets the client's CPU at
/// the mark even if the client exits right after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowMark {
    /// Which edge.
    pub window: Window,
    /// The client process's user + system CPU time so far, µs.
    pub cpu_us: u64,
}

impl fmt::Display for WindowMark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{WINDOW_PREFIX}{} cpu_us={}",
            self.window.name(),
            self.cpu_us
        )
    }
}

impl WindowMark {
    /// Reads one line; `None` if it is not a window mark. A missing or unreadable `cpu_us`
    /// reads as 0.
    pub fn parse_line(line: &str) -> Option<WindowMark> {
        let rest = line.trim().strip_prefix(WINDOW_PREFIX)?;
        let mut words = rest.split_whitespace();
        let window = match words.next()? {
            "start" => Window::Start,
            "end" => Window::End,
            _ => return None,
        };
        let cpu_us = words
            .find_map(|w| w.strip_prefix("cpu_us="))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        Some(WindowMark { window, cpu_us })
    }
}

/// `mayfly serve echo --mode MODE --addr ADDR [--backlog N]` — or `serve http` for an HTTP
/// build: the subcommand is what the build serves ([`Serves::name`](crate::builds::Serves::name)).
///
/// ```
/// use mayfly_proto::child::ServeEchoCommand;
/// use mayfly_proto::echo::Mode;
/// let cmd = ServeEchoCommand { backlog: Some(128), ..ServeEchoCommand::new(Mode::Epoll) };
/// assert_eq!(cmd.args().join(" "), "serve echo --mode epoll --addr 127.0.0.1:0 --backlog 128");
/// let http = ServeEchoCommand::new(Mode::HttpTokio);
/// assert_eq!(http.args().join(" "), "serve http --mode tokio --addr 127.0.0.1:0");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeEchoCommand {
    /// The build.
    pub mode: Mode,
    /// Where to listen (port 0: any free port, announced with [`Announce::Listening`]).
    pub addr: String,
    /// Listen backlog (the server's default if `None`).
    pub backlog: Option<u32>,
    /// Worker processes sharing the port (`--workers N`; one process if `None`).
    pub workers: Option<usize>,
    /// Serve TLS with this certificate chain and key (`--tls-cert`, `--tls-key`).
    pub tls: Option<(PathBuf, PathBuf)>,
}

impl ServeEchoCommand {
    /// `mode` on a free loopback port, default backlog, one process.
    pub fn new(mode: Mode) -> Self {
        ServeEchoCommand {
            mode,
            addr: "127.0.0.1:0".into(),
            backlog: None,
            workers: None,
            tls: None,
        }
    }

    /// The arguments after the program name.
    pub fn args(&self) -> Vec<String> {
        let serves = self.mode.info().serves.name();
        let mut a: Vec<String> = ["serve", serves, "--mode", self.mode.name(), "--addr"]
            .map(String::from)
            .into();
        a.push(self.addr.clone());
        if let Some(n) = self.backlog {
            a.extend(["--backlog".into(), n.to_string()]);
        }
        if let Some(n) = self.workers {
            a.extend(["--workers".into(), n.to_string()]);
        }
        if let Some((cert, key)) = &self.tls {
            a.extend([
                "--tls-cert".into(),
                cert.display().to_string(),
                "--tls-key".into(),
                key.display().to_string(),
            ]);
        }
        a
    }
}

/// `mayfly serve file --addr ADDR --root DIR`.
///
/// ```
/// let cmd = mayfly_proto::child::ServeFileCommand::new("/srv/files");
/// assert_eq!(cmd.args(), ["serve", "file", "--addr", "127.0.0.1:0", "--root", "/srv/files"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeFileCommand {
    /// Where to listen.
    pub addr: String,
    /// The directory served.
    pub root: PathBuf,
}

impl ServeFileCommand {
    /// Serving `root` on a free loopback port.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        ServeFileCommand {
            addr: "127.0.0.1:0".into(),
            root: root.into(),
        }
    }

    /// The arguments after the program name.
    pub fn args(&self) -> Vec<OsString> {
        let mut a: Vec<OsString> = ["serve", "file", "--addr", &self.addr, "--root"]
            .map(OsString::from)
            .into();
        a.push(self.root.clone().into_os_string());
        a
    }
}

/// `mayfly stress --addr ADDR [--proto P] [--json] [--marks] [--mode M] [--connections N]
/// [--threads T] [--duration Dms]`.
///
/// ```
/// use std::time::Duration;
/// use mayfly_proto::child::StressCommand;
/// let cmd = StressCommand {
///     json: true,
///     duration: Some(Duration::from_secs(2)),
///     ..StressCommand::new("127.0.0.1:9000")
/// };
/// assert_eq!(cmd.args().join(" "), "stress --addr 127.0.0.1:9000 --json --duration 2000ms");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct StressCommand {
    /// The server.
    pub addr: String,
    /// `--proto` (`tcp`, `udp`, `http`; the client's default, tcp, if `None`).
    pub proto: Option<String>,
    /// Print the report as JSON on stdout.
    pub json: bool,
    /// Print [`WindowMark`]s on stderr.
    pub marks: bool,
    /// Threads or greenlets.
    pub mode: Option<ClientMode>,
    /// Connections to open.
    pub connections: Option<usize>,
    /// Client threads (threads mode).
    pub threads: Option<usize>,
    /// Measured window (sent in whole milliseconds).
    pub duration: Option<Duration>,
    /// Speak TLS, trusting the CA in this PEM file (`--tls --tls-ca FILE`).
    pub tls_ca: Option<PathBuf>,
    /// A new connection every this many replies (`--reconnect-every N`).
    pub reconnect_every: Option<u64>,
    /// Requests per second over all connections (`--rate R`).
    pub rate: Option<f64>,
}

impl StressCommand {
    /// The client's defaults against `addr`.
    pub fn new(addr: impl Into<String>) -> Self {
        StressCommand {
            addr: addr.into(),
            proto: None,
            json: false,
            marks: false,
            mode: None,
            connections: None,
            threads: None,
            duration: None,
            tls_ca: None,
            reconnect_every: None,
            rate: None,
        }
    }

    /// The arguments after the program name.
    pub fn args(&self) -> Vec<String> {
        let mut a: Vec<String> = vec!["stress".into(), "--addr".into(), self.addr.clone()];
        if let Some(p) = &self.proto {
            a.extend(["--proto".into(), p.clone()]);
        }
        if self.json {
            a.push("--json".into());
        }
        if self.marks {
            a.push("--marks".into());
        }
        if let Some(m) = self.mode {
            a.extend(["--mode".into(), m.name().into()]);
        }
        if let Some(n) = self.connections {
            a.extend(["--connections".into(), n.to_string()]);
        }
        if let Some(n) = self.threads {
            a.extend(["--threads".into(), n.to_string()]);
        }
        if let Some(d) = self.duration {
            a.extend(["--duration".into(), format!("{}ms", d.as_millis())]);
        }
        if let Some(ca) = &self.tls_ca {
            a.extend(["--tls".into(), "--tls-ca".into(), ca.display().to_string()]);
        }
        if let Some(n) = self.reconnect_every {
            a.extend(["--reconnect-every".into(), n.to_string()]);
        }
        if let Some(r) = self.rate {
            a.extend(["--rate".into(), r.to_string()]);
        }
        a
    }
}
