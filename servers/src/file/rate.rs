//! The slowest a request body may move: at least `min_rate` bytes per second, averaged over
//! each `window` (the first window is the grace a transfer gets to start), on top of the
//! per-read `io_timeout`. Without it one byte every few seconds held a connection (and its
//! fd, and an upload's temp file) for ever, since every read finished well within the
//! timeout.
//!
//! Pure logic on caller-supplied instants; the session sets each read's or write's socket
//! timeout to [`RateGuard::timeout`] so a stalled transfer wakes up when its window ends.

use std::io;
use std::time::{Duration, Instant};

/// Tracks one body transfer against the minimum rate and the stall timeout.
#[derive(Debug, Clone)]
pub(crate) struct RateGuard {
    min_rate: u64,
    window: Duration,
    io_timeout: Duration,
    window_start: Instant,
    window_bytes: u64,
    last_progress: Instant,
}

impl RateGuard {
    /// A transfer starting at `now`. `min_rate` 0 turns the rate check off (only the stall
    /// timeout remains).
    pub fn new(min_rate: u64, window: Duration, io_timeout: Duration, now: Instant) -> Self {
        RateGuard {
            min_rate,
            window: window.max(Duration::from_millis(1)),
            io_timeout,
            window_start: now,
            window_bytes: 0,
            last_progress: now,
        }
    }

    /// When the window ends; `None` if that is past what an `Instant` can hold (a window
    /// of 10^19 s): it never ends.
    fn window_end(&self) -> Option<Instant> {
        self.window_start.checked_add(self.window)
    }

    /// The timeout to give the next read or write: until the stall timeout, or until the
    /// window ends if that is sooner (at least 1 ms). `None` (no timeout) if neither ends
    /// within what an `Instant` can hold.
    pub fn timeout(&self, now: Instant) -> Option<Duration> {
        let until = |end: Option<Instant>| end.map(|e| e.saturating_duration_since(now));
        let stall = until(self.last_progress.checked_add(self.io_timeout));
        let window = if self.min_rate == 0 {
            None
        } else {
            until(self.window_end())
        };
        let t = match (stall, window) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b)?,
        };
        Some(t.max(Duration::from_millis(1)))
    }

    /// Ends every window that is over by `now`: an error if one moved too few bytes.
    fn roll(&mut self, now: Instant) -> io::Result<()> {
        if self.min_rate == 0 {
            return Ok(());
        }
        while self.window_end().is_some_and(|end| now >= end) {
            let need = (self.min_rate as f64 * self.window.as_secs_f64()) as u64;
            if self.window_bytes < need {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "{} bytes in {:?}: slower than the minimum {} bytes/s (--min-rate)",
                        self.window_bytes, self.window, self.min_rate
                    ),
                ));
            }
            self.window_start = now;
            self.window_bytes = 0;
        }
        Ok(())
    }

    /// `n` bytes moved at `now`.
    ///
    /// # Errors
    /// `TimedOut` if a window ended with fewer than `min_rate × window` bytes.
    pub fn progress(&mut self, n: usize, now: Instant) -> io::Result<()> {
        self.window_bytes += n as u64;
        self.last_progress = now;
        self.roll(now)
    }

    /// A read or write given [`timeout`](Self::timeout) timed out at `now`: `Ok` means try
    /// again (a window that moved enough just ended).
    ///
    /// # Errors
    /// `TimedOut` if nothing moved for `io_timeout`, or the window ended short.
    pub fn timed_out(&mut self, now: Instant) -> io::Result<()> {
        if now.duration_since(self.last_progress) >= self.io_timeout {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no bytes moved for {:?} (--io-timeout)", self.io_timeout),
            ));
        }
        self.roll(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn a_trickle_is_cut_when_its_window_ends_short() {
        let t0 = Instant::now();
        let mut g = RateGuard::new(1000, 10 * S, 60 * S, t0);
        // One byte every 2 s: each read is far within the 60 s stall timeout…
        for i in 1..5 {
            g.progress(1, t0 + 2 * i * S).unwrap();
        }
        // …but the first window (10 s) ends with 5 bytes of the 10,000 needed.
        let e = g.progress(1, t0 + 10 * S).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert!(e.to_string().contains("--min-rate"), "{e}");
    }

    #[test]
    fn a_fast_transfer_passes_window_after_window() {
        let t0 = Instant::now();
        let mut g = RateGuard::new(1000, 10 * S, 60 * S, t0);
        for i in 1..=100 {
            g.progress(5000, t0 + i * S).unwrap();
        }
    }

    #[test]
    fn a_stall_wakes_up_at_the_window_end_and_is_cut_there() {
        let t0 = Instant::now();
        let mut g = RateGuard::new(1000, 10 * S, 60 * S, t0);
        g.progress(20_000, t0 + S).unwrap();
        assert_eq!(
            g.timeout(t0 + S),
            Some(9 * S),
            "the window ends before the stall timeout"
        );
        // The window moved enough: the timeout at its end means "go on".
        g.timed_out(t0 + 10 * S).unwrap();
        assert_eq!(g.timeout(t0 + 10 * S), Some(10 * S));
        // The next one moved nothing: cut.
        assert!(g.timed_out(t0 + 20 * S).is_err());
    }

    #[test]
    fn rate_zero_keeps_only_the_stall_timeout() {
        let t0 = Instant::now();
        let mut g = RateGuard::new(0, 10 * S, 60 * S, t0);
        g.progress(1, t0 + 50 * S).unwrap();
        assert_eq!(g.timeout(t0 + 50 * S), Some(60 * S));
        g.timed_out(t0 + 100 * S).unwrap();
        assert!(g.timed_out(t0 + 110 * S).is_err());
    }

    #[test]
    fn windows_and_timeouts_past_what_an_instant_holds_never_end() {
        // Before: `Instant + window` panicked (`--rate-window 1e19`), in every session.
        let t0 = Instant::now();
        let huge = Duration::from_secs(10_000_000_000_000_000_000);
        let mut g = RateGuard::new(1000, huge, 60 * S, t0);
        assert_eq!(g.timeout(t0), Some(60 * S), "the stall timeout still holds");
        g.progress(1, t0 + S).unwrap();
        g.timed_out(t0 + 30 * S).unwrap();
        let mut g = RateGuard::new(1000, huge, Duration::MAX, t0);
        assert_eq!(g.timeout(t0), None, "no deadline at all");
        g.progress(1, t0 + S).unwrap();
        g.timed_out(t0 + 1000 * S).unwrap();
        let g = RateGuard::new(1000, 10 * S, Duration::MAX, t0);
        assert_eq!(g.timeout(t0), Some(10 * S), "the window still ends");
    }
}
