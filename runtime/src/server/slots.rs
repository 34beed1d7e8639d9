//! Handler slots: the one engine both servers run their handlers in. A [`Slots`] caps how
//! many handlers run at once (a count, a [`Pool`], or both), drives the receive loop with
//! back-off on errors ([`Slots::serve`]), spawns each handler in its own greenlet with its
//! panic caught and its error counted ([`Slots::spawn`]), keeps a registry of the running
//! ones, and at a stop lets them finish for a grace period and kills the rest
//! ([`Slots::drain`]).
//!
//! [`StreamServer`](super::StreamServer) runs one handler per connection in it,
//! [`DatagramServer`](super::DatagramServer) one per datagram; what differs between them (how
//! the next connection or datagram is received, what a handler is given) stays with them.

use std::collections::HashMap;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::backoff::AcceptBackoff;
use super::stats::{ErrorClass, ServerStats};
use crate::greenlet::{Builder, Greenlet};
use crate::park::WaitUntil;
use crate::poison::MutexExt;
use crate::pool::Pool;
use crate::wait::WaitList;

/// The running handlers of one server and the limits on them.
pub(crate) struct Slots {
    stats: Arc<ServerStats>,
    /// Every handler greenlet still running, by greenlet id.
    running: Mutex<HashMap<u64, Greenlet<()>>>,
    /// Woken whenever a handler ends (a slot is free, or the drain may be over).
    slot_free: WaitList,
    stopping: AtomicBool,
    /// At most this many handlers at once (`None`: no cap).
    max: Option<u64>,
    /// Handlers run in this pool, which may be shared with other work.
    pool: Option<Pool>,
    /// Each handler greenlet's stack in bytes (`None`: the runtime's default).
    stack_size: Option<usize>,
    /// Box each handler closure before it becomes a greenlet's body (see [`Slots::spawn`]).
    boxed_handlers: bool,
}

impl Slots {
    /// Slots counted in `stats`, capped at `max` handlers (`None` or `Some(0)`: no cap) and
    /// by `pool`'s free room if there is one.
    pub(crate) fn new(stats: Arc<ServerStats>, max: Option<u64>, pool: Option<Pool>) -> Self {
        Slots {
            stats,
            running: Mutex::new(HashMap::new()),
            slot_free: WaitList::new(),
            stopping: AtomicBool::new(false),
            max: max.filter(|&n| n > 0),
            pool,
            stack_size: None,
            boxed_handlers: false,
        }
    }

    /// Handler greenlets get `bytes` of stack (`None`: the runtime's default).
    pub(crate) fn with_stack_size(mut self, bytes: Option<usize>) -> Self {
        self.stack_size = bytes;
        self
    }

    /// Boxes every handler closure before it becomes a greenlet's body: its captures (a
    /// connection's stream among them) are then not copied into each wrapper frame from the
    /// stack's top down (may's, generator's, the greenlet's), frames that stay resident under
    /// every parked call for the connection's life. That is what lets a parked TLS
    /// connection's frames fit in one stack page (docs/BENCHMARKS.md, "RSS per idle TLS
    /// connection"); a plain connection fits without it, and the box would only cost it
    /// 0.2 KiB of heap, so only the TLS server asks for it.
    pub(crate) fn with_boxed_handlers(mut self, boxed: bool) -> Self {
        self.boxed_handlers = boxed;
        self
    }

    /// The server's counters.
    pub(crate) fn stats(&self) -> &Arc<ServerStats> {
        &self.stats
    }

    /// Marks the server stopping; returns whether it already was.
    pub(crate) fn begin_stop(&self) -> bool {
        self.stopping.swap(true, Ordering::AcqRel)
    }

    /// Whether the server is stopping.
    pub(crate) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// The receive loop: waits for a free slot, takes the next connection or datagram with
    /// `next`, and hands it to `dispatch`. A failed `next` is counted as an accept error and
    /// backed off (`backoff`); once the server is stopping, a failure ends the loop (that is
    /// how a stop ends it: the socket closes, or the loop's greenlet is killed).
    pub(crate) fn serve<T>(
        &self,
        backoff: &mut AcceptBackoff,
        mut next: impl FnMut() -> io::Result<T>,
        mut dispatch: impl FnMut(T, &mut AcceptBackoff),
    ) {
        loop {
            self.wait_for_room();
            match next() {
                Ok(got) => {
                    backoff.succeeded();
                    dispatch(got, backoff);
                }
                Err(e) => {
                    if self.stopping() {
                        return;
                    }
                    self.stats.accept_error();
                    if let Some(pause) = backoff.failed(&e) {
                        crate::sleep(pause);
                    }
                }
            }
        }
    }

