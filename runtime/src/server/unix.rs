//! `StreamServer` over a Unix-domain listener (gevent's `StreamServer(unix_listener, handle)`):
//! [`UnixStreamServer`], one greenlet per connection, with the TCP server's connection cap,
//! pool, stack size, read/write timeouts, counters and graceful stop, on the same handler
//! engine (`slots`). What TCP has and a Unix socket has not: a per-peer cap (peers have no
//! address) and the swept timeouts (a Unix connection's timeouts are timers).

use std::io;
use std::os::unix::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::backoff::AcceptBackoff;
use super::cap::Cap;
use super::slots::Slots;
use super::stats::{ServerStats, StatsSnapshot};
use super::stream::{StreamServer, DEFAULT_STOP_GRACE};
use crate::event::Event;
use crate::greenlet::{Builder, Greenlet};
use crate::net::{UnixListener, UnixStream};
use crate::poison::MutexExt;

type UnixHandler = dyn Fn(UnixStream, SocketAddr) -> io::Result<()> + Send + Sync + 'static;

/// A Unix-domain stream server: one greenlet per connection, as [`StreamServer`] is for TCP.
/// Made with [`StreamServer::bind_unix`] (or [`UnixStreamServer::new`] on a listener you
/// bound); [`start`](UnixStreamServer::start) gives a [`RunningUnixServer`].
///
/// ```
/// use mayfly::net::UnixStream;
/// use mayfly::server::StreamServer;
///
/// let path = std::env::temp_dir().join(format!("mayfly-unix-server-doc-{}", std::process::id()));
/// let _ = std::fs::remove_file(&path);
/// let p = path.clone();
/// mayfly::run(move || {
///     let server = StreamServer::bind_unix(&p, |mut conn, _peer| {
///         let data = conn.recv(64)?;
///         conn.sendall(&data.to_ascii_uppercase())
///     }).unwrap().max_connections(100).start();
///     let mut c = UnixStream::connect(&p).unwrap();
///     c.sendall(b"hi").unwrap();
///     assert_eq!(&c.recv_exact(2).unwrap()[..], b"HI");
///     drop(c);
///     server.stop(std::time::Duration::from_secs(1));
///     assert_eq!(server.stats().accepted, 1);
/// });
/// std::fs::remove_file(&path).unwrap();
/// ```
pub struct UnixStreamServer {
    listener: UnixListener,
    handler: Arc<UnixHandler>,
    max_connections: Option<u64>,
    pool: Option<crate::pool::Pool>,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    counters: Option<Arc<ServerStats>>,
    stack_size: Option<usize>,
}

impl std::fmt::Debug for UnixStreamServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnixStreamServer")
            .field("path", &self.path())
            .field("max_connections", &self.max_connections)
            .finish_non_exhaustive()
    }
}

impl StreamServer {
    /// Binds a Unix-domain socket at `path` and makes a server on it (gevent's
    /// `StreamServer(listener, handle)` with an `AF_UNIX` listener). The socket file stays
    /// after the server stops, as with gevent: remove it yourself before binding again.
    ///
    /// # Errors
    /// As [`UnixListener::bind`] (`AddrInUse` if the path exists).
    pub fn bind_unix<F>(path: impl AsRef<Path>, handler: F) -> io::Result<UnixStreamServer>
    where
        F: Fn(UnixStream, SocketAddr) -> io::Result<()> + Send + Sync + 'static,
    {
        Ok(UnixStreamServer::new(UnixListener::bind(path)?, handler))
    }
}

impl UnixStreamServer {
    /// A server on an already-bound Unix listener.
    pub fn new<F>(listener: UnixListener, handler: F) -> Self
    where
        F: Fn(UnixStream, SocketAddr) -> io::Result<()> + Send + Sync + 'static,
    {
        UnixStreamServer {
            listener,
            handler: Arc::new(handler),
            max_connections: None,
            pool: None,
            read_timeout: None,
            write_timeout: None,
            counters: None,
            stack_size: None,
        }
    }

    /// The path it is bound to (`None` for an unnamed socket).
    pub fn path(&self) -> Option<PathBuf> {
        let addr = self.listener.local_addr().ok()?;
        addr.as_pathname().map(Path::to_path_buf)
    }

    /// Caps concurrent connections, as [`StreamServer::max_connections`].
    pub fn max_connections(mut self, cap: impl Into<Cap>) -> Self {
        self.max_connections = cap.into().limit(|| None);
        self
    }

    /// Runs handlers in `pool`, as [`StreamServer::pool`].
    pub fn pool(mut self, pool: crate::pool::Pool) -> Self {
        self.pool = Some(pool);
        self
    }

    /// Each connection's greenlet gets `bytes` of stack, as [`StreamServer::stack_size`].
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Every read on a connection gives up after `t` (`TimedOut`), as
    /// [`StreamServer::read_timeout`] (here by a timer per parked read).
    pub fn read_timeout(mut self, t: Option<Duration>) -> Self {
        self.read_timeout = t;
        self
    }

    /// Every write on a connection gives up after `t`, as [`StreamServer::write_timeout`].
    pub fn write_timeout(mut self, t: Option<Duration>) -> Self {
        self.write_timeout = t;
        self
    }

    /// Records into `counters` instead of fresh ones, as [`StreamServer::with_counters`].
    pub fn with_counters(mut self, counters: Arc<ServerStats>) -> Self {
        self.counters = Some(counters);
        self
    }

