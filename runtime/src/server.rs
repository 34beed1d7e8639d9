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

use crate::greenlet::{Builder, Greenlet};
use crate::net::{ByteCounters, TcpListener, TcpStream};
use crate::park::WaitUntil;
use crate::poison::MutexExt;
use crate::wait::WaitList;

/// First pause after an accept error (gevent: 10 ms, doubling up to 1 s).
pub const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
/// Longest pause after repeated accept errors.
pub const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Counters a server keeps; read a consistent-enough copy with [`ServerStats::snapshot`].
///
/// [`StreamServer`] keeps them itself. Other servers (the threads and epoll echo builds)
/// record into one with [`conn_opened`](ServerStats::conn_opened),
/// [`conn_closed`](ServerStats::conn_closed) and friends, so every build reports the same.
///
/// ```
/// use mayfly::server::ServerStats;
/// let stats = ServerStats::new();
/// stats.conn_opened();
/// stats.bytes().add_read(5);
/// stats.conn_closed(&Err(std::io::ErrorKind::TimedOut.into()));
/// let s = stats.snapshot();
/// assert_eq!((s.accepted, s.active, s.closed, s.timeouts, s.bytes_in), (1, 0, 1, 1, 5));
/// ```
#[derive(Debug)]
pub struct ServerStats {
    started: Instant,
    accepted: AtomicU64,
    active: AtomicU64,
    closed: AtomicU64,
    requests: AtomicU64,
    timeouts: AtomicU64,
    resets: AtomicU64,
    protocol_errors: AtomicU64,
    other_errors: AtomicU64,
    panics: AtomicU64,
    accept_errors: AtomicU64,
    spawn_errors: AtomicU64,
    killed: AtomicU64,
    bytes: Arc<ByteCounters>,
}

/// A copy of a server's counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Milliseconds since the counters started.
    pub uptime_ms: u64,
    /// Connections accepted.
    pub accepted: u64,
    /// Connections being handled now.
    pub active: u64,
    /// Connections finished (any way).
    pub closed: u64,
    /// Requests served (for the echo server: replies sent).
    pub requests: u64,
    /// Bytes read from clients.
    pub bytes_in: u64,
    /// Bytes written to clients.
    pub bytes_out: u64,
    /// Connections ended by a read or write timeout (idle, slow or not-reading clients).
    pub timeouts: u64,
    /// Connections the peer reset or broke (ECONNRESET, EPIPE, ECONNABORTED).
    pub resets: u64,
    /// Connections ended by bad input (`InvalidData`, a peer closing mid-message).
    pub protocol_errors: u64,
    /// Connections ended by any other error.
    pub other_errors: u64,
    /// Handlers that returned an error: the four kinds above together.
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

/// How a connection ended, by the error that ended it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// A read or write timed out.
    Timeout,
    /// The peer reset or broke the connection.
    Reset,
    /// Bad input.
    Protocol,
    /// Anything else.
    Other,
}

impl ErrorClass {
    /// Classifies an I/O error.
    ///
    /// ```
    /// use mayfly::server::ErrorClass;
    /// use std::io::ErrorKind;
    /// assert_eq!(ErrorClass::of(&ErrorKind::ConnectionReset.into()), ErrorClass::Reset);
    /// assert_eq!(ErrorClass::of(&ErrorKind::WouldBlock.into()), ErrorClass::Timeout);
    /// ```
    pub fn of(e: &io::Error) -> ErrorClass {
        use io::ErrorKind::*;
        match e.kind() {
            TimedOut | WouldBlock => ErrorClass::Timeout,
            ConnectionReset | ConnectionAborted | BrokenPipe | NotConnected => ErrorClass::Reset,
            InvalidData | InvalidInput | UnexpectedEof => ErrorClass::Protocol,
            _ => ErrorClass::Other,
        }
    }
}

impl Default for ServerStats {
    fn default() -> Self {
        ServerStats::new()
    }
}

impl ServerStats {
    /// Zeroed counters; uptime starts now.
    pub fn new() -> Self {
        let z = || AtomicU64::new(0);
        ServerStats {
            started: Instant::now(),
            accepted: z(),
            active: z(),
            closed: z(),
            requests: z(),
            timeouts: z(),
            resets: z(),
            protocol_errors: z(),
            other_errors: z(),
            panics: z(),
            accept_errors: z(),
            spawn_errors: z(),
            killed: z(),
            bytes: Arc::new(ByteCounters::default()),
        }
    }

