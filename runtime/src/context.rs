//! Who is running: the per-greenlet record ([`Core`]), the coroutine-local "current greenlet",
//! the process-wide greenlet counters, and the flag that marks a spawn in progress (tokio's
//! `runtime/context.rs`). The panic hook, the monitor, `getcurrent` and the greenlet code all
//! read this state here; nothing here starts the runtime or blocks.

use std::any::Any;
use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::poison::MutexExt;
use crate::wait::WaitList;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);
/// Greenlets spawned and not finished. Its changes and reads are `SeqCst`: with
/// `FINISH_WAITERS` in greenlet.rs they pair as a Dekker handshake (a finish and a waiter
/// each write one and then read the other), which on x86 costs no fence (a locked
/// read-modify-write is one already, a `SeqCst` load a plain load).
static ALIVE: AtomicU64 = AtomicU64::new(0);
/// Greenlets spawned from another thread that have not started running yet: their
/// coroutines wait on the worker's global queue, which a yield must let run first (see
/// `yield_now`). Greenlets spawned on the worker go on its own run queue and are not counted:
/// nothing asks how many of them wait (issue 24: two locked instructions a spawn).
static UNSTARTED_GLOBAL: AtomicU64 = AtomicU64::new(0);

/// A fresh greenlet id (never 0: 0 means "not a greenlet").
pub(crate) fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// Greenlets spawned and not finished.
pub(crate) fn alive() -> u64 {
    ALIVE.load(Ordering::SeqCst)
}

/// Greenlets spawned from other threads that have not started yet: their coroutines wait in
/// the worker's global queue, which it drains only when its own run queue is empty.
pub(crate) fn unstarted_on_global_queue() -> u64 {
    UNSTARTED_GLOBAL.load(Ordering::Acquire)
}

/// Where a spawned greenlet's coroutine is queued (vendor/may PATCHED.md, "Spawning onto the
/// spawner's run queue").
#[derive(Clone, Copy)]
pub(crate) enum SpawnQueue {
    /// Spawned on the worker: its own run queue.
    Local,
    /// Spawned from another thread: the worker's global queue.
    Global,
}

impl SpawnQueue {
    /// The count of greenlets waiting in this queue to start, if it is kept.
    fn unstarted(self) -> Option<&'static AtomicU64> {
        match self {
            SpawnQueue::Local => None,
            SpawnQueue::Global => Some(&UNSTARTED_GLOBAL),
        }
    }
}

/// Counts a greenlet about to be spawned onto `queue` (alive, and not started).
pub(crate) fn count_spawning(queue: SpawnQueue) {
    ALIVE.fetch_add(1, Ordering::SeqCst);
    if let Some(unstarted) = queue.unstarted() {
        unstarted.fetch_add(1, Ordering::AcqRel);
    }
}

