//! The command server's admission limits: a bounded count of something in progress
//! ([`Gauge`]: connections not yet logged in, commands running), and failed logins per peer
//! ([`LoginFailures`]), which locks a peer out for a while after too many wrong answers.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mayfly::server::peer_key;

/// Peers whose failures are remembered at once; past it, the one whose window started first
/// is forgotten.
pub const MAX_TRACKED_PEERS: usize = 65_536;

/// At most `max` of something at once; [`enter`](Gauge::enter) refuses past it.
#[derive(Debug)]
pub struct Gauge {
    max: u64,
    now: AtomicU64,
}

impl Gauge {
    /// At most `max` (0: no limit).
    pub fn new(max: u64) -> Arc<Gauge> {
        Arc::new(Gauge {
            max,
            now: AtomicU64::new(0),
        })
    }

    /// One more, if there is room; it counts until the returned guard drops.
    ///
    /// ```
    /// use mayfly_servers::cmd::limits::Gauge;
    /// let g = Gauge::new(1);
    /// let a = g.enter().unwrap();
    /// assert!(g.enter().is_none());
    /// drop(a);
    /// assert!(g.enter().is_some());
    /// ```
    pub fn enter(self: &Arc<Self>) -> Option<Entered> {
        let mut n = self.now.load(Ordering::Relaxed);
        loop {
            if self.max > 0 && n >= self.max {
                return None;
            }
            match self
                .now
                .compare_exchange_weak(n, n + 1, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return Some(Entered(self.clone())),
                Err(m) => n = m,
            }
        }
    }

    /// How many now.
    pub fn current(&self) -> u64 {
        self.now.load(Ordering::Relaxed)
    }
}

/// One counted in a [`Gauge`] until dropped.
#[derive(Debug)]
pub struct Entered(Arc<Gauge>);

impl Drop for Entered {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Failed logins per peer ([`peer_key`]) in a sliding window: after `max` failures within
/// `window` of the first, the peer is refused until that window ends.
#[derive(Debug)]
pub struct LoginFailures {
    max: u32,
    window: Duration,
    seen: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl LoginFailures {
    /// At most `max` failures per `window` (`max` 0: no limit).
    ///
    /// ```
    /// use std::time::Duration;
    /// use mayfly_servers::cmd::limits::LoginFailures;
    /// let f = LoginFailures::new(2, Duration::from_secs(60));
    /// let ip = "10.0.0.1".parse().unwrap();
    /// f.failed(ip);
    /// assert!(f.locked_out(ip).is_none());
    /// f.failed(ip);
    /// assert!(f.locked_out(ip).is_some());
    /// assert!(f.locked_out("10.0.0.2".parse().unwrap()).is_none());
    /// ```
    pub fn new(max: u32, window: Duration) -> Self {
        LoginFailures {
            max,
            window,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// If `ip` is locked out: how long until it may try again.
    pub fn locked_out(&self, ip: IpAddr) -> Option<Duration> {
        if self.max == 0 {
            return None;
        }
        let seen = self.lock();
        let &(n, since) = seen.get(&peer_key(ip))?;
        let end = since + self.window;
        let now = Instant::now();
        (n >= self.max && now < end).then(|| end - now)
    }

    /// Counts a failed login from `ip`.
    pub fn failed(&self, ip: IpAddr) {
        if self.max == 0 {
            return;
        }
        let now = Instant::now();
        let mut seen = self.lock();
        if seen.len() >= MAX_TRACKED_PEERS {
            seen.retain(|_, (_, since)| now < *since + self.window);
            if seen.len() >= MAX_TRACKED_PEERS {
                let oldest = seen.iter().min_by_key(|(_, (_, s))| *s).map(|(k, _)| *k);
                if let Some(k) = oldest {
                    seen.remove(&k);
                }
            }
        }
        let e = seen.entry(peer_key(ip)).or_insert((0, now));
        if now >= e.1 + self.window {
            *e = (0, now);
        }
        e.0 += 1;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, (u32, Instant)>> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }
}
