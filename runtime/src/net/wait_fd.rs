//! gevent.socket's `wait_read(fileno, timeout)` / `wait_write(fileno, timeout)`: park the
//! greenlet until any fd the caller owns (a pipe, a socket, a FIFO, a terminal, an eventfd…)
//! is readable or writable, under the call's own timeout and the active [`crate::Timeout`].
//!
//! How: the fd goes into a private epoll set of its own (level-triggered, for the one
//! direction asked), together with a `timerfd` armed for the deadline when there is one; that
//! epoll set — itself pollable — is what goes on may's reactor, and the greenlet waits for it
//! to become readable the way every coroutine stream waits (`ready::wait_readable`: a kill
//! unwinds). When it wakes, one `epoll_wait` with no timeout says which of the two is ready.
//! So the user's fd is never registered with may's reactor itself (an fd already there, say a
//! mayfly socket's, is no conflict), its flags are not touched (it need not be
//! nonblocking), and everything is undone when the call returns, however it returns. Called
//! from a plain OS thread, the same set is waited on with a blocking `epoll_wait`.
//!
//! epoll refuses regular files and directories (`EPERM`: they are always "ready"); that is
//! reported as an `InvalidInput` error that says so, and nothing is left registered.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use may::io::CoIo;

use super::ready;
use super::stream::timed_out;

/// Parks the calling greenlet until `fd` is readable (data, end of file, a hang-up or an
/// error: a read would not block), `timeout` passes, or the greenlet's active
/// [`crate::Timeout`] expires — gevent's `gevent.socket.wait_read(fileno, timeout)`. Nothing
/// is read. Called from a plain OS thread, it blocks that thread.
///
/// ```
/// use std::io::Write;
/// use std::time::Duration;
/// use mayfly::net::wait_read;
///
/// mayfly::run(|| -> std::io::Result<()> {
///     let (r, w) = std::io::pipe()?; // both ends blocking std fds: nothing mayfly made
///     let writer = mayfly::spawn(move || {
///         mayfly::sleep(Duration::from_millis(20));
///         (&w).write_all(b"ping").map(|()| w)
///     });
///     wait_read(&r, Some(Duration::from_secs(5)))?; // parks this greenlet only
///     let _w = writer.into_result().unwrap()?; // kept open: no end of file
///     // Nothing more to read: the wait times out.
///     let mut buf = [0u8; 4];
///     std::io::Read::read_exact(&mut &r, &mut buf)?;
///     let e = wait_read(&r, Some(Duration::from_millis(20))).unwrap_err();
///     assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
///     Ok(())
/// }).unwrap();
/// ```
///
/// # Errors
/// `TimedOut` when `timeout` passes first (an expired [`crate::Timeout`] unwinds to its
/// `with_timeout` instead, as for every blocking call); `InvalidInput` for an fd epoll does
/// not take (a regular file or a directory: reads on those never block); `EBADF` for an fd
/// that is not open; "Canceled" if the greenlet is already unwinding from a kill.
pub fn wait_read(fd: impl AsFd, timeout: Option<Duration>) -> io::Result<()> {
    wait_fd(fd.as_fd(), Direction::Read, timeout)
}

/// Parks the calling greenlet until `fd` is writable (room in its buffer, or a hang-up or an
/// error: a write would not block), `timeout` passes, or the active [`crate::Timeout`]
/// expires — gevent's `gevent.socket.wait_write(fileno, timeout)`. Nothing is written.
///
/// ```
/// use std::time::Duration;
/// mayfly::run(|| {
///     let (_r, w) = std::io::pipe().unwrap();
///     // An empty pipe has room: ready at once.
///     mayfly::net::wait_write(&w, Some(Duration::from_secs(5))).unwrap();
/// });
/// ```
///
/// # Errors
/// As [`wait_read`].
pub fn wait_write(fd: impl AsFd, timeout: Option<Duration>) -> io::Result<()> {
    wait_fd(fd.as_fd(), Direction::Write, timeout)
}

/// mayfly's sockets lend their fd as `AsFd` does (for [`wait_read`] / [`wait_write`], and
/// anything else that takes one).
macro_rules! lend_fd {
    ($($t:ty),*) => {$(
        impl AsFd for $t {
            fn as_fd(&self) -> BorrowedFd<'_> {
                // SAFETY: the socket owns this fd from its creation until it is dropped, and
                // the borrow cannot outlive `&self`, so the fd stays open (and is not reused)
                // for as long as the `BorrowedFd` exists.
                unsafe { BorrowedFd::borrow_raw(self.as_raw_fd()) }
            }
        }
    )*};
}
lend_fd!(
    super::tcp::TcpStream,
    super::tcp::TcpListener,
    super::udp::UdpSocket,
    super::unix::UnixStream,
    super::unix::UnixListener
);

#[derive(Debug, Clone, Copy)]
enum Direction {
    Read,
    Write,
}

impl Direction {
    /// The epoll bits asked for (epoll reports `EPOLLHUP` and `EPOLLERR` always).
    fn interest(self) -> u32 {
        match self {
            Direction::Read => (libc::EPOLLIN | libc::EPOLLRDHUP) as u32,
            Direction::Write => libc::EPOLLOUT as u32,
        }
    }
}

