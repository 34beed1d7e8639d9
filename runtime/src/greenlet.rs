//! Greenlets: `spawn`, `spawn_later`, `Greenlet<T>` and `getcurrent` (gevent's `Greenlet`).
//!
//! A greenlet is a may coroutine on the one worker thread, wrapped so that its result, its
//! panic (with its name) or its death by [`Greenlet::kill`] are all observable, from other
//! greenlets and from plain OS threads alike.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::error::{GreenletError, SpawnError};
use crate::wait::WaitList;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);
static ALIVE: AtomicU64 = AtomicU64::new(0);
/// Spawned greenlets that have not started running yet (see `yield_now`).
static UNSTARTED: AtomicU64 = AtomicU64::new(0);

pub(crate) fn unstarted() -> u64 {
    UNSTARTED.load(Ordering::Acquire)
}

/// The untyped part of a greenlet, shared with the greenlet itself.
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) id: u64,
    /// Set by `Builder::name`, or `Greenlet-<id>` on first use (formatting it at every spawn
    /// would cost more than the spawn's own bookkeeping).
    name: OnceLock<String>,
    co: Mutex<Option<may::coroutine::Coroutine>>,
    killed: AtomicBool,
    done: AtomicBool,
    pub(crate) waiters: WaitList,
    pub(crate) panic_location: Mutex<Option<String>>,
}

impl Core {
    /// Asks the greenlet to die at its next (or current) blocking call.
    pub(crate) fn kill_nowait(&self) {
        self.killed.store(true, Ordering::Release);
        let co = self.co.lock().unwrap_or_else(|e| e.into_inner()).clone();
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

    /// Waits until the greenlet finished or `until` passed; returns whether it finished.
    pub(crate) fn join_until(&self, until: Option<Instant>) -> bool {
        self.waiters.wait_until(until, || self.is_done())
    }

    pub(crate) fn name(&self) -> &str {
        self.name.get_or_init(|| format!("Greenlet-{}", self.id))
    }

    pub(crate) fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }
}

may::coroutine_local!(static CURRENT: RefCell<Option<Arc<Core>>> = RefCell::new(None));

thread_local! {
    /// Set while `may` spawns, so the panic hook stays quiet about may's "failed to alloc".
    pub(crate) static SPAWNING: Cell<bool> = const { Cell::new(false) };
}

pub(crate) fn current_core() -> Option<Arc<Core>> {
    if !may::coroutine::is_coroutine() {
        return None;
    }
    CURRENT.with(|c| c.borrow().clone())
}

struct Shared<T> {
    core: Arc<Core>,
    result: Mutex<Option<Result<T, GreenletError>>>,
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
    pub fn spawn<F, T>(self, f: F) -> Result<Greenlet<T>, SpawnError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        crate::hub::ensure_started();
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let name = OnceLock::new();
        if let Some(n) = self.name {
            let _ = name.set(n);
        }
        let core = Arc::new(Core {
            id,
            name,
            co: Mutex::new(None),
            killed: AtomicBool::new(false),
            done: AtomicBool::new(false),
            waiters: WaitList::new(),
            panic_location: Mutex::new(None),
        });
        let shared = Arc::new(Shared {
            core,
            result: Mutex::new(None),
        });
        let theirs = shared.clone();
        let mut b = may::coroutine::Builder::new();
        if let Some(bytes) = self.stack_size {
            b = b.stack_size(bytes.div_ceil(std::mem::size_of::<usize>()));
        }
        ALIVE.fetch_add(1, Ordering::Relaxed);
        UNSTARTED.fetch_add(1, Ordering::AcqRel);
        SPAWNING.with(|s| s.set(true));
        // SAFETY (may's two conditions for `spawn`):
        // 1. Thread-local storage across a yield: the body runs only on the one worker thread.
        //    Every way a mayfly greenlet is resumed — the worker's run queue, its epoll loop and
        //    I/O timer list, or the worker's global queue (unparks from other threads) — runs it
        //    on the worker; the only other thread that resumes coroutines, may's timer thread,
        //    resumes only mayfly's timer driver, which hops back before running anything (see
        //    `timer` and the crate docs, "Soundness"). A thread-local read after a yield
        //    therefore reads the same thread's storage as before it.
        // 2. Stack overflow: may's stacks have a guard page; an overflow faults on it instead
        //    of corrupting memory, and may/generator turn the fault into a panic.
        let spawned = panic::catch_unwind(AssertUnwindSafe(|| unsafe {
            b.spawn(move || run_body(theirs, f))
        }));
        SPAWNING.with(|s| s.set(false));
        match spawned {
            Ok(Ok(_detached)) => Ok(Greenlet { shared }),
            Ok(Err(e)) => {
                ALIVE.fetch_sub(1, Ordering::Relaxed);
                UNSTARTED.fetch_sub(1, Ordering::AcqRel);
                Err(SpawnError {
                    reason: e.to_string(),
                })
            }
            Err(p) => {
                ALIVE.fetch_sub(1, Ordering::Relaxed);
                UNSTARTED.fetch_sub(1, Ordering::AcqRel);
                Err(SpawnError {
                    reason: format!(
                        "{} (out of memory mappings? see vm.max_map_count)",
                        panic_message(&*p)
                    ),
                })
            }
        }
    }
}

