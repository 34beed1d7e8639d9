//! `Timeout` and `with_timeout`: gevent's deadline that interrupts whatever blocking call the
//! greenlet is in when it expires.
//!
//! Each greenlet (or OS thread) keeps a stack of active deadlines. Every mayfly blocking call —
//! sleep, join, waits, socket reads and writes, accept, connect — waits at most until the
//! innermost deadline; when it has passed, the call unwinds to the [`with_timeout`] that set it,
//! which returns `Err(Timeout)`. CPU-bound code that makes no blocking call is not interrupted
//! (exactly as in gevent).

use std::any::Any;
use std::cell::RefCell;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A [`with_timeout`] deadline passed (gevent's `Timeout`); also the timeout to
/// [`run`](Timeout::run) a closure under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeout {
    /// The duration that was allowed.
    pub after: Duration,
}

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "timed out after {:?}", self.after)
    }
}

impl std::error::Error for Timeout {}

impl From<Timeout> for std::io::Error {
    fn from(t: Timeout) -> Self {
        std::io::Error::new(std::io::ErrorKind::TimedOut, t)
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    token: u64,
    at: Instant,
    fired: bool,
}

may::coroutine_local!(static DEADLINES: RefCell<Vec<Entry>> = RefCell::new(Vec::new()));

static NEXT_TOKEN: AtomicU64 = AtomicU64::new(1);
/// `with_timeout` scopes open in the whole process. While it is zero, no greenlet has a
/// deadline, and the per-operation lookup of the caller's deadlines is skipped.
static OPEN_SCOPES: AtomicU64 = AtomicU64::new(0);

/// The unwind payload that carries an expired deadline to its `with_timeout`.
struct Expired {
    token: u64,
}

impl Timeout {
    /// A timeout of `after`, to [`run`](Timeout::run) a closure under.
    pub fn new(after: Duration) -> Self {
        Timeout { after }
    }

    /// Runs `f`; if it is still blocked when the deadline passes, its blocking call is
    /// interrupted and `Err(self)` is returned. Same as [`with_timeout`].
    ///
    /// # Errors
    /// `Err(self)` if `f` was still blocked when the deadline passed.
    pub fn run<R>(self, f: impl FnOnce() -> R) -> Result<R, Timeout> {
        with_timeout(self.after, f)
    }
}

/// Runs `f` with a deadline `after` from now (gevent's `with_timeout`).
///
/// ```
/// use std::time::Duration;
/// let r = mayfly::run(|| {
///     mayfly::with_timeout(Duration::from_millis(20), || {
///         mayfly::sleep(Duration::from_secs(5));
///         "slept"
///     })
/// });
/// assert!(r.is_err());
/// ```
///
/// # Errors
/// `Err(Timeout)` if `f` was still blocked when the deadline passed (CPU-bound code
/// that never blocks is not interrupted).
pub fn with_timeout<R>(after: Duration, f: impl FnOnce() -> R) -> Result<R, Timeout> {
    crate::start::ensure_started();
    let token = NEXT_TOKEN.fetch_add(1, Ordering::Relaxed);
    let at = Instant::now() + after;
    DEADLINES.with(|d| {
        d.borrow_mut().push(Entry {
            token,
            at,
            fired: false,
        })
    });
    OPEN_SCOPES.fetch_add(1, Ordering::AcqRel);
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    OPEN_SCOPES.fetch_sub(1, Ordering::AcqRel);
    DEADLINES.with(|d| d.borrow_mut().retain(|e| e.token != token));
    match result {
        Ok(v) => Ok(v),
        Err(payload) => match payload.downcast_ref::<Expired>() {
            Some(e) if e.token == token => Err(Timeout { after }),
            _ => panic::resume_unwind(payload),
        },
    }
}

/// Runs `f` with a deadline at `deadline` (the deadline form of [`with_timeout`]; the error
/// carries the time that was left at the call).
///
/// # Errors
/// `Err(Timeout)` if `f` was still blocked when `deadline` passed.
pub fn with_deadline<R>(deadline: Instant, f: impl FnOnce() -> R) -> Result<R, Timeout> {
    with_timeout(deadline.saturating_duration_since(Instant::now()), f)
}

/// The earlier of `until` and the innermost pending deadline of the caller.
pub(crate) fn effective_deadline(until: Option<Instant>) -> Option<Instant> {
    if OPEN_SCOPES.load(Ordering::Acquire) == 0 {
        return until;
    }
    let nearest = DEADLINES.with(|d| d.borrow().iter().filter(|e| !e.fired).map(|e| e.at).min());
    match (until, nearest) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Time left before the caller's innermost deadline, if any (used by connect).
pub(crate) fn remaining() -> Option<Duration> {
    effective_deadline(None).map(|at| at.saturating_duration_since(Instant::now()))
}

/// Unwinds to the owning `with_timeout` if one of the caller's deadlines has passed.
pub(crate) fn check_expired() {
    if std::thread::panicking() || OPEN_SCOPES.load(Ordering::Acquire) == 0 {
        return;
    }
    let expired = DEADLINES.with(|d| {
        let mut d = d.borrow_mut();
        if d.is_empty() {
            return None;
        }
        let now = Instant::now();
        let idx = d
            .iter()
            .enumerate()
            .filter(|(_, e)| !e.fired && e.at <= now)
            .min_by_key(|(_, e)| e.at)
            .map(|(i, _)| i)?;
        d[idx].fired = true;
        Some(d[idx].token)
    });
    if let Some(token) = expired {
        panic::resume_unwind(Box::new(Expired { token }));
    }
}

/// Whether a caught panic payload is an expired mayfly deadline (not a real panic).
pub(crate) fn is_timeout_payload(p: &(dyn Any + Send)) -> bool {
    p.is::<Expired>()
}
