//! The runtime's configuration as plain data: [`Config`], its defaults and the environment
//! variables that set them. Nothing here starts anything; [`Config::start`] (in `start`)
//! applies a configuration.

use std::time::Duration;

/// Default greenlet stack: 64 KiB in an optimised build, 256 KiB in a build with debug
/// assertions (a `cargo build` without `--release`).
///
/// may's own default is 32 KiB, which a handler that formats or parses on the stack overflows
/// easily. The same calls take several times the stack at opt-level 0 (docs/BENCHMARKS.md,
/// "Stack depth": a regex `replace_all` 23 KiB in release, 108 KiB in a plain debug build; a
/// TLS handshake 18 and 59 KiB), so a debug build gets four times the room: a gevent user
/// never sizes a stack. Either costs only the pages a greenlet touches (one, for a parked
/// connection), so the larger one costs address space, not memory.
///
/// ```
/// let kib = mayfly::hub::DEFAULT_STACK_SIZE / 1024;
/// assert_eq!(kib, if cfg!(debug_assertions) { 256 } else { 64 });
/// ```
pub const DEFAULT_STACK_SIZE: usize = if cfg!(debug_assertions) {
    256 * 1024
} else {
    64 * 1024
};
/// The environment variable that sets the stack size in bytes (`MAYFLY_STACK_SIZE=131072`).
pub const STACK_SIZE_ENV: &str = "MAYFLY_STACK_SIZE";
/// The environment variable that turns the loop [`crate::monitor`] on: a threshold in
/// milliseconds (`MAYFLY_MONITOR_MS=100`).
pub const MONITOR_ENV: &str = "MAYFLY_MONITOR_MS";

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

impl Default for Config {
    fn default() -> Self {
        Self::new()
    }
}

impl Config {
    /// The defaults, with `MAYFLY_STACK_SIZE` and `MAYFLY_MONITOR_MS` applied when they are
    /// set to valid numbers.
    pub fn new() -> Self {
        let stack_size = std::env::var(STACK_SIZE_ENV)
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|&n| n >= 4096)
            .unwrap_or(DEFAULT_STACK_SIZE);
        let monitor = std::env::var(MONITOR_ENV)
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
}
