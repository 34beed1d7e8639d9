//! The course's remote-command server, made safe enough to run: every connection must pass
//! a shared-secret HMAC challenge before any command, it listens on loopback unless told
//! otherwise, and each command has a time limit and an output cap.
//!
//! Frames as in `docs/PROTOCOL.md` (the headers are built with `mayfly_proto::cmd`):
//!
//! | step | from | header | body |
//! |---|---|---|---|
//! | 1 | server | `{"challenge": hex(32 random bytes), "algorithm": "hmac-sha256"}` | — |
//! | 2 | client | `{"hmac": hex(HMAC-SHA256(secret, challenge bytes))}` | — |
//! | 3 | server | `{"status": "ok"}`, or an error with `code: "auth"` and the connection closes | — |
//! | 4… | client | `{"cmd": "run", "command": "ls -l"}` | — |
//! | | server | `{"status": "ok", "total_size": N, "exit_code", "timed_out", "truncated"}` | N bytes: stdout and stderr |
//!
//! Commands run through `/bin/sh -c` on the thread pool (never on the worker) in their own
//! process group, which is killed at the time limit, at the output cap, and when the shell
//! exits. A failed authentication is answered after [`AUTH_FAIL_DELAY`] (the greenlet
//! sleeps; nobody else waits), which slows guessing.
//!
//! ```
//! use mayfly_servers::cmd::{self, Options};
//! let server = cmd::start(&Options::new("127.0.0.1:0", b"a secret of 16+ bytes".to_vec())).unwrap();
//! assert!(cmd::start(&Options::new("0.0.0.0:0", b"a secret of 16+ bytes".to_vec())).is_err());
//! server.stop(std::time::Duration::from_secs(1));
//! ```

pub mod auth;
pub mod secret;
pub mod shell;

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use mayfly::net::{Bind, TcpStream};
use mayfly::server::{RunningServer, ServerStats, StreamServer};
use mayfly_proto::cmd::{self as proto, auth as hmac, RunReply};
use mayfly_proto::frame::{self, FrameError, FrameReader, Header, Limits};
use mayfly_proto::reply::{self, code, Refusal};

/// Default address, loopback (see [`Options::allow_remote`]).
pub const DEFAULT_ADDR: &str = "127.0.0.1:9100";
/// Default [`Options::timeout`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default [`Options::max_output`]: 1 MiB.
pub const DEFAULT_MAX_OUTPUT: usize = 1 << 20;
/// How long a client has to answer the challenge.
pub const AUTH_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause before answering a failed authentication.
pub const AUTH_FAIL_DELAY: Duration = Duration::from_millis(500);
/// A connection with no command for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// How to run the command server.
#[derive(Clone)]
pub struct Options {
    /// Address to listen on; must be loopback unless `allow_remote`.
    pub addr: String,
    /// The shared secret (at least [`auth::MIN_SECRET_LEN`] bytes).
    pub secret: Vec<u8>,
    /// Allow a non-loopback address.
    pub allow_remote: bool,
    /// Per-command time limit.
    pub timeout: Duration,
    /// Per-command output cap, bytes.
    pub max_output: usize,
    /// Stop accepting while this many connections are open.
    pub max_connections: Option<u64>,
    /// Set SO_REUSEPORT so several processes share the port (`mayfly serve --workers N`).
    pub reuse_port: bool,
}

impl Options {
    /// Defaults: loopback only, [`DEFAULT_TIMEOUT`], [`DEFAULT_MAX_OUTPUT`].
    pub fn new(addr: impl Into<String>, secret: Vec<u8>) -> Self {
        Options {
            addr: addr.into(),
            secret,
            allow_remote: false,
            timeout: DEFAULT_TIMEOUT,
            max_output: DEFAULT_MAX_OUTPUT,
            max_connections: None,
            reuse_port: false,
        }
    }
}

