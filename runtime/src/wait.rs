//! The wait list: who is waiting for something, and how to wake them. A leaf: it only queues
//! and wakes; parking (and the deadlines around it) is `park`'s job.
//!
//! A waiter is either a greenlet (woken with may's `unpark`, which queues it on the worker) or
//! a plain OS thread (woken with `Thread::unpark`), so the same `Greenlet::join`, `Event::wait`
//! or queue `get` works from `main` and from greenlets. Wake-ups may be spurious; every waiter
//! re-checks its condition in a loop (`park::WaitUntil::wait_until`).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::poison::MutexExt;

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
            Waker::Greenlet(co) => {
                if !may::coroutine::is_coroutine() {
                    note_remote_wake();
                }
                co.unpark()
            }
            Waker::Thread(t) => t.unpark(),
        }
    }
}

/// Greenlets woken from outside the worker (timer thread, thread pool, other OS threads)
/// since the last `yield_now` that went behind the worker's global queue, where such
/// wake-ups land. While it is non-zero, `yield_now` goes behind them (see `sleep`): a greenlet
/// spinning on `yield_now` must not starve a greenlet a timer has woken.
static REMOTE_WAKES: AtomicU64 = AtomicU64::new(0);

/// Counts a greenlet woken from outside the worker.
#[inline]
pub(crate) fn note_remote_wake() {
    REMOTE_WAKES.fetch_add(1, Ordering::Relaxed);
}

/// Whether greenlets were woken from outside the worker since [`take_remote_wakes`].
#[inline]
pub(crate) fn remote_wakes_pending() -> bool {
    REMOTE_WAKES.load(Ordering::Relaxed) > 0
}

/// Forgets the remote wake-ups counted so far (they are ahead of whoever calls this next in
/// the global queue).
pub(crate) fn take_remote_wakes() {
    REMOTE_WAKES.store(0, Ordering::Relaxed);
}

static NEXT_WAITER: AtomicU64 = AtomicU64::new(1);

/// A FIFO list of parked waiters, the building block of joins, events, queues and locks.
#[derive(Debug, Default)]
pub(crate) struct WaitList {
    waiters: Mutex<VecDeque<(u64, Waker)>>,
}

/// A place in a [`WaitList`]; leaving scope removes it (so a killed waiter leaves no trace).
#[derive(Debug)]
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

    /// Enqueues the caller; park afterwards (`park::park_until`).
    pub(crate) fn register(&self) -> WaitSlot<'_> {
        let id = NEXT_WAITER.fetch_add(1, Ordering::Relaxed);
        self.waiters
            .lock_unpoisoned()
            .push_back((id, Waker::current()));
        WaitSlot { list: self, id }
    }

    /// Wakes the longest-waiting waiter, if any (FIFO among waiters). Returns whether one was
    /// woken. A waiter woken this way that then unwinds (killed, or its `Timeout` fired)
    /// without consuming what it was woken for passes the wake-up on to the next.
    pub(crate) fn wake_one(&self) -> bool {
        let first = self.waiters.lock_unpoisoned().pop_front();
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
        for (_, w) in self.waiters.lock_unpoisoned().drain(..) {
            w.wake();
        }
    }
}

impl WaitSlot<'_> {
    /// Leaves the list; returns whether the waiter was woken through it (by `wake_one` or
    /// `wake_all`) rather than by its deadline, a spurious wake-up or nothing at all.
    pub(crate) fn leave(self) -> bool {
        let mut q = self.list.waiters.lock_unpoisoned();
        let woken = match q.iter().position(|(id, _)| *id == self.id) {
            Some(pos) => {
                q.remove(pos);
                false
            }
            None => true,
        };
        drop(q);
        std::mem::forget(self);
        woken
    }
}

impl Drop for WaitSlot<'_> {
    fn drop(&mut self) {
        let mut q = self.list.waiters.lock_unpoisoned();
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
