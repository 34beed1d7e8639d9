//! Parking and waking: the one blocking primitive every mayfly wait is built on.
//!
//! A waiter is either a greenlet (parked with may's `park`, never with may's timer — see
//! [`crate::timer`]) or a plain OS thread (parked with `std::thread::park_timeout`), so the
//! same `Greenlet::join`, `Event::wait` or queue `get` works from `main` and from greenlets.
//! Wake-ups may be spurious; every caller re-checks its condition in a loop.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// Something that can be woken: a greenlet or an OS thread.
#[derive(Clone, Debug)]
pub(crate) enum Waker {
    Greenlet(may::coroutine::Coroutine),
    Thread(std::thread::Thread),
}

impl Waker {
    /// The waker for the calling greenlet or thread.
    pub(crate) fn current() -> Waker {
        if may::coroutine::is_coroutine() {
            Waker::Greenlet(may::coroutine::current())
        } else {
            Waker::Thread(std::thread::current())
        }
    }

    pub(crate) fn wake(&self) {
        match self {
            Waker::Greenlet(co) => co.unpark(),
            Waker::Thread(t) => t.unpark(),
        }
    }
}

/// Parks the caller until woken or until `until` passes (whichever is earlier, together with
/// the innermost active [`crate::Timeout`]). Returns normally in every case; callers check
/// their condition and the clock. If the enclosing `Timeout` has expired, this unwinds with it.
pub(crate) fn park_until(until: Option<Instant>) {
    crate::hub::ensure_started();
    let deadline = crate::timeout::effective_deadline(until);
    if may::coroutine::is_coroutine() {
        let timer = deadline.map(|at| TimerGuard(crate::timer::add(at, may::coroutine::current())));
        may::coroutine::park();
        drop(timer);
        crate::hub::hop_to_worker();
    } else {
        match deadline {
            Some(at) => {
                let now = Instant::now();
                if at > now {
                    std::thread::park_timeout(at - now);
                }
            }
            None => std::thread::park(),
        }
    }
    crate::timeout::check_expired();
}

/// Cancels a registered deadline when the wait ends, also when it ends by unwinding (kill).
struct TimerGuard(crate::timer::TimerId);

impl Drop for TimerGuard {
    fn drop(&mut self) {
        crate::timer::cancel(self.0);
    }
}

static NEXT_WAITER: AtomicU64 = AtomicU64::new(1);

/// A FIFO list of parked waiters, the building block of joins, events, queues and locks.
#[derive(Debug, Default)]
pub(crate) struct WaitList {
    waiters: Mutex<VecDeque<(u64, Waker)>>,
}

/// A place in a [`WaitList`]; leaving scope removes it (so a killed waiter leaves no trace).
pub(crate) struct WaitSlot<'a> {
    list: &'a WaitList,
    id: u64,
}

impl WaitList {
    pub(crate) const fn new() -> Self {
        WaitList {
            waiters: Mutex::new(VecDeque::new()),
        }
    }

    /// Enqueues the caller; park afterwards with [`park_until`].
    pub(crate) fn register(&self) -> WaitSlot<'_> {
        let id = NEXT_WAITER.fetch_add(1, Ordering::Relaxed);
        self.lock().push_back((id, Waker::current()));
        WaitSlot { list: self, id }
    }

    /// Parks the caller until `ready()` is true (re-checked after every wake-up) or `until`
    /// passes. Returns whether `ready()` held. The one wait loop every primitive shares:
    /// register first, re-check, then park, so a wake-up between check and park is not lost.
    pub(crate) fn wait_until(
        &self,
        until: Option<Instant>,
        mut ready: impl FnMut() -> bool,
    ) -> bool {
        loop {
            if ready() {
                return true;
            }
            if until.is_some_and(|u| Instant::now() >= u) {
                return false;
            }
            let slot = self.register();
            if ready() {
                return true;
            }
            park_until(until);
            drop(slot);
        }
    }

    /// Wakes the longest-waiting waiter, if any (FIFO among waiters). Returns whether one was
    /// woken. A waiter woken this way that then unwinds (killed, or its `Timeout` fired)
    /// without consuming what it was woken for passes the wake-up on to the next.
    pub(crate) fn wake_one(&self) -> bool {
        let first = self.lock().pop_front();
        match first {
            Some((_, w)) => {
                w.wake();
                true
            }
            None => false,
        }
    }

    /// Wakes every waiter.
    pub(crate) fn wake_all(&self) {
        // Waking only queues the waiter (it takes none of our locks): safe under the lock.
        for (_, w) in self.lock().drain(..) {
            w.wake();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(u64, Waker)>> {
        self.waiters.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for WaitSlot<'_> {
    fn drop(&mut self) {
        let mut q = self.list.lock();
        if let Some(pos) = q.iter().position(|(id, _)| *id == self.id) {
            q.remove(pos);
        } else if std::thread::panicking() {
            // We were woken, and are unwinding instead of taking what we were woken for:
            // hand the wake-up to the next waiter so it is not lost.
            drop(q);
            self.list.wake_one();
        }
    }
}
