//! Greenlets: `spawn`, `spawn_later`, `Greenlet<T>` and `getcurrent` (gevent's `Greenlet`).
//!
//! A greenlet is a may coroutine on the one worker thread, wrapped so that its result, its
//! panic (with its name) or its death by [`Greenlet::kill`] are all observable, from other
//! greenlets and from plain OS threads alike.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::context::{
    self, current_core, panic_message, Core, CoreRef, Launcher, Record, Start, SPAWNING,
};
use crate::once_slot::OnceSlot;
use crate::park::WaitUntil;

/// Why a greenlet did not produce a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GreenletError {
    /// The greenlet panicked; the message names it.
    #[error("greenlet {name:?} (#{id}) panicked: {message}")]
    Panicked {
        /// The greenlet's name.
        name: String,
        /// Its id.
        id: u64,
        /// The panic message.
        message: String,
    },
    /// The greenlet was killed before it finished.
    #[error("greenlet {name:?} (#{id}) was killed{}", reason_suffix(.reason))]
    Killed {
        /// The greenlet's name.
        name: String,
        /// Its id.
        id: u64,
        /// The reason given to [`Greenlet::kill_with`], if any.
        reason: Option<String>,
    },
    /// Waiting for the greenlet timed out (it may still be running).
    #[error("timed out after {0:?} waiting for a greenlet")]
    Timeout(Duration),
}

fn reason_suffix(reason: &Option<String>) -> String {
    reason
        .as_ref()
        .map(|r| format!(": {r}"))
        .unwrap_or_default()
}

/// A greenlet could not be spawned: out of memory mappings, or out of memory.
///
/// may panics inside its spawn when `mmap`/`mprotect` of a stack fails (each greenlet costs
/// two mappings, so `vm.max_map_count` caps a process near 30k greenlets); mayfly turns that
/// into this error.
#[derive(Debug, thiserror::Error)]
#[error("could not spawn a greenlet: {reason}")]
pub struct SpawnError {
    /// What failed, as may reported it.
    pub reason: String,
}

impl Core {
    /// Waits until the greenlet finished or `until` passed; returns whether it finished.
    pub(crate) fn join_until(&self, until: Option<Instant>) -> bool {
        self.waiters.wait_until(until, || self.is_done())
    }
}

/// A greenlet's record: its untyped core and its typed result, in one allocation (issue 24:
/// one allocation a spawn fewer than a core and a result slot apart). `repr(C)` with the
/// core first, so a pointer to the record is a pointer to its core: what may's word for the
/// greenlet's coroutine holds ([`Core::begin`]).
#[repr(C)]
struct Shared<T> {
    core: Core,
    /// The error boxed: a `GreenletError` is 56 bytes inline, carried by every greenlet's
    /// record while it runs (issue 24); a box is 8, made only when it fails. Written once,
    /// by the greenlet's end (`run_body`) or, for one that never ran, by `finish_unstarted`.
    result: OnceSlot<Result<T, Box<GreenletError>>>,
}

/// A handle to a spawned greenlet (gevent's `Greenlet`). Cloning gives another handle to the
/// same greenlet; dropping every handle does not stop it.
///
/// ```
/// let value = mayfly::run(|| {
///     let g = mayfly::spawn(|| 6 * 7);
///     g.join(None);
///     assert!(g.ready() && g.successful());
///     g.value()
/// });
/// assert_eq!(value, Some(42));
/// ```
pub struct Greenlet<T> {
    shared: Arc<Shared<T>>,
}

impl<T: Send + 'static> Shared<T> {
    /// The record of a greenlet about to be made.
    fn new(name: Option<String>) -> Arc<Self> {
        Arc::new(Shared {
            core: Core::new(context::next_id(), name, counted::<T>),
            result: OnceSlot::new(),
        })
    }
}

impl<T: Send + 'static> Record for Shared<T> {
    fn core(&self) -> &Core {
        &self.core
    }
}

/// [`context::Counted`] for a `Shared<T>`: one more counted handle to the record whose core
/// `core` is.
///
/// # Safety
/// `core` is the `core` field of a live `Shared<T>` that an `Arc` owns.
unsafe fn counted<T: Send + 'static>(core: &Core) -> CoreRef {
    // SAFETY: `Shared<T>` is `repr(C)` with the core first, so the core's address is the
    // record's, the address `Arc::into_raw` gives; the caller guarantees an `Arc` owns it and
    // that it is alive.
    CoreRef::new(unsafe { one_more_count((core as *const Core).cast::<Shared<T>>()) })
}

/// One more strong count of a record known only by its raw pointer (may's word).
///
/// # Safety
/// `record` is `Arc::into_raw` of a `Shared<T>` (or the same address) that is alive for
/// the call: some count of it is held elsewhere.
unsafe fn one_more_count<T>(record: *const Shared<T>) -> Arc<Shared<T>> {
    // SAFETY: the caller's promise: an `Arc` owns `record` and holds it alive, so one more
    // strong count can be taken and handed out as an `Arc`.
    unsafe {
        Arc::increment_strong_count(record);
        Arc::from_raw(record)
    }
}

