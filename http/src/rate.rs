//! [`RateLimit`]: the token bucket behind [`Options::max_rps`](crate::Options::max_rps),
//! shared by every connection of a server.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A token bucket shared by every connection of a server: it bounds the requests per second
/// the server answers, however many clients hammer it, so a page beside a busy server takes
/// a bounded share of its worker.
///
/// ```
/// use std::time::Duration;
/// let r = mayfly_http::RateLimit::new(100);
/// // A burst of up to a tenth of a second's worth goes through at once.
/// assert!((0..10).all(|_| r.delay().is_zero()));
/// assert!(r.delay() > Duration::ZERO);
/// ```
#[derive(Debug)]
pub struct RateLimit {
    per_sec: f64,
    /// Tokens left, and when they were counted.
    state: Mutex<(f64, Instant)>,
}

impl RateLimit {
    /// `per_sec` requests per second (at least 1), bursts of a tenth of that.
    pub fn new(per_sec: u64) -> Self {
        let per_sec = per_sec.max(1) as f64;
        RateLimit {
            per_sec,
            state: Mutex::new((Self::burst(per_sec), Instant::now())),
        }
    }

    fn burst(per_sec: f64) -> f64 {
        (per_sec / 10.0).max(1.0)
    }

    /// Takes one token; returns how long the caller must wait before going on.
    pub fn delay(&self) -> Duration {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let refill = now.duration_since(st.1).as_secs_f64() * self.per_sec;
        st.0 = (st.0 + refill).min(Self::burst(self.per_sec));
        st.1 = now;
        st.0 -= 1.0;
        if st.0 >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-st.0 / self.per_sec)
        }
    }
}
