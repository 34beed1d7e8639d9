//! `StreamServer`: gevent's TCP server — an accept loop that runs a handler in a new greenlet
//! per connection (in the handler [`Slots`] shared with `DatagramServer`), with back-off on
//! accept errors, a connection cap, a per-peer cap, counters, and a graceful stop.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::backoff::AcceptBackoff;
use super::cap::Cap;
use super::limits::PeerLimit;
use super::running::Running;
use super::slots::Slots;
use super::stats::{ServerStats, StatsSnapshot};
use crate::event::Event;
use crate::greenlet::{Builder, Greenlet, SpawnError};
use crate::net::sweep::Sweep;
use crate::net::{Accepted, TcpListener, TcpStream};
use crate::poison::MutexExt;

/// How long [`StreamServer::serve_forever`] lets open connections finish when it stops
/// (gevent's `BaseServer.stop_timeout`). Every "how long a stop lets handlers finish" in
/// mayfly is a *grace*: this one, the `grace` of [`Running::stop`], `--grace` on the command
/// line.
pub const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(1);

/// A connection's handler as the accept loop calls it: the user's, called as it is, or one
/// that also gets the server's counters (the TLS wrapper of `server::tls` counts its
/// handshakes there). Two forms rather than a wrapper closure around every plain handler: the
/// wrapper's frame made a parked connection's stack reach a second page (4.36 → 8.37 KiB per
/// idle echo connection, measured).
/// The user's handler, called as it is.
type PlainFn = dyn Fn(TcpStream, SocketAddr) -> io::Result<()> + Send + Sync + 'static;
/// A handler that also gets the server's counters.
type CountedFn =
    dyn Fn(TcpStream, SocketAddr, &Arc<ServerStats>) -> io::Result<()> + Send + Sync + 'static;

pub(super) enum Handler {
    Plain(Box<PlainFn>),
    Counted(Box<CountedFn>),
}

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
    counters: Option<Arc<ServerStats>>,
    peer_limit: Option<Arc<PeerLimit>>,
    refusal: Option<Arc<[u8]>>,
    stack_size: Option<usize>,
    release_idle_stack: Option<Duration>,
    boxed_handlers: bool,
}

impl std::fmt::Debug for StreamServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamServer")
            .field("local_addr", &self.listener.local_addr().ok())
            .field("max_connections", &self.max_connections)
            .field("pool", &self.pool)
            .field("read_timeout", &self.read_timeout)
            .field("write_timeout", &self.write_timeout)
            .finish_non_exhaustive()
    }
}

impl StreamServer {
    /// A server on an already-bound listener.
    pub fn new<F>(listener: TcpListener, handler: F) -> Self
    where
        F: Fn(TcpStream, SocketAddr) -> io::Result<()> + Send + Sync + 'static,
    {
        Self::with_handler(listener, Arc::new(Handler::Plain(Box::new(handler))))
    }

    /// A server whose handler also gets the server's counters.
    pub(super) fn with_handler(listener: TcpListener, handler: Arc<Handler>) -> Self {
        StreamServer {
            listener,
            handler,
            max_connections: None,
            pool: None,
            read_timeout: None,
            write_timeout: None,
            counters: None,
            peer_limit: None,
            refusal: None,
            stack_size: None,
            release_idle_stack: Some(crate::stack::IDLE_STACK_RELEASE),
            boxed_handlers: false,
        }
    }

    /// Each connection's greenlet gets `bytes` of stack instead of the runtime's default
    /// ([`Config::stack_size`](crate::Config::stack_size)): for handlers that call deep code
    /// (a TLS server sets [`TLS_STACK_SIZE`](crate::tls::TLS_STACK_SIZE)).
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Boxes each connection's handler closure before its greenlet starts (the TLS server's
    /// choice: see `Slots::with_boxed_handlers`).
    pub(crate) fn boxed_handlers(mut self) -> Self {
        self.boxed_handlers = true;
        self
    }

