//! The accept loop of the builds that block in `accept(2)` on a thread of their own or on a
//! raw may coroutine — the blocking, threads and raw-may echo builds and the threads HTTP
//! build —, in three pieces:
//!
//! - [`Shared`]: what the loop shares with its running server (the stop flag, the
//!   connection [`registry`], the counters);
//! - [`Accepting`]: the next connection, under the connection cap and the per-peer cap, with
//!   the accept back-off; a failed thread or coroutine start counted and paused after;
//! - [`start`]: the running server ([`Running`]) around the loop's join handle, whose stop
//!   takes that handle once (a second stop returns 0), sets the flag, wakes the blocked
//!   accept with shutdown(2), then joins the loop and drains the open connections
//!   ([`Order`]).

pub(crate) mod registry;

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mayfly::server::{AcceptBackoff, PeerLimit, PeerSlot, Running, ServerStats};

use registry::Connections;

/// What an accept loop shares with its running server.
pub(crate) struct Shared {
    stop: AtomicBool,
    /// Every open connection's fd, so a stop can shut the stragglers down.
    conns: Connections,
    /// Failed thread or coroutine starts (the first one is logged).
    spawn_errors: AtomicU64,
    /// The server's counters.
    pub(crate) stats: Arc<ServerStats>,
}

impl Shared {
    /// True once a stop began.
    pub(crate) fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// Registers a connection just accepted (its fd, counted open); returns its id for
    /// [`forget`](Self::forget).
    pub(crate) fn opened(&self, fd: RawFd) -> u64 {
        let id = self.conns.insert(fd);
        self.stats.conn_opened();
        id
    }

    /// Forgets connection `id`, whose handler ended. Call it *before* its socket closes.
    pub(crate) fn forget(&self, id: u64) {
        self.conns.remove(id);
    }

    /// Connection `id`'s handler ended with `outcome`: forgotten, counted closed (its socket
    /// closes after).
    pub(crate) fn closed(&self, id: u64, outcome: &io::Result<()>) {
        self.forget(id);
        self.stats.conn_closed(outcome);
    }
}

/// How a loop pauses: `std::thread::sleep`, or `may::coroutine::sleep` on a coroutine.
pub(crate) type Sleep = fn(Duration);

/// One accept loop: its back-off, its caps and how it pauses.
pub(crate) struct Accepting<'a> {
    shared: &'a Shared,
    /// The build's name in log lines (`threads`, `http threads`, …).
    name: &'static str,
    backoff: AcceptBackoff,
    /// Wait before accepting while this many connections are open.
    cap: Option<u64>,
    peers: Option<Arc<PeerLimit>>,
    sleep: Sleep,
}

impl<'a> Accepting<'a> {
    /// A loop on the listener at `addr`, with no cap.
    pub(crate) fn new(
        shared: &'a Shared,
        name: &'static str,
        addr: io::Result<SocketAddr>,
        sleep: Sleep,
    ) -> Self {
        Accepting {
            shared,
            name,
            backoff: AcceptBackoff::on(&format!("{name}: accept"), addr),
            cap: None,
            peers: None,
            sleep,
        }
    }

    /// With a connection cap (accept waits while `cap` are open) and a per-peer cap (a
    /// connection over its peer's is closed at once).
    pub(crate) fn capped(mut self, cap: Option<u64>, peer_cap: Option<u64>) -> Self {
        self.cap = cap;
        self.peers = peer_cap.map(|n| Arc::new(PeerLimit::new(n)));
        self
    }

    /// The next connection `accept` gives and its peer's slot (hold it while the connection
    /// lives); `None` once the server is stopping. Failures are counted and retried after
    /// the back-off's pause.
    pub(crate) fn next<C>(
        &mut self,
        mut accept: impl FnMut() -> io::Result<(C, SocketAddr)>,
    ) -> Option<(C, Option<PeerSlot>)> {
        let shared = self.shared;
        loop {
            if let Some(max) = self.cap {
                while shared.stats.active() >= max && !shared.stopping() {
                    (self.sleep)(Duration::from_millis(1));
                }
            }
            let (conn, peer) = match accept() {
                Ok(c) => c,
                Err(e) => {
                    if shared.stopping() {
                        return None;
                    }
                    shared.stats.accept_error();
                    if let Some(pause) = self.backoff.failed(&e) {
                        (self.sleep)(pause);
                    }
                    continue;
                }
            };
            self.backoff.succeeded();
            match &self.peers {
                None => return Some((conn, None)),
                Some(p) => match p.admit(peer.ip()) {
                    Some(slot) => return Some((conn, Some(slot))),
                    None => continue, // over its peer's cap: closed at once
                },
            }
        }
    }