/// Takes back [`count_spawning`] for a spawn that failed.
pub(crate) fn count_spawn_failed(queue: SpawnQueue) {
    ALIVE.fetch_sub(1, Ordering::SeqCst);
    if let Some(unstarted) = queue.unstarted() {
        unstarted.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Counts a greenlet spawned onto `queue` that starts running.
pub(crate) fn count_started(queue: SpawnQueue) {
    if let Some(unstarted) = queue.unstarted() {
        unstarted.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Counts a greenlet that finished (`SeqCst`: see [`ALIVE`]).
fn count_finished() {
    ALIVE.fetch_sub(1, Ordering::SeqCst);
}

/// A callback run once when a greenlet finishes (gevent's `rawlink`): it runs on the
/// finishing greenlet's coroutine, or at once in the caller if the greenlet already finished,
/// so it must not block.
pub(crate) type Link = Box<dyn FnOnce() + Send + 'static>;

/// A callback of `Greenlet::link`: run after the greenlet finished, by the one greenlet that
/// runs all of them in turn ([`Core::next_callback`]), so it may block.
pub(crate) type Callback = Box<dyn FnOnce() + Send + 'static>;

/// How a greenlet made without starting it (`Builder::build`) is started: now, after a
/// delay, or never (it was killed first). Built by `greenlet.rs`, which knows its type; an
/// `Err` is why no coroutine could be spawned (the launcher has then finished the greenlet).
pub(crate) type Launcher = Box<dyn FnOnce(Start) -> Result<(), String> + Send + 'static>;

/// What a [`Launcher`] is asked to do.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Start {
    Now,
    Later(std::time::Duration),
    Never,
}

/// What `Core` keeps behind one lock: taking the coroutine handle and running the links
/// happen together in `finish`, so a link added concurrently is either run there or at once.
struct Slot {
    co: Option<may::coroutine::Coroutine>,
    /// `None` once the greenlet finished (the links ran).
    links: Option<Vec<(u64, Link)>>,
    /// What most greenlets never use (a `link` callback, a kill reason, a pending start),
    /// boxed on first use: inline it was 72 bytes in every greenlet's record, so 10,000
    /// parked connections carried 700 KiB of empty fields (issue 24).
    rare: Option<Box<Rare>>,
}

/// The [`Slot`] fields a greenlet rarely needs (see `Slot::rare`).
#[derive(Default)]
struct Rare {
    /// `link` callbacks not run yet, in link order (gevent's `_links`): the greenlet that
    /// runs them takes them one at a time, so an earlier one can unlink a later one.
    callbacks: VecDeque<(u64, Callback)>,
    /// Whether a greenlet is running the callbacks (or one is being started).
    notifying: bool,
    /// Why it was killed, if the killer said ([`Core::kill_nowait`]).
    kill_reason: Option<String>,
    /// Set while a greenlet made without starting it waits for `start`.
    pending: Option<Launcher>,
    /// Where it panicked, recorded by the panic hook for the error message
    /// ([`Core::set_panic_location`]).
    panic_location: Option<String>,
}

impl Slot {
    /// The rare fields, boxed now if they were not yet.
    fn rare(&mut self) -> &mut Rare {
        self.rare.get_or_insert_with(Box::default)
    }

    /// The callbacks not run yet (none if the rare fields were never boxed).
    fn callback_count(&self) -> usize {
        self.rare.as_ref().map_or(0, |r| r.callbacks.len())
    }
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rare = self.rare.as_deref();
        f.debug_struct("Slot")
            .field("co", &self.co.is_some())
            .field("links", &self.links.as_ref().map(Vec::len))
            .field("callbacks", &self.callback_count())
            .field("notifying", &rare.is_some_and(|r| r.notifying))
            .field("kill_reason", &rare.and_then(|r| r.kill_reason.as_ref()))
            .field("pending", &rare.is_some_and(|r| r.pending.is_some()))
            .finish()
    }
}

static NEXT_LINK: AtomicU64 = AtomicU64::new(1);

/// A greenlet's record, whatever its result type: greenlet.rs's `Shared<T>`, which holds the
/// untyped [`Core`] as its first field and the typed result beside it, in one allocation
/// (issue 24: one record per spawn, not a core and a result slot apart).
pub(crate) trait Record: Send + Sync {
    /// The record's untyped part.
    fn core(&self) -> &Core;
}

/// A counted handle to a greenlet's record, whatever its result type; it derefs to the
/// record's [`Core`]. What a group, a `Local` or the loop monitor keeps of a greenlet.
#[derive(Clone)]
pub(crate) struct CoreRef(Arc<dyn Record>);

impl CoreRef {
    /// Wraps a counted record.
    pub(crate) fn new(record: Arc<dyn Record>) -> Self {
        CoreRef(record)
    }

    /// A handle that does not keep the record alive.
    pub(crate) fn downgrade(&self) -> WeakCore {
        WeakCore(Arc::downgrade(&self.0))
    }
}

impl std::ops::Deref for CoreRef {
    type Target = Core;
    fn deref(&self) -> &Core {
        self.0.core()
    }
}

impl std::fmt::Debug for CoreRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

/// A [`CoreRef`] that does not keep the record alive.
#[derive(Clone)]
pub(crate) struct WeakCore(std::sync::Weak<dyn Record>);

impl WeakCore {
    /// The record, if it is still alive.
    pub(crate) fn upgrade(&self) -> Option<CoreRef> {
        self.0.upgrade().map(CoreRef)
    }
}

/// Makes one more [`CoreRef`] to the record whose [`Core`] this is: [`Core::counted`], which
/// knows the record's type.
///
/// # Safety
/// The core must be the first field of a live record that `Arc` owns, of the type this
/// function was made for (greenlet.rs's `counted::<T>` for a `Shared<T>`).
pub(crate) type Counted = unsafe fn(&Core) -> CoreRef;

/// The untyped part of a greenlet, shared by its handles and the greenlet itself.
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) id: u64,
    /// Turns a borrow of this core (the running greenlet's, read from may's word) back into
    /// a counted handle to its whole record ([`current_core`]).
    counted: Counted,
    /// Set by `Builder::name`, or `Greenlet-<id>` on first use (formatting it at every spawn
    /// would cost more than the spawn's own bookkeeping).
    name: OnceLock<String>,
    /// Its coroutine handle (while it runs) and its completion callbacks.
    slot: Mutex<Slot>,
    killed: AtomicBool,
    done: AtomicBool,
    /// Who waits for the greenlet to finish.
    pub(crate) waiters: WaitList,
}