/// Gives back the strong count of a `Shared<T>` that `run_body` moved into may's word: called
/// once, by may, when the coroutine's local storage is dropped (or by `Core::begin` for a word
/// it replaces).
fn drop_record<T>(word: usize) {
    // SAFETY: `word` is what `Arc::into_raw` gave `run_body` for a `Shared<T>`, and may calls
    // this once per word it was given (at the storage's drop, or not at all once
    // `set_user_word` handed the word back, whose caller then calls this instead): the count
    // it owns is given back once.
    drop(unsafe { Arc::from_raw(word as *const Shared<T>) });
}

impl<T> Clone for Greenlet<T> {
    fn clone(&self) -> Self {
        Greenlet {
            shared: self.shared.clone(),
        }
    }
}

impl<T> std::fmt::Debug for Greenlet<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Greenlet")
            .field("id", &self.id())
            .field("name", &self.name())
            .field("ready", &self.ready())
            .finish()
    }
}

/// Configures a greenlet before spawning it: its name and its stack size.
///
/// Unlike [`spawn`], [`Builder::spawn`] returns an error instead of panicking when no stack
/// can be had (out of memory mappings: each greenlet costs two of `vm.max_map_count`).
///
/// ```
/// let g = mayfly::Builder::new().name("worker-1").spawn(|| mayfly::getcurrent().name)?;
/// assert_eq!(g.get()?, "worker-1");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default, Clone)]
pub struct Builder {
    name: Option<String>,
    stack_size: Option<usize>,
}

impl Builder {
    /// A builder with the default name (`Greenlet-<id>`) and the runtime's stack size.
    pub fn new() -> Self {
        Self::default()
    }

    /// Names the greenlet; the name appears in panic messages, errors and the monitor.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets this greenlet's stack size in bytes.
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes.max(4096));
        self
    }

    /// Spawns `f` as a greenlet on the worker thread.
    ///
    /// # Errors
    /// [`SpawnError`] when may cannot create the coroutine: no stack could be mapped (out of
    /// memory mappings, see `vm.max_map_count`, or out of memory).
    ///
    /// # Panics
    /// If the runtime was not started and cannot start (see [`crate::hub::ensure_started`]).
    pub fn spawn<F, T>(self, f: F) -> Result<Greenlet<T>, SpawnError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let shared = Shared::new(self.name);
        launch(&shared, self.stack_size, f)?;
        Ok(Greenlet { shared })
    }

    /// Makes a greenlet that does not run until [`Greenlet::start`] (or
    /// [`Greenlet::start_later`]) is called: gevent's `Greenlet(f)` before `g.start()`. It has
    /// its id and name at once, can be linked, joined (a join waits until it has run) and
    /// killed (it then never runs). Making one does not start the runtime.
    ///
    /// ```
    /// mayfly::run(|| {
    ///     let g = mayfly::Builder::new().name("later").build(|| 6 * 7);
    ///     assert!(!g.started() && !g.ready());
    ///     g.start().unwrap();
    ///     assert_eq!(g.get(), Ok(42));
    /// });
    /// ```
    pub fn build<F, T>(self, f: F) -> Greenlet<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let shared = Shared::new(self.name);
        let weak = Arc::downgrade(&shared);
        let stack_size = self.stack_size;
        // The launcher holds the body and a weak handle: no cycle while it waits in the core.
        let launcher: Launcher = Box::new(move |start| {
            let Some(shared) = weak.upgrade() else {
                // Every counted handle is gone (a group's too: it counts the whole record), so
                // nobody can see it run or wait for it.
                return Ok(());
            };
            let launched = match start {
                Start::Now => launch(&shared, stack_size, f),
                Start::Later(d) => launch(&shared, stack_size, move || {
                    crate::sleep(d);
                    f()
                }),
                Start::Never => {
                    let core = &shared.core;
                    let killed = GreenletError::Killed {
                        name: core.name().to_string(),
                        id: core.id,
                        reason: core.kill_reason(),
                    };
                    finish_unstarted(&shared, killed);
                    return Ok(());
                }
            };
            launched.map_err(|e| {
                let core = &shared.core;
                let failed = GreenletError::Panicked {
                    name: core.name().to_string(),
                    id: core.id,
                    message: e.to_string(),
                };
                finish_unstarted(&shared, failed);
                e.reason
            })
        });
        shared.core.set_pending(launcher);
        Greenlet { shared }
    }
}