    /// The counters now.
    pub fn snapshot(&self) -> StatsSnapshot {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let (timeouts, resets, protocol_errors, other_errors) = (
            l(&self.timeouts),
            l(&self.resets),
            l(&self.protocol_errors),
            l(&self.other_errors),
        );
        StatsSnapshot {
            uptime_ms: self.started.elapsed().as_millis() as u64,
            accepted: l(&self.accepted),
            active: l(&self.active),
            closed: l(&self.closed),
            requests: l(&self.requests),
            bytes_in: self.bytes.read(),
            bytes_out: self.bytes.written(),
            timeouts,
            resets,
            protocol_errors,
            other_errors,
            handler_errors: timeouts + resets + protocol_errors + other_errors,
            panics: l(&self.panics),
            accept_errors: l(&self.accept_errors),
            spawn_errors: l(&self.spawn_errors),
            killed: l(&self.killed),
        }
    }

    /// The byte counters (attach them to a stream with `count_bytes`, or add to them).
    pub fn bytes(&self) -> Arc<ByteCounters> {
        self.bytes.clone()
    }

    /// A connection was accepted and is being served.
    pub fn conn_opened(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
        self.active.fetch_add(1, Ordering::AcqRel);
    }

    /// A connection ended, with its handler's result.
    pub fn conn_closed(&self, outcome: &io::Result<()>) {
        if let Err(e) = outcome {
            self.error(ErrorClass::of(e));
        }
        self.active.fetch_sub(1, Ordering::AcqRel);
        self.closed.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one error of `class`.
    pub fn error(&self, class: ErrorClass) {
        let c = match class {
            ErrorClass::Timeout => &self.timeouts,
            ErrorClass::Reset => &self.resets,
            ErrorClass::Protocol => &self.protocol_errors,
            ErrorClass::Other => &self.other_errors,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts `n` requests served.
    pub fn requests(&self, n: u64) {
        self.requests.fetch_add(n, Ordering::Relaxed);
    }

    /// A handler panicked.
    pub fn panicked(&self) {
        self.panics.fetch_add(1, Ordering::Relaxed);
    }

    /// An `accept` failed.
    pub fn accept_error(&self) {
        self.accept_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Connections killed after the grace period.
    pub fn killed(&self, n: u64) {
        self.killed.fetch_add(n, Ordering::Relaxed);
    }

    /// Connections open now.
    pub fn active(&self) -> u64 {
        self.active.load(Ordering::Acquire)
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
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    stats: Option<Arc<ServerStats>>,
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
            read_timeout: None,
            write_timeout: None,
            stats: None,
        }
    }

    /// Every read on a connection gives up after `t` (`TimedOut`, ending the handler unless
    /// it handles that): an idle client, or one that trickles bytes slower than one per `t`
    /// (slowloris), is cut off. `None` (default): wait forever.
    ///
    /// ```
    /// use std::time::Duration;
    /// use mayfly::server::StreamServer;
    /// let server = StreamServer::bind("127.0.0.1:0", |_c, _p| Ok(())).unwrap()
    ///     .read_timeout(Some(Duration::from_secs(30)))
    ///     .write_timeout(Some(Duration::from_secs(10)));
    /// ```
    pub fn read_timeout(mut self, t: Option<Duration>) -> Self {
        self.read_timeout = t;
        self
    }

    /// Every write on a connection gives up after `t`: a client that sends but never reads
    /// fills its window and our socket buffer, then is cut off, instead of holding the
    /// greenlet and its memory forever. `None` (default): wait forever.
    pub fn write_timeout(mut self, t: Option<Duration>) -> Self {
        self.write_timeout = t;
        self
    }

    /// Records into `stats` instead of fresh counters (to share them with a stats page
    /// started before the server).
    pub fn stats(mut self, stats: Arc<ServerStats>) -> Self {
        self.stats = Some(stats);
        self
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
            stats: self.stats.unwrap_or_default(),
            read_timeout: self.read_timeout,
            write_timeout: self.write_timeout,
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
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
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
            .lock_unpoisoned()
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
        self.shared.stats.killed(killed);
        killed
    }

    /// Waits until the accept loop ends (after [`stop`](RunningServer::stop)).
    pub fn join(&self) {
        self.accept.join(None);
    }
}

fn accept_loop(listener: TcpListener, handler: Arc<Handler>, shared: Arc<Shared>) {
    let mut backoff = AcceptBackoff::new(format!(
        "mayfly: accept on {:?}",
        listener.local_addr().ok()
    ));
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
        let (mut stream, peer) = match listener.accept() {
            Ok(c) => c,
            Err(e) => {
                if shared.stopping.load(Ordering::Acquire) {
                    return;
                }
                shared.stats.accept_error();
                if let Some(pause) = backoff.failed(&e) {
                    crate::sleep(pause);
                }
                continue;
            }
        };
        backoff.succeeded();
        shared.stats.conn_opened();
        stream.set_read_timeout(shared.read_timeout);
        stream.set_write_timeout(shared.write_timeout);
        stream.count_bytes(shared.stats.bytes());
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
                    shared.conns.lock_unpoisoned().insert(g.id(), g);
                }
            }
            Err(e) => {
                shared.stats.spawn_errors.fetch_add(1, Ordering::Relaxed);
                finish_conn(&shared, None);
                eprintln!("mayfly: dropped a connection from {peer}: {e}");
                crate::sleep(backoff.pause());
            }
        }
    }
}

