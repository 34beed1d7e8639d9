//! A request latency histogram cheap enough for the hot path: fixed bucket bounds
//! ([`LATENCY_BOUNDS`], 10 µs to 1 s), two adds per observation (the bucket and the sum; the
//! count is the buckets' total), each a plain store on may's worker thread and a relaxed
//! atomic add elsewhere (`worker_counter`). A server that can time a request (the echo
//! handler from a read to its reply written, mayfly-http around the handler) records into
//! [`ServerStats::request_took`](super::ServerStats::request_took); the stats page exposes
//! it as a Prometheus histogram.

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
        let i = LATENCY_BOUNDS
            .iter()
            .position(|b| d <= *b)
            .unwrap_or(LATENCY_BOUNDS.len());
        self.buckets[i].add(1);
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
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
}