/// Spawns the coroutine that runs `f` as the greenlet `shared` describes.
fn launch<F, T>(shared: &Arc<Shared<T>>, stack_size: Option<usize>, f: F) -> Result<(), SpawnError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    crate::start::ensure_started();
    let theirs = shared.clone();
    let mut b = may::coroutine::Builder::new();
    if let Some(bytes) = stack_size {
        b = b.stack_size(bytes.div_ceil(std::mem::size_of::<usize>()));
    }
    if let Some(name) = shared.core.given_name() {
        // So may's stack-overflow message names the greenlet (unnamed ones cost nothing).
        b = b.name(name.to_string());
    }
    let queue = if crate::worker::on_worker() {
        context::SpawnQueue::Local
    } else {
        context::SpawnQueue::Global
    };
    context::count_spawning(queue);
    SPAWNING.with(|s| s.set(true));
    // SAFETY (may's two conditions for `spawn`, which `spawn_detached` shares):
    // 1. Thread-local storage across a yield: the body runs only on the one worker thread.
    //    Every way a mayfly greenlet is resumed — the worker's run queue, its epoll loop and
    //    I/O timer list, or the worker's global queue — runs it on the worker. The only
    //    other thread that resumes coroutines is may's timer thread, and no greenlet ever
    //    waits on may's timer: every mayfly wait parks without a timeout and registers its
    //    deadline with mayfly's own timer thread (`timer`), which never runs a coroutine —
    //    it only unparks, and an unpark from a thread that is not a may worker (like a
    //    kill's cancel from another OS thread) queues the greenlet on the worker's global
    //    queue. Every blocking primitive also calls `worker::hop_to_worker` after it
    //    resumes, as defence in depth (runtime/tests/thread_identity.rs checks all of this;
    //    see the crate docs, "Soundness"). A thread-local read after a yield therefore
    //    reads the same thread's storage as before it.
    // 2. Stack overflow: may's stacks have a guard page; an overflow faults on it instead
    //    of corrupting memory, and may/generator turn the fault into a panic.
    // Detached (vendor/may PATCHED.md, "Spawning without a join handle"): the greenlet's own
    // record is its join, so may's join, panic and result slots would only be allocated,
    // triggered and dropped unused.
    let spawned = panic::catch_unwind(AssertUnwindSafe(|| unsafe {
        b.spawn_detached(move || run_body(theirs, f, queue))
    }));
    SPAWNING.with(|s| s.set(false));
    match spawned {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => {
            context::count_spawn_failed(queue);
            Err(SpawnError {
                reason: e.to_string(),
            })
        }
        Err(p) => {
            context::count_spawn_failed(queue);
            Err(SpawnError {
                reason: format!(
                    "{} (out of memory mappings? see vm.max_map_count)",
                    panic_message(&*p)
                ),
            })
        }
    }
}

/// Ends a greenlet that never got a coroutine (killed before it was started, or no stack for
/// it): its result, its links and callbacks, its joiners woken.
fn finish_unstarted<T: Send + 'static>(shared: &Arc<Shared<T>>, why: GreenletError) {
    // SAFETY: the only write of this greenlet's result: it never ran (no coroutine, so no
    // `run_body`), and its launcher, which calls this, runs once.
    unsafe { shared.result.write(Err(Box::new(why))) };
    if shared.core.finish_unstarted() {
        run_callbacks(shared.clone());
    }
}

fn run_body<T, F>(shared: Arc<Shared<T>>, f: F, queue: context::SpawnQueue)
where
    F: FnOnce() -> T,
    T: Send + 'static,
{
    context::count_started(queue);
    // The greenlet's count of its record moves into may's word for this coroutine, which
    // keeps it until the coroutine's local storage is dropped, after this function returns:
    // the borrow below outlives nothing it borrows from.
    let word = Arc::into_raw(shared);
    // SAFETY: `word` came from `Arc::into_raw` just now and its count is held by may's word
    // from the next line until after this function ends (see above).
    let shared: &Shared<T> = unsafe { &*word };
    let core = &shared.core;
    // SAFETY: `word` is `Arc::into_raw` of the `Shared<T>` whose core is `core` (its first
    // field: `repr(C)`), whose `counted` is `counted::<T>`, with `drop_record::<T>`; this runs
    // on the greenlet's own coroutine.
    let start = unsafe { core.begin(word as usize, drop_record::<T>) };
    crate::loop_watch::resumed();
    let result = if start {
        match panic::catch_unwind(AssertUnwindSafe(f)) {
            Ok(v) => Ok(v),
            Err(p) => Err(error_from_payload(core, p)),
        }
    } else {
        Err(GreenletError::Killed {
            name: core.name().to_string(),
            id: core.id,
            reason: core.kill_reason(),
        })
    };
    // SAFETY: the only write of this greenlet's result: it runs (so `finish_unstarted`, which
    // is for greenlets that never ran, does not), and this is its body's end, reached once.
    unsafe { shared.result.write(result.map_err(Box::new)) };
    if core.finish() {
        // SAFETY: `word` is `Arc::into_raw` of the record, kept alive by may's word (above).
        run_callbacks(unsafe { one_more_count(word) });
    }
    // After the callbacks' greenlet was counted: a waiter never sees the count dip between.
    note_finished();
}

/// Who waits for the number of living greenlets to fall ([`wait_alive_at_most`]), woken
/// after every finish while someone waits (one load otherwise).
static FINISHES: crate::wait::WaitList = crate::wait::WaitList::new();
static FINISH_WAITERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn note_finished() {
    use std::sync::atomic::Ordering;
    // A Dekker handshake with `wait_alive_at_most`, all four accesses `SeqCst` (one total
    // order): this finish took its count off `context::alive` (SeqCst, in `Core::finish`)
    // before this load, and a waiter counts itself before it reads `alive`; so either this
    // load sees the waiter and wakes it, or the waiter's read sees this finish.
    if FINISH_WAITERS.load(Ordering::SeqCst) > 0 {
        FINISHES.wake_all();
    }
}

