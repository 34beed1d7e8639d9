//! Connection caps that keep one client from locking the others out: a per-peer cap
//! ([`PeerLimit`]), and defaults for the overall cap derived from the fd limit, so a
//! server stops accepting (new clients wait in the backlog) before `accept` fails with
//! EMFILE.
//!
//! Without them, one host opening more connections than the fd limit holds every slot: its
//! connections keep being served, and nobody else gets in. With them, one peer holds at most
//! [`DEFAULT_PEER_SHARE_PERCENT`] of the slots; its connections past that are accepted and
//! closed at once (so they do not clog the backlog either), and the remaining slots stay open
//! to everyone else.
//!
//! A "peer" is an IPv4 address, or an IPv6 /64 (one host usually owns a whole /64).
//!
//! ```
//! use std::sync::Arc;
//! use mayfly::server::PeerLimit;
//!
//! let limit = Arc::new(PeerLimit::new(2));
//! let ip = "127.0.0.1".parse().unwrap();
//! let a = limit.admit(ip).unwrap();
//! let _b = limit.admit(ip).unwrap();
//! assert!(limit.admit(ip).is_none(), "a third from the same peer is refused");
//! assert!(limit.admit("127.0.0.2".parse().unwrap()).is_some(), "another peer gets in");
//! drop(a);
//! assert!(limit.admit(ip).is_some(), "a slot freed");
//! assert_eq!(limit.refused(), 1);
//! ```

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::log_limit::{LogLimit, DEFAULT_LOG_EVERY};
use crate::poison::MutexExt;

/// File descriptors the default connection cap leaves for everything that is not a client
/// connection (listeners, logs, the stats page, files a handler opens), at most half the limit.
pub const DEFAULT_FD_RESERVE: u64 = 64;

/// Share of the connection cap one peer may hold by default, in percent.
pub const DEFAULT_PEER_SHARE_PERCENT: u64 = 75;

/// The soft limit on open files of this process (`RLIMIT_NOFILE`), if it can be read.
pub fn fd_limit() -> Option<u64> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `r` is a valid, writable rlimit struct for getrlimit to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } != 0 {
        return None;
    }
    Some(r.rlim_cur)
}

/// The default overall connection cap for a server that spends `fds_per_connection` file
/// descriptors on each connection: the fd limit less [`DEFAULT_FD_RESERVE`] (at most half of
/// it), divided by `fds_per_connection`; at least 1. Read the limit after raising it
/// ([`crate::process::raise_nofile`]).
///
/// ```
/// let cap = mayfly::server::default_max_connections(1);
/// assert!(cap >= 1 && cap < mayfly::server::fd_limit().unwrap());
/// ```
pub fn default_max_connections(fds_per_connection: u64) -> u64 {
    cap_for_fd_limit(fd_limit().unwrap_or(1024), fds_per_connection)
}

fn cap_for_fd_limit(limit: u64, fds_per_connection: u64) -> u64 {
    let reserve = DEFAULT_FD_RESERVE.min(limit / 2);
    ((limit - reserve) / fds_per_connection.max(1)).max(1)
}

/// The default per-peer cap under an overall cap of `max_connections`:
/// [`DEFAULT_PEER_SHARE_PERCENT`] of it, rounded up (so a cap of 2 or 3 leaves one peer
/// every slot), at least 1.
///
/// ```
/// assert_eq!(mayfly::server::default_max_per_peer(1000), 750);
/// assert_eq!(mayfly::server::default_max_per_peer(2), 2);
/// ```
pub fn default_max_per_peer(max_connections: u64) -> u64 {
    (max_connections.saturating_mul(DEFAULT_PEER_SHARE_PERCENT))
        .div_ceil(100)
        .max(1)
}