    /// A connection whose read or write has been parked for `after` gives back the pages of
    /// its stack below the parked call ([`crate::stack::release_unused`]): what a TLS
    /// handshake or a deep request touched stops costing memory while the client is idle.
    /// Default [`IDLE_STACK_RELEASE`](crate::stack::IDLE_STACK_RELEASE) (1 s); `None`: never.
    /// A connection is asked once per wait, between `after` and one sweep tick later. The
    /// server's timeout sweep does the asking, so this takes effect only on a server with a
    /// [`read_timeout`](Self::read_timeout) or [`write_timeout`](Self::write_timeout) (as
    /// `mayfly serve echo`, whose read timeout is on by default).
    ///
    /// ```
    /// use std::time::Duration;
    /// use mayfly::server::StreamServer;
    /// let server = StreamServer::bind("127.0.0.1:0", |_c, _p| Ok(())).unwrap()
    ///     .release_idle_stack(Some(Duration::from_millis(200)));
    /// # drop(server);
    /// ```
    pub fn release_idle_stack(mut self, after: Option<Duration>) -> Self {
        self.release_idle_stack = after.filter(|d| !d.is_zero());
        self
    }

    /// Every read on a connection gives up after `t` (`TimedOut`, ending the handler unless
    /// it handles that): an idle client, or one that trickles bytes slower than one per `t`
    /// (slowloris), is cut off. `None` (default): wait forever.
    ///
    /// The server enforces its read and write timeouts with one sweep per server instead of
    /// a timer per parked call: a timeout fires between `t` and one sweep tick later (an
    /// eighth of the shorter timeout, between 10 ms and 1 s). The connection stays usable
    /// after a `TimedOut`, as with a socket timeout. A timeout the handler sets on the stream
    /// itself is swept at the same tick (a 100 ms timeout under 60 s server timeouts can fire
    /// up to a second late; use [`crate::Timeout`] for a precise one). A handle made with
    /// `try_clone`, and a stream still in use after the server stopped, time out by timers.
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

    /// Records into `counters` instead of fresh ones (to share them with a stats page
    /// started before the server). Read them back with [`RunningServer::counters`].
    pub fn with_counters(mut self, counters: Arc<ServerStats>) -> Self {
        self.counters = Some(counters);
        self
    }

    /// Binds `addr` (see [`crate::net::Bind`]) and makes a server.
    ///
    /// # Errors
    /// As [`Bind::tcp`](crate::net::Bind::tcp).
    pub fn bind<F>(addr: impl std::net::ToSocketAddrs, handler: F) -> io::Result<Self>
    where
        F: Fn(TcpStream, SocketAddr) -> io::Result<()> + Send + Sync + 'static,
    {
        Ok(Self::new(TcpListener::bind(addr)?, handler))
    }