impl Core {
    /// The record of a greenlet about to be spawned; `counted` is the [`Counted`] of the
    /// record type this core is placed in.
    pub(crate) fn new(id: u64, name: Option<String>, counted: Counted) -> Self {
        let cell = OnceLock::new();
        if let Some(n) = name {
            let _ = cell.set(n);
        }
        Core {
            id,
            counted,
            name: cell,
            slot: Mutex::new(Slot {
                co: None,
                links: Some(Vec::new()),
                rare: None,
            }),
            killed: AtomicBool::new(false),
            done: AtomicBool::new(false),
            waiters: WaitList::new(),
        }
    }

    /// Called first thing in the greenlet's own coroutine: makes it the current greenlet and
    /// records its coroutine handle (for `kill`). Returns false if it was killed before it
    /// started (it must not run then).
    ///
    /// `word` carries one strong count of the record into may's word for this coroutine
    /// (vendor/may, PATCHED.md), given back by `drop_word` when the coroutine's local storage
    /// goes: the greenlet's own count, moved rather than cloned.
    ///
    /// # Safety
    /// `word` is `Arc::into_raw` of the record this core is the first field of, and the
    /// record's type is the one `drop_word` and this core's [`Counted`] were made for: the
    /// word is read back as a `&Core` ([`with_current`]) and as that record
    /// ([`current_core`]). Called on the greenlet's own coroutine.
    pub(crate) unsafe fn begin(&self, word: usize, drop_word: fn(usize)) -> bool {
        if let Ok(Some((old, drop_old))) = may::coroutine::set_user_word(word, drop_word) {
            drop_old(old);
        }
        self.slot.lock_unpoisoned().co = Some(may::coroutine::current());
        !self.killed.load(Ordering::Acquire)
    }

    /// Called last thing in the greenlet's coroutine, after its result is stored: forgets its
    /// handle, marks it done, counts it finished, runs its links (in the order they were
    /// added) and wakes everyone joining it. Runs however the greenlet ended — returned,
    /// panicked, killed, or killed before it started. (The record's count in may's word is
    /// given back with the coroutine's local storage.) Returns true if `link` callbacks are
    /// waiting: the caller then starts the greenlet that runs them
    /// ([`Core::next_callback`]).
    pub(crate) fn finish(&self) -> bool {
        let notify = self.finish_links();
        count_finished();
        notify
    }

    /// [`finish`](Core::finish) for a greenlet that never had a coroutine (made without
    /// starting it and killed first, or no stack for it): it was never counted alive.
    pub(crate) fn finish_unstarted(&self) -> bool {
        self.finish_links()
    }

