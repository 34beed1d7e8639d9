//! Socket timeouts by sweep: one deadline word per stream and one greenlet per server that
//! looks at all of them a few times per timeout, instead of one of may's I/O timers armed and
//! removed for every read that parks.
//!
//! A stream that parks in a read or write stores "now + its timeout" (milliseconds of the
//! coarse monotonic clock, a vDSO read) in its [`Watch`], and clears it when the call
//! returns. The [`Sweep`] greenlet wakes every [`Sweep::tick`], and for every watch whose
//! deadline has passed it marks the watch fired and wakes the parked greenlet through may's
//! [`WaitIoWaker`](may::io::WaitIoWaker); the greenlet's call returns `TimedOut` and the
//! stream stays usable, as with a timer. A timeout fires between its time and one tick (plus
//! the coarse clock's few milliseconds) later.
//!
//! The same pass asks a call parked for the server's idle time to give back its dead stack
//! (`parked_at`; [`crate::stack::release_unused`], run by the woken call in `ready`).
//!
//! [`crate::server::StreamServer`] sweeps the read and write timeouts of the connections it
//! accepts; a stream's own `set_read_timeout` outside a server keeps exact timers.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use may::io::{WaitIo, WaitIoWaker};

use crate::poison::MutexExt;

/// Shortest sweep interval: timeouts shorter than a few of these are swept this often.
pub(crate) const MIN_TICK: Duration = Duration::from_millis(10);
/// Longest sweep interval: long timeouts (minutes) are still checked every second.
pub(crate) const MAX_TICK: Duration = Duration::from_secs(1);
/// Ticks per shortest timeout: a timeout fires at most 1/this late (within the tick bounds).
const TICKS_PER_TIMEOUT: u32 = 8;

/// The deadline word of one stream (see the module docs).
pub(crate) struct Watch {
    /// Coarse milliseconds at which the parked call times out; 0 while not parked.
    at: AtomicU64,
    /// Set by the sweep when the deadline passed; cleared when the call returns.
    fired: AtomicBool,
    /// Cleared when the sweep stops: the stream falls back to timers.
    live: AtomicBool,
    /// Coarse milliseconds at which the call parked; 0 while not parked or once the sweep
    /// asked it to give back its dead stack ([`crate::stack::release_unused`]).
    parked_at: AtomicU64,
    /// Set by the sweep when the call has been parked for the server's idle time; taken by
    /// the parked call when it wakes.
    release: AtomicBool,
    waker: WaitIoWaker,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch")
            .field("at", &self.at.load(Ordering::Relaxed))
            .field("fired", &self.fired())
            .finish()
    }
}

impl Watch {
    /// The call parks: it may run until `timeout` from now, if it has one (never less: the
    /// coarse clock lags the real one by up to its resolution, which is added, with 2 ms for
    /// truncation and jitter), and the sweep may ask it to give back its dead stack once it
    /// has been parked for the server's idle time. One clock read.
    pub(crate) fn arm(&self, timeout: Option<Duration>) {
        let now = coarse_now_ms();
        if let Some(timeout) = timeout {
            let ms = millis(timeout);
            // + 2: the reading is truncated to whole milliseconds (up to 1 ms lost) and the
            // tick that updates the coarse clock jitters; without it a 200 ms timeout was
            // once seen to fire after 198.8 ms.
            let at = now
                .saturating_add(ms)
                .saturating_add(coarse_resolution_ms())
                .saturating_add(2);
            self.at.store(at.max(1), Ordering::Relaxed);
        }
        self.parked_at.store(now.max(1), Ordering::Relaxed);
    }

    /// Whether the sweep asked the parked call to give back its dead stack (once per park:
    /// the request is taken).
    pub(crate) fn take_release(&self) -> bool {
        self.release.load(Ordering::Relaxed) && self.release.swap(false, Ordering::Relaxed)
    }

    /// The call returned: nothing to time out any more.
    pub(crate) fn disarm(&self) {
        self.at.store(0, Ordering::Relaxed);
        self.fired.store(false, Ordering::Relaxed);
        self.parked_at.store(0, Ordering::Relaxed);
        self.release.store(false, Ordering::Relaxed);
    }

    /// Whether a sweep still checks this watch (false once the server's sweep stopped).
    pub(crate) fn live(&self) -> bool {
        self.live.load(Ordering::Relaxed)
    }

