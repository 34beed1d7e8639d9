//! gevent's `LoopExit`: the main greenlet of [`crate::run`] about to wait, without a
//! deadline, on something nothing can ever wake is told so (a panic naming it, which `run`
//! carries to its caller) instead of hanging for ever.
//!
//! "Nothing can wake it" is decided, right before the wait parks, from facts that cannot
//! change while it is parked: it is the only greenlet alive (none runnable, parked, or
//! unstarted: nothing else can run on the worker, and no I/O wait or server is left, those
//! are greenlets too); neither it nor an enclosing [`crate::Timeout`] has a deadline (so no
//! timer is its); no thread-pool job and no watched child process is in flight (`idle`);
//! and every thread of the process is one of mayfly's or may's own, or the thread blocked
//! in `run` for it — an OS thread of the user's could hold a handle and wake it at any time
//! (mayfly's primitives are `Send + Sync`), so with one around it never fires. Then the
//! waited-for condition is checked once more (whatever woke it before the check is seen).
//! gevent's hub knows the same from its loop's live watchers.

use std::sync::atomic::{AtomicU64, Ordering};

/// The id of `run`'s main greenlet while it runs (0: none).
static MAIN: AtomicU64 = AtomicU64::new(0);

/// `run` starts its main greenlet `id`.
pub(crate) fn main_started(id: u64) {
    MAIN.store(id, Ordering::Release);
}

/// `run`'s main greenlet ended.
pub(crate) fn main_ended() {
    MAIN.store(0, Ordering::Release);
}

/// Called by the wait loop before a wait without a deadline parks: panics with gevent's
/// LoopExit if the caller is `run`'s main greenlet and nothing can ever wake it (module
/// docs); `ready` is the wait's condition, checked again last.
pub(crate) fn check(ready: &mut impl FnMut() -> bool) {
    let main = MAIN.load(Ordering::Acquire);
    // One alive and it is the caller, which runs: no other greenlet is spawned, so none is
    // unstarted either (a spawn counts a greenlet alive before its coroutine is queued).
    if main == 0 || crate::context::alive() != 1 {
        return;
    }
    let Some(me) = crate::context::current_core() else {
        return;
    };
    if me.id != main
        || crate::timeout::effective_deadline(None).is_some()
        || crate::idle::in_flight()
        || !crate::idle::only_own_threads(crate::idle::tid())
    {
        return;
    }
    if crate::context::alive() != 1 || ready() {
        return;
    }
    panic!(
        "LoopExit: greenlet {:?} (#{}) would wait for ever: no other greenlet, timer, \
         thread-pool job, child process or thread is left that could wake it",
        me.name(),
        me.id
    );
}
