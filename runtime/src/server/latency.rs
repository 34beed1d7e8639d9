//! A request latency histogram cheap enough for the hot path: fixed bucket bounds
//! ([`LATENCY_BOUNDS`], 10 µs to 1 s), two adds per observation (the bucket and the sum; the
//! count is the buckets' total), each a plain store on may's worker thread and a relaxed
//! atomic add elsewhere (`worker_counter`). A server that can time a request (the echo
//! handler from a read to its reply written, mayfly-http around the handler) records into
//! [`ServerStats::request_done`](super::ServerStats::request_done) (from a [`RequestStart`])
//! or [`ServerStats::request_took`](super::ServerStats::request_took) (a `Duration`); the
//! stats page exposes it as a Prometheus histogram.

use std::time::Duration;

use crate::worker_counter::WorkerCounter;

/// The buckets' upper bounds (a last, unbounded bucket catches the rest): 10 µs to 1 s,
/// about three a decade, so both a loopback echo (µs) and a slow handler (ms) land in
/// buckets of their own.
pub const LATENCY_BOUNDS: [Duration; 13] = [
    Duration::from_micros(10),
    Duration::from_micros(25),
    Duration::from_micros(50),
    Duration::from_micros(100),
    Duration::from_micros(250),
    Duration::from_micros(500),
    Duration::from_millis(1),
    Duration::from_micros(2_500),
    Duration::from_millis(5),
    Duration::from_millis(10),
    Duration::from_millis(50),
    Duration::from_millis(250),
    Duration::from_secs(1),
];

/// [`LATENCY_BOUNDS`] in nanoseconds, what [`LatencyHistogram::observe_ns`] compares with.
const LATENCY_BOUNDS_NS: [u64; LATENCY_BOUNDS.len()] = {
    let mut ns = [0u64; LATENCY_BOUNDS.len()];
    let mut i = 0;
    while i < ns.len() {
        // Every bound is at most 1 s: it fits a u64 of nanoseconds.
        ns[i] = LATENCY_BOUNDS[i].as_nanos() as u64;
        i += 1;
    }
    ns
};

/// When a request started, for [`ServerStats::request_done`](super::ServerStats::request_done):
/// a reading of the monotonic clock in nanoseconds.
///
/// The clock is `Instant`'s (`CLOCK_MONOTONIC`), but taking a reading and subtracting two
/// are integer operations, where `Instant::elapsed` and the `Duration` a histogram then
/// takes apart check and normalise two `timespec`s: about 75 of the 1,170 user-space
/// instructions of an echo request (issue 24).
///
/// ```
/// use mayfly::server::{RequestStart, ServerStats};
/// let stats = ServerStats::new();
/// let start = RequestStart::now();
/// // ... answer the request ...
/// stats.request_done(start);
/// assert_eq!(stats.latency().count, 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct RequestStart(u64);

impl RequestStart {
    /// The monotonic clock now.
    #[inline]
    pub fn now() -> Self {
        RequestStart(monotonic_ns())
    }

    /// Nanoseconds since this reading (0 if the clock reads earlier, which it never does).
    #[inline]
    pub fn elapsed_ns(self) -> u64 {
        monotonic_ns().saturating_sub(self.0)
    }
}

/// `CLOCK_MONOTONIC` in nanoseconds (through the vDSO: no system call).
#[inline]
fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable `timespec` for the call, and `CLOCK_MONOTONIC`
    // exists on every Linux, so the call cannot fail (std's `Instant::now` makes the same
    // call and treats failure as impossible); on failure `ts` would stay 0, not undefined.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    // tv_sec and tv_nsec of the monotonic clock are never negative.
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
}

/// Counts of requests by how long they took.
#[derive(Debug, Default)]
pub struct LatencyHistogram {
    /// One per bound, and the last for everything longer.
    buckets: [WorkerCounter; LATENCY_BOUNDS.len() + 1],
    sum_ns: WorkerCounter,
}