    /// Caps concurrent connections: while that many are open, the server stops accepting
    /// (new clients wait in the listen backlog). A count (`0`: no cap) or a [`Cap`];
    /// [`Cap::Default`] (the default) is no cap, as in gevent.
    pub fn max_connections(mut self, cap: impl Into<Cap>) -> Self {
        self.max_connections = cap.into().limit(|| None);
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
    ///
    /// # Errors
    /// The OS error of the underlying call.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Starts accepting in a greenlet named `accept-<addr>` and returns at once.
    ///
    /// # Panics
    /// If the accept greenlet cannot be spawned (no stack).
    pub fn start(self) -> RunningServer {
        self.try_start()
            .unwrap_or_else(|e| panic!("StreamServer::start: {e}"))
    }

    /// [`start`](StreamServer::start), with the spawn's failure as an error.
    fn try_start(self) -> io::Result<RunningServer> {
        let addr = self
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        let shared = Arc::new(Shared {
            slots: Arc::new(
                Slots::new(
                    self.counters.unwrap_or_default(),
                    self.max_connections,
                    self.pool,
                )
                .with_stack_size(self.stack_size)
                .with_boxed_handlers(self.boxed_handlers),
            ),
            read_timeout: self.read_timeout,
            write_timeout: self.write_timeout,
            peer_limit: self.peer_limit,
            refusal: self.refusal,
            listener: Mutex::new(Some(Arc::new(self.listener))),
            handler: self.handler,
            accept: Mutex::new(None),
            stopped: Event::new(),
            // No sweep greenlet: the connections' timeouts fall back to may's timers.
            // The idle stack release rides on the sweep; it does not start one of its own
            // (see `release_idle_stack`).
            sweep: Sweep::tick(&[self.read_timeout, self.write_timeout])
                .and_then(|tick| Sweep::start(tick, self.release_idle_stack).ok()),
        });
        let running = RunningServer { addr, shared };
        running.start_accepting().map_err(io::Error::other)?;
        Ok(running)
    }

    /// Starts and serves until the server is stopped (gevent's `serve_forever`).
    ///
    /// Killing the greenlet that runs it stops the server: the listening socket closes at
    /// once (new clients are refused) and open connections get [`DEFAULT_STOP_GRACE`] to
    /// finish. To stop it from elsewhere instead, [`start`](StreamServer::start) it and call
    /// [`RunningServer::serve_forever`] on a clone of the handle:
    ///
    /// ```
    /// use std::time::Duration;
    /// use mayfly::server::StreamServer;
    ///
    /// mayfly::run(|| {
    ///     let server = StreamServer::bind("127.0.0.1:0", |_conn, _peer| Ok(())).unwrap();
    ///     let addr = server.local_addr().unwrap();
    ///     let g = mayfly::spawn(move || server.serve_forever()); // -> io::Result<()>
    ///     mayfly::sleep(Duration::from_millis(10));
    ///     g.kill(); // stops the server too
    ///     assert!(mayfly::net::TcpStream::connect(addr).is_err());
    /// });
    /// ```
    ///
    /// It returns what [`DatagramServer::serve_forever`](super::DatagramServer::serve_forever)
    /// returns, so code can serve either the same way.
    ///
    /// # Errors
    /// The accept greenlet could not be spawned (no stack); nothing was served.
    pub fn serve_forever(self) -> io::Result<()> {
        self.try_start()?.serve_forever();
        Ok(())
    }
}

impl StreamServer {
    /// Caps connections per peer ([`peer_key`](super::peer_key)): past the cap, a peer's new
    /// connections are accepted and closed at once, without running the handler. A count
    /// (`0`: no cap) or a [`Cap`]; [`Cap::Default`] (the default) is no cap. Pair it with
    /// [`max_connections`](StreamServer::max_connections)
    /// ([`default_max_connections`](super::default_max_connections),
    /// [`default_max_per_peer`](super::default_max_per_peer)) so one host cannot take every
    /// slot.
    ///
    /// ```
    /// use mayfly::server::{Cap, StreamServer};
    /// let server = StreamServer::bind("127.0.0.1:0", |_c, _p| Ok(())).unwrap()
    ///     .max_connections(1000)
    ///     .max_per_peer(Cap::AtMost(750));
    /// ```
    pub fn max_per_peer(mut self, cap: impl Into<Cap>) -> Self {
        self.peer_limit = cap
            .into()
            .limit(|| None)
            .map(|n| Arc::new(PeerLimit::new(n)));
        self
    }

    /// Uses `limit` as the per-peer cap, to share it (and its refusal count) with the caller.
    pub fn with_peer_limit(mut self, limit: Arc<PeerLimit>) -> Self {
        self.peer_limit = Some(limit);
        self
    }

