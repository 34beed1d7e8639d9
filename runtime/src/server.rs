//! `StreamServer`: gevent's TCP server — an accept loop that runs a handler in a new greenlet
//! per connection, with back-off on accept errors, a connection cap, counters, and a graceful
//! stop.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::net::{TcpListener, TcpStream};
use crate::wait::WaitList;
use crate::{Builder, Greenlet};

/// First pause after an accept error (gevent: 10 ms, doubling up to 1 s).
pub const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
/// Longest pause after repeated accept errors.
pub const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Counters a server keeps; read a consistent-enough copy with [`ServerStats::snapshot`].
#[derive(Debug, Default)]
pub struct ServerStats {
    accepted: AtomicU64,
    active: AtomicU64,
    closed: AtomicU64,
    handler_errors: AtomicU64,
    panics: AtomicU64,
    accept_errors: AtomicU64,
    spawn_errors: AtomicU64,
    killed: AtomicU64,
}

/// A copy of a server's counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Connections accepted.
    pub accepted: u64,
    /// Connections being handled now.
    pub active: u64,
    /// Connections finished (any way).
    pub closed: u64,
    /// Handlers that returned an error.
    pub handler_errors: u64,
    /// Handlers that panicked.
    pub panics: u64,
    /// Failed `accept` calls (EMFILE and friends).
    pub accept_errors: u64,
    /// Connections dropped because no greenlet could be spawned.
    pub spawn_errors: u64,
    /// Connections killed at shutdown after the grace period.
    pub killed: u64,
}

impl ServerStats {
    /// The counters now.
    pub fn snapshot(&self) -> StatsSnapshot {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StatsSnapshot {
            accepted: l(&self.accepted),
            active: l(&self.active),
            closed: l(&self.closed),
            handler_errors: l(&self.handler_errors),
            panics: l(&self.panics),
            accept_errors: l(&self.accept_errors),
            spawn_errors: l(&self.spawn_errors),
            killed: l(&self.killed),
        }
    }
}

type Handler = dyn Fn(TcpStream, SocketAddr) -> io::Result<()> + Send + Sync + 'static;

/// A TCP server: one greenlet per connection (gevent's `StreamServer`).
///
/// ```
/// use mayfly::net::TcpStream;
/// use mayfly::server::StreamServer;
///
/// mayfly::run(|| {
///     let server = StreamServer::bind("127.0.0.1:0", |mut conn, _peer| {
///         loop {
///             let data = conn.recv(1024)?;
///             if data.is_empty() { return Ok(()); }
///             conn.sendall(&data.to_ascii_uppercase())?;
///         }
///     }).unwrap();
///     let running = server.start();
///     let mut c = TcpStream::connect(running.local_addr()).unwrap();
///     c.sendall(b"hi").unwrap();
///     assert_eq!(&c.recv_exact(2).unwrap()[..], b"HI");
///     drop(c);
///     running.stop(std::time::Duration::from_secs(1));
///     assert_eq!(running.stats().accepted, 1);
/// });
/// ```
pub struct StreamServer {
    listener: TcpListener,
    handler: Arc<Handler>,
    max_connections: Option<u64>,
    pool: Option<crate::pool::Pool>,
}

impl StreamServer {
    /// A server on an already-bound listener.
    pub fn new<F>(listener: TcpListener, handler: F) -> Self
    where
        F: Fn(TcpStream, SocketAddr) -> io::Result<()> + Send + Sync + 'static,
    {
        StreamServer {
            listener,
            handler: Arc::new(handler),
            max_connections: None,
            pool: None,
        }
    }

    /// Binds `addr` (see [`crate::net::Bind`]) and makes a server.
    pub fn bind<F>(addr: impl std::net::ToSocketAddrs, handler: F) -> io::Result<Self>
    where
        F: Fn(TcpStream, SocketAddr) -> io::Result<()> + Send + Sync + 'static,
    {
        Ok(Self::new(TcpListener::bind(addr)?, handler))
    }

    /// Caps concurrent connections: while `n` are open, the server stops accepting (new
    /// clients wait in the listen backlog). `None` (default): no cap.
    pub fn max_connections(mut self, n: Option<u64>) -> Self {
        self.max_connections = n.filter(|&n| n > 0);
        self
    }

    /// Runs handlers in `pool` (gevent's `StreamServer(addr, handle, spawn=Pool(n))`): while
    /// the pool is full the server stops accepting. The pool may be shared with other work.
    ///
    /// ```
    /// use mayfly::{pool::Pool, server::StreamServer};
    /// let server = StreamServer::bind("127.0.0.1:0", |_c, _p| Ok(())).unwrap().pool(Pool::new(100));
    /// ```
    pub fn pool(mut self, pool: crate::pool::Pool) -> Self {
        self.pool = Some(pool);
        self
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Starts accepting in a greenlet named `accept-<addr>` and returns at once.
    pub fn start(self) -> RunningServer {
        let addr = self
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        let shared = Arc::new(Shared {
            stats: Arc::new(ServerStats::default()),
            conns: Mutex::new(HashMap::new()),
            slot_free: WaitList::new(),
            stopping: AtomicBool::new(false),
            max: self.max_connections,
            pool: self.pool,
        });
        let s2 = shared.clone();
        let accept = Builder::new()
            .name(format!("accept-{addr}"))
            .spawn(move || accept_loop(self.listener, self.handler, s2))
            .unwrap_or_else(|e| panic!("StreamServer::start: {e}"));
        RunningServer {
            addr,
            accept,
            shared,
        }
    }

    /// Starts and serves until the server is stopped (gevent's `serve_forever`).
    pub fn serve_forever(self) {
        let running = self.start();
        running.accept.join(None);
    }
}

struct Shared {
    stats: Arc<ServerStats>,
    conns: Mutex<HashMap<u64, Greenlet<()>>>,
    slot_free: WaitList,
    stopping: AtomicBool,
    max: Option<u64>,
    pool: Option<crate::pool::Pool>,
}

/// A started server: its address, counters, and [`stop`](RunningServer::stop).
pub struct RunningServer {
    addr: SocketAddr,
    accept: Greenlet<()>,
    shared: Arc<Shared>,
}

impl RunningServer {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its counters now.
    pub fn stats(&self) -> StatsSnapshot {
        self.shared.stats.snapshot()
    }