    fn finish_links(&self) -> bool {
        let (links, notify) = {
            let mut slot = self.slot.lock_unpoisoned();
            slot.co = None;
            // Under the lock, so a kill counts in KILLED_RUNNING exactly when it came first.
            self.done.store(true, Ordering::Release);
            if self.killed.load(Ordering::Acquire) {
                KILLED_RUNNING.fetch_sub(1, Ordering::AcqRel);
            }
            let notify = slot.callback_count() != 0;
            if let Some(rare) = slot.rare.as_mut() {
                rare.notifying = notify;
            }
            (slot.links.take(), notify)
        };
        for (_, link) in links.into_iter().flatten() {
            link();
        }
        self.waiters.wake_all();
        notify
    }

    /// Queues a `link` callback behind the others. While the greenlet runs, returns its id
    /// (to [`unlink`](Core::unlink) it with) and false. Once it finished, the callback is
    /// handed over for good: returns no id, and true if nothing is running the callbacks
    /// now, so the caller must start the greenlet that does.
    pub(crate) fn add_callback(&self, callback: Callback) -> (Option<u64>, bool) {
        let mut slot = self.slot.lock_unpoisoned();
        let id = NEXT_LINK.fetch_add(1, Ordering::Relaxed);
        let running = slot.links.is_some();
        let rare = slot.rare();
        rare.callbacks.push_back((id, callback));
        if running {
            return (Some(id), false);
        }
        let start = !rare.notifying;
        rare.notifying = true;
        (None, start)
    }

    /// The next `link` callback to run, for the greenlet that runs them; `None` when there
    /// are no more (that greenlet then ends, and the next `add_callback` starts another).
    pub(crate) fn next_callback(&self) -> Option<Callback> {
        let mut slot = self.slot.lock_unpoisoned();
        let rare = slot.rare.as_mut()?;
        let next = rare.callbacks.pop_front().map(|(_, c)| c);
        rare.notifying = next.is_some();
        next
    }

    /// Drops the `link` callbacks not run yet (their greenlet could not be spawned), so the
    /// next `add_callback` tries again.
    pub(crate) fn drop_callbacks(&self) -> usize {
        let mut slot = self.slot.lock_unpoisoned();
        let Some(rare) = slot.rare.as_mut() else {
            return 0;
        };
        rare.notifying = false;
        std::mem::take(&mut rare.callbacks).len()
    }

    /// Runs `link` when the greenlet finishes, or now if it already has. Returns the id to
    /// [`unlink`](Core::unlink) it with (`None`: it already ran).
    pub(crate) fn add_link(&self, link: Link) -> Option<u64> {
        let mut slot = self.slot.lock_unpoisoned();
        match slot.links.as_mut() {
            Some(links) => {
                let id = NEXT_LINK.fetch_add(1, Ordering::Relaxed);
                links.push((id, link));
                Some(id)
            }
            None => {
                drop(slot);
                link();
                None
            }
        }
    }

    /// Removes a link or a `link` callback that has not run yet; returns whether it was
    /// there.
    pub(crate) fn unlink(&self, id: u64) -> bool {
        let mut slot = self.slot.lock_unpoisoned();
        if let Some(rare) = slot.rare.as_mut() {
            let callbacks = rare.callbacks.len();
            rare.callbacks.retain(|(c, _)| *c != id);
            if rare.callbacks.len() != callbacks {
                return true;
            }
        }
        let Some(links) = slot.links.as_mut() else {
            return false;
        };
        let before = links.len();
        links.retain(|(l, _)| *l != id);
        links.len() != before
    }

    /// Drops every `link` callback that has not run yet (gevent's `unlink_all`); returns how
    /// many. The runtime's own links (a group's membership, a `Local`'s value) stay: removing
    /// them would leave a group counting a greenlet that is gone.
    pub(crate) fn unlink_callbacks(&self) -> usize {
        let mut slot = self.slot.lock_unpoisoned();
        slot.rare
            .as_mut()
            .map_or(0, |r| std::mem::take(&mut r.callbacks).len())
    }