    /// What a connection refused by the per-peer cap is told before it is closed (an HTTP
    /// server's `503`, say; nginx's `limit_conn`). The refusal happens in the accept loop and
    /// never waits: no handler slot, no greenlet, no timer. The reply is written without
    /// blocking (a new connection's send buffer is empty), the write side is shut, whatever
    /// the client already sent is read off so the close is a FIN, not a reset, and the
    /// connection is closed. Default: closed without a word.
    ///
    /// ```
    /// use mayfly::server::StreamServer;
    /// let server = StreamServer::bind("127.0.0.1:0", |_c, _p| Ok(())).unwrap()
    ///     .max_per_peer(16)
    ///     .refuse_with(&b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"[..]);
    /// ```
    pub fn refuse_with(mut self, reply: impl Into<Arc<[u8]>>) -> Self {
        self.refusal = Some(reply.into());
        self
    }
}

/// Tells a connection refused by the per-peer cap `reply` and lets it go, never waiting.
fn refuse(stream: &TcpStream, reply: &[u8]) {
    use std::os::fd::AsRawFd;
    /// What is read off before the close: a request head or two.
    const DRAIN: usize = 64 * 1024;
    let fd = stream.as_raw_fd();
    let mut scratch = [0u8; 4096];
    // SAFETY: `fd` is the stream's open socket for the whole block (the stream is borrowed);
    // send, shutdown and recv with MSG_DONTWAIT never block and touch only the buffers
    // passed, each valid for the length given. MSG_NOSIGNAL: a peer already gone is an
    // error return, not SIGPIPE.
    unsafe {
        libc::send(
            fd,
            reply.as_ptr().cast(),
            reply.len(),
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        );
        libc::shutdown(fd, libc::SHUT_WR);
        let mut drained = 0;
        while drained < DRAIN {
            let n = libc::recv(
                fd,
                scratch.as_mut_ptr().cast(),
                scratch.len(),
                libc::MSG_DONTWAIT,
            );
            if n <= 0 {
                break;
            }
            drained += n as usize;
        }
    }
}

struct Shared {
    /// The connections' handlers: cap, pool, registry, drain.
    slots: Arc<Slots>,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    peer_limit: Option<Arc<PeerLimit>>,
    /// What a connection refused by the per-peer cap is told ([`StreamServer::refuse_with`]).
    refusal: Option<Arc<[u8]>>,
    /// The listening socket, until the server stops (the accept greenlet holds a clone).
    listener: Mutex<Option<Arc<TcpListener>>>,
    handler: Arc<Handler>,
    /// The accept greenlet while accepting.
    accept: Mutex<Option<Greenlet<()>>>,
    /// Set once a stop has finished.
    stopped: Event,
    /// Enforces the connections' read and write timeouts, if there are any.
    sweep: Option<Sweep>,
}

/// A started [`StreamServer`]: its address, counters, [`stop`](RunningServer::stop),
/// [`stop_accepting`](RunningServer::stop_accepting) and
/// [`start_accepting`](RunningServer::start_accepting). Implements [`Running`]. Clones are
/// handles to the same server (one greenlet can [`serve_forever`](RunningServer::serve_forever)
/// while another stops it).
#[derive(Clone)]
pub struct RunningServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningServer")
            .field("addr", &self.addr)
            .field("started", &self.started())
            .field("accepting", &self.accepting())
            .field("stats", &self.shared.slots.stats().snapshot())
            .finish_non_exhaustive()
    }
}

impl RunningServer {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// A copy of its counters now.
    pub fn stats(&self) -> StatsSnapshot {
        self.shared.slots.stats().snapshot()
    }

    /// The live counters, to share with a stats page.
    pub fn counters(&self) -> Arc<ServerStats> {
        self.shared.slots.stats().clone()
    }

    /// Stops accepting at once (the listening socket closes), lets open connections finish
    /// for up to `grace`, then kills the rest. Returns how many were killed. Callable from a
    /// greenlet or from any OS thread (a signal handler thread, say). A second call (or a
    /// call while another is stopping it) waits until the server has stopped and returns 0.
    /// A grace of `Duration::MAX` (or any too long for an `Instant`) waits without limit.
    pub fn stop(&self, grace: Duration) -> u64 {
        if self.begin_stop() {
            self.finish_stop(grace)
        } else {
            self.shared.stopped.wait(None);
            0
        }
    }