/// Waits until at most `n` greenlets are alive (spawned and not finished) or `until`
/// passes; returns whether it happened.
pub(crate) fn wait_alive_at_most(n: u64, until: Option<Instant>) -> bool {
    use std::sync::atomic::Ordering;
    struct Waiting;
    impl Drop for Waiting {
        fn drop(&mut self) {
            FINISH_WAITERS.fetch_sub(1, Ordering::Relaxed);
        }
    }
    // SeqCst: see `note_finished`.
    FINISH_WAITERS.fetch_add(1, Ordering::SeqCst);
    let _waiting = Waiting;
    FINISHES.wait_until(until, || context::alive() <= n)
}

/// Starts the one greenlet that runs `core`'s `link` callbacks one after another, in link
/// order, taking each from the list only when its turn comes (gevent's `_notify_links`): an
/// earlier callback can unlink a later one, and a callback may block (the finishing greenlet
/// may be unwinding from a kill, where nothing can). A callback that panics is reported by
/// the panic hook and stops none of the others. It holds `shared` meanwhile: the callbacks
/// hold only weak handles, and the last handle may be gone (`spawn(f).link(cb)`).
fn run_callbacks<T: Send + 'static>(shared: Arc<Shared<T>>) {
    let record = shared.clone();
    let core = &record.core;
    let spawned = Builder::new()
        .name(format!("link-{}", core.id))
        .spawn(move || {
            while let Some(callback) = shared.core.next_callback() {
                let _reported_by_the_hook = panic::catch_unwind(AssertUnwindSafe(callback));
            }
        });
    if let Err(e) = spawned {
        let dropped = core.drop_callbacks();
        log::warn!(greenlet = core.id, dropped = dropped, error:% = e;
            "{dropped} link callback(s) of greenlet #{} were dropped: {e}",
            core.id
        );
    }
}

fn error_from_payload(core: &Core, p: Box<dyn Any + Send>) -> GreenletError {
    if matches!(
        p.downcast_ref::<generator::Error>(),
        Some(generator::Error::Cancel)
    ) {
        return GreenletError::Killed {
            name: core.name().to_string(),
            id: core.id,
            reason: core.kill_reason(),
        };
    }
    let mut message = if let Some(after) = crate::timeout::timeout_payload_after(&*p) {
        format!(
            "a Timeout of {after:?} expired and nothing caught it (catch it with \
             with_timeout or ActiveTimeout::catch)"
        )
    } else {
        panic_message(&*p)
    };
    if let Some(loc) = core.take_panic_location() {
        message = format!("{message} (at {loc})");
    }
    GreenletError::Panicked {
        name: core.name().to_string(),
        id: core.id,
        message,
    }
}

/// Spawns `f` as a new greenlet and returns its handle (gevent's `spawn`).
///
/// The greenlet starts when the worker next gets to it: after the spawning greenlet blocks or
/// yields. Panics if no stack can be allocated; use [`Builder::spawn`] to get an error instead.
///
/// ```
/// use std::time::{Duration, Instant};
/// mayfly::run(|| {
///     let t = Instant::now();
///     let gs: Vec<_> = (0..100)
///         .map(|_| mayfly::spawn(|| mayfly::sleep(Duration::from_millis(50))))
///         .collect();
///     mayfly::joinall(&gs, mayfly::JoinAll::default()).unwrap();
///     assert!(t.elapsed() < Duration::from_secs(2)); // concurrent, not 100 × 50 ms
/// });
/// ```
///
/// # Panics
/// If no stack can be allocated (the [`SpawnError`] of [`Builder::spawn`]), or the runtime
/// cannot start.
pub fn spawn<F, T>(f: F) -> Greenlet<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match Builder::new().spawn(f) {
        Ok(g) => g,
        Err(e) => panic!("mayfly::spawn: {e}"),
    }
}

/// Spawns `f` to start after `delay` (gevent's `spawn_later`).
///
/// ```
/// use std::time::{Duration, Instant};
/// let t = Instant::now();
/// let g = mayfly::spawn_later(Duration::from_millis(30), || 1);
/// assert_eq!(g.get(), Ok(1));
/// assert!(t.elapsed() >= Duration::from_millis(30));
/// ```
///
/// # Panics
/// As [`spawn`].
pub fn spawn_later<F, T>(delay: Duration, f: F) -> Greenlet<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    spawn(move || {
        crate::sleep(delay);
        f()
    })
}

/// Identity of the running greenlet, or of the OS thread when called outside one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Current {
    /// The greenlet's id; 0 outside a greenlet.
    pub id: u64,
    /// The greenlet's name; outside a greenlet, the thread's name (or `"main"`).
    pub name: String,
}

/// Who is running (gevent's `getcurrent`).
///
/// ```
/// let me = mayfly::Builder::new().name("me").spawn(mayfly::getcurrent).unwrap().get().unwrap();
/// assert_eq!(me.name, "me");
/// assert!(me.id > 0);
/// ```
pub fn getcurrent() -> Current {
    match current_core() {
        Some(core) => Current {
            id: core.id,
            name: core.name().to_string(),
        },
        None => Current {
            id: 0,
            name: std::thread::current().name().unwrap_or("main").to_string(),
        },
    }
}

