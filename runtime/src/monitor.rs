//! The loop monitor: names the greenlet that kept the one worker thread busy too long
//! (gevent's monitor thread: "greenlet blocked the loop for 0.1 s").
//!
//! Off by default. On with [`start`], `Config::new().monitor(Some(threshold))`, or the
//! environment (`MAYFLY_MONITOR_MS=100`). When on, an OS thread posts a tick to a tiny probe
//! coroutine on the worker every quarter threshold; if a tick stays unseen for the threshold
//! while no greenlet has switched, the greenlet that last resumed is holding the worker (a
//! long computation, `std::thread::sleep`, blocking `std::fs`…). It is reported once per
//! episode as a `log` warning (fields `greenlet`, `id`, `blocked_ms`) and kept for
//! [`reports`]. Cost when on: a counter and a pointer store
//! at each switch; when off, one atomic load.
//!
//! This module is the public face; the machinery (switch recording, the watching thread)
//! is in `loop_watch`, below start-up, which launches it when the configuration asks.
//!
//! ```
//! use std::time::Duration;
//! mayfly::monitor::start(Duration::from_millis(50)).unwrap();
//! mayfly::Builder::new().name("sleepy").spawn(|| std::thread::sleep(Duration::from_millis(300)))
//!     .unwrap().join(None);
//! std::thread::sleep(Duration::from_millis(100));
//! assert!(mayfly::monitor::reports().iter().any(|r| r.greenlet == "sleepy"));
//! ```

use std::time::Duration;

pub use crate::config::MONITOR_ENV;
pub use crate::loop_watch::{reports, Report};

/// The usual threshold (gevent's `max_blocking_time`).
pub const DEFAULT_THRESHOLD: Duration = Duration::from_millis(100);

/// Starts the monitor with `threshold` (idempotent: a second call keeps the first threshold).
/// Starts the runtime first if needed.
///
/// # Errors
/// When the probe coroutine or the `mayfly-monitor` thread cannot be created.
///
/// # Panics
/// If the runtime was not started yet and cannot start (see [`crate::hub::ensure_started`]).
pub fn start(threshold: Duration) -> std::io::Result<()> {
    crate::start::ensure_started();
    crate::loop_watch::launch(threshold)
}
