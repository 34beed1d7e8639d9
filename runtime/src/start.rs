//! Start-up wiring, the one module above the leaves: [`Config::start`] configures `may` with
//! exactly one worker thread, installs the panic hook, learns the worker's identity, starts
//! the timer thread and (if asked) the monitor.
//!
//! Whatever a program does first that needs the runtime (spawn, park, sleep, bind…) calls
//! [`ensure_started`], so the one-worker configuration is in place before `may`'s scheduler
//! exists. `may` silently ignores configuration after its first use; if that already happened
//! (someone touched `may` directly), [`Config::start`] reports it. Creating a primitive does
//! not start the runtime.

use std::sync::{Mutex, OnceLock};

use crate::config::Config;
use crate::poison::MutexExt;

/// Why the runtime could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The runtime already runs with another configuration.
    #[error("the mayfly runtime already runs with {running:?}; configure it before first use")]
    AlreadyStarted {
        /// The configuration in force.
        running: Config,
    },
    /// A coroutine (or the timer or monitor thread) could not be created.
    #[error("could not create a coroutine: {0}")]
    Spawn(std::io::Error),
}

static STARTED: OnceLock<Config> = OnceLock::new();
static START_LOCK: Mutex<()> = Mutex::new(());

impl Config {
    /// Starts the runtime with this configuration.
    ///
    /// # Errors
    /// [`StartError::AlreadyStarted`] when the runtime already runs with a different
    /// configuration (for example because a greenlet was spawned first);
    /// [`StartError::Spawn`] when the worker probe, the timer thread or the monitor cannot be
    /// created.
    pub fn start(self) -> Result<(), StartError> {
        let _guard = START_LOCK.lock_unpoisoned();
        if let Some(running) = STARTED.get() {
            return if *running == self {
                Ok(())
            } else {
                Err(StartError::AlreadyStarted { running: *running })
            };
        }
        let before = crate::idle::threads();
        let cfg = may::config();
        cfg.set_workers(1);
        // may counts stack size in machine words.
        cfg.set_stack_size(self.stack_size / std::mem::size_of::<usize>());
        // Pinning the only worker to core 0 would fight `taskset` and `mayfly compare --pin`.
        cfg.set_worker_pin(false);
        crate::panic_hook::install();
        crate::worker::learn_identity().map_err(StartError::Spawn)?;
        crate::timer::start_thread().map_err(StartError::Spawn)?;
        let _ = STARTED.set(self);
        if let Some(threshold) = self.monitor {
            crate::loop_watch::launch(threshold).map_err(StartError::Spawn)?;
        }
        note_own_threads(before, if self.monitor.is_some() { 4 } else { 3 });
        Ok(())
    }

    /// The configuration the runtime runs with (starting it with the defaults if needed).
    ///
    /// # Panics
    /// If the runtime was not started and cannot start (see [`ensure_started`]).
    pub fn current() -> Config {
        ensure_started();
        *STARTED.get().expect("runtime started")
    }
}

/// Records the threads start-up made — may's worker and timer thread, `mayfly-timer`, the
/// monitor: `expected` of them — as mayfly's own (for `loop_exit`). If more appeared (a
/// thread of the user's started meanwhile) or the thread list cannot be read, none is told
/// apart and LoopExit is off for the process.
fn note_own_threads(before: Option<Vec<libc::pid_t>>, expected: usize) {
    let (Some(before), Some(after)) = (before, crate::idle::threads()) else {
        crate::idle::unsure();
        return;
    };
    let new: Vec<libc::pid_t> = after.into_iter().filter(|t| !before.contains(t)).collect();
    if new.len() == expected {
        new.into_iter().for_each(crate::idle::own);
    } else {
        crate::idle::unsure();
    }
}

/// Starts the runtime with [`Config::new`] unless it already runs. Cheap after the first call.
///
/// # Panics
/// If the runtime cannot start: no coroutine or thread can be created for the worker probe,
/// the timer thread or the monitor.
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

/// The worker thread's `pthread_t` (starting the runtime if needed), for tests and
/// diagnostics.
///
/// # Panics
/// If the runtime cannot start (see [`ensure_started`]).
pub fn worker_thread() -> usize {
    ensure_started();
    crate::worker::thread_id()
}
