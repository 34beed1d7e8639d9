//! Locks between greenlets (gevent's `gevent.lock`): [`Semaphore`], [`BoundedSemaphore`],
//! [`Lock`], the re-entrant [`RLock`], and [`Mutex<T>`](Mutex), a lock that guards data and
//! may be held across blocking calls (which `std::sync::Mutex` must not).
//!
//! Acquiring parks the greenlet, never the worker; waiters are served in arrival order.
//! Acquiring returns a guard that releases on drop, so a greenlet that is killed or panics
//! while holding a lock releases it as it unwinds.
//!
//! "13 people, 5 toilets":
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use std::time::Duration;
//! use mayfly::lock::Semaphore;
//!
//! let most = mayfly::run(|| {
//!     let toilets = Arc::new(Semaphore::new(5));
//!     let inside = Arc::new(AtomicUsize::new(0));
//!     let most = Arc::new(AtomicUsize::new(0));
//!     let people: Vec<_> = (0..13).map(|_| {
//!         let (t, i, m) = (toilets.clone(), inside.clone(), most.clone());
//!         mayfly::spawn(move || {
//!             let _door = t.acquire();
//!             let now = i.fetch_add(1, Ordering::SeqCst) + 1;
//!             m.fetch_max(now, Ordering::SeqCst);
//!             mayfly::sleep(Duration::from_millis(5));
//!             i.fetch_sub(1, Ordering::SeqCst);
//!         })
//!     }).collect();
//!     mayfly::joinall(&people, Default::default()).unwrap();
//!     most.load(Ordering::SeqCst)
//! });
//! assert_eq!(most, 5);
//! ```

use std::sync::{Mutex as StdMutex, MutexGuard as StdMutexGuard};
use std::time::{Duration, Instant};

use crate::park::WaitUntil;
use crate::poison::MutexExt;
use crate::wait::WaitList;

/// A counting semaphore (gevent's `Semaphore`): `acquire` takes a permit, waiting while there
/// are none; releasing gives one back.
#[derive(Debug)]
pub struct Semaphore {
    permits: StdMutex<usize>,
    waiters: WaitList,
    /// The initial count, enforced on release by `BoundedSemaphore`.
    bound: Option<usize>,
}

/// A permit held from a [`Semaphore`], [`BoundedSemaphore`] or [`Lock`]; released on drop.
#[must_use = "the permit is released as soon as the guard is dropped"]
#[derive(Debug)]
pub struct SemaphoreGuard<'a> {
    sem: &'a Semaphore,
}

impl Drop for SemaphoreGuard<'_> {
    fn drop(&mut self) {
        self.sem.give_back();
    }
}

impl SemaphoreGuard<'_> {
    /// Keeps the permit taken (release it later with [`Semaphore::release`]).
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

/// [`BoundedSemaphore::release`] was called more times than permits were taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("semaphore released too many times (bound {bound})")]
pub struct OverRelease {
    /// The semaphore's initial count.
    pub bound: usize,
}

impl Semaphore {
    /// A semaphore with `permits` permits.
    pub fn new(permits: usize) -> Self {
        Semaphore {
            permits: StdMutex::new(permits),
            waiters: WaitList::new(),
            bound: None,
        }
    }