    /// Whether the sweep found the armed deadline passed.
    pub(crate) fn fired(&self) -> bool {
        self.fired.load(Ordering::Relaxed)
    }

    /// Asks the parked call to release its dead stack if it has been parked for `after_ms`.
    fn ask_release(&self, now: u64, after_ms: u64) {
        // Parked at or before `now - after_ms`: parked long enough.
        self.raise_if_due(&self.parked_at, &self.release, now.saturating_sub(after_ms));
    }

    /// Fires the watch if its deadline is at or before `now`.
    fn expire(&self, now: u64) {
        self.raise_if_due(&self.at, &self.fired, now);
    }

    /// If the deadline in `at` is set and at or before `now`: clears it (once, against a
    /// racing disarm), raises `flag` and wakes the parked call.
    fn raise_if_due(&self, at: &AtomicU64, flag: &AtomicBool, now: u64) {
        let when = at.load(Ordering::Relaxed);
        if when == 0 || when > now {
            return;
        }
        if at
            .compare_exchange(when, 0, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            flag.store(true, Ordering::Relaxed);
            self.waker.wakeup();
        }
    }
}

/// The watches of one server and the greenlet that sweeps them. Dropping it (or
/// [`stop`](Sweep::stop)) ends the greenlet.
#[derive(Debug)]
pub(crate) struct Sweep {
    shared: Arc<Shared>,
    greenlet: crate::Greenlet<()>,
}

#[derive(Debug, Default)]
struct Shared {
    watches: Mutex<Vec<Arc<Watch>>>,
    /// Milliseconds a call stays parked before it is asked to release its dead stack
    /// (`None`: never).
    release_after_ms: Option<u64>,
}

impl Sweep {
    /// The sweep interval for these timeouts: an eighth of the shortest, within
    /// [`MIN_TICK`]..=[`MAX_TICK`].
    pub(crate) fn tick(timeouts: &[Option<Duration>]) -> Option<Duration> {
        let shortest = timeouts.iter().flatten().min()?;
        Some((*shortest / TICKS_PER_TIMEOUT).clamp(MIN_TICK, MAX_TICK))
    }

    /// Starts the sweeping greenlet; a call parked for `release_after` is asked to give back
    /// its dead stack.
    ///
    /// # Errors
    /// The spawn error (no memory for a greenlet).
    pub(crate) fn start(
        tick: Duration,
        release_after: Option<Duration>,
    ) -> Result<Sweep, crate::SpawnError> {
        let shared = Arc::new(Shared {
            watches: Mutex::default(),
            release_after_ms: release_after.map(millis),
        });
        let weak = Arc::downgrade(&shared);
        let greenlet = crate::Builder::new()
            .name("socket-timeout-sweep".to_string())
            .spawn(move || sweep_loop(&weak, tick))?;
        Ok(Sweep { shared, greenlet })
    }

    /// A watch for `sock`, swept from now on until the stream drops it.
    pub(crate) fn watch(&self, sock: &impl WaitIo) -> Arc<Watch> {
        let w = Arc::new(Watch {
            at: AtomicU64::new(0),
            fired: AtomicBool::new(false),
            live: AtomicBool::new(true),
            parked_at: AtomicU64::new(0),
            release: AtomicBool::new(false),
            waker: sock.waker(),
        });
        self.shared.watches.lock_unpoisoned().push(w.clone());
        w
    }

    /// Ends the sweeping greenlet (it also ends by itself once the sweep is dropped). Streams
    /// that outlive it (handed to another greenlet, say) time out by timers from then on.
    pub(crate) fn stop(&self) {
        self.greenlet.kill_nowait();
        for w in self.shared.watches.lock_unpoisoned().drain(..) {
            w.live.store(false, Ordering::Relaxed);
        }
    }
}

impl Drop for Sweep {
    fn drop(&mut self) {
        self.stop();
    }
}

fn sweep_loop(shared: &Weak<Shared>, tick: Duration) {
    loop {
        crate::sleep(tick);
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let now = coarse_now_ms();
        shared.watches.lock_unpoisoned().retain(|w| {
            // The sweep's own reference is the last one: the stream is gone.
            if Arc::strong_count(w) == 1 {
                return false;
            }
            w.expire(now);
            if let Some(after_ms) = shared.release_after_ms {
                w.ask_release(now, after_ms);
            }
            true
        });
    }
}

