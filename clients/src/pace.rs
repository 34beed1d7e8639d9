//! A fixed request rate shared by every connection of a load (`stress --rate`, `compare
//! --rate`): request *k* of the run is due *k* / rate seconds after the measured window opens,
//! whichever connection sends it (wrk2's constant throughput).
//!
//! Why: a load that sends as fast as it can makes the client the bottleneck on a 2-core
//! machine, so the server's CPU per request follows the client's speed. A faster client means
//! fuller `epoll_wait` batches and fewer sleeps and wake-ups, so the figure moves with
//! everything else on the host. At a fixed offered rate every build sees the same load, and
//! builds can be compared at equal req/s.
//!
//! A connection takes a slot before each request and waits until that slot is due. A
//! connection that is late (the slot is already past) sends at once, so a stall is caught up
//! afterwards instead of lowering the rate. A slot at or after the window's end is not waited
//! for: the connection is done. So a run needs at least one slot per connection (rate ×
//! duration ≥ connections, [`check_slots`]), or some connections are never answered.
//! Latency is still timed from the send, not from the slot, so a paced run's percentiles
//! leave out the time a late request waited for its turn (coordinated omission).
//!
//! ```
//! use std::time::{Duration, Instant};
//! use mayfly_clients::pace::Pacer;
//!
//! let start = Instant::now();
//! let p = Pacer::new(1000.0, start).unwrap();
//! assert_eq!(p.next_due(), start);
//! assert_eq!(p.next_due(), start + Duration::from_millis(1));
//! assert_eq!(p.issued(), 2);
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The grid a greenlet's wait is rounded up to ([`Pacer::wait_green`]).
pub const GREEN_TICK: Duration = Duration::from_millis(1);

/// A paced run whose req/s fell below this share of the offered rate did not reach it (the
/// window's last slots are still in flight when it closes).
pub const RATE_REACHED: f64 = 0.98;

/// Whether `rps` answered reached the offered `rate` ([`RATE_REACHED`]).
///
/// ```
/// assert!(mayfly_clients::pace::reached(990.0, 1000.0));
/// assert!(!mayfly_clients::pace::reached(900.0, 1000.0));
/// ```
pub fn reached(rps: f64, rate: f64) -> bool {
    rps >= RATE_REACHED * rate
}

/// Too few slots: a paced run of `rate` for `seconds` has fewer requests than connections.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error(
    "--rate {rate} for {seconds} s is {slots} requests, fewer than the {connections} connections: \
     some would never be answered (raise --rate or --duration, or open fewer connections)"
)]
pub struct SlotsError {
    /// Requests a second.
    pub rate: f64,
    /// The window.
    pub seconds: f64,
    /// Slots in the window.
    pub slots: u64,
    /// Connections asked for.
    pub connections: u64,
}

/// Checks that a paced window has a slot for every connection.
///
/// # Errors
/// [`SlotsError`] when `rate` × `window` is less than `connections`.
///
/// ```
/// use std::time::Duration;
/// use mayfly_clients::pace::check_slots;
/// assert!(check_slots(1000.0, Duration::from_secs(6), 500).is_ok());
/// assert!(check_slots(1000.0, Duration::from_secs(6), 10_000).is_err());
/// ```
pub fn check_slots(rate: f64, window: Duration, connections: usize) -> Result<(), SlotsError> {
    let slots = (rate * window.as_secs_f64()).floor() as u64;
    if slots < connections as u64 {
        return Err(SlotsError {
            rate,
            seconds: window.as_secs_f64(),
            slots,
            connections: connections as u64,
        });
    }
    Ok(())
}

/// A rate that cannot pace anything: zero, negative, or not a number.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("--rate must be a positive number of requests per second, not {0}")]
pub struct RateError(pub f64);

/// Checks a requests-per-second rate.
///
/// # Errors
/// [`RateError`] unless `rate` is finite and above zero.
///
/// ```
/// assert!(mayfly_clients::pace::check_rate(5000.0).is_ok());
/// assert!(mayfly_clients::pace::check_rate(0.0).is_err());
/// ```
pub fn check_rate(rate: f64) -> Result<f64, RateError> {
    if rate.is_finite() && rate > 0.0 {
        Ok(rate)
    } else {
        Err(RateError(rate))
    }
}

/// The slots of a paced run; share one between all connections (`Arc`, or a reference from
/// the thread that owns the run).
#[derive(Debug)]
pub struct Pacer {
    start: Instant,
    /// Nanoseconds between two slots.
    interval_ns: f64,
    issued: AtomicU64,
}

impl Pacer {
    /// `rate` requests a second, the first one due at `start`.
    ///
    /// # Errors
    /// [`RateError`] unless `rate` is finite and above zero.
    pub fn new(rate: f64, start: Instant) -> Result<Pacer, RateError> {
        let rate = check_rate(rate)?;
        Ok(Pacer {
            start,
            interval_ns: 1e9 / rate,
            issued: AtomicU64::new(0),
        })
    }

    /// Takes the next slot and returns when it is due.
    pub fn next_due(&self) -> Instant {
        let k = self.issued.fetch_add(1, Ordering::Relaxed);
        self.start + Duration::from_nanos((k as f64 * self.interval_ns) as u64)
    }

    /// Takes the next slot; its due time if that is before `end`.
    fn next_due_before(&self, end: Instant) -> Option<Instant> {
        Some(self.next_due()).filter(|due| *due < end)
    }

    /// Slots taken so far.
    pub fn issued(&self) -> u64 {
        self.issued.load(Ordering::Relaxed)
    }

