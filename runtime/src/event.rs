//! `Event` and `AsyncResult` (gevent's `gevent.event`): a flag greenlets (or threads) wait
//! on, and a value (or an error) delivered once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::park::{park_until, WaitUntil};
use crate::poison::MutexExt;
use crate::wait::WaitList;

/// A flag that starts cleared; [`wait`](Event::wait) blocks until it is [`set`](Event::set).
/// Setting wakes every waiter, and every greenlet that was waiting when `set` was called
/// returns `true` even if [`clear`](Event::clear) follows at once (gevent's semantics: a
/// `set(); clear()` pulse is not lost).
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
    /// Only `set` wakes this list (`wake_all`): a waiter taken off it was woken by a `set`,
    /// whatever the flag says by the time it runs.
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

    /// Waits until the flag is set or `timeout` passes (`None`: without limit, gevent's
    /// `wait(timeout=None)`); returns whether it is set — or was set while this call waited
    /// (a `set(); clear()` pulse wakes every waiter with `true`).
    pub fn wait(&self, timeout: Option<Duration>) -> bool {
        let until = timeout.map(|t| Instant::now() + t);
        self.wait_until(until)
    }

    /// Waits at most `timeout` for the flag; returns whether it is set.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait(Some(timeout))
    }

    /// Waits until the flag is set or `deadline` passes; returns whether it is set.
    pub fn wait_deadline(&self, deadline: Instant) -> bool {
        self.wait_until(Some(deadline))
    }

    fn wait_until(&self, until: Option<Instant>) -> bool {
        // The shared wait loop (`park::WaitUntil`), plus: a waiter that `set` took off the
        // list returns true even if the flag was cleared before it ran (`set(); clear()`).
        // `set` itself stays a store and a `wake_all`.
        loop {
            if self.is_set() {
                return true;
            }
            if until.is_some_and(|u| Instant::now() >= u) {
                return false;
            }
            let slot = self.waiters.register();
            if self.is_set() {
                return true;
            }
            park_until(until);
            if slot.leave() {
                return true;
            }
        }
    }
}

/// A value delivered once, by any greenlet or OS thread, to anyone who waits (gevent's
/// `AsyncResult`): `set` or `set_exception` once; `get` waits for it.
///
/// ```
/// use std::sync::Arc;
/// use mayfly::event::{AsyncResult, AsyncError};
/// let r = Arc::new(AsyncResult::new());
/// let r2 = r.clone();
/// std::thread::spawn(move || r2.set(42)); // an OS thread delivers…
/// assert_eq!(mayfly::run(move || r.get(None)), Ok(42)); // …a greenlet receives
/// let failed: AsyncResult<u8> = AsyncResult::new();
/// failed.set_exception("no route to host");
/// assert_eq!(failed.get(None), Err(AsyncError::Exception("no route to host".into())));
/// ```
#[derive(Debug)]
pub struct AsyncResult<T> {
    value: std::sync::Mutex<Option<Result<T, String>>>,
    waiters: WaitList,
}

/// Why [`AsyncResult::get`] has no value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AsyncError {
    /// `set_exception` was called with this message.
    #[error("{0}")]
    Exception(String),
    /// Nothing was set within the timeout.
    #[error("timed out waiting for the result")]
    Timeout,
}

impl<T> Default for AsyncResult<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> AsyncResult<T> {
    /// An empty result.
    pub fn new() -> Self {
        AsyncResult {
            value: std::sync::Mutex::new(None),
            waiters: WaitList::new(),
        }
    }

    fn store(&self, v: Result<T, String>) {
        let mut slot = self.value.lock_unpoisoned();
        if slot.is_none() {
            *slot = Some(v);
        }
        drop(slot);
        self.waiters.wake_all();
    }

    /// Delivers the value (only the first `set`/`set_exception` counts).
    pub fn set(&self, value: T) {
        self.store(Ok(value));
    }

    /// Delivers a failure.
    pub fn set_exception(&self, message: impl Into<String>) {
        self.store(Err(message.into()));
    }

