//! [`Waitable`]: anything [`crate::wait`] and [`crate::iwait`] can wait on — greenlets (of any
//! value type), events, async results, semaphores, locks — as gevent's `wait` does.
//!
//! A waitable says whether it is ready now and lets a waiter [subscribe](Waitable::subscribe)
//! to its wait list; the waiting itself is `join::wait_any`. Only mayfly's types implement it
//! (a [`Subscription`] can only be made by them), but `&W`, `&dyn Waitable` and `Arc<W>`
//! (what [`ThreadPool::spawn`](crate::threadpool::ThreadPool::spawn) returns) are waitable
//! too, so one slice can mix them.

use crate::wait::{WaitList, WaitSlot};

/// Something [`crate::wait`] and [`crate::iwait`] can wait for.
///
/// Ready means: a greenlet finished; an [`Event`](crate::event::Event) is set; an
/// [`AsyncResult`](crate::event::AsyncResult) has its value or error; a
/// [`Semaphore`](crate::lock::Semaphore) (or `Lock`) could be acquired now — waiting does not
/// acquire it.
///
/// ```
/// use mayfly::Waitable;
/// let ev = mayfly::event::Event::new();
/// assert!(!ev.is_ready());
/// ev.set();
/// assert!(ev.is_ready());
/// ```
pub trait Waitable {
    /// Whether it is ready now.
    fn is_ready(&self) -> bool;

    /// Puts the caller on its wait list, until the subscription is dropped. (Only mayfly's
    /// own types can make one.)
    fn subscribe(&self) -> Subscription<'_>;
}

/// A place on a waitable's wait list (see [`Waitable::subscribe`]); leaving scope leaves it.
#[derive(Debug)]
pub struct Subscription<'a> {
    slot: Option<WaitSlot<'a>>,
    list: &'a WaitList,
    kind: Wake,
}

/// What a wake-up through a waitable's list means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wake {
    /// It became ready and stays ready for this waiter (a finished greenlet, a delivered
    /// result, an event that was set — even if cleared since).
    Ready,
    /// A wake-up meant for *one* waiter that would take something (a semaphore's permit):
    /// a waiter that only looks passes it on, so the next taker is not left asleep.
    PassOn,
}

impl<'a> Subscription<'a> {
    pub(crate) fn new(list: &'a WaitList, kind: Wake) -> Self {
        Subscription {
            slot: Some(list.register()),
            list,
            kind,
        }
    }

    /// Leaves the wait list; returns whether the wake-up through it means "ready" (see
    /// [`Wake`]). A pass-on wake-up is handed to the next waiter.
    pub(crate) fn leave(mut self) -> bool {
        self.leave_now()
    }

    fn leave_now(&mut self) -> bool {
        let Some(slot) = self.slot.take() else {
            return false;
        };
        let woken = slot.leave();
        match self.kind {
            Wake::Ready => woken,
            Wake::PassOn => {
                if woken {
                    self.list.wake_one();
                }
                false
            }
        }
    }
}

impl Drop for Subscription<'_> {
    fn drop(&mut self) {
        self.leave_now();
    }
}

impl<W: Waitable + ?Sized> Waitable for &W {
    fn is_ready(&self) -> bool {
        (**self).is_ready()
    }
    fn subscribe(&self) -> Subscription<'_> {
        (**self).subscribe()
    }
}

/// `Arc<W>` waits as `W` does: the `Arc<AsyncResult<T>>` of
/// [`ThreadPool::spawn`](crate::threadpool::ThreadPool::spawn) goes straight into
/// [`crate::wait`] (gevent waits on a thread pool's AsyncResult the same way).
///
/// ```
/// mayfly::run(|| {
///     let jobs: Vec<_> = (0..3u64)
///         .map(|i| mayfly::threadpool::spawn(move || i * 2))
///         .collect();
///     let ready = mayfly::wait(&jobs, mayfly::WaitOpts::default());
///     assert_eq!(ready.len(), 3);
///     assert_eq!(jobs[2].get(None), Ok(4));
/// });
/// ```
impl<W: Waitable + ?Sized> Waitable for std::sync::Arc<W> {
    fn is_ready(&self) -> bool {
        (**self).is_ready()
    }
    fn subscribe(&self) -> Subscription<'_> {
        (**self).subscribe()
    }
}
