//! `sleep` and `yield_now`: give the worker to other greenlets.

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
    crate::hub::ensure_started();
    if dur.is_zero() {
        yield_now();
        crate::timeout::check_expired();
        return;
    }
    let until = Instant::now() + dur;
    loop {
        crate::wait::park_until(Some(until));
        if Instant::now() >= until || std::thread::panicking() {
            return;
        }
    }
}

/// Lets every other ready greenlet run once, then continues (gevent's `sleep(0)`).
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
    crate::hub::ensure_started();
    // may re-queues the greenlet on the worker's own queue: it resumes on the worker.
    may::coroutine::yield_now();
}