/// What one look at the private set found.
enum Seen {
    Ready,
    DeadlinePassed,
    Nothing,
}

/// The `epoll_event.u64` of the user's fd and of the timer.
const USER: u64 = 0;
const TIMER: u64 = 1;

fn wait_fd(fd: BorrowedFd<'_>, dir: Direction, timeout: Option<Duration>) -> io::Result<()> {
    crate::start::ensure_started();
    let own = timeout.and_then(|t| Instant::now().checked_add(t));
    let deadline = crate::timeout::effective_deadline(own);
    let mut set = WatchSet::new(fd, dir)?;
    if let Some(at) = deadline {
        let left = at.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return expired();
        }
        set.arm_timer(left)?;
    }
    if may::coroutine::is_coroutine() {
        // Borrowed: the set (declared first, dropped last) owns the epoll fd, so may's
        // deregistration in `CoIo`'s drop runs while the fd is still open.
        let on_reactor = CoIo::new(set.epoll.as_fd())?;
        loop {
            ready::wait_readable(&on_reactor)?;
            match set.look(0)? {
                Seen::Ready => return Ok(()),
                Seen::DeadlinePassed => break,
                Seen::Nothing => {}
            }
        }
    } else {
        loop {
            match set.look(-1)? {
                Seen::Ready => return Ok(()),
                Seen::DeadlinePassed => break,
                Seen::Nothing => {}
            }
        }
    }
    expired()
}

/// The deadline passed: an expired `Timeout` unwinds, the call's own timeout is `TimedOut`.
fn expired() -> io::Result<()> {
    crate::timeout::check_expired();
    Err(timed_out())
}

/// The private epoll set: the user's fd and, once armed, a timer.
struct WatchSet {
    epoll: OwnedFd,
    /// Owned here so it stays open (and armed) as long as the set.
    _timer: Option<OwnedFd>,
}

impl WatchSet {
    fn new(fd: BorrowedFd<'_>, dir: Direction) -> io::Result<Self> {
        // SAFETY: epoll_create1 takes no pointers; a non-negative result is a new fd that
        // nothing else owns, so `OwnedFd` may take it.
        let epoll = unsafe {
            let ep = check(libc::epoll_create1(libc::EPOLL_CLOEXEC))?;
            OwnedFd::from_raw_fd(ep)
        };
        let set = WatchSet {
            epoll,
            _timer: None,
        };
        match set.add(fd.as_raw_fd(), dir.interest(), USER) {
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "fd {} cannot be waited on: epoll refuses regular files and directories \
                     (a read or write on one never blocks)",
                    fd.as_raw_fd()
                ),
            )),
            Err(e) => Err(e),
            Ok(()) => Ok(set),
        }
    }

    fn add(&self, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: token };
        // SAFETY: `ev` is a live local the kernel only reads during the call; both fds are
        // open for its duration (the set owns its epoll fd, `fd` is borrowed by the caller or
        // owned by the set). A bad fd fails with EBADF, touching no memory.
        check(unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) })
            .map(|_| ())
    }

    /// Adds a timer that fires `after` from now (relative, on `CLOCK_MONOTONIC`: `Instant`'s
    /// clock).
    fn arm_timer(&mut self, after: Duration) -> io::Result<()> {
        // SAFETY: timerfd_create takes no pointers; a non-negative result is a new fd that
        // nothing else owns, so `OwnedFd` may take it.
        let timer = unsafe {
            let fd = check(libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            ))?;
            OwnedFd::from_raw_fd(fd)
        };
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                // A deadline past what `time_t` holds is "never" in any case.
                tv_sec: libc::time_t::try_from(after.as_secs()).unwrap_or(libc::time_t::MAX),
                // Never all zero (that would disarm it): `after` is not zero here.
                tv_nsec: libc::c_long::from(after.subsec_nanos() as i32),
            },
        };
        // SAFETY: `spec` is a live local the kernel only reads; the old value is not asked
        // for (null). The timer fd was just created and is owned here.
        check(unsafe { libc::timerfd_settime(timer.as_raw_fd(), 0, &spec, std::ptr::null_mut()) })?;
        self.add(timer.as_raw_fd(), libc::EPOLLIN as u32, TIMER)?;
        self._timer = Some(timer);
        Ok(())
    }

    /// One `epoll_wait` on the set (`ms`: 0 to look, -1 to block until something is ready).
    fn look(&self, ms: i32) -> io::Result<Seen> {
        let mut evs = [libc::epoll_event { events: 0, u64: 0 }; 2];
        // SAFETY: the kernel writes at most `evs.len()` entries into the live local array the
        // pointer is derived from; the epoll fd is owned by the set.
        let n = unsafe { libc::epoll_wait(self.epoll.as_raw_fd(), evs.as_mut_ptr(), 2, ms) };
        let n = match check(n) {
            Ok(n) => n as usize,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
            Err(e) => return Err(e),
        };
        let mut seen = Seen::Nothing;
        for ev in &evs[..n] {
            match ev.u64 {
                USER => return Ok(Seen::Ready),
                _ => seen = Seen::DeadlinePassed,
            }
        }
        Ok(seen)
    }
}

fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}
