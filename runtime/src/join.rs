//! `joinall`, `iwait` and `wait`: wait for many greenlets (or any [`Waitable`]) at once.

use std::time::{Duration, Instant};

use crate::greenlet::{Greenlet, GreenletError};
use crate::park::park_until;
use crate::waitable::{Subscription, Waitable, Wake};

/// Options of [`joinall`], gevent's keyword arguments.
///
/// ```
/// use std::time::Duration;
/// let opts = mayfly::JoinAll::default().timeout(Duration::from_secs(1)).raise_error(true).count(2);
/// assert_eq!(opts.count, Some(2));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JoinAll {
    /// Give up after this long and return what finished so far.
    pub timeout: Option<Duration>,
    /// Return the first failure (panic or kill) as an error as soon as it happens.
    pub raise_error: bool,
    /// Return once this many have finished.
    pub count: Option<usize>,
}

impl JoinAll {
    /// Sets `timeout`.
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(t);
        self
    }
    /// Sets `raise_error`.
    pub fn raise_error(mut self, yes: bool) -> Self {
        self.raise_error = yes;
        self
    }
    /// Sets `count`.
    pub fn count(mut self, n: usize) -> Self {
        self.count = Some(n);
        self
    }
}

/// Waits for the greenlets (gevent's `joinall`) and returns the ones that finished, in
/// completion order.
///
/// With `raise_error`, the first greenlet that panicked or was killed makes it return that
/// error at once. With `timeout` or `count`, it returns early with what finished so far.
///
/// ```
/// use std::time::Duration;
/// use mayfly::{joinall, spawn, sleep, JoinAll};
/// mayfly::run(|| {
///     let gs = vec![
///         spawn(|| { sleep(Duration::from_millis(10)); 1 }),
///         spawn(|| { sleep(Duration::from_secs(10)); 2 }),
///     ];
///     let done = joinall(&gs, JoinAll::default().timeout(Duration::from_millis(200))).unwrap();
///     assert_eq!(done.len(), 1);
///     assert_eq!(done[0].value(), Some(1));
///     gs[1].kill();
/// });
/// ```
///
/// # Errors
/// With `raise_error`, the [`GreenletError`] of the first greenlet that panicked or was
/// killed.
pub fn joinall<T>(
    greenlets: &[Greenlet<T>],
    opts: JoinAll,
) -> Result<Vec<&Greenlet<T>>, GreenletError> {
    let until = opts.timeout.map(|t| Instant::now() + t);
    let want = opts.count.unwrap_or(greenlets.len()).min(greenlets.len());
    let mut it = IWait::new(greenlets, until);
    let mut done = Vec::with_capacity(want);
    while done.len() < want {
        match it.next() {
            Some(g) => {
                if opts.raise_error {
                    if let Some(e) = g.exception() {
                        return Err(e);
                    }
                }
                done.push(g);
            }
            None => break,
        }
    }
    Ok(done)
}

/// Iterates over the objects in the order they become ready (gevent's `iwait`): greenlets
/// in the order they finish, or any [`Waitable`] — a slice of `&dyn Waitable` mixes
/// greenlets of different value types with events, async results and semaphores.
///
/// ```
/// use std::time::Duration;
/// mayfly::run(|| {
///     let slow = mayfly::spawn(|| { mayfly::sleep(Duration::from_millis(60)); "slow" });
///     let fast = mayfly::spawn(|| { mayfly::sleep(Duration::from_millis(10)); "fast" });
///     let order: Vec<_> = mayfly::iwait(&[slow, fast]).map(|g| g.value().unwrap()).collect();
///     assert_eq!(order, ["fast", "slow"]);
/// });
/// ```
pub fn iwait<W: Waitable>(objects: &[W]) -> IWait<'_, W> {
    IWait::new(objects, None)
}

/// Like [`iwait`] but stops yielding after `timeout`.
pub fn iwait_timeout<W: Waitable>(objects: &[W], timeout: Duration) -> IWait<'_, W> {
    IWait::new(objects, Some(Instant::now() + timeout))
}

/// Like [`iwait`] but stops yielding at `deadline`.
pub fn iwait_deadline<W: Waitable>(objects: &[W], deadline: Instant) -> IWait<'_, W> {
    IWait::new(objects, Some(deadline))
}

/// The iterator returned by [`iwait`]. [`next_index`](IWait::next_index) gives the position
/// in the input slice instead of the object.
pub struct IWait<'a, W> {
    pending: Vec<(usize, &'a W)>,
    until: Option<Instant>,
}

impl<W> std::fmt::Debug for IWait<'_, W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IWait")
            .field("pending", &self.pending.len())
            .field("until", &self.until)
            .finish()
    }
}

impl<'a, W: Waitable> IWait<'a, W> {
    fn new(objects: &'a [W], until: Option<Instant>) -> Self {
        IWait {
            pending: objects.iter().enumerate().collect(),
            until,
        }
    }

    /// Waits for the next object to become ready and returns its index in the slice given
    /// to [`iwait`]; `None` when all were returned or the time is up.
    pub fn next_index(&mut self) -> Option<usize> {
        let objs: Vec<&W> = self.pending.iter().map(|(_, o)| *o).collect();
        let pos = wait_any(&objs, self.until)?;
        Some(self.pending.remove(pos).0)
    }
}

impl<'a, W: Waitable> Iterator for IWait<'a, W> {
    type Item = &'a W;