    /// Starts accepting in a greenlet named `accept-unix:<path>` and returns at once.
    ///
    /// # Panics
    /// If the accept greenlet cannot be spawned (no stack).
    pub fn start(self) -> RunningUnixServer {
        self.try_start()
            .unwrap_or_else(|e| panic!("UnixStreamServer::start: {e}"))
    }

    /// Starts and serves until the server is stopped, as [`StreamServer::serve_forever`]
    /// (killing the greenlet that runs it stops the server).
    ///
    /// # Errors
    /// The accept greenlet could not be spawned (no stack); nothing was served.
    pub fn serve_forever(self) -> io::Result<()> {
        self.try_start()?.serve_forever();
        Ok(())
    }

    fn try_start(self) -> io::Result<RunningUnixServer> {
        let path = self.path();
        let slots = Arc::new(
            Slots::new(
                self.counters.unwrap_or_default(),
                self.max_connections,
                self.pool,
            )
            .with_stack_size(self.stack_size),
        );
        let shared = Arc::new(Shared {
            slots,
            path,
            accept: Mutex::new(None),
            stopped: Event::new(),
        });
        let (listener, handler) = (self.listener, self.handler);
        let timeouts = (self.read_timeout, self.write_timeout);
        let sh = shared.clone();
        let accept = Builder::new()
            .name(format!("accept-unix:{}", shared.label()))
            .spawn(move || accept_loop(listener, handler, timeouts, &sh))
            .map_err(io::Error::other)?;
        *shared.accept.lock_unpoisoned() = Some(accept);
        Ok(RunningUnixServer { shared })
    }
}

struct Shared {
    slots: Arc<Slots>,
    path: Option<PathBuf>,
    /// The accept greenlet; it owns the listener, so its end closes the socket.
    accept: Mutex<Option<Greenlet<()>>>,
    stopped: Event,
}

impl Shared {
    fn label(&self) -> String {
        self.path
            .as_ref()
            .map_or_else(|| "(unnamed)".to_string(), |p| p.display().to_string())
    }
}

/// A started [`UnixStreamServer`]: its path, counters and graceful stop. Clones are handles
/// to the same server.
#[derive(Clone)]
pub struct RunningUnixServer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for RunningUnixServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningUnixServer")
            .field("path", &self.shared.path)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl RunningUnixServer {
    /// The path it listens on (`None` for an unnamed socket).
    pub fn path(&self) -> Option<&Path> {
        self.shared.path.as_deref()
    }

    /// A copy of its counters now.
    pub fn stats(&self) -> StatsSnapshot {
        self.shared.slots.stats().snapshot()
    }

    /// The live counters, to share with a stats page.
    pub fn counters(&self) -> Arc<ServerStats> {
        self.shared.slots.stats().clone()
    }

    /// Whether it was started and not stopped.
    pub fn started(&self) -> bool {
        !self.shared.slots.stopping()
    }

    /// Stops accepting at once (the listening socket closes), lets open connections finish
    /// for up to `grace`, then kills the rest; returns how many were killed. A second call
    /// waits until the server has stopped and returns 0. As [`super::RunningServer::stop`].
    pub fn stop(&self, grace: Duration) -> u64 {
        if self.shared.slots.begin_stop() {
            self.shared.stopped.wait(None);
            return 0;
        }
        let accept = self.shared.accept.lock_unpoisoned().take();
        if let Some(g) = accept {
            g.kill(); // unwinds the accept loop, which drops (closes) the listener
        }
        let killed = self.shared.slots.drain(grace);
        self.shared.stopped.set();
        killed
    }

    /// Serves until the server is stopped, from any handle; if the greenlet running it is
    /// killed, the server stops (open connections get [`DEFAULT_STOP_GRACE`], in a greenlet
    /// of their own).
    pub fn serve_forever(&self) {
        struct StopOnExit<'a>(&'a RunningUnixServer);
        impl Drop for StopOnExit<'_> {
            fn drop(&mut self) {
                if !std::thread::panicking() {
                    self.0.stop(DEFAULT_STOP_GRACE);
                } else if self.0.started() {
                    // Unwinding (a kill): nothing may block here, so the stop runs apart.
                    let server = self.0.clone();
                    let _ = Builder::new()
                        .name(format!("stop-unix:{}", server.shared.label()))
                        .spawn(move || server.stop(DEFAULT_STOP_GRACE));
                }
            }
        }
        let _stop = StopOnExit(self);
        self.shared.stopped.wait(None);
    }

    /// Waits until the server has stopped.
    pub fn join(&self) {
        self.shared.stopped.wait(None);
    }
}

fn accept_loop(
    listener: UnixListener,
    handler: Arc<UnixHandler>,
    (read_timeout, write_timeout): (Option<Duration>, Option<Duration>),
    shared: &Arc<Shared>,
) {
    let mut backoff = AcceptBackoff::new(format!("mayfly: accept on {}", shared.label()));
    let slots = &shared.slots;
    let mut n = 0u64;
    slots.serve(
        &mut backoff,
        || {
            let conn = listener.accept()?;
            let peer = conn.peer_addr()?;
            Ok((conn, peer))
        },
        |(mut conn, peer), backoff| {
            conn.set_read_timeout(read_timeout);
            conn.set_write_timeout(write_timeout);
            conn.count_bytes(slots.stats().bytes());
            let handler = handler.clone();
            n += 1;
            slots.spawn(
                format!("conn-unix-{n}"),
                format_args!("a connection on {}", shared.label()),
                backoff,
                move || handler(conn, peer),
            );
        },
    );
}