    /// Takes the next slot and sleeps this greenlet until it is due (at once if it is past),
    /// rounded up to the next [`GREEN_TICK`] after the start: the greenlets due within one
    /// tick wake together, so mayfly's timer thread wakes once a tick instead of once a
    /// request. The load then comes in bursts of rate × tick requests (50 at 50,000 req/s),
    /// none early. Returns false, without waiting, if the slot is not before `end` (the
    /// window's end): the caller sends nothing more.
    pub fn wait_green(&self, end: Instant) -> bool {
        let Some(due) = self.next_due_before(end) else {
            return false;
        };
        if Instant::now() < due {
            mayfly::sleep_until(self.tick_at_or_after(due).min(end));
        }
        Instant::now() < end
    }

    /// The first [`GREEN_TICK`] boundary after the start that is not before `t`.
    fn tick_at_or_after(&self, t: Instant) -> Instant {
        let since = t.saturating_duration_since(self.start).as_nanos();
        let tick = GREEN_TICK.as_nanos();
        let at = since.div_ceil(tick).saturating_mul(tick);
        self.start + Duration::from_nanos(u64::try_from(at).unwrap_or(u64::MAX))
    }

    /// Takes the next slot and sleeps this OS thread until it is due (at once if it is past).
    /// Returns false, without waiting, if the slot is not before `end` (the window's end).
    pub fn wait_thread(&self, end: Instant) -> bool {
        let Some(due) = self.next_due_before(end) else {
            return false;
        };
        let now = Instant::now();
        if now < due {
            std::thread::sleep(due - now);
        }
        Instant::now() < end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_one_interval_apart_whoever_takes_them() {
        let start = Instant::now();
        let p = std::sync::Arc::new(Pacer::new(250.0, start).unwrap());
        let taken: Vec<Instant> = (0..4)
            .map(|_| {
                let p = p.clone();
                std::thread::spawn(move || (0..25).map(|_| p.next_due()).collect::<Vec<_>>())
            })
            .flat_map(|h| h.join().unwrap())
            .collect();
        let mut offsets: Vec<u128> = taken.iter().map(|t| (*t - start).as_micros()).collect();
        offsets.sort_unstable();
        let expected: Vec<u128> = (0..100).map(|k| k * 4000).collect();
        assert_eq!(offsets, expected, "100 slots 4 ms apart, none twice");
        assert_eq!(p.issued(), 100);
    }

    #[test]
    fn a_thread_waits_for_its_slot_and_a_late_one_does_not() {
        let never = Instant::now() + Duration::from_secs(60);
        let p = Pacer::new(20.0, Instant::now()).unwrap();
        let t = Instant::now();
        assert!(p.wait_thread(never)); // slot 0: due now
        assert!(p.wait_thread(never)); // slot 1: due 50 ms after the start
        let waited = t.elapsed();
        assert!(waited >= Duration::from_millis(45), "{waited:?}");
        // Slots 0 and 1 are already past for a pacer started a second ago.
        let late = Pacer::new(20.0, Instant::now() - Duration::from_secs(1)).unwrap();
        let t = Instant::now();
        assert!(late.wait_thread(never));
        assert!(late.wait_thread(never));
        assert!(t.elapsed() < Duration::from_millis(40), "{:?}", t.elapsed());
    }

    #[test]
    fn a_slot_at_or_after_the_end_is_not_waited_for() {
        // One request an hour: slot 0 now, slot 1 an hour after the start.
        let start = Instant::now();
        let end = start + Duration::from_millis(100);
        let p = Pacer::new(1.0 / 3600.0, start).unwrap();
        let t = Instant::now();
        assert!(p.wait_thread(end));
        assert!(!p.wait_thread(end), "slot 1 is after the end");
        mayfly::run(move || {
            let p = Pacer::new(1.0 / 3600.0, start).unwrap();
            assert!(p.wait_green(end));
            assert!(!p.wait_green(end));
            // A rate so low its slot is centuries away: no overflow, no wait.
            let p = Pacer::new(1e-12, start).unwrap();
            assert!(p.wait_green(end));
            assert!(!p.wait_green(end));
        });
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    }

    #[test]
    fn a_window_needs_a_slot_for_every_connection() {
        let e = check_slots(1000.0, Duration::from_secs(6), 10_000).unwrap_err();
        assert_eq!(e.slots, 6000);
        assert!(
            e.to_string().starts_with(
                "--rate 1000 for 6 s is 6000 requests, fewer than the 10000 connections"
            ),
            "{e}"
        );
        assert!(check_slots(1000.0, Duration::from_secs(6), 6000).is_ok());
    }

    #[test]
    fn a_greenlets_wait_ends_on_the_tick_at_or_after_its_slot() {
        let start = Instant::now();
        let p = Pacer::new(1000.0, start).unwrap();
        let ms = Duration::from_millis(1);
        assert_eq!(p.tick_at_or_after(start), start);
        assert_eq!(p.tick_at_or_after(start + ms), start + ms);
        assert_eq!(p.tick_at_or_after(start + ms / 3), start + ms);
        assert_eq!(p.tick_at_or_after(start + ms * 5 / 2), start + ms * 3);
        // A greenlet at 4,000 req/s: four slots a tick, each wait ending on a tick.
        mayfly::run(move || {
            let p = Pacer::new(4000.0, Instant::now()).unwrap();
            let t = Instant::now();
            let never = t + Duration::from_secs(60);
            for _ in 0..9 {
                assert!(p.wait_green(never));
            }
            // Slot 8 is due 2 ms after the start; no wait ends before its slot.
            assert!(t.elapsed() >= ms * 2, "{:?}", t.elapsed());
        });
    }

    #[test]
    fn rates_that_cannot_pace_are_refused() {
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(Pacer::new(bad, Instant::now()).is_err(), "{bad}");
        }
        assert_eq!(
            check_rate(-2.0).unwrap_err().to_string(),
            "--rate must be a positive number of requests per second, not -2"
        );
    }
}