    fn lock(&self) -> StdMutexGuard<'_, usize> {
        self.permits.lock_unpoisoned()
    }

    /// Permits free now (gevent's `counter`).
    pub fn available(&self) -> usize {
        *self.lock()
    }

    /// Takes a permit if one is free now.
    pub fn try_acquire(&self) -> Option<SemaphoreGuard<'_>> {
        let mut p = self.lock();
        if *p == 0 {
            return None;
        }
        *p -= 1;
        Some(SemaphoreGuard { sem: self })
    }

    /// Takes a permit, waiting while none is free.
    ///
    /// # Panics
    /// Never in practice: a wait without a deadline ends only with a permit (an enclosing
    /// [`crate::Timeout`] unwinds out of it instead).
    pub fn acquire(&self) -> SemaphoreGuard<'_> {
        self.acquire_until(None).expect("no deadline")
    }

    /// Takes a permit, waiting at most `timeout`.
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<SemaphoreGuard<'_>> {
        self.acquire_until(Some(Instant::now() + timeout))
    }

    /// Takes a permit, waiting until `deadline` at most.
    pub fn acquire_deadline(&self, deadline: Instant) -> Option<SemaphoreGuard<'_>> {
        self.acquire_until(Some(deadline))
    }

    fn acquire_until(&self, until: Option<Instant>) -> Option<SemaphoreGuard<'_>> {
        let mut guard = None;
        self.waiters.wait_until(until, || {
            guard = self.try_acquire();
            guard.is_some()
        });
        guard
    }

    /// Adds a permit (for a permit kept with [`SemaphoreGuard::forget`], or to grow the count).
    pub fn release(&self) {
        self.give_back();
    }

    fn give_back(&self) {
        *self.lock() += 1;
        self.waiters.wake_one();
    }
}

/// A semaphore that refuses to be released above its initial count (gevent's
/// `BoundedSemaphore`): over-release is an error, not a silent extra permit.
///
/// ```
/// let s = mayfly::lock::BoundedSemaphore::new(1);
/// let g = s.acquire();
/// g.forget();
/// assert!(s.release().is_ok());
/// assert!(s.release().is_err()); // one more than was taken
/// ```
#[derive(Debug)]
pub struct BoundedSemaphore(Semaphore);

impl BoundedSemaphore {
    /// A semaphore with `permits` permits, never more.
    pub fn new(permits: usize) -> Self {
        let mut s = Semaphore::new(permits);
        s.bound = Some(permits);
        BoundedSemaphore(s)
    }

    /// Takes a permit, waiting while none is free.
    pub fn acquire(&self) -> SemaphoreGuard<'_> {
        self.0.acquire()
    }

    /// Takes a permit, waiting at most `timeout`.
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<SemaphoreGuard<'_>> {
        self.0.acquire_timeout(timeout)
    }

    /// Takes a permit, waiting until `deadline` at most.
    pub fn acquire_deadline(&self, deadline: Instant) -> Option<SemaphoreGuard<'_>> {
        self.0.acquire_deadline(deadline)
    }

    /// Takes a permit if one is free now.
    pub fn try_acquire(&self) -> Option<SemaphoreGuard<'_>> {
        self.0.try_acquire()
    }

    /// Permits free now.
    pub fn available(&self) -> usize {
        self.0.available()
    }

    /// Gives back a permit kept with [`SemaphoreGuard::forget`]; more than were taken is
    /// an error.
    ///
    /// # Errors
    /// [`OverRelease`] if that would free more permits than the semaphore started with.
    ///
    /// # Panics
    /// Never: a bounded semaphore always has its bound.
    pub fn release(&self) -> Result<(), OverRelease> {
        let bound = self.0.bound.expect("bounded");
        {
            let mut p = self.0.lock();
            if *p >= bound {
                return Err(OverRelease { bound });
            }
            *p += 1;
        }
        self.0.waiters.wake_one();
        Ok(())
    }
}

/// A mutual-exclusion lock between greenlets (gevent's `Lock`): a semaphore of one.
///
/// ```
/// let lock = mayfly::lock::Lock::new();
/// let held = lock.acquire();
/// assert!(lock.try_acquire().is_none());
/// drop(held);
/// assert!(lock.try_acquire().is_some());
/// ```
#[derive(Debug)]
pub struct Lock(Semaphore);

impl Default for Lock {
    fn default() -> Self {
        Self::new()
    }
}

