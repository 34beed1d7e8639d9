//! A readiness loop as a started server: [`LoopHandle`] owns the loop's thread and
//! implements [`Running`]; [`Drain`] is the stop-with-grace every loop runs (on the stop
//! signal: close the listener, serve the open connections until they close or the grace
//! period ends, then close the rest).

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mayfly::server::{Running, ServerStats};

use super::accept::Acceptor;
use super::conns::Table;
use super::stop::StopFd;

/// How often a draining loop that waits looks at the clock again.
pub(crate) const DRAIN_TICK: Duration = Duration::from_millis(20);

/// What the handle and the loop's thread share.
pub(crate) struct Shared {
    /// Fired by [`Running::stop`].
    pub(crate) stop: StopFd,
    grace: Mutex<Duration>,
    /// The server's counters.
    pub(crate) stats: Arc<ServerStats>,
}

impl Shared {
    /// A new stop signal and counters.
    ///
    /// # Errors
    /// The eventfd could not be made.
    pub(crate) fn new() -> io::Result<Arc<Shared>> {
        Ok(Arc::new(Shared {
            stop: StopFd::new()?,
            grace: Mutex::new(Duration::ZERO),
            stats: Arc::new(ServerStats::new()),
        }))
    }

    fn grace(&self) -> Duration {
        *self.grace.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Where a loop is in its stop.
#[derive(Default)]
pub(crate) struct Drain {
    deadline: Option<Instant>,
}

impl Drain {
    /// Call once per pass. On the first pass after the stop signal, closes the listener and
    /// starts the grace period; returns true on that pass only (a loop then stops waiting
    /// on the listener and the stop fd).
    pub(crate) fn begins(&mut self, shared: &Shared, acceptor: &mut Acceptor) -> bool {
        if self.deadline.is_none() && shared.stop.fired() {
            acceptor.close();
            self.deadline = Some(mayfly::deadline_after(shared.grace()));
            return true;
        }
        false
    }

    /// True once stopping.
    pub(crate) fn draining(&self) -> bool {
        self.deadline.is_some()
    }

    /// The stop is over: no connection left, or the grace period ended. Then the loop
    /// returns [`Table::kill_all`].
    pub(crate) fn over(&self, table: &Table) -> bool {
        self.deadline
            .is_some_and(|d| table.is_empty() || Instant::now() >= d)
    }

    /// How long a waiting loop may sleep: `sweep`, no more than [`DRAIN_TICK`] while
    /// draining or `paused` (accepting paused until then).
    pub(crate) fn wait(
        &self,
        sweep: Option<Duration>,
        paused: Option<Instant>,
    ) -> Option<Duration> {
        let tick = self.draining().then_some(DRAIN_TICK);
        let paused = paused.map(|t| t.saturating_duration_since(Instant::now()));
        [sweep, tick, paused].into_iter().flatten().min()
    }
}

/// A loop's thread, started, behind [`Running`].
pub(crate) struct LoopHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    /// The loop's thread until the first stop takes it (a second stop finds `None`).
    thread: Mutex<Option<JoinHandle<u64>>>,
}

impl LoopHandle {
    /// Runs `event_loop` on a thread named `name`; it must return when `shared.stop` fires
    /// (after its [`Drain`]), with the number of connections it closed.
    ///
    /// # Errors
    /// The thread could not be started.
    pub(crate) fn spawn(
        name: &str,
        addr: SocketAddr,
        shared: Arc<Shared>,
        event_loop: impl FnOnce() -> u64 + Send + 'static,
    ) -> io::Result<Box<dyn Running>> {
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(event_loop)?;
        Ok(Box::new(LoopHandle {
            addr,
            shared,
            thread: Mutex::new(Some(thread)),
        }))
    }
}

impl Running for LoopHandle {
    fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    fn counters(&self) -> Arc<ServerStats> {
        self.shared.stats.clone()
    }

    fn stop(&self, grace: Duration) -> u64 {
        // Held for the whole stop: a second stop waits for the first, then returns 0.
        let mut thread = self.thread.lock().unwrap_or_else(|e| e.into_inner());
        let Some(t) = thread.take() else {
            return 0;
        };
        *self.shared.grace.lock().unwrap_or_else(|e| e.into_inner()) = grace;
        self.shared.stop.fire();
        t.join().unwrap_or(0)
    }
}