/// Starts the command server. Fails if the secret is too short, or the address is not
/// loopback and `allow_remote` is off.
pub fn start(opts: &Options) -> io::Result<RunningServer> {
    auth::check_secret(&opts.secret)?;
    let addrs: Vec<SocketAddr> = opts.addr.to_socket_addrs()?.collect();
    if !opts.allow_remote && !addrs.iter().all(|a| a.ip().is_loopback()) {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} is not a loopback address; the command server runs shell commands, so \
                 listening beyond this machine needs --allow-remote",
                opts.addr
            ),
        ));
    }
    let settings = Arc::new(opts.clone());
    let listener = Bind::new(opts.addr.as_str())
        .reuse_port(opts.reuse_port)
        .tcp()?;
    let stats = Arc::new(ServerStats::new());
    let s2 = stats.clone();
    let server = StreamServer::new(listener, move |conn, _| serve(&settings, &s2, conn))
        .max_connections(opts.max_connections)
        .with_counters(stats);
    Ok(server.start())
}

fn error(code: &str, msg: impl ToString) -> Header {
    Refusal::new(code, msg).header()
}

fn serve(settings: &Options, stats: &ServerStats, conn: TcpStream) -> io::Result<()> {
    let _ = conn.set_nodelay(true);
    let mut r = FrameReader::new(
        conn,
        Limits::default(),
        frame::no_body as fn(&Header) -> Result<u64, FrameError>,
    );
    let challenge = hmac::challenge()?;
    frame::write_header(r.get_mut(), &proto::challenge_header(&challenge))?;
    r.get_mut().settimeout(Some(AUTH_TIMEOUT));
    // Disconnects and timeouts go back to the StreamServer, which counts them by kind.
    let Some((h, _)) = r.read_header()? else {
        return Ok(());
    };
    let answer = h.opt_str(proto::HMAC).ok().flatten().unwrap_or("");
    if !hmac::verify(&settings.secret, &challenge, answer) {
        mayfly::sleep(AUTH_FAIL_DELAY);
        frame::write_header(r.get_mut(), &error(code::AUTH, "authentication failed"))?;
        return Ok(());
    }
    frame::write_header(r.get_mut(), &reply::ok())?;
    loop {
        r.get_mut().settimeout(Some(IDLE_TIMEOUT));
        let h = match r.read_header() {
            Ok(Some((h, _))) => h,
            Ok(None) => return Ok(()),
            Err(e) => match FrameError::from_io(&e) {
                Some(fe) if !fe.is_fatal() => {
                    frame::write_header(r.get_mut(), &error(code::BAD_FRAME, fe))?;
                    continue;
                }
                Some(fe) => {
                    let _ = frame::write_header(r.get_mut(), &error(code::BAD_FRAME, fe));
                    return Ok(());
                }
                None => return Err(e),
            },
        };
        let command = match (h.opt_str(proto::CMD), h.opt_str(proto::COMMAND)) {
            (Ok(None | Some(proto::RUN)), Ok(Some(c))) if !c.trim().is_empty() => c.to_owned(),
            (Ok(Some(other)), _) if other != proto::RUN => {
                frame::write_header(
                    r.get_mut(),
                    &error(
                        code::BAD_REQUEST,
                        format!("unknown cmd {other:?} (known: run)"),
                    ),
                )?;
                continue;
            }
            _ => {
                frame::write_header(
                    r.get_mut(),
                    &error(
                        code::BAD_REQUEST,
                        "header field \"command\" must be a non-empty string",
                    ),
                )?;
                continue;
            }
        };
        stats.requests(1);
        let (timeout, cap) = (settings.timeout, settings.max_output);
        let out = mayfly::threadpool::apply(move || shell::run(&command, timeout, cap));
        let reply = match out {
            Ok(Ok(o)) => {
                let h = RunReply {
                    exit_code: o.exit_code,
                    timed_out: o.timed_out,
                    truncated: o.truncated,
                }
                .header(o.data.len());
                frame::write_frame(r.get_mut(), &h, &o.data)
            }
            Ok(Err(e)) => frame::write_header(r.get_mut(), &error(code::SPAWN, e)),
            Err(e) => frame::write_header(r.get_mut(), &error(code::SPAWN, e)),
        };
        reply?;
    }
}
