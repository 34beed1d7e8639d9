//! `Timeout`, `with_timeout` and the object form [`ActiveTimeout`]
//! ([`Timeout::start_new`]): gevent's deadline that interrupts whatever blocking call the
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
    after: Duration,
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
    after: Duration,
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

    /// Arms a timeout on the calling greenlet now and returns it as an object (gevent's
    /// `Timeout.start_new(seconds)`): from here on every blocking call of this greenlet is
    /// bounded by it, until it is [cancelled](ActiveTimeout::cancel) or dropped. Catch its
    /// expiry with [`ActiveTimeout::catch`].
    ///
    /// `None` gives a timeout that never fires (gevent's `Timeout(None)`, the "no limit"
    /// case), so code can take an optional limit without two paths.
    ///
    /// ```
    /// use std::time::Duration;
    /// use mayfly::Timeout;
    /// mayfly::run(|| {
    ///     let t = Timeout::start_new(Duration::from_millis(20));
    ///     assert!(t.pending());
    ///     let r = t.catch(|| mayfly::sleep(Duration::from_secs(5)));
    ///     assert!(r.is_err() && !t.pending());
    ///
    ///     let t = Timeout::start_new(Duration::from_secs(5));
    ///     mayfly::sleep(Duration::from_millis(1)); // not interrupted
    ///     t.cancel(); // done early: disarm it
    ///     assert!(!t.pending());
    ///
    ///     let unlimited = Timeout::start_new(None); // "no limit": never fires
    ///     assert_eq!(unlimited.catch(|| 7), Ok(7));
    /// });
    /// ```
    pub fn start_new(after: impl Into<Option<Duration>>) -> ActiveTimeout {
        ActiveTimeout::arm(after.into())
    }
}

/// A timeout armed on the calling greenlet by [`Timeout::start_new`] (gevent's `Timeout`
/// object): it bounds every blocking call the greenlet makes until it is cancelled or
/// dropped, and fires at most once.
///
/// When it expires, the blocking call the greenlet is in unwinds; [`catch`](Self::catch)
/// turns that into `Err(Timeout)`. Expiring with nobody catching it ends the greenlet as
/// a panic whose message says so. It belongs to the greenlet (or thread) that armed it,
/// so it is not `Send`.
///
/// Dropping it disarms it, so one that is not kept bounds nothing: the compiler warns about
/// a discarded `Timeout::start_new(d)` (bind it, `let _t = …`, for the rest of the scope).
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// mayfly::Timeout::start_new(std::time::Duration::from_secs(1)); // disarmed at once
/// ```
#[derive(Debug)]
#[must_use = "an ActiveTimeout is disarmed when dropped: bind it (`let _t = …`) to keep it armed"]
pub struct ActiveTimeout {
    /// `None` for the "no limit" timeout. A cell: [`restart`](ActiveTimeout::restart) arms
    /// it anew under a new token.
    armed: std::cell::Cell<Option<Armed>>,
    cancelled: std::cell::Cell<bool>,
    _not_send: std::marker::PhantomData<*const ()>,
}

#[derive(Debug, Clone, Copy)]
struct Armed {
    token: u64,
    at: Instant,
    after: Duration,
}

impl ActiveTimeout {
    fn arm(after: Option<Duration>) -> Self {
        let armed = after.map(Self::push);
        ActiveTimeout {
            armed: std::cell::Cell::new(armed),
            cancelled: std::cell::Cell::new(false),
            _not_send: std::marker::PhantomData,
        }
    }

    /// Pushes a deadline `after` from now on the caller's stack.
    fn push(after: Duration) -> Armed {
        crate::start::ensure_started();
        let token = NEXT_TOKEN.fetch_add(1, Ordering::Relaxed);
        let at = deadline_after(after);
        DEADLINES.with(|d| {
            d.borrow_mut().push(Entry {
                token,
                at,
                after,
                fired: false,
            })
        });
        OPEN_SCOPES.fetch_add(1, Ordering::AcqRel);
        Armed { token, at, after }
    }

    /// Arms it again for its whole duration from now, whether it fired, was cancelled or is
    /// still pending (gevent's `t.start()` on a timeout that was used: `Timeout` objects are
    /// re-armable). A no-op for the "no limit" timeout.
    ///
    /// ```
    /// use std::time::Duration;
    /// use mayfly::Timeout;
    /// mayfly::run(|| {
    ///     let t = Timeout::start_new(Duration::from_millis(10));
    ///     assert!(t.catch(|| mayfly::sleep(Duration::from_secs(5))).is_err());
    ///     t.restart(); // fired once; armed again
    ///     assert!(t.pending());
    ///     assert!(t.catch(|| mayfly::sleep(Duration::from_secs(5))).is_err());
    ///     t.cancel();
    ///     t.restart(); // cancelled; armed again
    ///     assert!(t.pending());
    /// });
    /// ```
    pub fn restart(&self) {
        let Some(old) = self.armed.get() else {
            return;
        };
        self.cancel();
        self.armed.set(Some(Self::push(old.after)));
        self.cancelled.set(false);
    }

