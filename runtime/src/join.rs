//! `joinall` and `iwait`: wait for many greenlets at once.

use std::time::{Duration, Instant};

use crate::context::Core;
use crate::greenlet::{Greenlet, GreenletError};
use crate::park::park_until;
use crate::wait::WaitSlot;

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

/// Iterates over the greenlets in the order they finish (gevent's `iwait`).
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
pub fn iwait<T>(greenlets: &[Greenlet<T>]) -> IWait<'_, T> {
    IWait::new(greenlets, None)
}

/// Like [`iwait`] but stops yielding after `timeout`.
pub fn iwait_timeout<T>(greenlets: &[Greenlet<T>], timeout: Duration) -> IWait<'_, T> {
    IWait::new(greenlets, Some(Instant::now() + timeout))
}

/// Like [`iwait`] but stops yielding at `deadline`.
pub fn iwait_deadline<T>(greenlets: &[Greenlet<T>], deadline: Instant) -> IWait<'_, T> {
    IWait::new(greenlets, Some(deadline))
}

/// The iterator returned by [`iwait`].
pub struct IWait<'a, T> {
    pending: Vec<&'a Greenlet<T>>,
    until: Option<Instant>,
}

impl<T> std::fmt::Debug for IWait<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IWait")
            .field("pending", &self.pending.len())
            .field("until", &self.until)
            .finish()
    }
}

impl<'a, T> IWait<'a, T> {
    fn new(greenlets: &'a [Greenlet<T>], until: Option<Instant>) -> Self {
        IWait {
            pending: greenlets.iter().collect(),
            until,
        }
    }
}

impl<'a, T> Iterator for IWait<'a, T> {
    type Item = &'a Greenlet<T>;

    fn next(&mut self) -> Option<Self::Item> {
        let cores: Vec<&Core> = self.pending.iter().map(|g| &**g.core()).collect();
        let pos = wait_any(&cores, self.until)?;
        Some(self.pending.remove(pos))
    }
}

/// Waits until one of `cores` has finished (or `until` passes); returns its index.
pub(crate) fn wait_any(cores: &[&Core], until: Option<Instant>) -> Option<usize> {
    loop {
        if let Some(pos) = cores.iter().position(|c| c.is_done()) {
            return Some(pos);
        }
        if cores.is_empty() || until.is_some_and(|u| Instant::now() >= u) {
            return None;
        }
        // One registration per greenlet; any finishing one wakes us.
        let slots: Vec<WaitSlot<'_>> = cores.iter().map(|c| c.waiters.register()).collect();
        if !cores.iter().any(|c| c.is_done()) {
            park_until(until);
        }
        drop(slots);
    }
}