    /// Links and `link` callbacks that have not run yet.
    pub(crate) fn link_count(&self) -> usize {
        let slot = self.slot.lock_unpoisoned();
        slot.links.as_ref().map_or(0, Vec::len) + slot.callback_count()
    }

    /// Why the greenlet was killed, if it was and the killer gave a reason.
    pub(crate) fn kill_reason(&self) -> Option<String> {
        if !self.killed.load(Ordering::Acquire) {
            return None;
        }
        let slot = self.slot.lock_unpoisoned();
        slot.rare.as_ref().and_then(|r| r.kill_reason.clone())
    }

    /// Records where the greenlet panicked (the panic hook). It lives with the rare fields
    /// rather than in a `Mutex` of its own (32 bytes of every record): the slot's lock is
    /// never held across code that can panic, but the hook only tries it, so a panic there
    /// would lose the location from the error message (it is still logged) instead of
    /// deadlocking.
    pub(crate) fn set_panic_location(&self, location: String) {
        let mut slot = match self.slot.try_lock() {
            Ok(slot) => slot,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return,
        };
        slot.rare().panic_location = Some(location);
    }

    /// Takes the location [`set_panic_location`](Core::set_panic_location) recorded.
    pub(crate) fn take_panic_location(&self) -> Option<String> {
        let mut slot = self.slot.lock_unpoisoned();
        slot.rare.as_mut().and_then(|r| r.panic_location.take())
    }

    /// Makes this the record of a greenlet that waits for `start` (`Builder::build`).
    pub(crate) fn set_pending(&self, launcher: Launcher) {
        self.slot.lock_unpoisoned().rare().pending = Some(launcher);
    }

    /// Takes the launcher of a greenlet that was not started yet (`None` once started).
    pub(crate) fn take_pending(&self) -> Option<Launcher> {
        let mut slot = self.slot.lock_unpoisoned();
        slot.rare.as_mut().and_then(|r| r.pending.take())
    }

    /// Whether it waits for `start`.
    pub(crate) fn is_pending(&self) -> bool {
        let slot = self.slot.lock_unpoisoned();
        slot.rare.as_ref().is_some_and(|r| r.pending.is_some())
    }

    /// Asks the greenlet to die at its next (or current) blocking call. One that was made
    /// without starting it and not started yet is finished here, killed, without running.
    pub(crate) fn kill_nowait(&self, reason: Option<String>) {
        let (co, pending) = {
            let mut slot = self.slot.lock_unpoisoned();
            if reason.is_some() {
                let rare = slot.rare();
                if rare.kill_reason.is_none() {
                    rare.kill_reason = reason;
                }
            }
            if !self.killed.swap(true, Ordering::AcqRel) && !self.is_done() {
                KILLED_RUNNING.fetch_add(1, Ordering::AcqRel);
            }
            let pending = slot.rare.as_mut().and_then(|r| r.pending.take());
            (slot.co.clone(), pending)
        };
        if let Some(launcher) = pending {
            let _never_spawns = launcher(Start::Never);
            return;
        }
        if let Some(co) = co {
            if !self.is_done() {
                // SAFETY: `cancel` makes the coroutine unwind from its next (or current)
                // blocking may call, running its destructors — gevent's GreenletExit, which is
                // what kill documents. The unwind happens where the coroutine is resumed: its
                // cancel wake-up is queued from this thread (the worker, or another OS thread
                // through the worker's global queue), so it runs on the worker. The handle
                // belongs to this greenlet only (may creates a new one per spawn), so a
                // finished greenlet's recycled stack is never cancelled by mistake.
                unsafe { co.cancel() };
            }
        }
    }

    /// The name given with `Builder::name`, if one was (no default is made up).
    pub(crate) fn given_name(&self) -> Option<&str> {
        self.name.get().map(String::as_str)
    }

    /// The greenlet's name.
    pub(crate) fn name(&self) -> &str {
        self.name.get_or_init(|| format!("Greenlet-{}", self.id))
    }

    /// Whether it finished: returned, panicked or was killed.
    pub(crate) fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }
}