/// The key connections are counted under: an IPv4 address as is (also when it comes
/// IPv4-mapped), an IPv6 address cut to its /64.
///
/// ```
/// use mayfly::server::peer_key;
/// let a = peer_key("2001:db8::1".parse().unwrap());
/// assert_eq!(a, peer_key("2001:db8::ffff:1".parse().unwrap()));
/// assert_eq!(peer_key("::ffff:10.0.0.1".parse().unwrap()), "10.0.0.1".parse::<std::net::IpAddr>().unwrap());
/// ```
pub fn peer_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// Counts open connections per peer ([`peer_key`]) and refuses one past the cap. Shared by
/// the accept loop (which asks [`admit`](PeerLimit::admit)) and the connections (each holds
/// its [`PeerSlot`] until it closes). Thread-safe: the thread-per-connection server uses it
/// too.
pub struct PeerLimit {
    max: u64,
    open: Mutex<HashMap<IpAddr, u64>>,
    refused: AtomicU64,
}

impl fmt::Debug for PeerLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerLimit")
            .field("max", &self.max)
            .field("peers", &self.peers())
            .field("refused", &self.refused())
            .finish()
    }
}

impl PeerLimit {
    /// At most `max` connections per peer (at least 1).
    pub fn new(max: u64) -> Self {
        PeerLimit {
            max: max.max(1),
            open: Mutex::new(HashMap::new()),
            refused: AtomicU64::new(0),
        }
    }

    /// The cap.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// A slot for one more connection from `ip`, or `None` if that peer holds `max` already
    /// (counted in [`refused`](PeerLimit::refused)). The slot frees when dropped.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<PeerSlot> {
        let key = peer_key(ip);
        let mut open = self.open.lock_unpoisoned();
        let n = open.entry(key).or_insert(0);
        if *n >= self.max {
            drop(open);
            self.refused.fetch_add(1, Ordering::Relaxed);
            refused_log(ip, self.max);
            return None;
        }
        *n += 1;
        Some(PeerSlot {
            limit: self.clone(),
            key,
        })
    }

    /// Connections refused so far.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Peers with at least one open connection.
    pub fn peers(&self) -> usize {
        self.open.lock_unpoisoned().len()
    }
}

/// Refusals can come by the thousand a second (a flood from one peer): a `debug` event, at
/// most one a second, saying how many it stands for.
fn refused_log(ip: IpAddr, max: u64) {
    static REFUSED: LogLimit = LogLimit::new(DEFAULT_LOG_EVERY);
    if !log::log_enabled!(log::Level::Debug) {
        return;
    }
    if let Some(held) = REFUSED.allow() {
        log::debug!(peer:% = ip, max_per_peer = max, similar_held_back = held;
            "refused a connection from {ip}: it holds {max} already (the per-peer cap)");
    }
}

/// One admitted connection of a peer; frees its slot when dropped.
pub struct PeerSlot {
    limit: Arc<PeerLimit>,
    key: IpAddr,
}

impl fmt::Debug for PeerSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerSlot").field("peer", &self.key).finish()
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut open = self.limit.open.lock_unpoisoned();
        if let Some(n) = open.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_cap_leaves_a_reserve_below_the_fd_limit() {
        assert_eq!(cap_for_fd_limit(10_000, 1), 10_000 - DEFAULT_FD_RESERVE);
        assert_eq!(
            cap_for_fd_limit(10_000, 2),
            (10_000 - DEFAULT_FD_RESERVE) / 2
        );
        assert_eq!(cap_for_fd_limit(64, 1), 32);
        assert_eq!(cap_for_fd_limit(1, 1), 1);
        assert!(default_max_per_peer(cap_for_fd_limit(10_000, 1)) < 10_000 - 1_000);
    }

    #[test]
    fn slots_are_counted_per_peer_and_freed_on_drop() {
        let l = Arc::new(PeerLimit::new(1));
        let v6a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let v6b: IpAddr = "2001:db8:1:2::2".parse().unwrap();
        let s = l.admit(v6a).unwrap();
        assert!(l.admit(v6b).is_none(), "same /64");
        assert!(l.admit("2001:db8:1:3::1".parse().unwrap()).is_some());
        assert_eq!(l.peers(), 1);
        drop(s);
        assert_eq!(l.peers(), 0);
        assert_eq!(l.refused(), 1);
    }
}
