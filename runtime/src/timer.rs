//! The timer thread: one OS thread that owns every deadline of every greenlet.
//!
//! may resumes a coroutine woken by its own global timer (`may::coroutine::sleep`,
//! `park_timeout`) *on may's timer thread*, not on the worker. If user code ran there,
//! thread-locals would be read from the wrong thread and a kill racing the timer could unwind
//! user destructors off the worker. So no greenlet ever waits on may's timer: it parks without
//! a timeout and registers its deadline here. This thread sleeps on a condition variable until
//! the earliest deadline and then *unparks* the greenlets that are due. Unparking from a thread
//! that is not a may worker only pushes the greenlet onto the worker's queue; the worker resumes
//! it. This thread never runs a coroutine.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Instant;

use crate::poison::{unpoison, MutexExt};

/// A registered deadline, to [`cancel`].
pub(crate) type TimerId = u64;

struct State {
    heap: BinaryHeap<Reverse<(Instant, TimerId)>>,
    live: HashMap<TimerId, may::coroutine::Coroutine>,
    next_id: TimerId,
    /// The deadline the thread sleeps until (None: no deadline).
    sleeping_until: Option<Instant>,
}

struct Timers {
    state: Mutex<State>,
    changed: Condvar,
}

static TIMERS: OnceLock<Timers> = OnceLock::new();

/// Starts the timer thread. Called once, by start-up; [`add`] and [`cancel`] may only be
/// called after it (every wait starts the runtime before it registers a deadline).
pub(crate) fn start_thread() -> std::io::Result<()> {
    let _ = TIMERS.set(Timers {
        state: Mutex::new(State {
            heap: BinaryHeap::new(),
            live: HashMap::new(),
            next_id: 1,
            sleeping_until: None,
        }),
        changed: Condvar::new(),
    });
    std::thread::Builder::new()
        .name("mayfly-timer".into())
        .spawn(run)
        .map(|_| ())
}

/// # Panics
/// If the runtime has not started (a bug: `park::park_until` starts it first).
fn timers() -> &'static Timers {
    TIMERS
        .get()
        .expect("mayfly timer thread started before any deadline is registered")
}

fn lock(t: &Timers) -> MutexGuard<'_, State> {
    t.state.lock_unpoisoned()
}

/// Registers `co` to be unparked at `at`. Returns the id to [`cancel`] it with.
pub(crate) fn add(at: Instant, co: may::coroutine::Coroutine) -> TimerId {
    let t = timers();
    let mut st = lock(t);
    let id = st.next_id;
    st.next_id += 1;
    st.heap.push(Reverse((at, id)));
    st.live.insert(id, co);
    if st.sleeping_until.is_none_or(|until| at < until) {
        st.sleeping_until = Some(at);
        t.changed.notify_one();
    }
    id
}

/// Forgets a deadline (a no-op when it already fired).
pub(crate) fn cancel(id: TimerId) {
    let t = timers();
    let mut st = lock(t);
    st.live.remove(&id);
    // Most socket and join timeouts are cancelled long before they fire: keep the heap from
    // filling up with dead entries.
    if st.heap.len() > 1024 && st.heap.len() > 4 * st.live.len() {
        let live = std::mem::take(&mut st.live);
        st.heap.retain(|Reverse((_, id))| live.contains_key(id));
        st.live = live;
    }
}

fn run() {
    let t = TIMERS.get().expect("set before the thread starts");
    let mut due = Vec::new();
    let mut st = lock(t);
    loop {
        let now = Instant::now();
        while let Some(Reverse((at, id))) = st.heap.peek().copied() {
            if !st.live.contains_key(&id) {
                st.heap.pop();
                continue;
            }
            if at > now {
                break;
            }
            st.heap.pop();
            if let Some(co) = st.live.remove(&id) {
                due.push(co);
            }
        }
        let next = st.heap.peek().map(|Reverse((at, _))| *at);
        st.sleeping_until = next;
        if !due.is_empty() {
            drop(st);
            // Unparking from a non-worker thread queues the greenlet on the worker's global
            // queue and wakes the worker: the greenlet resumes on the worker.
            for co in due.drain(..) {
                crate::wait::note_remote_wake();
                co.unpark();
            }
            st = lock(t);
            continue;
        }
        st = match next {
            Some(at) => {
                let wait = at.saturating_duration_since(Instant::now());
                unpoison(t.changed.wait_timeout(st, wait)).0
            }
            None => unpoison(t.changed.wait(st)),
        };
    }
}
