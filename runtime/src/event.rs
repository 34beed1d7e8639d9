//! `Event`: gevent's `gevent.event.Event` — a flag greenlets (or threads) wait on.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::wait::WaitList;

/// A flag that starts cleared; [`wait`](Event::wait) blocks until it is [`set`](Event::set).
/// Setting wakes every waiter.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// let ev = Arc::new(mayfly::event::Event::new());
/// let e2 = ev.clone();
/// let g = mayfly::spawn(move || e2.wait(None));
/// assert!(!ev.wait(Some(Duration::from_millis(10))));
/// ev.set();
/// assert_eq!(g.get(), Ok(true));
/// ```
#[derive(Debug, Default)]
pub struct Event {
    flag: AtomicBool,
    waiters: WaitList,
}

impl Event {
    /// A cleared event.
    pub const fn new() -> Self {
        Event {
            flag: AtomicBool::new(false),
            waiters: WaitList::new(),
        }
    }

    /// Sets the flag and wakes every waiter.
    pub fn set(&self) {
        self.flag.store(true, Ordering::Release);
        self.waiters.wake_all();
    }

    /// Clears the flag.
    pub fn clear(&self) {
        self.flag.store(false, Ordering::Release);
    }

    /// Whether the flag is set.
    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    /// Waits until the flag is set or `timeout` passes; returns whether it is set.
    pub fn wait(&self, timeout: Option<Duration>) -> bool {
        let until = timeout.map(|t| Instant::now() + t);
        self.waiters.wait_until(until, || self.is_set())
    }
}
