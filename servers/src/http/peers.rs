//! Connections per client address on the stats page, so that one host cannot take every
//! connection slot and lock the dashboard out for everybody else.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Counts open connections by peer address, up to a cap each.
///
/// ```
/// use mayfly_servers::http::peers::PeerCap;
/// let cap = PeerCap::new(1);
/// let ip = "127.0.0.1".parse().unwrap();
/// let first = cap.enter(ip).unwrap();
/// assert!(cap.enter(ip).is_none());
/// assert!(cap.enter("127.0.0.2".parse().unwrap()).is_some());
/// drop(first);
/// assert!(cap.enter(ip).is_some());
/// ```
#[derive(Debug)]
pub struct PeerCap {
    max: u64,
    open: Arc<Mutex<HashMap<IpAddr, u64>>>,
}

/// One connection counted against its peer's cap, until dropped.
#[derive(Debug)]
pub struct PeerSlot {
    ip: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, u64>>>,
}

impl PeerCap {
    /// At most `max` (at least 1) connections per peer address.
    pub fn new(max: u64) -> Self {
        PeerCap {
            max: max.max(1),
            open: Arc::default(),
        }
    }

    /// Counts one more connection from `ip`, or `None` if it already has the maximum.
    pub fn enter(&self, ip: IpAddr) -> Option<PeerSlot> {
        let mut open = self.open.lock().unwrap();
        let n = open.entry(ip).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(PeerSlot {
            ip,
            open: self.open.clone(),
        })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap();
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_come_back_and_empty_peers_are_forgotten() {
        let cap = PeerCap::new(2);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let a = cap.enter(ip).unwrap();
        let b = cap.enter(ip).unwrap();
        assert!(cap.enter(ip).is_none());
        drop(a);
        let c = cap.enter(ip).unwrap();
        drop((b, c));
        assert!(cap.open.lock().unwrap().is_empty());
    }
}