    /// The time left before it fires, to pass as another wait's timeout (gevent accepts a
    /// `Timeout` there): `Some(ZERO)` once it fired or its deadline passed, `None` for the
    /// "no limit" timeout and once cancelled (nothing bounds the wait then).
    ///
    /// ```
    /// use std::time::Duration;
    /// mayfly::run(|| {
    ///     let t = mayfly::Timeout::start_new(Duration::from_secs(5));
    ///     let g = mayfly::spawn(|| 1);
    ///     assert!(g.join(t.remaining())); // bounded by what is left of t
    ///     assert!(t.remaining().unwrap() <= Duration::from_secs(5));
    ///     t.cancel();
    ///     assert_eq!(t.remaining(), None);
    ///     let fired = mayfly::Timeout::start_new(Duration::from_millis(5));
    ///     assert!(fired.catch(|| mayfly::sleep(Duration::from_secs(5))).is_err());
    ///     assert_eq!(fired.remaining(), Some(Duration::ZERO));
    /// });
    /// ```
    pub fn remaining(&self) -> Option<Duration> {
        let a = self.armed.get()?;
        if self.cancelled.get() {
            return None;
        }
        if self.fired(a.token) {
            return Some(Duration::ZERO);
        }
        Some(a.at.saturating_duration_since(Instant::now()))
    }

    /// Whether it is still due to fire: armed, not cancelled, and its deadline not passed
    /// (gevent's `pending`). Always false for the "no limit" timeout.
    pub fn pending(&self) -> bool {
        match self.armed.get() {
            Some(a) => !self.cancelled.get() && Instant::now() < a.at && !self.fired(a.token),
            None => false,
        }
    }

    fn fired(&self, token: u64) -> bool {
        DEADLINES.with(|d| d.borrow().iter().any(|e| e.token == token && e.fired))
    }

    /// The time it allows (`None`: no limit).
    pub fn after(&self) -> Option<Duration> {
        self.armed.get().map(|a| a.after)
    }

    /// Disarms it: later blocking calls are no longer bounded by it (gevent's `cancel`).
    /// Idempotent; dropping it does the same.
    pub fn cancel(&self) {
        if let Some(a) = self.armed.get() {
            if !self.cancelled.replace(true) {
                DEADLINES.with(|d| d.borrow_mut().retain(|e| e.token != a.token));
                OPEN_SCOPES.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }

    /// Runs `f`; if this timeout expires while `f` is blocked, `f`'s blocking call is
    /// interrupted and `Err(Timeout)` is returned (gevent's `except Timeout as t: if t is
    /// timeout`). Another timeout's expiry passes through to whoever armed it. The timeout
    /// stays armed after `catch` returns `Ok`; [`cancel`](Self::cancel) it when done.
    ///
    /// # Errors
    /// `Err(Timeout)` if this timeout expired while `f` was blocked.
    pub fn catch<R>(&self, f: impl FnOnce() -> R) -> Result<R, Timeout> {
        let Some(a) = self.armed.get() else {
            return Ok(f());
        };
        match panic::catch_unwind(AssertUnwindSafe(f)) {
            Ok(v) => Ok(v),
            Err(payload) => match payload.downcast_ref::<Expired>() {
                // Its token when `f` started, or a new one if `f` restarted it.
                Some(e)
                    if e.token == a.token
                        || self.armed.get().is_some_and(|c| c.token == e.token) =>
                {
                    Err(Timeout { after: a.after })
                }
                _ => panic::resume_unwind(payload),
            },
        }
    }
}

impl Drop for ActiveTimeout {
    fn drop(&mut self) {
        self.cancel();
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
    let t = ActiveTimeout::arm(Some(after));
    let r = t.catch(f);
    t.cancel();
    r
}

/// The instant `after` from now, for a deadline: an `after` too long for an [`Instant`] to
/// hold (`Duration::MAX`, a `--grace` of 10^19 s) gives an instant a century away instead of a
/// panic, which every wait treats as no limit.
///
/// ```
/// use std::time::{Duration, Instant};
/// let soon = mayfly::deadline_after(Duration::from_secs(1));
/// assert!(soon > Instant::now());
/// let never = mayfly::deadline_after(Duration::MAX); // no overflow panic
/// assert!(never > Instant::now() + Duration::from_secs(365 * 86_400));
/// ```
pub fn deadline_after(after: Duration) -> Instant {
    /// What "no limit" becomes: about a hundred years.
    const FOR_EVER: Duration = Duration::from_secs(100 * 365 * 86_400);
    let now = Instant::now();
    now.checked_add(after.min(FOR_EVER)).unwrap_or(now)
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
        Some(d[idx])
    });
    if let Some(e) = expired {
        panic::resume_unwind(Box::new(Expired {
            token: e.token,
            after: e.after,
        }));
    }
}

/// The time allowed by the timeout whose expiry `p` carries, if it is one.
pub(crate) fn timeout_payload_after(p: &(dyn Any + Send)) -> Option<Duration> {
    p.downcast_ref::<Expired>().map(|e| e.after)
}
