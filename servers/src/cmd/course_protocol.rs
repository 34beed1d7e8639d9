//! `mayfly serve cmd --course-protocol`: the command server speaking the course's own wire
//! format, so the course's client works as the notes write it (`mayfly_proto::cmd::course`):
//! the command comes raw (one `recv` of at most [`Options::max_command`] bytes is one
//! command, as the course's `conn.recv(1024)`), the answer is `struct.pack('i', N)` and N
//! bytes, the command's stderr then its stdout.
//!
//! **There is no login**: anyone who can connect runs shell commands as the server's user.
//! So [`start`] refuses every address that is not loopback (no flag turns that off), and
//! `mayfly serve cmd` prints a warning saying so. Everything else the framed server limits is
//! limited here too, the same way: commands run through the same [`shell::run`] (time limit,
//! output cap, the whole process tree killed) on the server's own thread pool, at most
//! [`Options::max_running`] at once, and the connection caps of every mayfly server.
//!
//! The course's format has no room for an error, so what the framed server would refuse is
//! answered as output, in the stderr part, starting `mayfly:` (a busy server, a command that
//! is not UTF-8 or cannot start); a command killed at the time limit or the output cap gets
//! such a line after what it printed. An empty command gets an empty answer (length 0), as
//! `subprocess.Popen('', shell=True)` gives.
//!
//! ```
//! use std::io::{Read, Write};
//! use mayfly_servers::cmd::course_protocol::{self, Options};
//! let server = course_protocol::start(&Options::new("127.0.0.1:0")).unwrap();
//! let mut c = std::net::TcpStream::connect(server.local_addr()).unwrap();
//! c.write_all(b"echo hi").unwrap();
//! let mut len = [0u8; 4];
//! c.read_exact(&mut len).unwrap();
//! let mut out = vec![0u8; i32::from_le_bytes(len) as usize];
//! c.read_exact(&mut out).unwrap();
//! assert_eq!(out, b"hi\n");
//! assert!(course_protocol::start(&Options::new("0.0.0.0:0")).is_err());
//! server.stop(std::time::Duration::from_secs(1));
//! ```

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use mayfly::net::{Bind, TcpStream};
use mayfly::server::{Cap, RunningServer, ServerStats, StreamServer};
use mayfly::threadpool::ThreadPool;
use mayfly_proto::cmd::course;

use super::limits::Gauge;
use super::shell;

/// Default [`Options::max_command`]: the course's `conn.recv(1024)`.
pub const DEFAULT_MAX_COMMAND: usize = course::COURSE_RECV;
/// Default [`Options::idle_timeout`]: the framed server's five minutes (the course's server
/// never closes an idle client).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Default [`Options::timeout`]: the framed server's.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default [`Options::max_output`]: the framed server's 1 MiB.
pub const DEFAULT_MAX_OUTPUT: usize = 1 << 20;
/// Default [`Options::max_running`]: the framed server's.
pub const DEFAULT_MAX_RUNNING: usize = 4;
/// Default [`Options::max_connections`]: the framed server's.
pub const DEFAULT_MAX_CONNECTIONS: u64 = 256;
/// Default [`Options::max_per_peer`]: the framed server's.
pub const DEFAULT_MAX_PER_PEER: u64 = 32;

/// The warning `mayfly serve cmd --course-protocol` prints before it listens.
pub const WARNING: &str = "the course protocol has no login: anyone who can connect to this \
     address runs shell commands as this user (loopback only)";

/// How to run the course-protocol command server.
#[derive(Clone, Debug)]
pub struct Options {
    /// Address to listen on; must be loopback (any other is refused).
    pub addr: String,
    /// The most bytes one read takes as one command.
    pub max_command: usize,
    /// Per-command time limit.
    pub timeout: Duration,
    /// Per-command output cap, bytes (stdout and stderr together).
    pub max_output: usize,
    /// Commands running at once (threads of the server's pool); past it a command is
    /// answered with a `mayfly: … busy` line instead of queued.
    pub max_running: usize,
    /// Stop accepting while this many connections are open ([`Cap::Default`]:
    /// [`DEFAULT_MAX_CONNECTIONS`]).
    pub max_connections: Cap,
    /// Close a peer's new connections at once while it holds this many ([`Cap::Default`]:
    /// [`DEFAULT_MAX_PER_PEER`]).
    pub max_per_peer: Cap,
    /// A connection that sends no command for this long is closed (zero: never, as the
    /// course's server).
    pub idle_timeout: Duration,
    /// Set SO_REUSEPORT so several processes share the port (`mayfly serve --workers N`).
    pub reuse_port: bool,
}