/// Number of greenlets spawned and not yet finished.
pub fn greenlets_alive() -> u64 {
    context::alive()
}

impl<T: Send + 'static> Greenlet<T> {
    /// Makes a greenlet that runs `f` once [`start`](Greenlet::start)ed (gevent's
    /// `Greenlet(f)`); the same as `Builder::new().build(f)`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use mayfly::queue::Queue;
    /// mayfly::run(|| {
    ///     let seen = Arc::new(Queue::unbounded());
    ///     let g = mayfly::Greenlet::new(|| "ran");
    ///     let s = seen.clone();
    ///     g.link(move |g| s.put(g.value())); // linked before it runs
    ///     g.start().unwrap();
    ///     assert_eq!(seen.get(), Some("ran"));
    /// });
    /// ```
    pub fn new<F>(f: F) -> Greenlet<T>
    where
        F: FnOnce() -> T + Send + 'static,
    {
        Builder::new().build(f)
    }
}

impl<T> Greenlet<T> {
    /// The greenlet's unique id (never 0).
    pub fn id(&self) -> u64 {
        self.shared.core.id
    }

    /// The greenlet's name (`Greenlet-<id>` unless set with [`Builder::name`]).
    pub fn name(&self) -> &str {
        self.shared.core.name()
    }

    /// Starts a greenlet made with [`Greenlet::new`] or [`Builder::build`] (gevent's
    /// `start`): it runs when the worker next gets to it. A no-op for a greenlet that was
    /// already started, spawned, or killed.
    ///
    /// # Errors
    /// [`SpawnError`] when no stack can be had; the greenlet then is finished with that error
    /// (its joiners wake, [`exception`](Greenlet::exception) says why).
    pub fn start(&self) -> Result<(), SpawnError> {
        self.launch_pending(Start::Now)
    }

    /// Starts it after `delay` (gevent's `start_later`): a kill before then means it never
    /// runs its body.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// mayfly::run(|| {
    ///     let t = Instant::now();
    ///     let g = mayfly::Greenlet::new(|| 1);
    ///     g.start_later(Duration::from_millis(30)).unwrap();
    ///     assert_eq!(g.get(), Ok(1));
    ///     assert!(t.elapsed() >= Duration::from_millis(30));
    /// });
    /// ```
    ///
    /// # Errors
    /// As [`start`](Greenlet::start).
    pub fn start_later(&self, delay: Duration) -> Result<(), SpawnError> {
        self.launch_pending(Start::Later(delay))
    }

    /// Whether it was started (or spawned at once): false only for a greenlet made with
    /// [`Greenlet::new`] or [`Builder::build`] that was neither started nor killed.
    pub fn started(&self) -> bool {
        !self.shared.core.is_pending()
    }

    fn launch_pending(&self, start: Start) -> Result<(), SpawnError> {
        match self.shared.core.take_pending() {
            Some(launcher) => launcher(start).map_err(|reason| SpawnError { reason }),
            None => Ok(()),
        }
    }

    /// True once the greenlet has finished: returned, panicked or been killed.
    pub fn ready(&self) -> bool {
        self.shared.core.is_done()
    }

    /// True if it finished by returning a value.
    pub fn successful(&self) -> bool {
        self.ready() && self.shared.result.with(|r| matches!(r, Some(Ok(_))))
    }

    /// How it failed, once finished; `None` while running or if it succeeded.
    pub fn exception(&self) -> Option<GreenletError> {
        self.shared.result.with(|r| match r {
            Some(Err(e)) => Some((**e).clone()),
            _ => None,
        })
    }

    /// Waits until the greenlet finishes, or until `timeout` passes. Returns [`ready`].
    ///
    /// `g.join(None)` waits without limit; `g.join(Duration::from_secs(1))` at most a second.
    ///
    /// [`ready`]: Greenlet::ready
    pub fn join(&self, timeout: impl Into<Option<Duration>>) -> bool {
        let until = timeout.into().map(|t| Instant::now() + t);
        self.wait_until(until)
    }

