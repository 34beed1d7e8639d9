//! Parking: the one blocking primitive every mayfly wait is built on, and the wait loop
//! ([`WaitUntil::wait_until`]) that joins, events, queues and locks share.
//!
//! A greenlet parks with may's `park`, never with may's timer: its deadline (its own, or the
//! innermost [`crate::Timeout`]'s) goes to mayfly's timer thread (see `timer`), and after it
//! resumes it hops back onto the worker (`worker::hop_to_worker`). A plain OS thread parks
//! with `std::thread::park_timeout`. Wake-ups may be spurious; callers re-check.

use std::time::Instant;

use crate::wait::WaitList;

/// Parks the caller until woken or until `until` passes (whichever is earlier, together with
/// the innermost active [`crate::Timeout`]). Returns normally in every case; callers check
/// their condition and the clock. If the enclosing `Timeout` has expired, this unwinds with it.
pub(crate) fn park_until(until: Option<Instant>) {
    crate::start::ensure_started();
    let deadline = crate::timeout::effective_deadline(until);
    if may::coroutine::is_coroutine() {
        let timer = deadline.map(|at| TimerGuard(crate::timer::add(at, may::coroutine::current())));
        may::coroutine::park();
        drop(timer);
        crate::worker::hop_to_worker();
    } else {
        match deadline {
            Some(at) => {
                let now = Instant::now();
                if at > now {
                    std::thread::park_timeout(at - now);
                }
            }
            None => std::thread::park(),
        }
    }
    crate::timeout::check_expired();
}

/// Cancels a registered deadline when the wait ends, also when it ends by unwinding (kill).
struct TimerGuard(crate::timer::TimerId);

impl Drop for TimerGuard {
    fn drop(&mut self) {
        crate::timer::cancel(self.0);
    }
}

/// The wait loop on a [`WaitList`].
pub(crate) trait WaitUntil {
    /// Parks the caller until `ready()` is true (re-checked after every wake-up) or `until`
    /// passes. Returns whether `ready()` held. The one wait loop every primitive shares:
    /// register first, re-check, then park, so a wake-up between check and park is not lost.
    fn wait_until(&self, until: Option<Instant>, ready: impl FnMut() -> bool) -> bool;
}

impl WaitUntil for WaitList {
    fn wait_until(&self, until: Option<Instant>, mut ready: impl FnMut() -> bool) -> bool {
        loop {
            if ready() {
                return true;
            }
            if until.is_some_and(|u| Instant::now() >= u) {
                return false;
            }
            let slot = self.register();
            if ready() {
                return true;
            }
            if until.is_none() {
                crate::loop_exit::check(&mut ready);
            }
            park_until(until);
            drop(slot);
        }
    }
}