/// `d` in whole milliseconds (a duration past what a `u64` of them holds: far in the future,
/// with room to add to it).
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX / 2)
}

/// Milliseconds of `CLOCK_MONOTONIC_COARSE` (the clock tick's resolution, a few ms; no
/// system call).
fn coarse_now_ms() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC_COARSE exists on every
    // Linux since 2.6.32, and clock_gettime writes only `ts`.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    (ts.tv_sec as u64) * 1000 + (ts.tv_nsec as u64) / 1_000_000
}

/// The resolution of `CLOCK_MONOTONIC_COARSE` in whole milliseconds, rounded up (the
/// kernel's tick: 1–10 ms).
fn coarse_resolution_ms() -> u64 {
    static RES: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *RES.get_or_init(|| {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: as in `coarse_now_ms`; clock_getres writes only `ts`.
        let r = unsafe { libc::clock_getres(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
        if r != 0 {
            return 10;
        }
        (ts.tv_sec as u64) * 1000 + (ts.tv_nsec as u64).div_ceil(1_000_000)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tick_is_an_eighth_of_the_shortest_timeout_within_bounds() {
        let s = Duration::from_secs;
        assert_eq!(Sweep::tick(&[None, None]), None);
        assert_eq!(Sweep::tick(&[Some(s(300)), Some(s(60))]), Some(MAX_TICK));
        assert_eq!(
            Sweep::tick(&[Some(Duration::from_millis(400)), None]),
            Some(Duration::from_millis(50))
        );
        assert_eq!(
            Sweep::tick(&[Some(Duration::from_millis(20))]),
            Some(MIN_TICK)
        );
    }

    /// A watch on a fresh UDP socket (the socket must outlive it).
    fn test_watch() -> (may::net::UdpSocket, Watch) {
        crate::start::ensure_started();
        let sock = may::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let w = Watch {
            at: AtomicU64::new(0),
            fired: AtomicBool::new(false),
            live: AtomicBool::new(true),
            parked_at: AtomicU64::new(0),
            release: AtomicBool::new(false),
            waker: sock.waker(),
        };
        (sock, w)
    }

    #[test]
    fn a_parked_call_is_asked_once_to_release_its_stack_after_the_idle_time() {
        let (_sock, w) = test_watch();
        w.ask_release(u64::MAX, 100);
        assert!(!w.take_release(), "a call that never parked is never asked");
        let now = coarse_now_ms();
        w.arm(None);
        w.ask_release(now + 50, 100);
        assert!(!w.take_release(), "asked before the idle time");
        w.ask_release(now + 100 + coarse_resolution_ms(), 100);
        assert!(w.take_release(), "not asked after the idle time");
        assert!(!w.take_release(), "asked twice in one park");
        w.ask_release(u64::MAX, 100);
        assert!(!w.take_release(), "asked again in the same park");
        w.arm(None);
        w.disarm();
        w.ask_release(u64::MAX, 100);
        assert!(!w.take_release(), "asked after the call returned");
    }

    #[test]
    fn a_watch_fires_only_at_its_deadline_which_covers_the_clock_lag() {
        let (_sock, w) = test_watch();
        w.expire(u64::MAX);
        assert!(!w.fired(), "an unarmed watch never fires");
        let before = coarse_now_ms();
        w.arm(Some(Duration::from_millis(200)));
        let at = w.at.load(Ordering::Relaxed);
        // The coarse clock lags the real one by up to its resolution: a deadline without it
        // could fire early.
        assert!(
            at >= before + 200 + coarse_resolution_ms(),
            "{at} from {before}"
        );
        w.expire(at - 1);
        assert!(!w.fired());
        w.expire(at);
        assert!(w.fired());
        assert_eq!(w.at.load(Ordering::Relaxed), 0, "fired once, disarmed");
        w.disarm();
        assert!(!w.fired());
    }

    #[test]
    fn the_coarse_clock_moves_forward() {
        let a = coarse_now_ms();
        std::thread::sleep(Duration::from_millis(30));
        let b = coarse_now_ms();
        assert!(b > a, "{a} then {b}");
    }
}