    /// Waits at most `timeout` for the greenlet to finish; returns [`ready`](Greenlet::ready).
    /// Same as `join(timeout)`.
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        self.join(timeout)
    }

    /// Waits until the greenlet finishes or `deadline` passes; returns
    /// [`ready`](Greenlet::ready).
    pub fn join_deadline(&self, deadline: Instant) -> bool {
        self.wait_until(Some(deadline))
    }

    pub(crate) fn wait_until(&self, until: Option<Instant>) -> bool {
        self.shared.core.join_until(until)
    }

    /// Waits for the greenlet and returns a clone of its value, or why there is none.
    ///
    /// # Errors
    /// [`GreenletError::Panicked`] if it panicked (or its value was moved out by
    /// [`into_result`](Greenlet::into_result)), [`GreenletError::Killed`] if it was killed.
    pub fn get(&self) -> Result<T, GreenletError>
    where
        T: Clone,
    {
        self.join(None);
        self.result_now()
    }

    /// Like [`get`](Greenlet::get), giving up with [`GreenletError::Timeout`] after `timeout`.
    ///
    /// # Errors
    /// [`GreenletError::Timeout`] if it is still running after `timeout`, else as
    /// [`get`](Greenlet::get).
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, GreenletError>
    where
        T: Clone,
    {
        if self.join(timeout) {
            self.result_now()
        } else {
            Err(GreenletError::Timeout(timeout))
        }
    }

    /// Like [`get`](Greenlet::get), giving up at `deadline`.
    ///
    /// # Errors
    /// [`GreenletError::Timeout`] (with the time that was left at the call) if it is still
    /// running at `deadline`, else as [`get`](Greenlet::get).
    pub fn get_deadline(&self, deadline: Instant) -> Result<T, GreenletError>
    where
        T: Clone,
    {
        let allowed = deadline.saturating_duration_since(Instant::now());
        if self.join_deadline(deadline) {
            self.result_now()
        } else {
            Err(GreenletError::Timeout(allowed))
        }
    }

    /// Waits for the greenlet and moves its value out (for values that are not `Clone`).
    /// Other handles to the same greenlet then see `value() == None`.
    ///
    /// # Errors
    /// As [`get`](Greenlet::get).
    pub fn into_result(self) -> Result<T, GreenletError> {
        self.join(None);
        let taken = self.shared.result.with(|r| match r.take() {
            Some(Ok(v)) => Some(Ok(v)),
            Some(Err(e)) => {
                *r = Some(Err(e.clone()));
                Some(Err(*e))
            }
            None => None,
        });
        taken.unwrap_or_else(|| Err(self.taken_error()))
    }

    /// The value if the greenlet finished successfully (gevent's `g.value`), without waiting.
    pub fn value(&self) -> Option<T>
    where
        T: Clone,
    {
        self.shared.result.with(|r| match r {
            Some(Ok(v)) => Some(v.clone()),
            _ => None,
        })
    }

    /// Kills the greenlet and waits until it is dead (gevent's `kill(block=True)`).
    ///
    /// The greenlet unwinds at its next blocking call (or at once, if it is blocked now), so
    /// its destructors run — sockets close, locks release. A greenlet that never blocks again
    /// runs to completion and keeps its value. Killing a greenlet that has not started yet
    /// stops it from ever running. Killing yourself takes effect at your next blocking call.
    ///
    /// While it unwinds, a killed greenlet cannot park (may does not suspend a cancelled
    /// coroutine), so a destructor must not wait for anything: spawn a greenlet for clean-up
    /// that has to wait.
    pub fn kill(&self) {
        self.kill_nowait();
        self.join_unless_self();
    }

    /// Asks the greenlet to die and returns at once (gevent's `kill(block=False)`).
    pub fn kill_nowait(&self) {
        self.shared.core.kill_nowait(None);
    }

    /// Kills the greenlet with a reason it can see, and waits until it is dead (gevent's
    /// `kill(exception=…)`). While it unwinds, the greenlet reads the reason with
    /// [`kill_reason`] (in a destructor, say); afterwards [`GreenletError::Killed`] carries
    /// it. The first reason given wins.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    /// let seen = Arc::new(Mutex::new(None));
    /// let s2 = seen.clone();
    /// let g = mayfly::run(move || {
    ///     let g = mayfly::spawn(move || {
    ///         struct Report(Arc<Mutex<Option<String>>>);
    ///         impl Drop for Report {
    ///             fn drop(&mut self) { *self.0.lock().unwrap() = mayfly::kill_reason(); }
    ///         }
    ///         let _r = Report(s2);
    ///         mayfly::sleep(Duration::from_secs(30));
    ///     });
    ///     mayfly::yield_now(); // g starts and sleeps
    ///     g.kill_with("shutting down");
    ///     g
    /// });
    /// assert_eq!(seen.lock().unwrap().as_deref(), Some("shutting down"));
    /// assert!(g.exception().unwrap().to_string().ends_with("was killed: shutting down"));
    /// ```
    pub fn kill_with(&self, reason: impl Into<String>) {
        self.kill_with_nowait(reason);
        self.join_unless_self();
    }

    /// Like [`kill_with`](Greenlet::kill_with), returning at once.
    pub fn kill_with_nowait(&self, reason: impl Into<String>) {
        self.shared.core.kill_nowait(Some(reason.into()));
    }

    fn join_unless_self(&self) {
        let me = current_core().map(|c| c.id);
        if me != Some(self.id()) {
            self.join(None);
        }
    }

    /// Calls `callback` with this greenlet once it has finished, however it ended (gevent's
    /// `link`). The callbacks run one after another in the order they were linked, in one
    /// greenlet of their own (so a callback may block, and the next one waits for it); each
    /// is taken from the list only when its turn comes, so a callback that
    /// [`unlink`](Greenlet::unlink)s a later one stops it. A callback that panics does not
    /// stop the others. Linking a finished greenlet hands the callback over at once: it runs
    /// soon, after any callbacks still waiting, and cannot be unlinked. Returns the id to
    /// [`unlink`](Greenlet::unlink) it with.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use mayfly::queue::Queue;
    /// mayfly::run(|| {
    ///     let done = Arc::new(Queue::unbounded());
    ///     let g = mayfly::spawn(|| 42);
    ///     let d = done.clone();
    ///     g.link(move |g| d.put(g.value()));
    ///     assert_eq!(done.get(), Some(42));
    /// });
    /// ```
    ///
    /// # Panics
    /// No; if the callbacks' greenlet cannot be spawned (no stack), the callbacks are dropped
    /// and a line says so on stderr.
    pub fn link<F>(&self, callback: F) -> LinkId
    where
        F: FnOnce(&Greenlet<T>) + Send + 'static,
        T: Send + 'static,
    {
        self.link_if(callback, |_| true)
    }

    /// Like [`link`](Greenlet::link), calling `callback` only if the greenlet returned a
    /// value (gevent's `link_value`).
    pub fn link_value<F>(&self, callback: F) -> LinkId
    where
        F: FnOnce(&Greenlet<T>) + Send + 'static,
        T: Send + 'static,
    {
        self.link_if(callback, Greenlet::successful)
    }

    /// Like [`link`](Greenlet::link), calling `callback` only if the greenlet panicked or was
    /// killed (gevent's `link_exception`).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use mayfly::queue::Queue;
    /// mayfly::run(|| {
    ///     let failures = Arc::new(Queue::unbounded());
    ///     let f = failures.clone();
    ///     let g = mayfly::spawn(|| -> u8 { panic!("boom") });
    ///     g.link_exception(move |g| f.put(g.exception().unwrap().to_string()));
    ///     assert!(failures.get().contains("boom"));
    /// });
    /// ```
    pub fn link_exception<F>(&self, callback: F) -> LinkId
    where
        F: FnOnce(&Greenlet<T>) + Send + 'static,
        T: Send + 'static,
    {
        self.link_if(callback, |g| !g.successful())
    }

    fn link_if<F>(&self, callback: F, when: fn(&Greenlet<T>) -> bool) -> LinkId
    where
        F: FnOnce(&Greenlet<T>) + Send + 'static,
        T: Send + 'static,
    {
        // A weak handle: a link must not keep the greenlet's result alive in a cycle.
        let weak = Arc::downgrade(&self.shared);
        let (id, start) = self.shared.core.add_callback(Box::new(move || {
            let Some(shared) = weak.upgrade() else { return };
            let g = Greenlet { shared };
            if when(&g) {
                callback(&g);
            }
        }));
        if start {
            run_callbacks(self.shared.clone());
        }
        LinkId(id)
    }

    /// Removes a callback added with [`link`](Greenlet::link) (or `link_value`,
    /// `link_exception`) that has not run yet; returns whether it was removed (gevent's
    /// `unlink`).
    pub fn unlink(&self, id: LinkId) -> bool {
        id.0.is_some_and(|id| self.shared.core.unlink(id))
    }

    /// Removes every [`link`](Greenlet::link) callback that has not run yet (gevent's
    /// `unlink_all`); returns how many. The runtime's own links stay (membership of a
    /// [`Group`](crate::pool::Group), a [`Local`](crate::local::Local)'s value): removing them
    /// would leave a group counting a greenlet that is gone.
    ///
    /// ```
    /// mayfly::run(|| {
    ///     let g = mayfly::Greenlet::new(|| 1);
    ///     g.link(|_| panic!("unlinked"));
    ///     g.link_value(|_| panic!("unlinked too"));
    ///     assert_eq!(g.unlink_all(), 2);
    ///     assert!(!g.has_links());
    ///     g.start().unwrap();
    ///     assert_eq!(g.get(), Ok(1));
    /// });
    /// ```
    pub fn unlink_all(&self) -> usize {
        self.shared.core.unlink_callbacks()
    }

    /// Whether anything is linked to the greenlet's end that has not run yet (gevent's
    /// `has_links`): a [`link`](Greenlet::link) callback, and, as in gevent, the runtime's own
    /// links — membership of a [`Group`](crate::pool::Group) or a [`Pool`](crate::pool::Pool),
    /// and a value in a living [`Local`](crate::local::Local) (a dropped `Local` takes its
    /// link with it).
    ///
    /// ```
    /// mayfly::run(|| {
    ///     let g = mayfly::spawn(|| 1);
    ///     assert!(!g.has_links());
    ///     let id = g.link(|_| ());
    ///     assert!(g.has_links());
    ///     g.unlink(id);
    ///     assert!(!g.has_links());
    /// });
    /// ```
    pub fn has_links(&self) -> bool {
        self.shared.core.link_count() > 0
    }

    fn result_now(&self) -> Result<T, GreenletError>
    where
        T: Clone,
    {
        let now = self
            .shared
            .result
            .with(|r| r.as_ref().map(|r| r.clone().map_err(|e| *e)));
        now.unwrap_or_else(|| Err(self.taken_error()))
    }

    /// What a read of the result says once `into_result` took the value.
    fn taken_error(&self) -> GreenletError {
        GreenletError::Panicked {
            name: self.name().to_string(),
            id: self.id(),
            message: "the value was already taken by into_result".into(),
        }
    }

    pub(crate) fn core(&self) -> &Core {
        &self.shared.core
    }

    /// A counted handle to the greenlet's record, untyped (what a group keeps).
    pub(crate) fn record(&self) -> CoreRef
    where
        T: Send + 'static,
    {
        CoreRef::new(self.shared.clone())
    }
}

