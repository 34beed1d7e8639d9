//! `sleep` and `yield_now`: give the worker to other greenlets.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::poison::MutexExt;
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
    // The three loads first: `is_coroutine` reads may's thread-local context, which costs
    // more than they do, and they are almost always all zero.
    if (crate::context::unstarted_on_global_queue() > 0
        || LINE_OPEN.load(Ordering::Acquire)
        || crate::wait::remote_wakes_pending())
        && may::coroutine::is_coroutine()
    {
        return yield_behind_new_greenlets();
    }
    // may re-queues the greenlet on the worker's own (local) queue: it resumes on the worker.
    may::coroutine::yield_now();
    crate::loop_watch::resumed();
}

/// Whether a line of yielders waits behind the worker's global queue (see
/// [`yield_behind_new_greenlets`]).
static LINE_OPEN: AtomicBool = AtomicBool::new(false);

/// The yielders waiting behind the global queue, in the order they yielded, each with the
/// flag that tells it its turn came; `None` while no line is open.
static LINE: Mutex<Option<Vec<InLine>>> = Mutex::new(None);

/// A yielder in the line: its coroutine and the flag that tells it its turn came.
type InLine = (may::coroutine::Coroutine, Arc<AtomicBool>);

/// A greenlet spawned on the worker waits in the worker's own (*local*) run queue, where a
/// yield goes too, behind it: a plain yield lets it start. One spawned from another thread
/// waits in the worker's *global* queue, which the worker drains only when its local queue is
/// empty: a plain yield would come straight back before it started. gevent's `sleep(0)` lets
/// it start, so the first yield that finds such unstarted greenlets opens a *line*: it queues one tiny waker behind them on the
/// global queue and parks in the line. Every yield while the line is open joins it (a plain
/// yield would jump ahead of those already in line, and `1A 2A 1B 2B` would become
/// `1A 2A 2B 1B`). When the waker runs — after the new greenlets had their turn — it closes
/// the line and wakes everyone in it, in order, onto the local queue. One spawn per round, not
/// per yield: once every greenlet has started, yields are plain again.
///
/// Greenlets woken from other threads (a timer, the thread pool) land on the global queue
/// too; the worker only collects it when its local queue is empty, which a greenlet spinning
/// on `yield_now` never lets happen. So a yield also goes behind the global queue while such
/// wake-ups are pending (`wait::remote_wakes_pending`): `while !done { yield_now() }` lets
/// a sleeper wake, as gevent's `sleep(0)` loop does. (Readiness from may's own event loop —
/// sockets, socket timeouts — still waits until the worker runs out of ready greenlets.)
#[cold]
fn yield_behind_new_greenlets() {
    let turn = Arc::new(AtomicBool::new(false));
    let opened = {
        let mut line = LINE.lock_unpoisoned();
        // Everything woken remotely so far is in the global queue ahead of the waker.
        crate::wait::take_remote_wakes();
        let opened = line.is_none();
        line.get_or_insert_with(Vec::new)
            .push((may::coroutine::current(), turn.clone()));
        LINE_OPEN.store(true, Ordering::Release);
        opened
    };
    if opened && !spawn_line_waker() {
        // No waker: close the line at once (everyone in it just yields plainly).
        wake_line();
    }
    while !turn.load(Ordering::Acquire) {
        may::coroutine::park();
        crate::worker::hop_to_worker();
    }
    crate::loop_watch::resumed();
}

/// Queues the waker that closes the line; false if it could not be spawned.
fn spawn_line_waker() -> bool {
    // On the worker's global queue (`id`), behind greenlets spawned and woken from other
    // threads: a spawn on the worker would queue it on the worker's own run queue, which
    // runs first (vendor/may PATCHED.md, "Spawning onto the spawner's run queue").
    // SAFETY: the waker touches no thread-locals and never blocks: it takes a lock held only
    // for pushes and swaps, sets flags and unparks coroutine handles, all valid on any thread.
    let spawned = unsafe { may::coroutine::Builder::new().id(0).spawn(wake_line) };
    spawned.is_ok()
}

/// Closes the line and wakes everyone in it, in the order they yielded.
fn wake_line() {
    let line = {
        let mut line = LINE.lock_unpoisoned();
        LINE_OPEN.store(false, Ordering::Release);
        line.take()
    };
    for (co, turn) in line.into_iter().flatten() {
        turn.store(true, Ordering::Release);
        co.unpark();
    }
}
