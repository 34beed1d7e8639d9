//! The hub: configures `may` with exactly one worker thread, knows which OS thread that worker
//! is, and moves a greenlet back onto it.
//!
//! Every public entry point of mayfly calls [`ensure_started`] first, so whatever a program
//! calls first (spawn, bind, sleep, Timeout…) the one-worker configuration is in place before
//! `may`'s scheduler exists. `may` silently ignores configuration after its first use; if that
//! already happened (someone touched `may` directly), [`Config::start`] reports it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crate::error::StartError;

/// Default greenlet stack: 64 KiB. may's own default is 32 KiB, which a handler that formats
/// or parses on the stack overflows easily; 64 KiB still costs only the pages actually touched.
pub const DEFAULT_STACK_SIZE: usize = 64 * 1024;
/// The environment variable that sets the stack size in bytes (`MAYFLY_STACK_SIZE=131072`).
pub const STACK_SIZE_ENV: &str = "MAYFLY_STACK_SIZE";

/// Runtime configuration, applied once per process before `may` starts.
///
/// ```
/// // Must run before anything else in the process uses mayfly or may.
/// let _ = mayfly::Config::new().stack_size(128 * 1024).start();
/// assert_eq!(mayfly::Config::current().stack_size, 128 * 1024);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Bytes of stack per greenlet (rounded up to a page by `may`).
    pub stack_size: usize,
    /// Start the loop [`crate::monitor`] with this threshold (also `MAYFLY_MONITOR_MS`).
    pub monitor: Option<Duration>,
}

static STARTED: OnceLock<Config> = OnceLock::new();
static START_LOCK: Mutex<()> = Mutex::new(());
/// `pthread_self()` of may's one worker thread, 0 until known.
static WORKER: AtomicUsize = AtomicUsize::new(0);

impl Default for Config {
    fn default() -> Self {
        Self::new()
    }
}

impl Config {
    /// The defaults, with `MAYFLY_STACK_SIZE` applied when it is set to a valid number.
    pub fn new() -> Self {
        let stack_size = std::env::var(STACK_SIZE_ENV)
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|&n| n >= 4096)
            .unwrap_or(DEFAULT_STACK_SIZE);
        let monitor = std::env::var(crate::monitor::MONITOR_ENV)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_millis);
        Config {
            stack_size,
            monitor,
        }
    }

    /// Sets the stack size in bytes (at least 4096).
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = bytes.max(4096);
        self
    }

    /// Turns on the loop monitor: greenlets that hold the worker longer than `threshold`
    /// are reported by name (see [`crate::monitor`]).
    pub fn monitor(mut self, threshold: Option<Duration>) -> Self {
        self.monitor = threshold;
        self
    }

    /// Starts the runtime with this configuration.
    ///
    /// Fails with [`StartError::AlreadyStarted`] when the runtime already runs with a
    /// different configuration (for example because a greenlet was spawned first).
    pub fn start(self) -> Result<(), StartError> {
        let _guard = START_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(running) = STARTED.get() {
            return if *running == self {
                Ok(())
            } else {
                Err(StartError::AlreadyStarted { running: *running })
            };
        }
        let cfg = may::config();
        cfg.set_workers(1);
        // may counts stack size in machine words.
        cfg.set_stack_size(self.stack_size / std::mem::size_of::<usize>());
        // Pinning the only worker to core 0 would fight `taskset` and `mayfly compare --pin`.
        cfg.set_worker_pin(false);
        crate::panic_hook::install();
        learn_worker_identity()?;
        crate::timer::start_thread()?;
        let _ = STARTED.set(self);
        if let Some(threshold) = self.monitor {
            crate::monitor::start(threshold).map_err(StartError::Spawn)?;
        }
        Ok(())
    }

    /// The configuration the runtime runs with (starting it with the defaults if needed).
    pub fn current() -> Config {
        ensure_started();
        *STARTED.get().expect("runtime started")
    }
}

/// Starts the runtime with [`Config::new`] unless it already runs. Cheap after the first call.
#[inline]
pub fn ensure_started() {
    if STARTED.get().is_none() {
        start_default();
    }
}

#[cold]
fn start_default() {
    if let Err(e) = Config::new().start() {
        match e {
            StartError::AlreadyStarted { .. } => {}
            other => panic!("mayfly: the runtime could not start: {other}"),
        }
    }
}

/// Runs one coroutine on the worker to learn its `pthread_self()`.
fn learn_worker_identity() -> Result<(), StartError> {
    // SAFETY: the closure touches no thread-local storage and does not yield; it reads the
    // current thread's id with a plain FFI call and returns.
    let handle = unsafe {
        may::coroutine::Builder::new()
            .name("mayfly-probe".into())
            .spawn(|| libc::pthread_self() as usize)
    }
    .map_err(StartError::Spawn)?;
    let id = handle
        .join()
        .map_err(|_| StartError::Spawn(std::io::Error::other("probe coroutine panicked")))?;
    WORKER.store(id, Ordering::Release);
    Ok(())
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

/// The worker thread's `pthread_t`, for tests and diagnostics.
pub fn worker_thread() -> usize {
    ensure_started();
    WORKER.load(Ordering::Acquire)
}

/// If a greenlet finds itself off the worker (resumed by may's timer thread), yield once:
/// may then queues it on the worker's global queue, and it continues there.
#[inline]
pub(crate) fn hop_to_worker() {
    if may::coroutine::is_coroutine() && !on_worker() {
        hop_slow();
    }
    crate::monitor::resumed();
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
