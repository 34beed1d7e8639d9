//! Mutexes whose poisoning is ignored: one helper instead of the idiom at every lock.
//!
//! A greenlet that panics (or is killed) while it holds one of the runtime's mutexes poisons
//! it. The runtime's critical sections leave their state consistent at every step (they push,
//! pop, or set a flag), so the state behind a poisoned mutex is still good: every lock in the
//! runtime goes through [`MutexExt::lock_unpoisoned`], and condition-variable waits through
//! [`unpoison`].

use std::sync::{LockResult, Mutex, MutexGuard};

/// `lock()` that takes the guard out of a poisoned mutex instead of failing.
pub(crate) trait MutexExt<T: ?Sized> {
    /// Locks, ignoring poisoning (see the [module docs](self)).
    fn lock_unpoisoned(&self) -> MutexGuard<'_, T>;
}

impl<T: ?Sized> MutexExt<T> for Mutex<T> {
    #[inline]
    fn lock_unpoisoned(&self) -> MutexGuard<'_, T> {
        unpoison(self.lock())
    }
}

/// The guard (or guard and extra result) of a lock operation, poisoned or not: for
/// `Condvar::wait` and `wait_timeout`.
#[inline]
pub(crate) fn unpoison<G>(r: LockResult<G>) -> G {
    r.unwrap_or_else(|e| e.into_inner())
}
