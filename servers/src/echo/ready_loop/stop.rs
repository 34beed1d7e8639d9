//! [`StopFd`]: how a readiness loop hears that its server is asked to stop. `select` and
//! `epoll` wait on the eventfd with the sockets (it turns readable on [`StopFd::fire`]); the
//! non-blocking loop, which never waits, reads the flag on every pass instead.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

/// An eventfd and a flag, both set by [`fire`](StopFd::fire).
pub(crate) struct StopFd {
    fd: OwnedFd,
    fired: AtomicBool,
}

impl StopFd {
    /// A new, unfired stop signal.
    ///
    /// # Errors
    /// `eventfd(2)` failed (out of file descriptors).
    pub(crate) fn new() -> io::Result<Self> {
        // SAFETY: eventfd(2) takes no pointers; it returns a new fd or -1.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(StopFd {
            // SAFETY: `fd` was just returned by eventfd, is open, and nothing else owns it.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            fired: AtomicBool::new(false),
        })
    }

    /// Sets the flag and makes the eventfd readable (it stays readable: it is never read).
    pub(crate) fn fire(&self) {
        self.fired.store(true, Ordering::Release);
        let one: u64 = 1;
        // SAFETY: writes the 8 bytes of a live u64 to our own open eventfd. A failure (the
        // counter full, which a single write cannot reach) loses nothing: the flag is set.
        unsafe {
            libc::write(
                self.fd.as_raw_fd(),
                std::ptr::from_ref(&one).cast::<libc::c_void>(),
                8,
            )
        };
    }

    /// True once [`fire`](StopFd::fire) was called.
    pub(crate) fn fired(&self) -> bool {
        self.fired.load(Ordering::Acquire)
    }

    /// The eventfd, to wait on.
    pub(crate) fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fire_sets_the_flag_and_makes_the_fd_readable() {
        let s = StopFd::new().unwrap();
        let readable = |s: &StopFd| {
            let mut p = libc::pollfd {
                fd: s.raw(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd, count 1, no wait.
            unsafe { libc::poll(&mut p, 1, 0) == 1 }
        };
        assert!(!s.fired() && !readable(&s));
        s.fire();
        assert!(s.fired() && readable(&s));
    }
}
