//! Log events that could flood, held to one per interval: a refused connection or a failing
//! handler can happen thousands of times a second, and a log line for each would cost the
//! worker more than the event itself. A [`LogLimit`] (one `static` per call site) lets the
//! first event of each interval through and counts the ones it held back, so the line that
//! goes out can say how many it stands for.
//!
//! ```
//! use std::time::Duration;
//! use mayfly::log_limit::LogLimit;
//!
//! static REFUSED: LogLimit = LogLimit::new(Duration::from_secs(3600));
//! assert_eq!(REFUSED.allow(), Some(0)); // the first goes out
//! assert_eq!(REFUSED.allow(), None); // then held back…
//! assert_eq!(REFUSED.allow(), None);
//! assert_eq!(REFUSED.held(), 2); // …and counted
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The interval the runtime's own flood-prone events use: one line a second at most.
pub const DEFAULT_LOG_EVERY: Duration = Duration::from_secs(1);

/// At most one event per interval from one call site; the others are counted.
///
/// Thread-safe and lock-free (two atomics), so it can sit in an accept loop or a handler's
/// error path. Check the level first (`log::log_enabled!`), so a disabled level costs
/// nothing at all.
#[derive(Debug)]
pub struct LogLimit {
    every_ms: u64,
    /// Milliseconds since [`epoch`] before which nothing more goes out (0: the first event).
    next_ms: AtomicU64,
    held: AtomicU64,
}

impl LogLimit {
    /// One event per `every` (at least a millisecond).
    pub const fn new(every: Duration) -> Self {
        let ms = every.as_millis() as u64;
        LogLimit {
            every_ms: if ms == 0 { 1 } else { ms },
            next_ms: AtomicU64::new(0),
            held: AtomicU64::new(0),
        }
    }

    /// `Some(n)` if this event may be logged, `n` being the events held back since the last
    /// one that was; `None` if it is held back (and counted).
    pub fn allow(&self) -> Option<u64> {
        let now = epoch().elapsed().as_millis() as u64;
        let next = self.next_ms.load(Ordering::Relaxed);
        if now >= next
            && self
                .next_ms
                .compare_exchange(
                    next,
                    now + self.every_ms,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            return Some(self.held.swap(0, Ordering::AcqRel));
        }
        self.held.fetch_add(1, Ordering::Relaxed);
        None
    }

    /// Events held back since the last one let through.
    pub fn held(&self) -> u64 {
        self.held.load(Ordering::Relaxed)
    }
}

/// The clock every [`LogLimit`] reads: milliseconds from the first use in the process.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lets_one_through_per_interval_and_counts_the_rest() {
        let l = LogLimit::new(Duration::from_millis(50));
        assert_eq!(l.allow(), Some(0));
        for _ in 0..5 {
            assert_eq!(l.allow(), None);
        }
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(
            l.allow(),
            Some(5),
            "the next line says how many it stands for"
        );
        assert_eq!(l.held(), 0);
    }

    #[test]
    fn many_threads_get_one_line_per_interval() {
        let l = std::sync::Arc::new(LogLimit::new(Duration::from_secs(3600)));
        let through: usize = (0..4)
            .map(|_| {
                let l = l.clone();
                std::thread::spawn(move || (0..1000).filter(|_| l.allow().is_some()).count())
            })
            .map(|t| t.join().unwrap())
            .sum();
        assert_eq!(through, 1);
        assert_eq!(l.held(), 3999);
    }
}