/// A copy of a [`LatencyHistogram`] at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LatencySnapshot {
    /// Requests in each bucket (not cumulative): one per [`LATENCY_BOUNDS`] entry (at most
    /// that bound, over the one before), and a last one for longer ones.
    pub buckets: Vec<u64>,
    /// Requests observed.
    pub count: u64,
    /// Their total time.
    pub sum: Duration,
}

impl LatencyHistogram {
    /// Records one request that took `d`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let h = mayfly::server::LatencyHistogram::default();
    /// h.observe(Duration::from_micros(7));
    /// h.observe(Duration::from_millis(3));
    /// h.observe(Duration::from_secs(9));
    /// let s = h.snapshot();
    /// assert_eq!((s.count, s.buckets[0], s.buckets[8], s.buckets[13]), (3, 1, 1, 1));
    /// ```
    #[inline]
    pub fn observe(&self, d: Duration) {
        self.observe_ns(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    }

    /// Records one request that took `ns` nanoseconds (what [`RequestStart::elapsed_ns`]
    /// gives).
    ///
    /// ```
    /// let h = mayfly::server::LatencyHistogram::default();
    /// h.observe_ns(7_000);
    /// h.observe_ns(10_001);
    /// let s = h.snapshot();
    /// assert_eq!((s.count, s.buckets[0], s.buckets[1]), (2, 1, 1));
    /// ```
    #[inline]
    pub fn observe_ns(&self, ns: u64) {
        let i = LATENCY_BOUNDS_NS
            .iter()
            .position(|b| ns <= *b)
            .unwrap_or(LATENCY_BOUNDS_NS.len());
        self.buckets[i].add(1);
        self.sum_ns.add(ns);
    }

    /// The counts now (read bucket by bucket: the count is their total, so it always
    /// matches them; a request recorded meanwhile may be in its bucket but not yet in the
    /// sum, or the other way round).
    pub fn snapshot(&self) -> LatencySnapshot {
        let buckets: Vec<u64> = self.buckets.iter().map(WorkerCounter::get).collect();
        LatencySnapshot {
            count: buckets.iter().fold(0u64, |a, b| a.wrapping_add(*b)),
            buckets,
            sum: Duration::from_nanos(self.sum_ns.get()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bound_belongs_to_its_own_bucket() {
        let h = LatencyHistogram::default();
        for b in LATENCY_BOUNDS {
            h.observe(b);
        }
        h.observe(Duration::ZERO);
        let s = h.snapshot();
        assert_eq!(s.buckets[0], 2, "0 and 10 µs");
        assert!(s.buckets[1..LATENCY_BOUNDS.len()].iter().all(|&n| n == 1));
        assert_eq!(s.buckets[LATENCY_BOUNDS.len()], 0);
        assert_eq!(s.count, LATENCY_BOUNDS.len() as u64 + 1);
        assert_eq!(s.sum, LATENCY_BOUNDS.iter().sum::<Duration>());
    }

    #[test]
    fn nanoseconds_land_in_the_buckets_their_duration_does() {
        let (by_duration, by_ns) = (LatencyHistogram::default(), LatencyHistogram::default());
        for b in LATENCY_BOUNDS {
            for d in [b - Duration::from_nanos(1), b, b + Duration::from_nanos(1)] {
                by_duration.observe(d);
                by_ns.observe_ns(d.as_nanos() as u64);
            }
        }
        assert_eq!(by_duration.snapshot(), by_ns.snapshot());
        assert_eq!(
            by_ns.snapshot().buckets[LATENCY_BOUNDS.len()],
            1,
            "1 s + 1 ns"
        );
    }

    #[test]
    fn a_request_start_measures_what_an_instant_around_it_does() {
        let outer = std::time::Instant::now();
        let start = RequestStart::now();
        std::thread::sleep(Duration::from_millis(5));
        let ns = start.elapsed_ns();
        let outer_ns = outer.elapsed().as_nanos() as u64;
        assert!(ns >= 5_000_000, "{ns} ns for a 5 ms sleep");
        assert!(
            ns <= outer_ns,
            "{ns} ns inside {outer_ns} ns: not the same clock"
        );
        assert!(RequestStart::now() > start);
    }
}