    /// The part of a stop that never blocks: marks the server stopping, closes the listening
    /// socket to new clients, and asks the accept greenlet to die. Returns false if the
    /// server was already stopping.
    fn begin_stop(&self) -> bool {
        if self.shared.slots.begin_stop() {
            return false;
        }
        if let Some(l) = &*self.shared.listener.lock_unpoisoned() {
            l.stop_listening();
        }
        let accept = self.shared.accept.lock_unpoisoned().clone();
        if let Some(g) = accept {
            g.kill_nowait();
        }
        true
    }

    /// The rest of a stop: waits for the accept greenlet, closes the listener, lets the open
    /// connections finish for up to `grace`, kills the rest.
    fn finish_stop(&self, grace: Duration) -> u64 {
        let accept = self.shared.accept.lock_unpoisoned().take();
        if let Some(g) = accept {
            g.kill();
        }
        drop(self.shared.listener.lock_unpoisoned().take());
        let sh = &self.shared;
        let killed = sh.slots.drain(grace);
        if let Some(sweep) = &sh.sweep {
            sweep.stop();
        }
        sh.stopped.set();
        killed
    }

    /// Whether the server was started and not stopped (gevent's `started`); true also while
    /// [`stop_accepting`](RunningServer::stop_accepting) holds new clients back.
    pub fn started(&self) -> bool {
        !self.shared.slots.stopping()
    }

    /// Whether the accept greenlet is running (false after
    /// [`stop_accepting`](RunningServer::stop_accepting) and after a stop).
    pub fn accepting(&self) -> bool {
        self.shared
            .accept
            .lock_unpoisoned()
            .as_ref()
            .is_some_and(|g| !g.ready())
    }

    /// Stops accepting without closing the listening socket (gevent's `stop_accepting`):
    /// new clients wait in the listen backlog until
    /// [`start_accepting`](RunningServer::start_accepting); open connections go on.
    ///
    /// ```
    /// use std::time::Duration;
    /// use mayfly::server::StreamServer;
    /// mayfly::run(|| {
    ///     let server = StreamServer::bind("127.0.0.1:0", |_c, _p| Ok(())).unwrap().start();
    ///     server.stop_accepting();
    ///     assert!(server.started() && !server.accepting());
    ///     server.start_accepting().unwrap();
    ///     assert!(server.accepting());
    ///     server.stop(Duration::from_millis(100));
    ///     assert!(!server.started());
    /// });
    /// ```
    pub fn stop_accepting(&self) {
        let accept = self.shared.accept.lock_unpoisoned().take();
        if let Some(g) = accept {
            g.kill();
        }
    }

    /// Accepts again after [`stop_accepting`](RunningServer::stop_accepting) (gevent's
    /// `start_accepting`). A no-op while accepting, and after a stop.
    ///
    /// # Errors
    /// [`SpawnError`] if the accept greenlet cannot be spawned (no stack).
    pub fn start_accepting(&self) -> Result<(), SpawnError> {
        let mut slot = self.shared.accept.lock_unpoisoned();
        if slot.as_ref().is_some_and(|g| !g.ready()) || !self.started() {
            return Ok(());
        }
        let Some(listener) = self.shared.listener.lock_unpoisoned().clone() else {
            return Ok(());
        };
        let shared = self.shared.clone();
        let g = Builder::new()
            .name(format!("accept-{}", self.addr))
            .spawn(move || accept_loop(listener, shared))?;
        *slot = Some(g);
        Ok(())
    }

