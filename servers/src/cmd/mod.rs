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
//! Commands run through `/bin/sh -c` on `mayfly::subprocess`, in the connection's greenlet
//! (their pipes and exit park it, never the worker), each under a subreaper helper ([`tree`]) so that the time limit, the output cap and the
//! shell's exit kill everything it started, `setsid` and double forks included. Commands do
//! not see the secret's variable.
//!
//! Limits, each with a `DEFAULT_*` and a flag of `mayfly serve cmd`:
//!
//! | limit | default | what happens past it |
//! |---|---|---|
//! | [`Options::auth_timeout`]: the whole handshake, one deadline | 10 s | closed |
//! | [`Options::max_unauthenticated`]: connections not logged in yet | 64 | answered `busy`, closed |
//! | [`Options::max_connections`] | 256 | not accepted until one closes (backlog) |
//! | [`Options::max_per_peer`]: connections of one IP (IPv6: /64) | 32 | closed at once |
//! | [`Options::max_auth_failures`] per peer per [`Options::auth_lockout`] | 10 per 60 s | answered `rate_limited` before any challenge, closed |
//! | [`Options::max_running`]: commands running at once | 4 | answered `busy`, the connection goes on |
//! | [`Options::timeout`], [`Options::max_output`] per command | 10 s, 1 MiB | the tree is killed |
//!
//! With [`Options::tls`] the same frames run inside TLS. Beyond loopback the server needs
//! [`Options::allow_remote`] or TLS that checks client certificates (a client CA).
//!
//! A failed authentication is answered after [`AUTH_FAIL_DELAY`] (the greenlet sleeps;
//! nobody else waits). The authentication is one-way and protects only the start of the
//! connection: see "The command server's threat model" in docs/RELIABILITY.md.
//!
//! [`course_protocol`] is the same server speaking the course's own format instead (the
//! command raw, a 4-byte length and the output back, no login: loopback only).
//!
//! ```
//! use mayfly_servers::cmd::{self, Options};
//! let server = cmd::start(&Options::new("127.0.0.1:0", b"a secret of 16+ bytes".to_vec())).unwrap();
//! assert!(cmd::start(&Options::new("0.0.0.0:0", b"a secret of 16+ bytes".to_vec())).is_err());
//! server.stop(std::time::Duration::from_secs(1));
//! ```

pub mod course_protocol;
pub mod limits;
pub mod shell;
pub mod tree;

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use mayfly::net::Bind;
use mayfly::server::{Cap, RunningServer, ServerStats};
use mayfly_proto::cmd::{self as proto, auth as hmac, secret};
use mayfly_proto::frame::{self, FrameError, FrameReader, Header, Limits};
use mayfly_proto::reply::{self, code, Refusal};

use crate::conn::Conn;
use limits::{Gauge, LoginFailures};