    /// Waits until the cap and the pool both have room for one more handler.
    fn wait_for_room(&self) {
        if let Some(max) = self.max {
            let stats = &self.stats;
            self.slot_free.wait_until(None, || stats.active() < max);
        }
        if let Some(pool) = &self.pool {
            pool.wait_available(None);
        }
    }

    /// Runs `handler` in a new greenlet named `name` (in the pool, if there is one), counted
    /// as opened now and closed when it ends. Its error is counted by class, its panic
    /// counted and caught (the server goes on); a kill unwinds as a kill. If no greenlet can
    /// be spawned, the handler is dropped (`what`, for the log line, says what was lost),
    /// counted as a spawn error, and the loop pauses for `backoff`'s next step.
    pub(crate) fn spawn<F>(
        self: &Arc<Self>,
        name: String,
        what: std::fmt::Arguments<'_>,
        backoff: &mut AcceptBackoff,
        handler: F,
    ) where
        F: FnOnce() -> io::Result<()> + Send + 'static,
    {
        if self.boxed_handlers {
            let boxed: Box<dyn FnOnce() -> io::Result<()> + Send> = Box::new(handler);
            self.launch(name, what, backoff, boxed);
        } else {
            self.launch(name, what, backoff, handler);
        }
    }

    /// [`spawn`](Self::spawn)'s work, once the handler is boxed or not.
    fn launch<F>(
        self: &Arc<Self>,
        name: String,
        what: std::fmt::Arguments<'_>,
        backoff: &mut AcceptBackoff,
        handler: F,
    ) where
        F: FnOnce() -> io::Result<()> + Send + 'static,
    {
        self.stats.conn_opened();
        let slots = self.clone();
        let body = move || slots.run(handler);
        let mut builder = Builder::new().name(name);
        if let Some(bytes) = self.stack_size {
            builder = builder.stack_size(bytes);
        }
        let spawned = match &self.pool {
            Some(pool) => pool.spawn_with(builder, body),
            None => builder.spawn(body),
        };
        match spawned {
            Ok(g) => {
                if !g.ready() {
                    self.running.lock_unpoisoned().insert(g.id(), g);
                }
            }
            Err(e) => {
                self.stats.spawn_error();
                self.finish(None);
                log::warn!(error:% = e; "dropped {what}: {e}");
                crate::sleep(backoff.pause());
            }
        }
    }

    /// A handler's greenlet: runs it, counts how it ended, frees its slot.
    fn run(&self, handler: impl FnOnce() -> io::Result<()>) {
        struct Done<'a>(&'a Slots);
        impl Drop for Done<'_> {
            fn drop(&mut self) {
                self.0.finish(Some(crate::getcurrent().id));
            }
        }
        let _done = Done(self);
        match panic::catch_unwind(AssertUnwindSafe(handler)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                self.stats.error(ErrorClass::of(&e));
                super::handler_log::failed(&e);
            }
            Err(p) => {
                if p.downcast_ref::<generator::Error>().is_some() {
                    panic::resume_unwind(p); // killed: let the greenlet die as killed
                }
                self.stats.panicked();
            }
        }
    }

    /// A handler ended (`id`: its greenlet, if it was registered).
    fn finish(&self, id: Option<u64>) {
        if let Some(id) = id {
            self.running.lock_unpoisoned().remove(&id);
        }
        self.stats.conn_closed(&Ok(()));
        self.slot_free.wake_all();
    }

    /// The end of every stop: lets the running handlers finish for up to `grace`, then kills
    /// those still running. Returns how many were killed, also counted in the stats.
    pub(crate) fn drain(&self, grace: Duration) -> u64 {
        let stats = &self.stats;
        // A grace too long for an Instant means no limit.
        let until = Instant::now().checked_add(grace);
        self.slot_free.wait_until(until, || stats.active() == 0);
        let left: Vec<Greenlet<()>> = self.running.lock_unpoisoned().values().cloned().collect();
        let mut killed = 0;
        for g in &left {
            if !g.ready() {
                g.kill();
                killed += 1;
            }
        }
        stats.killed(killed);
        killed
    }
}