    /// Serves until the server is stopped (gevent's `serve_forever` after `start`): returns
    /// once [`stop`](RunningServer::stop) has finished, from any handle. If the greenlet
    /// running it is killed, the server stops: the listening socket closes at once and open
    /// connections get [`DEFAULT_STOP_GRACE`] to finish.
    ///
    /// ```
    /// use std::time::Duration;
    /// use mayfly::server::StreamServer;
    /// mayfly::run(|| {
    ///     let server = StreamServer::bind("127.0.0.1:0", |_c, _p| Ok(())).unwrap().start();
    ///     let handle = server.clone();
    ///     let g = mayfly::spawn(move || handle.serve_forever());
    ///     mayfly::sleep(Duration::from_millis(10));
    ///     server.stop(Duration::from_millis(100));
    ///     assert!(g.join(Duration::from_secs(5)));
    /// });
    /// ```
    pub fn serve_forever(&self) {
        struct StopOnExit<'a>(&'a RunningServer);
        impl Drop for StopOnExit<'_> {
            fn drop(&mut self) {
                if !std::thread::panicking() {
                    self.0.stop(DEFAULT_STOP_GRACE);
                } else if self.0.begin_stop() {
                    // Killed (or a Timeout fired): a greenlet that is unwinding must not block,
                    // so the listener is closed now and the rest of the stop runs apart.
                    let server = self.0.clone();
                    let _ = Builder::new()
                        .name(format!("stop-{}", server.addr))
                        .spawn(move || server.finish_stop(DEFAULT_STOP_GRACE));
                }
            }
        }
        let _stop = StopOnExit(self);
        self.shared.stopped.wait(None);
    }

    /// Waits until the server has stopped (see [`stop`](RunningServer::stop)).
    pub fn join(&self) {
        self.shared.stopped.wait(None);
    }

    /// Like [`join`](RunningServer::join) with at most `timeout`; returns whether it stopped.
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        self.shared.stopped.wait_timeout(timeout)
    }

    /// Like [`join`](RunningServer::join), waiting until `deadline` at most; returns whether
    /// it stopped.
    pub fn join_deadline(&self, deadline: Instant) -> bool {
        self.shared.stopped.wait_deadline(deadline)
    }
}

impl Running for RunningServer {
    fn local_addr(&self) -> SocketAddr {
        RunningServer::local_addr(self)
    }

    fn counters(&self) -> Arc<ServerStats> {
        RunningServer::counters(self)
    }

    fn stats(&self) -> StatsSnapshot {
        RunningServer::stats(self)
    }

    fn stop(&self, grace: Duration) -> u64 {
        RunningServer::stop(self, grace)
    }
}

fn accept_loop(listener: Arc<TcpListener>, shared: Arc<Shared>) {
    let mut backoff = AcceptBackoff::on("mayfly: accept", listener.local_addr());
    let slots = &shared.slots;
    slots.serve(
        &mut backoff,
        || listener.accept_checked(),
        |accepted, backoff| {
            let (mut stream, peer) = match accepted {
                Accepted::Open(stream, peer) => (stream, peer),
                Accepted::Reset => {
                    // Reset while it waited in the queue (an RST flood): counted, and no
                    // peer slot, registration or greenlet spent on it.
                    let stats = slots.stats();
                    stats.conn_opened();
                    stats.conn_closed(&Err(io::ErrorKind::ConnectionReset.into()));
                    return;
                }
            };
            let slot = match &shared.peer_limit {
                None => None,
                Some(limit) => match limit.admit(peer.ip()) {
                    Some(slot) => Some(slot),
                    None => {
                        // Over its peer's cap: told so if there is something to say, closed.
                        if let Some(reply) = &shared.refusal {
                            refuse(&stream, reply);
                        }
                        return;
                    }
                },
            };
            stream.set_read_timeout(shared.read_timeout);
            stream.set_write_timeout(shared.write_timeout);
            if let Some(sweep) = &shared.sweep {
                stream.sweep_timeouts(sweep);
            }
            stream.count_bytes(slots.stats().bytes());
            let handler = shared.handler.clone();
            let stats = slots.stats().clone();
            slots.spawn(
                format!("conn-{peer}"),
                format_args!("a connection from {peer}"),
                backoff,
                move || {
                    let _slot = slot;
                    match &*handler {
                        Handler::Plain(h) => h(stream, peer),
                        Handler::Counted(h) => h(stream, peer, &stats),
                    }
                },
            );
        },
    );
}