/// Default address, loopback (see [`Options::allow_remote`]).
pub const DEFAULT_ADDR: &str = "127.0.0.1:9100";
/// Default [`Options::timeout`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default [`Options::max_output`]: 1 MiB.
pub const DEFAULT_MAX_OUTPUT: usize = 1 << 20;
/// Default [`Options::auth_timeout`].
pub const DEFAULT_AUTH_TIMEOUT: Duration = Duration::from_secs(10);
/// Default [`Options::max_unauthenticated`].
pub const DEFAULT_MAX_UNAUTHENTICATED: u64 = 64;
/// Default [`Options::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: u64 = 256;
/// Default [`Options::max_per_peer`].
pub const DEFAULT_MAX_PER_PEER: u64 = 32;
/// Default [`Options::max_auth_failures`].
pub const DEFAULT_MAX_AUTH_FAILURES: u32 = 10;
/// Default [`Options::auth_lockout`].
pub const DEFAULT_AUTH_LOCKOUT: Duration = Duration::from_secs(60);
/// Default [`Options::max_running`].
pub const DEFAULT_MAX_RUNNING: usize = 4;
/// Pause before answering a failed authentication.
pub const AUTH_FAIL_DELAY: Duration = Duration::from_millis(500);
/// A connection with no command for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// How to run the command server.
#[derive(Clone, Debug)]
pub struct Options {
    /// Address to listen on; must be loopback unless `allow_remote`.
    pub addr: String,
    /// The shared secret (at least [`secret::MIN_SECRET_LEN`] bytes).
    pub secret: Vec<u8>,
    /// Allow a non-loopback address.
    pub allow_remote: bool,
    /// Per-command time limit.
    pub timeout: Duration,
    /// Per-command output cap, bytes (stdout and stderr together).
    pub max_output: usize,
    /// Stop accepting while this many connections are open ([`Cap::Default`]:
    /// [`DEFAULT_MAX_CONNECTIONS`]).
    pub max_connections: Cap,
    /// Close a peer's new connections at once while it holds this many ([`Cap::Default`]:
    /// [`DEFAULT_MAX_PER_PEER`]).
    pub max_per_peer: Cap,
    /// Time from accept to a logged-in connection, for the whole handshake.
    pub auth_timeout: Duration,
    /// Connections not logged in yet; past it new ones are answered `busy` (0: no cap).
    pub max_unauthenticated: u64,
    /// Failed logins one peer may make per [`auth_lockout`](Options::auth_lockout) before
    /// it is refused until the window ends (0: no limit).
    pub max_auth_failures: u32,
    /// The window of [`max_auth_failures`](Options::max_auth_failures).
    pub auth_lockout: Duration,
    /// Commands running at once; past it a command is answered `busy` instead of queued.
    pub max_running: usize,
    /// Set SO_REUSEPORT so several processes share the port (`mayfly serve --workers N`).
    pub reuse_port: bool,
    /// Serve TLS with this acceptor: the handshake in each connection's greenlet (counted in
    /// the stats), the login and commands inside TLS. Built with a client CA
    /// ([`TlsAcceptor::requires_client_certificate`](mayfly::tls::TlsAcceptor::requires_client_certificate)),
    /// it also lets the server listen beyond loopback without
    /// [`allow_remote`](Options::allow_remote). `None`: plain TCP.
    pub tls: Option<mayfly::tls::TlsAcceptor>,
}

impl Options {
    /// Defaults: loopback only, and every `DEFAULT_*` of this module.
    pub fn new(addr: impl Into<String>, secret: Vec<u8>) -> Self {
        Options {
            addr: addr.into(),
            secret,
            allow_remote: false,
            timeout: DEFAULT_TIMEOUT,
            max_output: DEFAULT_MAX_OUTPUT,
            max_connections: Cap::Default,
            max_per_peer: Cap::Default,
            auth_timeout: DEFAULT_AUTH_TIMEOUT,
            max_unauthenticated: DEFAULT_MAX_UNAUTHENTICATED,
            max_auth_failures: DEFAULT_MAX_AUTH_FAILURES,
            auth_lockout: DEFAULT_AUTH_LOCKOUT,
            max_running: DEFAULT_MAX_RUNNING,
            reuse_port: false,
            tls: None,
        }
    }
}

/// What every connection's handler shares.
struct Ctx {
    opts: Options,
    stats: Arc<ServerStats>,
    unauthenticated: Arc<Gauge>,
    running: Arc<Gauge>,
    failures: LoginFailures,
}

/// Starts the command server.
///
/// # Errors
///
/// The secret is too short, the address is not loopback while neither `allow_remote` nor
/// TLS with client certificates is on (`PermissionDenied`), the address cannot be bound.
pub fn start(opts: &Options) -> io::Result<RunningServer> {
    secret::check_secret(&opts.secret)?;
    let addrs: Vec<SocketAddr> = opts.addr.to_socket_addrs()?.collect();
    check_remote(opts, addrs.iter().all(|a| a.ip().is_loopback()))?;
    let running = opts.max_running.max(1);
    let stats = Arc::new(ServerStats::new());
    let ctx = Arc::new(Ctx {
        opts: opts.clone(),
        stats: stats.clone(),
        unauthenticated: Gauge::new(opts.max_unauthenticated),
        running: Gauge::new(running as u64),
        failures: LoginFailures::new(opts.max_auth_failures, opts.auth_lockout),
    });
    let listener = Bind::new(opts.addr.as_str())
        .reuse_port(opts.reuse_port)
        .tcp()?;
    let server = crate::conn::stream_server(listener, opts.tls.as_ref(), move |conn, peer| {
        serve(&ctx, conn, peer)
    })
    .max_connections(Cap::from_limit(
        opts.max_connections.limit(|| Some(DEFAULT_MAX_CONNECTIONS)),
    ))
    .max_per_peer(Cap::from_limit(
        opts.max_per_peer.limit(|| Some(DEFAULT_MAX_PER_PEER)),
    ))
    .with_counters(stats);
    Ok(server.start())
}