impl Options {
    /// Defaults: this module's `DEFAULT_*` (the command limits are the framed server's).
    pub fn new(addr: impl Into<String>) -> Self {
        Options {
            addr: addr.into(),
            max_command: DEFAULT_MAX_COMMAND,
            timeout: DEFAULT_TIMEOUT,
            max_output: DEFAULT_MAX_OUTPUT,
            max_running: DEFAULT_MAX_RUNNING,
            max_connections: Cap::Default,
            max_per_peer: Cap::Default,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            reuse_port: false,
        }
    }
}

/// Refuses `addr` unless every address it names is loopback.
///
/// # Errors
/// `PermissionDenied`, saying why; the resolution error.
pub fn check_loopback(addr: &str) -> io::Result<()> {
    let addrs: Vec<SocketAddr> = addr.to_socket_addrs()?.collect();
    if addrs.is_empty() || !addrs.iter().all(|a| a.ip().is_loopback()) {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{addr} is not a loopback address; the course protocol runs commands without \
                 any login, so it listens on loopback only (127.0.0.1, ::1)"
            ),
        ));
    }
    Ok(())
}

/// What every connection shares.
struct Ctx {
    opts: Options,
    stats: Arc<ServerStats>,
    running: Arc<Gauge>,
    pool: ThreadPool,
}

/// Starts the server.
///
/// # Errors
/// The address is not loopback (`PermissionDenied`), it cannot be bound, or the pool's
/// threads cannot start.
pub fn start(opts: &Options) -> io::Result<RunningServer> {
    check_loopback(&opts.addr)?;
    let running = opts.max_running.max(1);
    let stats = Arc::new(ServerStats::new());
    let ctx = Arc::new(Ctx {
        opts: opts.clone(),
        stats: stats.clone(),
        running: Gauge::new(running as u64),
        pool: ThreadPool::new(running)?,
    });
    let listener = Bind::new(opts.addr.as_str())
        .reuse_port(opts.reuse_port)
        .tcp()?;
    let server = StreamServer::new(listener, move |conn, _peer| serve(&ctx, conn))
        .max_connections(Cap::from_limit(
            opts.max_connections.limit(|| Some(DEFAULT_MAX_CONNECTIONS)),
        ))
        .max_per_peer(Cap::from_limit(
            opts.max_per_peer.limit(|| Some(DEFAULT_MAX_PER_PEER)),
        ))
        .with_counters(stats);
    Ok(server.start())
}

/// The course's communication loop: one read, one command, one answer, until the client
/// closes.
fn serve(ctx: &Ctx, mut conn: TcpStream) -> io::Result<()> {
    let _ = conn.set_nodelay(true);
    let idle = Some(ctx.opts.idle_timeout).filter(|d| !d.is_zero());
    loop {
        conn.settimeout(idle);
        let data = conn.recv(ctx.opts.max_command.max(1))?;
        if data.is_empty() {
            return Ok(());
        }
        ctx.stats.requests(1);
        let (stderr, stdout) = answer(ctx, &data);
        let wire = course::reply(&stderr, &stdout)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        conn.settimeout(idle);
        conn.sendall(&wire)?;
    }
}

/// Runs one command: its stderr (with mayfly's own lines) and stdout.
fn answer(ctx: &Ctx, data: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let Ok(command) = std::str::from_utf8(data) else {
        return (b"mayfly: the command is not UTF-8\n".to_vec(), Vec::new());
    };
    if command.trim().is_empty() {
        return (Vec::new(), Vec::new());
    }
    let Some(_running) = ctx.running.enter() else {
        let msg = format!(
            "mayfly: all {} command threads are busy; try again later\n",
            ctx.opts.max_running.max(1)
        );
        return (msg.into_bytes(), Vec::new());
    };
    let command = command.to_owned();
    let (timeout, cap) = (ctx.opts.timeout, ctx.opts.max_output);
    let out = ctx.pool.apply(move || shell::run(&command, timeout, cap));
    match out {
        Ok(Ok(mut o)) => {
            if o.timed_out {
                let s = format!(
                    "mayfly: killed at the time limit ({} s)\n",
                    timeout.as_secs_f64()
                );
                o.stderr.extend_from_slice(s.as_bytes());
            } else if o.truncated {
                let s = format!("mayfly: killed at the output cap ({cap} bytes)\n");
                o.stderr.extend_from_slice(s.as_bytes());
            }
            (o.stderr, o.stdout)
        }
        Ok(Err(e)) => (
            format!("mayfly: the command could not start: {e}\n").into_bytes(),
            Vec::new(),
        ),
        Err(e) => (
            format!("mayfly: the command could not start: {e}\n").into_bytes(),
            Vec::new(),
        ),
    }
}