/// The running greenlet's record, borrowed: `None` outside a greenlet (or in a may coroutine
/// that is no greenlet).
///
/// Sound because the word in may's local storage of the running coroutine holds one strong
/// count of the record until that storage is dropped, which happens only after the
/// coroutine's last instruction; `f` runs on the coroutine, before that, and cannot keep the
/// reference (it is bounded by the call). The word points at the record, whose first field
/// is its core ([`Core::begin`]'s contract).
pub(crate) fn with_current<R>(f: impl FnOnce(Option<&Core>) -> R) -> R {
    match may::coroutine::user_word() {
        // SAFETY: see above: the pointer is live for as long as this call runs.
        Some(word) => f(Some(unsafe { &*(word as *const Core) })),
        None => f(None),
    }
}

thread_local! {
    /// Set while `may` spawns, so the panic hook stays quiet about may's "failed to alloc".
    pub(crate) static SPAWNING: Cell<bool> = const { Cell::new(false) };
}

/// The running greenlet's record; `None` outside a greenlet.
pub(crate) fn current_core() -> Option<CoreRef> {
    // SAFETY: the core read from may's word is the first field of a live record of the type
    // its `counted` was made for (`Core::begin`'s contract), borrowed for this call.
    with_current(|core| core.map(|core| unsafe { (core.counted)(core) }))
}

/// Greenlets asked to die that have not finished yet, in the whole process. While it is 0
/// (nearly always), [`current_killed`] answers without looking up the greenlet's record.
static KILLED_RUNNING: AtomicU64 = AtomicU64::new(0);

/// Whether the running greenlet has been asked to die (false outside a greenlet).
pub(crate) fn current_killed() -> bool {
    // A kill counts itself before it cancels (wakes) the greenlet, so the woken greenlet sees
    // the count.
    if KILLED_RUNNING.load(Ordering::Acquire) == 0 {
        return false;
    }
    // Outside a coroutine may's word is `None`: no separate `is_coroutine` check.
    with_current(|core| core.is_some_and(|core| core.killed.load(Ordering::Acquire)))
}

/// The message of a caught panic payload.
pub(crate) fn panic_message(p: &(dyn Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[test]
    fn a_greenlets_record_in_mays_word_is_given_back_when_it_ends() {
        let weak: super::WeakCore = crate::run(|| {
            let g = crate::spawn(|| {
                let core = super::current_core().expect("a greenlet has its record");
                assert_eq!(core.id, crate::getcurrent().id);
                assert!(!super::current_killed());
                core.downgrade()
            });
            let weak = g.get().unwrap();
            drop(g);
            // may drops the ended coroutine's local storage, and the word's count with it.
            crate::sleep(Duration::from_millis(20));
            weak
        });
        assert!(
            weak.upgrade().is_none(),
            "the record outlived its greenlet and every handle: a count leaked"
        );
    }

    #[test]
    fn the_rare_fields_are_boxed_only_when_used() {
        use crate::poison::MutexExt;
        // A core outside any record: nothing here reads it back as one (`counted` unused).
        let core = super::Core::new(1, None, |_| unreachable!());
        assert!(core.slot.lock_unpoisoned().rare.is_none());
        assert_eq!((core.link_count(), core.kill_reason()), (0, None));
        assert!(core.next_callback().is_none() && !core.is_pending());
        core.kill_nowait(Some("why".into()));
        assert!(core.slot.lock_unpoisoned().rare.is_some());
        assert_eq!(core.kill_reason().as_deref(), Some("why"));
        // Ends it, which also takes back the kill's count in KILLED_RUNNING.
        assert!(!core.finish_unstarted());
    }

    #[test]
    fn a_panics_error_names_where_it_panicked() {
        let err = crate::run(|| crate::spawn(|| panic!("boom")).get()).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("boom") && message.contains(&format!("(at {}:", file!())),
            "{message}"
        );
    }

    #[test]
    fn outside_a_greenlet_there_is_no_record() {
        assert!(super::current_core().is_none());
        assert!(!super::current_killed());
    }
}