/// The pause between accepts after errors, for any accept loop (StreamServer's, the threads
/// echo build's): [`ACCEPT_BACKOFF_MIN`] doubling to [`ACCEPT_BACKOFF_MAX`], reset by a
/// successful accept; the start and the end of each episode of errors are logged once.
///
/// ```
/// use std::io::Error;
/// use std::time::Duration;
/// use mayfly::server::AcceptBackoff;
/// let mut b = AcceptBackoff::new("example: accept");
/// assert_eq!(b.failed(&Error::from_raw_os_error(libc::ECONNABORTED)), None); // retry now
/// assert_eq!(b.failed(&Error::from_raw_os_error(libc::EMFILE)), Some(Duration::from_millis(10)));
/// assert_eq!(b.failed(&Error::from_raw_os_error(libc::EMFILE)), Some(Duration::from_millis(20)));
/// b.succeeded();
/// assert_eq!(b.pause(), Duration::from_millis(10));
/// ```
#[derive(Debug)]
pub struct AcceptBackoff {
    what: String,
    delay: Duration,
    in_episode: bool,
}

impl AcceptBackoff {
    /// `what` starts the log lines (`"mayfly: accept on 127.0.0.1:8080"`).
    pub fn new(what: impl Into<String>) -> Self {
        AcceptBackoff {
            what: what.into(),
            delay: ACCEPT_BACKOFF_MIN,
            in_episode: false,
        }
    }

    /// An accept failed with `e`: `None` to retry at once (a transient error, see
    /// [`accept_error_is_transient`]), else how long to pause first.
    pub fn failed(&mut self, e: &io::Error) -> Option<Duration> {
        if accept_error_is_transient(e) {
            return None;
        }
        if !self.in_episode {
            eprintln!(
                "{} failed: {e}; backing off (10 ms doubling to 1 s)",
                self.what
            );
            self.in_episode = true;
        }
        Some(self.pause())
    }

    /// The next pause, doubling the one after (also for failures other than accept's, such
    /// as no thread or greenlet for a connection).
    pub fn pause(&mut self) -> Duration {
        let d = self.delay;
        self.delay = (d * 2).min(ACCEPT_BACKOFF_MAX);
        d
    }

    /// An accept succeeded: the next pause is the shortest again.
    pub fn succeeded(&mut self) {
        if self.in_episode {
            eprintln!(
                "{}: accepting again after {:?} back-off",
                self.what, self.delay
            );
            self.in_episode = false;
        }
        self.delay = ACCEPT_BACKOFF_MIN;
    }
}

/// True for accept errors that concern one connection, not the server (ECONNABORTED, EINTR,
/// EPROTO, EPERM, EAGAIN): retry at once, no back-off. EMFILE, ENFILE, ENOBUFS and ENOMEM
/// are not: they back off.
///
/// ```
/// use std::io::Error;
/// assert!(mayfly::server::accept_error_is_transient(&Error::from_raw_os_error(libc::ECONNABORTED)));
/// assert!(!mayfly::server::accept_error_is_transient(&Error::from_raw_os_error(libc::EMFILE)));
/// ```
pub fn accept_error_is_transient(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ECONNABORTED) | Some(libc::EINTR) | Some(libc::EPROTO) | Some(libc::EPERM)
    ) || e.kind() == io::ErrorKind::WouldBlock
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
        Ok(Err(e)) => shared.stats.error(ErrorClass::of(&e)),
        Err(p) => {
            if p.downcast_ref::<generator::Error>().is_some() {
                panic::resume_unwind(p); // killed: let the greenlet die as killed
            }
            shared.stats.panicked();
        }
    }
}

fn finish_conn(shared: &Shared, id: Option<u64>) {
    if let Some(id) = id {
        shared.conns.lock_unpoisoned().remove(&id);
    }
    shared.stats.conn_closed(&Ok(()));
    shared.slot_free.wake_all();
}