/// Names a callback added with [`Greenlet::link`], to [`Greenlet::unlink`] it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkId(Option<u64>);

/// Why the calling greenlet is being killed: the reason given to [`Greenlet::kill_with`],
/// while the greenlet unwinds (read it in a destructor). `None` outside a greenlet, when it
/// was not killed, or killed without a reason.
pub fn kill_reason() -> Option<String> {
    current_core().and_then(|c| c.kill_reason())
}

/// Options of [`killall`], gevent's keyword arguments.
///
/// ```
/// use std::time::Duration;
/// let opts = mayfly::KillAll::default().timeout(Duration::from_secs(1)).reason("bye");
/// assert!(opts.block);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KillAll {
    /// Wait until they are dead (default: true).
    pub block: bool,
    /// With `block`, give up waiting after this long.
    pub timeout: Option<Duration>,
    /// The reason each greenlet sees (see [`Greenlet::kill_with`]).
    pub reason: Option<String>,
}

impl Default for KillAll {
    fn default() -> Self {
        KillAll {
            block: true,
            timeout: None,
            reason: None,
        }
    }
}

impl KillAll {
    /// Sets `block`.
    pub fn block(mut self, yes: bool) -> Self {
        self.block = yes;
        self
    }
    /// Sets `timeout`.
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(t);
        self
    }
    /// Sets `reason`.
    pub fn reason(mut self, r: impl Into<String>) -> Self {
        self.reason = Some(r.into());
        self
    }
}

