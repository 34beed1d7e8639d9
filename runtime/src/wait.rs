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
    waiters: Mutex<Waiters>,
}

/// The waiters of a [`WaitList`], oldest first, by id. The oldest one is held inline: most
/// lists (a greenlet's joiners, an event) never hold more than one at a time, and a join then
/// needs no allocation (the queue's buffer would be one per greenlet joined).
#[derive(Debug, Default)]
struct Waiters {
    /// The longest-waiting waiter.
    first: Option<(u64, Waker)>,
    /// Everyone after `first`, oldest first; empty while `first` is `None`.
    rest: VecDeque<(u64, Waker)>,
}

impl Waiters {
    const fn new() -> Self {
        Waiters {
            first: None,
            rest: VecDeque::new(),
        }
    }

    fn push_back(&mut self, w: (u64, Waker)) {
        if self.first.is_none() {
            self.first = Some(w);
        } else {
            self.rest.push_back(w);
        }
    }

    fn pop_front(&mut self) -> Option<(u64, Waker)> {
        let first = self.first.take();
        self.first = self.rest.pop_front();
        first
    }

    /// Takes waiter `id` out; false if it is not here (it was woken).
    fn remove(&mut self, id: u64) -> bool {
        if self.first.as_ref().is_some_and(|(f, _)| *f == id) {
            self.first = self.rest.pop_front();
            return true;
        }
        match self.rest.iter().position(|(i, _)| *i == id) {
            Some(pos) => {
                self.rest.remove(pos);
                true
            }
            None => false,
        }
    }
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
            waiters: Mutex::new(Waiters::new()),
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
        let mut q = self.waiters.lock_unpoisoned();
        if let Some((_, w)) = q.first.take() {
            w.wake();
        }
        for (_, w) in q.rest.drain(..) {
            w.wake();
        }
    }
}

impl WaitSlot<'_> {
    /// Leaves the list; returns whether the waiter was woken through it (by `wake_one` or
    /// `wake_all`) rather than by its deadline, a spurious wake-up or nothing at all.
    pub(crate) fn leave(self) -> bool {
        let woken = !self.list.waiters.lock_unpoisoned().remove(self.id);
        std::mem::forget(self);
        woken
    }
}

impl Drop for WaitSlot<'_> {
    fn drop(&mut self) {
        let removed = self.list.waiters.lock_unpoisoned().remove(self.id);
        if !removed && std::thread::panicking() {
            // We were woken, and are unwinding instead of taking what we were woken for:
            // hand the wake-up to the next waiter so it is not lost.
            self.list.wake_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Waiters, Waker};

    fn ids(w: &mut Waiters) -> Vec<u64> {
        std::iter::from_fn(|| w.pop_front().map(|(id, _)| id)).collect()
    }

    #[test]
    fn waiters_stay_oldest_first_across_the_inline_one_and_the_queue() {
        let mut w = Waiters::new();
        for id in 1..=4 {
            w.push_back((id, Waker::current()));
        }
        // The inline oldest leaves: the next oldest takes its place.
        assert!(w.remove(1));
        assert!(w.remove(3));
        assert!(!w.remove(3), "a waiter is removed once");
        w.push_back((5, Waker::current()));
        assert_eq!(ids(&mut w), [2, 4, 5]);
        assert!(w.first.is_none() && w.rest.is_empty());
        // Empty again: the next waiter is held inline, with no queue buffer.
        w.push_back((6, Waker::current()));
        assert!(w.rest.is_empty());
        assert_eq!(ids(&mut w), [6]);
    }
}
