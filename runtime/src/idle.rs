//! What outside the greenlets could still wake one (for `loop_exit`): mayfly's and may's
//! own threads by thread id (they wake a greenlet only through what is counted here or
//! through timers), the thread-pool jobs in flight and the child processes the reaper
//! watches. A leaf: the thread pool, the reaper and start-up report to it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use crate::poison::MutexExt;

/// Thread ids of threads that never wake a greenlet by themselves: the worker, may's timer
/// thread, `mayfly-timer`, the monitor, the reaper, the pool threads, and a thread blocked
/// in `mayfly::run` for its main greenlet.
static OWN: Mutex<Vec<libc::pid_t>> = Mutex::new(Vec::new());
/// Start-up could not tell may's threads from others: `loop_exit` never fires.
static UNSURE: AtomicBool = AtomicBool::new(false);
/// Thread-pool jobs queued or running (a job's closure may wake anyone).
static JOBS: AtomicU64 = AtomicU64::new(0);
/// Children the reaper watches whose exit event is not set yet.
static CHILDREN: AtomicU64 = AtomicU64::new(0);

/// The calling thread's id.
pub(crate) fn tid() -> libc::pid_t {
    // SAFETY: gettid(2) has no arguments and cannot fail.
    unsafe { libc::gettid() }
}

/// The ids of the process's threads now (`/proc/self/task`); `None` if it cannot be read.
pub(crate) fn threads() -> Option<Vec<libc::pid_t>> {
    let dir = std::fs::read_dir("/proc/self/task").ok()?;
    let mut ids = Vec::new();
    for entry in dir {
        ids.push(entry.ok()?.file_name().to_str()?.parse().ok()?);
    }
    Some(ids)
}

/// Records the calling thread as one of mayfly's own.
pub(crate) fn own_thread() {
    own(tid());
}

/// Records thread `id` as one of mayfly's own (or may's).
pub(crate) fn own(id: libc::pid_t) {
    OWN.lock_unpoisoned().push(id);
}

/// Forgets thread `id` (a `mayfly::run` caller whose main greenlet ended).
pub(crate) fn disown(id: libc::pid_t) {
    let mut own = OWN.lock_unpoisoned();
    if let Some(pos) = own.iter().position(|&t| t == id) {
        own.swap_remove(pos);
    }
}

/// Start-up saw threads appear that it cannot account for.
pub(crate) fn unsure() {
    UNSURE.store(true, Ordering::Release);
}

/// Whether every thread of the process (other than `me`) is one of mayfly's own.
pub(crate) fn only_own_threads(me: libc::pid_t) -> bool {
    if UNSURE.load(Ordering::Acquire) {
        return false;
    }
    let Some(now) = threads() else {
        return false;
    };
    let own = OWN.lock_unpoisoned();
    now.iter().all(|t| *t == me || own.contains(t))
}

/// A thread-pool job was queued.
pub(crate) fn job_queued() {
    JOBS.fetch_add(1, Ordering::AcqRel);
}

/// A thread-pool job finished, after it set its result (Release: whoever reads the count
/// as 0 sees the result).
pub(crate) fn job_done() {
    JOBS.fetch_sub(1, Ordering::AcqRel);
}

/// The reaper watches one more child.
pub(crate) fn child_watched() {
    CHILDREN.fetch_add(1, Ordering::AcqRel);
}

/// A watched child's exit event was set (or its watch failed).
pub(crate) fn child_done() {
    CHILDREN.fetch_sub(1, Ordering::AcqRel);
}

/// Whether a job or a child could still wake someone.
pub(crate) fn in_flight() -> bool {
    JOBS.load(Ordering::Acquire) > 0 || CHILDREN.load(Ordering::Acquire) > 0
}