/// The remote rule: an address beyond loopback needs [`Options::allow_remote`], or TLS that
/// checks client certificates ([`Options::tls`] built with a client CA: only a holder of a
/// certificate the CA issued reaches the login). `PermissionDenied` otherwise, saying what
/// would do.
fn check_remote(opts: &Options, loopback: bool) -> io::Result<()> {
    if loopback || opts.allow_remote {
        return Ok(());
    }
    let why = match &opts.tls {
        Some(t) if t.requires_client_certificate() => return Ok(()),
        Some(_) => {
            "TLS without --tls-client-ca encrypts the traffic but lets anyone who \
                    reaches the port try the secret; add --tls-client-ca FILE (clients must \
                    then present a certificate that CA issued) or --allow-remote"
        }
        None => {
            "listening beyond this machine needs TLS with client certificates \
                 (--tls-cert, --tls-key and --tls-client-ca) or --allow-remote"
        }
    };
    Err(io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!(
            "{} is not a loopback address; the command server runs shell commands, so {why}",
            opts.addr
        ),
    ))
}

fn error(code: &str, msg: impl ToString) -> Header {
    Refusal::new(code, msg).header()
}

fn serve(ctx: &Ctx, conn: Conn, peer: SocketAddr) -> io::Result<()> {
    let _ = conn.set_nodelay(true);
    let mut r = FrameReader::new(
        conn,
        Limits::default(),
        frame::no_body as fn(&Header) -> Result<u64, FrameError>,
    );
    if let Some(wait) = ctx.failures.locked_out(peer.ip()) {
        let msg = format!(
            "too many failed logins from {}; try again in {} s",
            peer.ip(),
            wait.as_secs() + 1
        );
        frame::write_header(r.get_mut(), &error(code::RATE_LIMITED, msg))?;
        return Ok(());
    }
    let Some(waiting) = ctx.unauthenticated.enter() else {
        let msg = "too many connections are waiting to log in; try again later";
        frame::write_header(r.get_mut(), &error(code::BUSY, msg))?;
        return Ok(());
    };
    // One deadline for the whole handshake: a client trickling its answer a byte at a time
    // is cut off at it, however quick each read.
    let deadline = mayfly::deadline_after(ctx.opts.auth_timeout);
    let verdict = mayfly::with_deadline(deadline, || -> io::Result<Option<bool>> {
        let challenge = hmac::challenge()?;
        frame::write_header(r.get_mut(), &proto::challenge_header(&challenge))?;
        // Disconnects and timeouts go back to the StreamServer, which counts them by kind.
        let Some((h, _)) = r.read_header()? else {
            return Ok(None);
        };
        let answer = h.opt_str(proto::HMAC).ok().flatten().unwrap_or("");
        Ok(Some(hmac::verify(&ctx.opts.secret, &challenge, answer)))
    });
    match verdict.map_err(io::Error::from)?? {
        None => return Ok(()),
        Some(true) => {}
        Some(false) => {
            ctx.failures.failed(peer.ip());
            mayfly::sleep(AUTH_FAIL_DELAY);
            frame::write_header(r.get_mut(), &error(code::AUTH, "authentication failed"))?;
            return Ok(());
        }
    }
    drop(waiting);
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
        // At most `max_running` commands at once; more are refused, never queued.
        let Some(_running) = ctx.running.enter() else {
            let msg = format!(
                "all {} command slots are busy; try again later",
                ctx.opts.max_running.max(1)
            );
            frame::write_header(r.get_mut(), &error(code::BUSY, msg))?;
            continue;
        };
        ctx.stats.requests(1);
        let (timeout, cap) = (ctx.opts.timeout, ctx.opts.max_output);
        // In this greenlet: the command's pipes and exit park it, not the worker.
        let reply = match shell::run(&command, timeout, cap) {
            Ok(o) => {
                let (h, body) = o.to_frame();
                frame::write_frame(r.get_mut(), &h, &body)
            }
            Err(e) => frame::write_header(r.get_mut(), &error(code::SPAWN, e)),
        };
        reply?;
    }
}
