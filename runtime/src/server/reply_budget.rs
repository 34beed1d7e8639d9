//! [`ReplyBudget`]: how many datagrams a [`DatagramServer`](super::DatagramServer) answers
//! per second to one source (BIND's Response Rate Limiting, per source address instead of
//! per prefix). A token bucket per source address (IP and port): `rate` tokens a second, at
//! most `burst` saved up; a datagram that finds no token is dropped unanswered.
//!
//! Why per address and port, not per client prefix: the loop it stops is between two fixed
//! addresses (two servers answering each other), so a tight budget per address ends it,
//! while the course's load test — 500 sockets, all from 127.0.0.1, 74,000 datagrams a
//! second together but under 150 a second each — never meets it. A budget per prefix would
//! have to let 127.0.0.0/24 have more than the whole load test, and a loop on loopback runs
//! below that. One forged datagram that starts a loop is dropped once its bucket is empty,
//! and the loop ends: it costs the server `burst` answers, once.
//!
//! The table is bounded ([`ReplyBudget::new`]'s `max_sources`): forged sources cannot grow
//! it without limit. When it is full, the entries whose bucket has refilled are forgotten
//! first (they are the same as a new entry), and only if none has, the one seen longest ago.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use mayfly::server::ReplyBudget;
//!
//! let mut budget = ReplyBudget::new(10, 5, 100);
//! let peer = "127.0.0.1:40000".parse().unwrap();
//! let t = Instant::now();
//! let answered = (0..20).filter(|_| budget.allow(peer, t)).count();
//! assert_eq!(answered, 5, "the burst, then nothing");
//! assert!(budget.allow(peer, t + Duration::from_millis(100)), "one token a 1/10 s");
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

/// Default replies per second to one source address: far above what one socket of
/// `mayfly stress --proto udp` at its defaults asks for (under 150 a second on loopback),
/// far below what a loop between two servers runs at (tens of thousands).
pub const DEFAULT_MAX_REPLIES_PER_SEC: u64 = 1000;
/// Default replies one source may have saved up (the bucket's size).
pub const DEFAULT_REPLY_BURST: u64 = 200;
/// Default number of sources the budget remembers at once.
pub const DEFAULT_REPLY_BUDGET_SOURCES: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Token buckets per source address, bounded in number (see the module docs). Used by one
/// receive loop, so it needs no lock.
#[derive(Debug)]
pub struct ReplyBudget {
    rate: f64,
    burst: f64,
    max_sources: usize,
    buckets: HashMap<SocketAddr, Bucket>,
}

impl ReplyBudget {
    /// `rate` replies a second per source (at least 1), at most `burst` saved up (at least
    /// 1), at most `max_sources` sources remembered (at least 1).
    pub fn new(rate: u64, burst: u64, max_sources: usize) -> Self {
        ReplyBudget {
            rate: rate.max(1) as f64,
            burst: burst.max(1) as f64,
            max_sources: max_sources.max(1),
            buckets: HashMap::new(),
        }
    }

    /// Whether a datagram from `source` arriving at `now` may be answered (it then spends a
    /// token). `now` never goes back in practice; if it does, nothing refills.
    pub fn allow(&mut self, source: SocketAddr, now: Instant) -> bool {
        if !self.buckets.contains_key(&source) && self.buckets.len() >= self.max_sources {
            self.make_room(now);
        }
        let (rate, burst) = (self.rate, self.burst);
        let b = self.buckets.entry(source).or_insert(Bucket {
            tokens: burst,
            last: now,
        });
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * rate).min(burst);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Sources remembered now.
    pub fn sources(&self) -> usize {
        self.buckets.len()
    }

    /// Forgets every source whose bucket has refilled by `now`; if none has, the one seen
    /// longest ago.
    fn make_room(&mut self, now: Instant) {
        let (rate, burst) = (self.rate, self.burst);
        self.buckets.retain(|_, b| {
            let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
            b.tokens + elapsed * rate < burst
        });
        if self.buckets.len() >= self.max_sources {
            let oldest = self
                .buckets
                .iter()
                .min_by_key(|(_, b)| b.last)
                .map(|(k, _)| *k);
            if let Some(k) = oldest {
                self.buckets.remove(&k);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn peer(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn a_flood_from_one_source_gets_its_rate_plus_the_burst_in_a_second() {
        let mut b = ReplyBudget::new(1000, 200, 16);
        let t0 = Instant::now();
        // 20,000 datagrams spread over one second.
        let answered = (0..20_000u32)
            .filter(|i| b.allow(peer(1), t0 + Duration::from_micros(u64::from(*i) * 50)))
            .count();
        assert!((1000..=1200).contains(&answered), "{answered}");
        // Another source is untouched.
        assert!(b.allow(peer(2), t0 + Duration::from_secs(1)));
    }

    #[test]
    fn a_source_under_its_rate_is_never_refused() {
        let mut b = ReplyBudget::new(1000, 200, 16);
        let t0 = Instant::now();
        // 900 a second for 5 s.
        assert!((0..4500u64).all(|i| b.allow(peer(1), t0 + Duration::from_micros(i * 1111))));
    }

    #[test]
    fn the_table_stays_bounded_and_forgets_refilled_sources_first() {
        let mut b = ReplyBudget::new(10, 2, 2);
        let t0 = Instant::now();
        // Source 1 spends its whole burst, source 2 one token.
        assert!(b.allow(peer(1), t0) && b.allow(peer(1), t0) && !b.allow(peer(1), t0));
        assert!(b.allow(peer(2), t0));
        // 150 ms later source 2 has refilled, source 1 has 1.5 tokens: a third source
        // makes room by forgetting source 2, not source 1 (whose budget stays spent).
        let t1 = t0 + Duration::from_millis(150);
        assert!(b.allow(peer(3), t1));
        assert_eq!(b.sources(), 2);
        assert!(
            b.allow(peer(1), t1) && !b.allow(peer(1), t1),
            "source 1 kept its bucket"
        );
        // Forged sources by the thousand never grow the table.
        for p in 10..5000 {
            b.allow(peer(p), t1);
            assert!(b.sources() <= 2);
        }
    }
}