impl Lock {
    /// An unlocked lock.
    pub fn new() -> Self {
        Lock(Semaphore::new(1))
    }
    /// Locks, waiting while another greenlet holds it.
    pub fn acquire(&self) -> SemaphoreGuard<'_> {
        self.0.acquire()
    }
    /// Locks, waiting at most `timeout`.
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<SemaphoreGuard<'_>> {
        self.0.acquire_timeout(timeout)
    }
    /// Locks, waiting until `deadline` at most.
    pub fn acquire_deadline(&self, deadline: Instant) -> Option<SemaphoreGuard<'_>> {
        self.0.acquire_deadline(deadline)
    }
    /// Locks if free now.
    pub fn try_acquire(&self) -> Option<SemaphoreGuard<'_>> {
        self.0.try_acquire()
    }
    /// Whether some greenlet holds it.
    pub fn locked(&self) -> bool {
        self.0.available() == 0
    }
}

/// A re-entrant lock (gevent's `RLock`): the greenlet that holds it may acquire it again
/// without deadlocking; it is free once every acquisition has been released.
///
/// ```
/// let r = mayfly::lock::RLock::new();
/// mayfly::run(move || {
///     let a = r.acquire();
///     let b = r.acquire(); // same greenlet: no deadlock
///     drop(b);
///     drop(a);
/// });
/// ```
#[derive(Debug, Default)]
pub struct RLock {
    /// (owner id, depth); the owner is a greenlet id, or a thread's for plain threads.
    state: StdMutex<Option<(Owner, usize)>>,
    waiters: WaitList,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Owner {
    Greenlet(u64),
    Thread(std::thread::ThreadId),
}

fn owner() -> Owner {
    match crate::getcurrent().id {
        0 => Owner::Thread(std::thread::current().id()),
        id => Owner::Greenlet(id),
    }
}

/// One acquisition of an [`RLock`]; released on drop.
#[must_use = "the lock is released as soon as the guard is dropped"]
#[derive(Debug)]
pub struct RLockGuard<'a> {
    lock: &'a RLock,
}

impl Drop for RLockGuard<'_> {
    fn drop(&mut self) {
        let free = {
            let mut st = self.lock.state.lock_unpoisoned();
            match st.as_mut() {
                Some((_, depth)) if *depth > 1 => {
                    *depth -= 1;
                    false
                }
                _ => {
                    *st = None;
                    true
                }
            }
        };
        if free {
            self.lock.waiters.wake_one();
        }
    }
}

impl RLock {
    /// An unlocked re-entrant lock.
    pub fn new() -> Self {
        Self::default()
    }

    fn try_take(&self, me: &Owner) -> bool {
        let mut st = self.state.lock_unpoisoned();
        match st.as_mut() {
            None => {
                *st = Some((me.clone(), 1));
                true
            }
            Some((o, depth)) if o == me => {
                *depth += 1;
                true
            }
            Some(_) => false,
        }
    }

    /// Acquires, waiting while another greenlet holds it.
    pub fn acquire(&self) -> RLockGuard<'_> {
        let me = owner();
        self.waiters.wait_until(None, || self.try_take(&me));
        RLockGuard { lock: self }
    }

    /// Acquires, waiting at most `timeout`.
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<RLockGuard<'_>> {
        self.acquire_deadline(Instant::now() + timeout)
    }

    /// Acquires, waiting until `deadline` at most.
    pub fn acquire_deadline(&self, deadline: Instant) -> Option<RLockGuard<'_>> {
        let me = owner();
        self.waiters
            .wait_until(Some(deadline), || self.try_take(&me))
            .then(|| RLockGuard { lock: self })
    }

    /// How many times the holder has acquired it (0: free).
    pub fn depth(&self) -> usize {
        self.state.lock_unpoisoned().as_ref().map_or(0, |(_, d)| *d)
    }
}

impl crate::Waitable for Semaphore {
    /// A permit is free now (waiting does not take it).
    fn is_ready(&self) -> bool {
        self.available() > 0
    }
    fn subscribe(&self) -> crate::Subscription<'_> {
        crate::waitable::Subscription::new(&self.waiters, crate::waitable::Wake::PassOn)
    }
}

impl crate::Waitable for BoundedSemaphore {
    fn is_ready(&self) -> bool {
        self.0.is_ready()
    }
    fn subscribe(&self) -> crate::Subscription<'_> {
        self.0.subscribe()
    }
}

