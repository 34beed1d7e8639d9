//! The loop monitor's bookkeeping: every switch point records "a greenlet resumed" here
//! ([`resumed`], called by `worker::hop_to_worker` and the other switch points), and
//! [`launch`] starts the thread that watches for a worker held too long. A leaf below
//! start-up, which launches it when the configuration asks; the public API is
//! [`crate::monitor`], above start-up.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::context::CoreRef;
use crate::poison::MutexExt;

/// One episode of a greenlet holding the worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The greenlet's name.
    pub greenlet: String,
    /// Its id.
    pub id: u64,
    /// How long the worker had been held when it was reported (at least the threshold).
    pub blocked_for: Duration,
}

static ENABLED: AtomicBool = AtomicBool::new(false);
static SWITCHES: AtomicU64 = AtomicU64::new(0);
static RUNNING: Mutex<Option<CoreRef>> = Mutex::new(None);
static SEEN: AtomicU64 = AtomicU64::new(0);
static REPORTS: Mutex<Vec<Report>> = Mutex::new(Vec::new());
static STARTED: OnceLock<Duration> = OnceLock::new();

/// Records that a greenlet (re)starts on the worker. Called at every switch point.
#[inline]
pub(crate) fn resumed() {
    if ENABLED.load(Ordering::Relaxed) {
        resumed_slow();
    }
}

#[cold]
fn resumed_slow() {
    SWITCHES.fetch_add(1, Ordering::Relaxed);
    if let Some(core) = crate::context::current_core() {
        *RUNNING.lock_unpoisoned() = Some(core);
    }
}

/// Starts the monitor with `threshold` (idempotent: a second call keeps the first threshold).
/// The runtime must be started (may configured): the probe is a coroutine on the worker.
pub(crate) fn launch(threshold: Duration) -> std::io::Result<()> {
    let threshold = threshold.max(Duration::from_millis(4));
    if STARTED.set(threshold).is_err() {
        return Ok(());
    }
    let (tx, rx) = std::sync::mpsc::channel();
    // SAFETY: the probe uses no thread-locals and only parks (no timeout) and stores an
    // atomic; it is resumed by unparks, which queue it on the worker.
    unsafe {
        may::coroutine::Builder::new().spawn(move || -> () {
            let _ = tx.send(may::coroutine::current());
            loop {
                may::coroutine::park();
                SEEN.fetch_add(1, Ordering::Release);
            }
        })
    }?;
    let probe = rx
        .recv()
        .map_err(|_| std::io::Error::other("monitor probe did not start"))?;
    ENABLED.store(true, Ordering::Release);
    std::thread::Builder::new()
        .name("mayfly-monitor".into())
        .spawn(move || watch(probe, threshold))?;
    Ok(())
}

/// Every episode reported so far.
pub fn reports() -> Vec<Report> {
    REPORTS.lock_unpoisoned().clone()
}

fn watch(probe: may::coroutine::Coroutine, threshold: Duration) {
    let step = threshold / 4;
    let mut posted = SEEN.load(Ordering::Acquire);
    let mut pending: Option<(Instant, u64)> = None;
    let mut reported = false;
    loop {
        std::thread::sleep(step);
        let seen = SEEN.load(Ordering::Acquire);
        let switches = SWITCHES.load(Ordering::Relaxed);
        match pending {
            Some((since, switches_then)) if seen <= posted => {
                let held = since.elapsed();
                // Unseen for the threshold with no switch at all: one greenlet holds on.
                if held >= threshold && switches == switches_then && !reported {
                    reported = true;
                    report(held);
                }
                if switches != switches_then {
                    // Busy, but switching: restart the clock from here.
                    pending = Some((Instant::now(), switches));
                }
            }
            _ => {
                reported = false;
                posted = seen;
                pending = Some((Instant::now(), switches));
                probe.unpark();
            }
        }
    }
}

fn report(held: Duration) {
    let running = RUNNING.lock_unpoisoned().clone();
    let (name, id) = running.map_or(("<unknown>".to_string(), 0), |c| {
        (c.name().to_string(), c.id)
    });
    log::warn!(greenlet = name.as_str(), id = id, blocked_ms = held.as_millis() as u64;
        "greenlet {name:?} (#{id}) has blocked the worker for {:.0?} (a blocking call that is not mayfly's, a long computation without a switch, or — often — a std::sync::Mutex that another greenlet holds across a blocking mayfly call: use mayfly::lock::Mutex there)",
        held
    );
    REPORTS.lock_unpoisoned().push(Report {
        greenlet: name,
        id,
        blocked_for: held,
    });
}