    /// Whether something was delivered.
    pub fn ready(&self) -> bool {
        self.value.lock_unpoisoned().is_some()
    }

    /// Whether a value (not a failure) was delivered.
    pub fn successful(&self) -> bool {
        matches!(*self.value.lock_unpoisoned(), Some(Ok(_)))
    }

    /// Waits for the result (at most `timeout`; `None`: without limit, gevent's
    /// `get(timeout=None)`) and returns a clone of it.
    ///
    /// # Errors
    /// [`AsyncError::Exception`] if a failure was delivered, [`AsyncError::Timeout`] if
    /// nothing was delivered in time.
    pub fn get(&self, timeout: Option<Duration>) -> Result<T, AsyncError>
    where
        T: Clone,
    {
        self.get_until(timeout.map(|t| Instant::now() + t))
    }

    /// Like [`get`](AsyncResult::get) with at most `timeout`.
    ///
    /// # Errors
    /// As [`get`](AsyncResult::get).
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, AsyncError>
    where
        T: Clone,
    {
        self.get(Some(timeout))
    }

    /// Like [`get`](AsyncResult::get), waiting until `deadline` at most.
    ///
    /// # Errors
    /// As [`get`](AsyncResult::get).
    pub fn get_deadline(&self, deadline: Instant) -> Result<T, AsyncError>
    where
        T: Clone,
    {
        self.get_until(Some(deadline))
    }

    fn get_until(&self, until: Option<Instant>) -> Result<T, AsyncError>
    where
        T: Clone,
    {
        if !self.waiters.wait_until(until, || self.ready()) {
            return Err(AsyncError::Timeout);
        }
        match &*self.value.lock_unpoisoned() {
            Some(Ok(v)) => Ok(v.clone()),
            Some(Err(e)) => Err(AsyncError::Exception(e.clone())),
            None => Err(AsyncError::Timeout),
        }
    }

    /// Waits for the result (at most `timeout`; `None`: without limit) and moves the value
    /// out (for values that are not `Clone`).
    ///
    /// # Errors
    /// As [`get`](AsyncResult::get); a value already taken reads as [`AsyncError::Timeout`].
    pub fn take(&self, timeout: Option<Duration>) -> Result<T, AsyncError> {
        self.take_until(timeout.map(|t| Instant::now() + t))
    }

    /// Like [`take`](AsyncResult::take) with at most `timeout`.
    ///
    /// # Errors
    /// As [`take`](AsyncResult::take).
    pub fn take_timeout(&self, timeout: Duration) -> Result<T, AsyncError> {
        self.take(Some(timeout))
    }

    /// Like [`take`](AsyncResult::take), waiting until `deadline` at most.
    ///
    /// # Errors
    /// As [`take`](AsyncResult::take).
    pub fn take_deadline(&self, deadline: Instant) -> Result<T, AsyncError> {
        self.take_until(Some(deadline))
    }

    fn take_until(&self, until: Option<Instant>) -> Result<T, AsyncError> {
        if !self.waiters.wait_until(until, || self.ready()) {
            return Err(AsyncError::Timeout);
        }
        match self.value.lock_unpoisoned().take() {
            Some(Ok(v)) => Ok(v),
            Some(Err(e)) => Err(AsyncError::Exception(e)),
            None => Err(AsyncError::Timeout),
        }
    }
}

impl crate::Waitable for Event {
    fn is_ready(&self) -> bool {
        self.is_set()
    }
    fn subscribe(&self) -> crate::Subscription<'_> {
        crate::waitable::Subscription::new(&self.waiters, crate::waitable::Wake::Ready)
    }
}

impl<T> crate::Waitable for AsyncResult<T> {
    fn is_ready(&self) -> bool {
        self.ready()
    }
    fn subscribe(&self) -> crate::Subscription<'_> {
        crate::waitable::Subscription::new(&self.waiters, crate::waitable::Wake::Ready)
    }
}