/// Kills every greenlet (gevent's `killall`): all are asked to die first, then (with
/// `block`) it waits until all are dead or `timeout` passes. Returns whether all are dead.
/// The calling greenlet is skipped when waiting, if it is among them.
///
/// ```
/// use std::time::Duration;
/// mayfly::run(|| {
///     let gs: Vec<_> = (0..3).map(|_| mayfly::spawn(|| mayfly::sleep(Duration::from_secs(30)))).collect();
///     assert!(mayfly::killall(&gs, mayfly::KillAll::default().timeout(Duration::from_secs(5))));
///     assert!(gs.iter().all(|g| g.ready() && !g.successful()));
/// });
/// ```
pub fn killall<T>(greenlets: &[Greenlet<T>], opts: KillAll) -> bool {
    for g in greenlets {
        g.shared.core.kill_nowait(opts.reason.clone());
    }
    if !opts.block {
        return greenlets.iter().all(Greenlet::ready);
    }
    let until = opts.timeout.map(|t| Instant::now() + t);
    let me = current_core().map(|c| c.id);
    greenlets
        .iter()
        .filter(|g| Some(g.id()) != me)
        .all(|g| g.wait_until(until))
}

/// A caught panic payload carried back to `run`'s caller.
pub(crate) struct SendPayload(pub(crate) Box<dyn Any + Send>);

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// An over-aligned result that counts its drops: a record whose core and result are cast
    /// wrongly, or whose count is given back twice or never, shows here.
    #[repr(align(64))]
    #[derive(Clone)]
    struct Aligned(u64, Arc<AtomicUsize>);

    impl Drop for Aligned {
        fn drop(&mut self) {
            self.1.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn the_running_greenlets_untyped_handle_is_its_whole_record() {
        let drops = Arc::new(AtomicUsize::new(0));
        let (counted, seen) = (drops.clone(), drops.clone());
        let (record, id, dropped_before) = crate::run(move || {
            let (tx, rx) = std::sync::mpsc::channel();
            let g = crate::spawn(move || {
                // From may's word: the core's address, read back as the typed record.
                tx.send(crate::context::current_core().unwrap()).unwrap();
                Aligned(7, counted)
            });
            let id = g.id();
            assert_eq!(g.get().map(|v| v.0).ok(), Some(7));
            let record = rx.recv().unwrap();
            drop(g);
            // Let may drop the ended coroutine's storage, and the word's count with it.
            crate::sleep(std::time::Duration::from_millis(20));
            (record, id, seen.load(Ordering::SeqCst))
        });
        // The clone `get` made was dropped (1); the stored result is kept by `record` alone.
        assert_eq!(dropped_before, 1);
        assert!(record.is_done());
        assert_eq!(record.id, id);
        let weak = record.downgrade();
        drop(record);
        assert!(weak.upgrade().is_none(), "a count of the record leaked");
        assert_eq!(
            drops.load(Ordering::SeqCst),
            2,
            "the stored result was not dropped once"
        );
    }

    #[test]
    fn a_running_greenlets_result_slot_stays_small() {
        // The slot every greenlet carries while it runs (issue 24): the error is boxed, so
        // the written flag, the readers' lock (8 bytes each with padding) and a 16-byte
        // `Option<Result<(), Box<_>>>`, not the error's 56 bytes inline (that was 72 or more).
        type Slot = crate::once_slot::OnceSlot<Result<(), Box<super::GreenletError>>>;
        assert!(
            std::mem::size_of::<Slot>() <= 32,
            "{}",
            std::mem::size_of::<Slot>()
        );
    }
}