    fn next(&mut self) -> Option<Self::Item> {
        let objs: Vec<&W> = self.pending.iter().map(|(_, o)| *o).collect();
        let pos = wait_any(&objs, self.until)?;
        Some(self.pending.remove(pos).1)
    }
}

/// Waits until no other greenlet is alive, or `timeout` passes (gevent's `gevent.wait()` with
/// no objects: "until the loop has nothing left to run"); returns whether none is left.
/// Called from a greenlet, it waits for every other one (and the ones they spawn meanwhile);
/// from a plain OS thread, for all of them. A greenlet that never ends — a server's accept
/// loop, a [`crate::signal::Signals`] reader — keeps it waiting, as a started server keeps
/// gevent's loop running.
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
/// mayfly::run(|| {
///     let done = Arc::new(AtomicU32::new(0));
///     for i in 0..3u64 {
///         let done = done.clone();
///         mayfly::spawn(move || {
///             mayfly::sleep(Duration::from_millis(10 * i));
///             // one more, spawned while the caller waits: waited for too
///             mayfly::spawn(move || { done.fetch_add(1, Ordering::Relaxed); });
///         });
///     }
///     assert!(mayfly::wait_others(None)); // no handles kept: fire and forget
///     assert_eq!(done.load(Ordering::Relaxed), 3);
///     let forever = mayfly::spawn(|| mayfly::sleep(Duration::from_secs(30)));
///     assert!(!mayfly::wait_others(Duration::from_millis(20)));
///     forever.kill();
/// });
/// ```
pub fn wait_others(timeout: impl Into<Option<Duration>>) -> bool {
    let until = timeout.into().map(crate::timeout::deadline_after);
    let me = u64::from(crate::context::current_core().is_some());
    crate::greenlet::wait_alive_at_most(me, until)
}

/// Options of [`wait`], gevent's keyword arguments.
///
/// ```
/// use std::time::Duration;
/// let opts = mayfly::WaitOpts::default().timeout(Duration::from_secs(1)).count(1);
/// assert_eq!(opts.count, Some(1));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WaitOpts {
    /// Give up after this long and return what is ready so far.
    pub timeout: Option<Duration>,
    /// Return once this many are ready (default: all).
    pub count: Option<usize>,
}

impl WaitOpts {
    /// Sets `timeout`.
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(t);
        self
    }
    /// Sets `count`.
    pub fn count(mut self, n: usize) -> Self {
        self.count = Some(n);
        self
    }
}

/// Waits until the objects are ready — all of them, or `count` of them, or until `timeout`
/// (gevent's `wait(objects, timeout, count)`) — and returns the indices of those that are, in
/// the order they became ready. Greenlets of different value types, events, async results
/// and semaphores mix in one slice of `&dyn Waitable`.
///
/// ```
/// use std::time::Duration;
/// use mayfly::{event::{AsyncResult, Event}, lock::Semaphore, Waitable, WaitOpts};
/// mayfly::run(|| {
///     let g = mayfly::spawn(|| { mayfly::sleep(Duration::from_millis(10)); "text" });
///     let n = mayfly::spawn(|| 42u64);
///     let (ev, res, sem) = (Event::new(), AsyncResult::<u8>::new(), Semaphore::new(0));
///     let all: [&dyn Waitable; 5] = [&g, &n, &ev, &res, &sem];
///     let first_two = mayfly::wait(&all, WaitOpts::default().count(2));
///     assert_eq!(first_two, [1, 0]); // n finishes first, then g
///     let none = mayfly::wait(&all[2..], WaitOpts::default().timeout(Duration::from_millis(10)));
///     assert!(none.is_empty());
/// });
/// ```
pub fn wait<W: Waitable>(objects: &[W], opts: WaitOpts) -> Vec<usize> {
    let until = opts.timeout.map(|t| Instant::now() + t);
    let want = opts.count.unwrap_or(objects.len()).min(objects.len());
    let mut it = IWait::new(objects, until);
    let mut ready = Vec::with_capacity(want);
    while ready.len() < want {
        match it.next_index() {
            Some(i) => ready.push(i),
            None => break,
        }
    }
    ready
}

/// Waits until one of `objs` is ready (or `until` passes); returns its index.
pub(crate) fn wait_any<W: Waitable + ?Sized>(objs: &[&W], until: Option<Instant>) -> Option<usize> {
    loop {
        if let Some(pos) = objs.iter().position(|o| o.is_ready()) {
            return Some(pos);
        }
        if objs.is_empty() || until.is_some_and(|u| Instant::now() >= u) {
            return None;
        }
        // One subscription per object; any of them wakes us.
        let subs: Vec<Subscription<'_>> = objs.iter().map(|o| o.subscribe()).collect();
        if objs.iter().any(|o| o.is_ready()) {
            continue;
        }
        park_until(until);
        // Leave every list (passing on wake-ups we do not use); one woken as "ready" (an
        // event set and cleared at once) counts even if it no longer looks ready.
        let mut woke_ready = None;
        for (i, sub) in subs.into_iter().enumerate() {
            if sub.leave() && woke_ready.is_none() {
                woke_ready = Some(i);
            }
        }
        if let Some(i) = woke_ready {
            return Some(i);
        }
    }
}

impl<T> Waitable for Greenlet<T> {
    fn is_ready(&self) -> bool {
        self.ready()
    }
    fn subscribe(&self) -> Subscription<'_> {
        Subscription::new(&self.core().waiters, Wake::Ready)
    }
}