    /// Connection `id` got no thread or coroutine (`what`; out of threads, memory or
    /// mappings, error `e`): this client is dropped, the server lives. It is forgotten and
    /// counted closed (nothing can drain meanwhile: the registry is drained only after the
    /// loop stopped), the first such failure is logged, and the loop pauses.
    pub(crate) fn spawn_failed(&mut self, id: u64, what: &str, e: &io::Error) {
        let shared = self.shared;
        shared.closed(id, &Err(io::Error::other(format!("no {what}"))));
        if shared.spawn_errors.fetch_add(1, Ordering::Relaxed) == 0 {
            let name = self.name;
            log::warn!(error:% = e; "{name}: cannot start a {what} per connection: {e}");
        }
        (self.sleep)(self.backoff.pause());
    }
}

/// A loop's join handle: a thread's or a may coroutine's.
pub(crate) trait Join: Send {
    /// Waits for the loop to return (a panic in it is ignored: the stop goes on).
    fn join_loop(self);
}

impl Join for std::thread::JoinHandle<()> {
    fn join_loop(self) {
        let _ = self.join();
    }
}

impl Join for may::coroutine::JoinHandle<()> {
    fn join_loop(self) {
        let _ = self.join();
    }
}

/// When a stop joins the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    /// The loop serves its one connection itself (the blocking build): the drain first,
    /// which ends that connection, then the join.
    DrainThenJoin,
    /// The loop hands each connection to a thread or coroutine: the join first, so no new
    /// connection is registered during the drain.
    JoinThenDrain,
}

/// A server on an accept loop.
struct RunningAccept<L, H> {
    addr: SocketAddr,
    /// The listener, kept open until the server is dropped (the loop borrows it too).
    listener: Arc<L>,
    /// The loop until the first stop takes it (a second stop finds `None`).
    handle: Mutex<Option<H>>,
    shared: Arc<Shared>,
    order: Order,
}

/// Starts a server on `listener` (bound to `addr`): `spawn` starts its accept loop, given
/// the listener and the [`Shared`] state, and returns the loop's handle.
///
/// # Errors
/// `spawn`'s (a thread or coroutine that could not start).
pub(crate) fn start<L, H>(
    listener: L,
    addr: SocketAddr,
    order: Order,
    spawn: impl FnOnce(Arc<L>, Arc<Shared>) -> io::Result<H>,
) -> io::Result<Box<dyn Running>>
where
    L: AsRawFd + Send + Sync + 'static,
    H: Join + 'static,
{
    let listener = Arc::new(listener);
    let shared = Arc::new(Shared {
        stop: AtomicBool::new(false),
        conns: Connections::new(),
        spawn_errors: AtomicU64::new(0),
        stats: Arc::new(ServerStats::new()),
    });
    let handle = spawn(listener.clone(), shared.clone())?;
    Ok(Box::new(RunningAccept {
        addr,
        listener,
        handle: Mutex::new(Some(handle)),
        shared,
        order,
    }))
}

impl<L, H> Running for RunningAccept<L, H>
where
    L: AsRawFd + Send + Sync,
    H: Join,
{
    fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    fn counters(&self) -> Arc<ServerStats> {
        self.shared.stats.clone()
    }

    fn stop(&self, grace: Duration) -> u64 {
        // Held for the whole stop: a second stop waits for the first, then returns 0.
        let mut handle = self.handle.lock().unwrap_or_else(|e| e.into_inner());
        let Some(h) = handle.take() else {
            return 0;
        };
        self.shared.stop.store(true, Ordering::Release);
        // SAFETY: shutdown(2) on our own open listening fd (the Arc keeps it open until this
        // server is dropped); it wakes the blocked accept (which then fails, sees the flag
        // and returns) and closes nothing.
        unsafe { libc::shutdown(self.listener.as_raw_fd(), libc::SHUT_RDWR) };
        let (stats, conns) = (&self.shared.stats, &self.shared.conns);
        match self.order {
            Order::DrainThenJoin => {
                let killed = conns.drain(stats, grace);
                h.join_loop();
                killed
            }
            Order::JoinThenDrain => {
                h.join_loop();
                conns.drain(stats, grace)
            }
        }
    }
}