impl crate::Waitable for Lock {
    /// Unlocked now (waiting does not lock it).
    fn is_ready(&self) -> bool {
        self.0.is_ready()
    }
    fn subscribe(&self) -> crate::Subscription<'_> {
        self.0.subscribe()
    }
}

/// A mutex for data shared between greenlets: [`lock`](Mutex::lock) parks the greenlet (never
/// the worker) while another holds it, and the guard gives `&mut T` until it is dropped.
///
/// Use it instead of `std::sync::Mutex` whenever the guard is held across a blocking mayfly
/// call (a socket write, a queue put, a sleep): a greenlet that blocks on a *std* mutex held
/// by a parked greenlet blocks the one worker thread, so the holder can never run again to
/// release it, and every greenlet stops (see the crate docs, "std::sync::Mutex and the
/// worker"). A std mutex is fine for short sections with no blocking call inside.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use mayfly::lock::Mutex;
///
/// let clients = Arc::new(Mutex::new(Vec::new()));
/// mayfly::run(move || {
///     let gs: Vec<_> = (0..3).map(|i| {
///         let clients = clients.clone();
///         mayfly::spawn(move || {
///             let mut list = clients.lock();
///             list.push(i);
///             mayfly::sleep(Duration::from_millis(5)); // held across a switch: fine here
///         })
///     }).collect();
///     mayfly::joinall(&gs, Default::default()).unwrap();
///     assert_eq!(clients.lock().len(), 3);
/// });
/// ```
pub struct Mutex<T: ?Sized> {
    sem: Semaphore,
    data: std::cell::UnsafeCell<T>,
}

// SAFETY: the semaphore of one permit lets at most one guard exist at a time, so `&mut T` is
// only ever reachable from one greenlet or thread at once; moving `T` between them needs
// `T: Send` (exactly std's rule for `Mutex<T>`).
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
// SAFETY: as above: shared `&Mutex<T>` only hands out `&mut T` through the one guard.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

/// Access to the data of a [`Mutex`]; unlocks on drop.
#[must_use = "the mutex is unlocked as soon as the guard is dropped"]
pub struct MutexGuard<'a, T: ?Sized> {
    lock: &'a Mutex<T>,
    _permit: SemaphoreGuard<'a>,
}

impl<T: ?Sized + std::fmt::Debug> std::fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.try_lock() {
            Some(g) => f.debug_struct("Mutex").field("data", &&*g).finish(),
            None => f.debug_struct("Mutex").field("data", &"<locked>").finish(),
        }
    }
}

impl<T: ?Sized + std::fmt::Debug> std::fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T> Mutex<T> {
    /// A mutex holding `value`.
    pub fn new(value: T) -> Self {
        Mutex {
            sem: Semaphore::new(1),
            data: std::cell::UnsafeCell::new(value),
        }
    }

    /// The data, taking the mutex apart.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    fn guard<'a>(&'a self, permit: SemaphoreGuard<'a>) -> MutexGuard<'a, T> {
        MutexGuard {
            lock: self,
            _permit: permit,
        }
    }

    /// Locks, parking the greenlet while another holds the mutex (waiters are served in
    /// arrival order). A greenlet killed while holding it unlocks it as it unwinds.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.guard(self.sem.acquire())
    }

    /// Locks, waiting at most `timeout`.
    pub fn lock_timeout(&self, timeout: Duration) -> Option<MutexGuard<'_, T>> {
        self.sem.acquire_timeout(timeout).map(|p| self.guard(p))
    }

    /// Locks, waiting until `deadline` at most.
    pub fn lock_deadline(&self, deadline: Instant) -> Option<MutexGuard<'_, T>> {
        self.sem.acquire_deadline(deadline).map(|p| self.guard(p))
    }

    /// Locks if it is free now.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.sem.try_acquire().map(|p| self.guard(p))
    }

    /// The data, through `&mut self` (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

impl<T: ?Sized> std::ops::Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: this guard holds the mutex's only permit: no other guard exists.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> std::ops::DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this the only access through the guard.
        unsafe { &mut *self.lock.data.get() }
    }
}
