//! The open connections of the builds on [`super`]'s accept loop, and their
//! shutdown: stop accepting, let open connections finish for the grace period, then shut the
//! stragglers' sockets down (their handlers see end-of-file and return) and count them as
//! killed.
//!
//! The registry keeps each connection's fd *number*, not a second handle: a `dup` per
//! connection would halve how many clients fit under the fd limit. That is sound because a
//! handler removes its entry before it closes its socket, and the registry shuts fds down only
//! under its lock: an fd in the map is always still open and still that connection's.

use std::collections::HashMap;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use mayfly::server::ServerStats;

/// How long stragglers get to notice their closed socket after the grace period.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// Every open connection's fd, by id.
pub(crate) struct Connections {
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, RawFd>>,
}

impl Connections {
    pub(crate) fn new() -> Self {
        Connections {
            next_id: AtomicU64::new(0),
            open: Mutex::new(HashMap::new()),
        }
    }

    /// Registers an open connection's fd; returns its id for [`remove`](Self::remove).
    pub(crate) fn insert(&self, fd: RawFd) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(id, fd);
        id
    }

    /// Forgets a connection whose handler ended. Call it *before* the socket is closed.
    pub(crate) fn remove(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// Waits up to `grace` for the open connections to end, closes the rest, waits up to
    /// [`CLOSE_WAIT`] for their handlers to notice, and returns how many were closed (also
    /// added to `stats` as killed). The accept loop must already be stopped, so no new entry
    /// (and no fd number reused by a new connection) can appear meanwhile.
    pub(crate) fn drain(&self, stats: &ServerStats, grace: Duration) -> u64 {
        wait_idle(stats, grace);
        let left = {
            let open = self.lock();
            for &fd in open.values() {
                // SAFETY: shutdown(2) closes nothing and touches no memory. `fd` is open and
                // is this connection's socket: handlers remove their entry before closing it,
                // and we hold the lock that removal takes.
                unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
            }
            open.len() as u64
        };
        wait_idle(stats, CLOSE_WAIT);
        stats.killed(left);
        left
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u64, RawFd>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn wait_idle(stats: &ServerStats, limit: Duration) {
    let until = mayfly::deadline_after(limit);
    while stats.active() > 0 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
}