fn run_body<T, F>(shared: Arc<Shared<T>>, f: F)
where
    F: FnOnce() -> T,
{
    UNSTARTED.fetch_sub(1, Ordering::AcqRel);
    let core = shared.core.clone();
    CURRENT.with(|c| *c.borrow_mut() = Some(core.clone()));
    let start = {
        let mut co = core.co.lock().unwrap_or_else(|e| e.into_inner());
        *co = Some(may::coroutine::current());
        !core.killed.load(Ordering::Acquire)
    };
    crate::monitor::resumed();
    let result = if start {
        match panic::catch_unwind(AssertUnwindSafe(f)) {
            Ok(v) => Ok(v),
            Err(p) => Err(error_from_payload(&core, p)),
        }
    } else {
        Err(GreenletError::Killed {
            name: core.name().to_string(),
            id: core.id,
        })
    };
    *shared.result.lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
    core.co.lock().unwrap_or_else(|e| e.into_inner()).take();
    core.done.store(true, Ordering::Release);
    ALIVE.fetch_sub(1, Ordering::Relaxed);
    core.waiters.wake_all();
    // CURRENT is dropped with the coroutine's local storage.
}

fn error_from_payload(core: &Core, p: Box<dyn Any + Send>) -> GreenletError {
    if matches!(
        p.downcast_ref::<generator::Error>(),
        Some(generator::Error::Cancel)
    ) {
        return GreenletError::Killed {
            name: core.name().to_string(),
            id: core.id,
        };
    }
    let mut message = if crate::timeout::is_timeout_payload(&*p) {
        "a Timeout expired outside the with_timeout that set it".to_string()
    } else {
        panic_message(&*p)
    };
    if let Some(loc) = core
        .panic_location
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
    {
        message = format!("{message} (at {loc})");
    }
    GreenletError::Panicked {
        name: core.name().to_string(),
        id: core.id,
        message,
    }
}

pub(crate) fn panic_message(p: &(dyn Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
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
    ALIVE.load(Ordering::Relaxed)
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

    /// True once the greenlet has finished: returned, panicked or been killed.
    pub fn ready(&self) -> bool {
        self.shared.core.is_done()
    }

    /// True if it finished by returning a value.
    pub fn successful(&self) -> bool {
        self.ready() && matches!(&*self.lock_result(), Some(Ok(_)))
    }

    /// How it failed, once finished; `None` while running or if it succeeded.
    pub fn exception(&self) -> Option<GreenletError> {
        match &*self.lock_result() {
            Some(Err(e)) => Some(e.clone()),
            _ => None,
        }
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

    pub(crate) fn wait_until(&self, until: Option<Instant>) -> bool {
        self.shared.core.join_until(until)
    }

    /// Waits for the greenlet and returns a clone of its value, or why there is none.
    pub fn get(&self) -> Result<T, GreenletError>
    where
        T: Clone,
    {
        self.join(None);
        self.result_now()
    }

    /// Like [`get`](Greenlet::get), giving up with [`GreenletError::Timeout`] after `timeout`.
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

    /// Waits for the greenlet and moves its value out (for values that are not `Clone`).
    /// Other handles to the same greenlet then see `value() == None`.
    pub fn into_result(self) -> Result<T, GreenletError> {
        self.join(None);
        let mut r = self.lock_result();
        match r.take() {
            Some(Ok(v)) => Ok(v),
            Some(Err(e)) => {
                *r = Some(Err(e.clone()));
                Err(e)
            }
            None => Err(GreenletError::Panicked {
                name: self.name().to_string(),
                id: self.id(),
                message: "the value was already taken by into_result".into(),
            }),
        }
    }

    /// The value if the greenlet finished successfully (gevent's `g.value`), without waiting.
    pub fn value(&self) -> Option<T>
    where
        T: Clone,
    {
        match &*self.lock_result() {
            Some(Ok(v)) => Some(v.clone()),
            _ => None,
        }
    }

    /// Kills the greenlet and waits until it is dead (gevent's `kill(block=True)`).
    ///
    /// The greenlet unwinds at its next blocking call (or at once, if it is blocked now), so
    /// its destructors run — sockets close, locks release. A greenlet that never blocks again
    /// runs to completion and keeps its value. Killing a greenlet that has not started yet
    /// stops it from ever running. Killing yourself takes effect at your next blocking call.
    pub fn kill(&self) {
        self.kill_nowait();
        let me = current_core().map(|c| c.id);
        if me != Some(self.id()) {
            self.join(None);
        }
    }

    /// Asks the greenlet to die and returns at once (gevent's `kill(block=False)`).
    pub fn kill_nowait(&self) {
        self.shared.core.kill_nowait();
    }

    fn lock_result(&self) -> std::sync::MutexGuard<'_, Option<Result<T, GreenletError>>> {
        self.shared.result.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn result_now(&self) -> Result<T, GreenletError>
    where
        T: Clone,
    {
        match &*self.lock_result() {
            Some(r) => r.clone(),
            None => Err(GreenletError::Panicked {
                name: self.name().to_string(),
                id: self.id(),
                message: "the value was already taken by into_result".into(),
            }),
        }
    }

    pub(crate) fn core(&self) -> &Arc<Core> {
        &self.shared.core
    }
}

/// A caught panic payload carried back to `run`'s caller.
pub(crate) struct SendPayload(pub(crate) Box<dyn Any + Send>);
