//! The worker's identity: which OS thread is may's one worker, whether the caller runs on it,
//! and the hop back onto it that every blocking primitive makes after it resumes.
//!
//! [`hop_to_worker`] is one half of the soundness argument (crate docs, "Soundness"): a
//! greenlet resumed anywhere but the worker yields once, which queues it on the worker.

use std::sync::atomic::{AtomicUsize, Ordering};

/// `pthread_self()` of may's one worker thread, 0 until known.
static WORKER: AtomicUsize = AtomicUsize::new(0);

/// Runs one coroutine on the worker to learn its `pthread_self()`. Called once, by start-up,
/// after may is configured with its one worker.
pub(crate) fn learn_identity() -> std::io::Result<()> {
    // SAFETY: the closure touches no thread-local storage and does not yield; it reads the
    // current thread's id with a plain FFI call and returns.
    let handle = unsafe {
        may::coroutine::Builder::new()
            .name("mayfly-probe".into())
            .spawn(|| libc::pthread_self() as usize)
    }?;
    let id = handle
        .join()
        .map_err(|_| std::io::Error::other("probe coroutine panicked"))?;
    WORKER.store(id, Ordering::Release);
    Ok(())
}

/// The worker's `pthread_t` as learnt at start-up (0 before).
pub(crate) fn thread_id() -> usize {
    WORKER.load(Ordering::Acquire)
}

/// True when the calling code runs on may's one worker thread.
///
/// `pthread_self` is an opaque FFI call, so the compiler cannot cache its result across a
/// coroutine switch the way it may cache a thread-local's address.
#[inline]
pub fn on_worker() -> bool {
    // SAFETY: pthread_self has no preconditions and cannot fail.
    let me = unsafe { libc::pthread_self() } as usize;
    me == WORKER.load(Ordering::Acquire)
}

/// If a greenlet finds itself off the worker (resumed by may's timer thread), yield once:
/// may then queues it on the worker's global queue, and it continues there. Then tells the
/// monitor that a greenlet resumed.
#[inline]
pub(crate) fn hop_to_worker() {
    if may::coroutine::is_coroutine() && !on_worker() {
        hop_slow();
    }
    crate::loop_watch::resumed();
}

#[cold]
#[inline(never)]
fn hop_slow() {
    // Off the worker, `schedule` sees no worker id and pushes to the global queue, which only
    // the worker drains. One yield is always enough; the loop is defence in depth.
    for _ in 0..8 {
        may::coroutine::yield_now();
        if on_worker() {
            return;
        }
    }
}
