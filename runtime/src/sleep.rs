//! `sleep` and `yield_now`: give the worker to other greenlets.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Suspends the calling greenlet for `dur`, letting others run (gevent's `sleep`).
///
/// `sleep(Duration::ZERO)` is [`yield_now`]. Outside a greenlet it sleeps the OS thread.
/// Inside a [`crate::with_timeout`] whose deadline comes first, it is interrupted.
///
/// ```
/// use std::time::{Duration, Instant};
/// mayfly::run(|| {
///     let t = Instant::now();
///     mayfly::sleep(Duration::from_millis(20));
///     assert!(t.elapsed() >= Duration::from_millis(20));
/// });
/// ```
pub fn sleep(dur: Duration) {
    crate::start::ensure_started();
    if dur.is_zero() {
        yield_now();
        crate::timeout::check_expired();
        return;
    }
    let until = Instant::now() + dur;
    loop {
        crate::park::park_until(Some(until));
        if Instant::now() >= until || std::thread::panicking() {
            return;
        }
    }
}

/// Suspends the calling greenlet until `deadline` (the deadline form of [`sleep`]); returns at
/// once if it has passed.
///
/// ```
/// use std::time::{Duration, Instant};
/// let at = Instant::now() + Duration::from_millis(20);
/// mayfly::run(move || mayfly::sleep_until(at));
/// assert!(Instant::now() >= at);
/// ```
pub fn sleep_until(deadline: Instant) {
    sleep(deadline.saturating_duration_since(Instant::now()));
}

/// Lets every other ready greenlet run once, then continues (gevent's `sleep(0)`).
///
/// Round-robin, as in gevent, also for greenlets that were just spawned: two greenlets that
/// each do `A; yield_now(); B` run `1A 2A 1B 2B`.
///
/// ```
/// mayfly::run(|| {
///     let g = mayfly::spawn(|| 1);
///     mayfly::yield_now(); // g runs now
///     assert!(g.ready());
/// });
/// ```
#[inline]
pub fn yield_now() {
    crate::start::ensure_started();
    if may::coroutine::is_coroutine()
        && (crate::context::unstarted() > 0 || BEHIND.load(Ordering::Acquire) > 0)
    {
        return yield_behind_new_greenlets();
    }
    // may re-queues the greenlet on the worker's own (local) queue: it resumes on the worker.
    may::coroutine::yield_now();
    crate::monitor::watch::resumed();
}

/// Greenlets that yielded behind the worker's global queue and have not resumed yet.
static BEHIND: AtomicU64 = AtomicU64::new(0);

/// may puts new coroutines on the worker's *global* queue but a yielding one on its *local*
/// queue, which the worker drains first: a plain yield would come straight back before any
/// newly spawned greenlet started. gevent's `sleep(0)` lets them start, so: queue a tiny
/// waker behind them on the global queue, and park until it runs.
///
/// While such a waker is pending, every other yield goes the same way (counted in
/// [`BEHIND`]): a plain yield would jump the queue ahead of the greenlets already waiting
/// behind the wakers, and `1A 2A 1B 2B` would become `1A 2A 2B 1B`.
#[cold]
fn yield_behind_new_greenlets() {
    let me = may::coroutine::current();
    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    BEHIND.fetch_add(1, Ordering::AcqRel);
    // SAFETY: the waker touches no thread-locals and never blocks: it sets a flag and
    // unparks a coroutine handle, both valid on any thread.
    let spawned = unsafe {
        may::coroutine::Builder::new().spawn(move || {
            flag.store(true, Ordering::Release);
            me.unpark();
        })
    };
    if spawned.is_err() {
        BEHIND.fetch_sub(1, Ordering::AcqRel);
        return may::coroutine::yield_now();
    }
    // Whether it resumes normally or unwinds (killed), it no longer waits behind.
    struct Resumed;
    impl Drop for Resumed {
        fn drop(&mut self) {
            BEHIND.fetch_sub(1, Ordering::AcqRel);
        }
    }
    let _resumed = Resumed;
    while !ran.load(Ordering::Acquire) {
        may::coroutine::park();
        crate::worker::hop_to_worker();
    }
    crate::monitor::watch::resumed();
}