    /// The live counters, to share with a stats page.
    pub fn stats_handle(&self) -> Arc<ServerStats> {
        self.shared.stats.clone()
    }

    /// Stops accepting at once (the listening socket closes), lets open connections finish
    /// for up to `grace`, then kills the rest. Returns how many were killed. Callable from a
    /// greenlet or from any OS thread (a signal handler thread, say).
    pub fn stop(&self, grace: Duration) -> u64 {
        self.shared.stopping.store(true, Ordering::Release);
        self.accept.kill();
        let active = &self.shared.stats.active;
        self.shared
            .slot_free
            .wait_until(Some(Instant::now() + grace), || {
                active.load(Ordering::Acquire) == 0
            });
        let left: Vec<Greenlet<()>> = self
            .shared
            .conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        let mut killed = 0;
        for g in &left {
            if !g.ready() {
                g.kill();
                killed += 1;
            }
        }
        self.shared
            .stats
            .killed
            .fetch_add(killed, Ordering::Relaxed);
        killed
    }

    /// Waits until the accept loop ends (after [`stop`](RunningServer::stop)).
    pub fn join(&self) {
        self.accept.join(None);
    }
}

fn accept_loop(listener: TcpListener, handler: Arc<Handler>, shared: Arc<Shared>) {
    let mut backoff = ACCEPT_BACKOFF_MIN;
    let mut in_episode = false;
    loop {
        if let Some(max) = shared.max {
            let active = &shared.stats.active;
            shared
                .slot_free
                .wait_until(None, || active.load(Ordering::Acquire) < max);
        }
        if let Some(pool) = &shared.pool {
            pool.wait_available(None);
        }
        let (stream, peer) = match listener.accept() {
            Ok(c) => c,
            Err(e) => {
                if shared.stopping.load(Ordering::Acquire) {
                    return;
                }
                shared.stats.accept_errors.fetch_add(1, Ordering::Relaxed);
                if !in_episode {
                    eprintln!(
                        "mayfly: accept on {:?} failed: {e}; backing off (10 ms doubling to 1 s)",
                        listener.local_addr().ok()
                    );
                    in_episode = true;
                }
                crate::sleep(backoff);
                backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                continue;
            }
        };
        if in_episode {
            eprintln!("mayfly: accepting again after {backoff:?} back-off");
        }
        in_episode = false;
        backoff = ACCEPT_BACKOFF_MIN;
        shared.stats.accepted.fetch_add(1, Ordering::Relaxed);
        shared.stats.active.fetch_add(1, Ordering::AcqRel);
        let h = handler.clone();
        let sh = shared.clone();
        let builder = Builder::new().name(format!("conn-{peer}"));
        let body = move || serve_conn(stream, peer, h, sh);
        let spawned = match &shared.pool {
            Some(pool) => pool.spawn_with(builder, body),
            None => builder.spawn(body),
        };
        match spawned {
            Ok(g) => {
                if !g.ready() {
                    shared
                        .conns
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(g.id(), g);
                }
            }
            Err(e) => {
                shared.stats.spawn_errors.fetch_add(1, Ordering::Relaxed);
                finish_conn(&shared, None);
                eprintln!("mayfly: dropped a connection from {peer}: {e}");
                crate::sleep(backoff);
                backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
            }
        }
    }
}

fn serve_conn(stream: TcpStream, peer: SocketAddr, handler: Arc<Handler>, shared: Arc<Shared>) {
    struct Done<'a>(&'a Shared);
    impl Drop for Done<'_> {
        fn drop(&mut self) {
            let id = crate::getcurrent().id;
            finish_conn(self.0, Some(id));
        }
    }
    let _done = Done(&shared);
    match panic::catch_unwind(AssertUnwindSafe(|| handler(stream, peer))) {
        Ok(Ok(())) => {}
        Ok(Err(_)) => {
            shared.stats.handler_errors.fetch_add(1, Ordering::Relaxed);
        }
        Err(p) => {
            if p.downcast_ref::<generator::Error>().is_some() {
                panic::resume_unwind(p); // killed: let the greenlet die as killed
            }
            shared.stats.panics.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn finish_conn(shared: &Shared, id: Option<u64>) {
    if let Some(id) = id {
        shared
            .conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
    }
    shared.stats.active.fetch_sub(1, Ordering::AcqRel);
    shared.stats.closed.fetch_add(1, Ordering::Relaxed);
    shared.slot_free.wake_all();
}
