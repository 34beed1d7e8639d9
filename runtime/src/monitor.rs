//! The loop monitor: names the greenlet that kept the one worker thread busy too long
//! (gevent's monitor thread: "greenlet blocked the loop for 0.1 s").
//!
//! Off by default. On with [`start`], `Config::new().monitor(Some(threshold))`, or the
//! environment (`MAYFLY_MONITOR_MS=100`). When on, an OS thread posts a tick to a tiny probe
//! coroutine on the worker every quarter threshold; if a tick stays unseen for the threshold
//! while no greenlet has switched, the greenlet that last resumed is holding the worker (a
//! long computation, `std::thread::sleep`, blocking `std::fs`…). It is reported once per
//! episode on stderr and kept for [`reports`]. Cost when on: a counter and a pointer store
//! at each switch; when off, one atomic load.
//!
//! ```
//! use std::time::Duration;
//! mayfly::monitor::start(Duration::from_millis(50)).unwrap();
//! mayfly::Builder::new().name("sleepy").spawn(|| std::thread::sleep(Duration::from_millis(300)))
//!     .unwrap().join(None);
//! std::thread::sleep(Duration::from_millis(100));
//! assert!(mayfly::monitor::reports().iter().any(|r| r.greenlet == "sleepy"));
//! ```

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::greenlet::Core;

/// The environment variable that turns the monitor on: a threshold in milliseconds.
pub const MONITOR_ENV: &str = "MAYFLY_MONITOR_MS";
/// The usual threshold (gevent's `max_blocking_time`).
pub const DEFAULT_THRESHOLD: Duration = Duration::from_millis(100);

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
static RUNNING: Mutex<Option<Arc<Core>>> = Mutex::new(None);
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
    if let Some(core) = crate::greenlet::current_core() {
        *RUNNING.lock().unwrap_or_else(|e| e.into_inner()) = Some(core);
    }
}

/// Starts the monitor with `threshold` (idempotent: a second call keeps the first threshold).
pub fn start(threshold: Duration) -> std::io::Result<()> {
    crate::hub::ensure_started();
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
    REPORTS.lock().unwrap_or_else(|e| e.into_inner()).clone()
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
    let running = RUNNING.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let (name, id) = running.map_or(("<unknown>".to_string(), 0), |c| {
        (c.name().to_string(), c.id)
    });
    eprintln!(
        "mayfly monitor: greenlet {name:?} (#{id}) has blocked the worker for {:.0?} (blocking call or long computation without a switch)",
        held
    );
    REPORTS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(Report {
            greenlet: name,
            id,
            blocked_for: held,
        });
}
