//! The heartbeat between a `--workers` worker and its supervisor: how the supervisor learns
//! that a worker's one thread is stuck (a handler that spins or blocks it, a SIGSTOP), which
//! the kernel does not tell it: SO_REUSEPORT keeps routing new connections to a stuck
//! worker's accept queue.
//!
//! The channel is a Unix stream socket pair per worker, made by the supervisor
//! ([`Channel::new`]). The worker inherits its end, whose number is in the environment
//! ([`FD_ENV`], with the interval in [`INTERVAL_ENV`]); [`start_from_env`] spawns a greenlet
//! *on mayfly's worker thread* that writes one byte every interval, so the beats stop when
//! that thread stops. (A separate OS thread would keep beating while the server is stuck.)
//! The write never blocks (`MSG_DONTWAIT`: a full buffer skips a beat) and never raises
//! SIGPIPE (`MSG_NOSIGNAL`): a worker whose supervisor is gone stops beating and serves on.
//!
//! The supervisor reads every worker's end with `poll` on its own thread ([`Listener`]): a
//! beat is any byte that arrived; what the silence means is [`crate::supervisor`]'s
//! business.
//!
//! ```no_run
//! // In a worker, once its server listens:
//! let beating = mayfly_servers::supervisor_heartbeat::start_from_env()?;
//! assert!(beating, "started by a supervisor that asked for heartbeats");
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The environment variable that gives a worker the number of its heartbeat descriptor.
pub const FD_ENV: &str = "MAYFLY_HEARTBEAT_FD";
/// The environment variable that gives a worker its heartbeat interval, in milliseconds.
pub const INTERVAL_ENV: &str = "MAYFLY_HEARTBEAT_INTERVAL_MS";
/// The longest interval between beats.
pub const MAX_INTERVAL: Duration = Duration::from_secs(1);
/// The shortest interval between beats.
pub const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// The interval a worker beats at for a supervisor that kills after `timeout` of silence: a
/// quarter of it (so a beat or two can be late), between [`MIN_INTERVAL`] and
/// [`MAX_INTERVAL`].
///
/// ```
/// use std::time::Duration;
/// use mayfly_servers::supervisor_heartbeat::interval_for;
/// assert_eq!(interval_for(Duration::from_secs(30)), Duration::from_secs(1));
/// assert_eq!(interval_for(Duration::from_secs(2)), Duration::from_millis(500));
/// ```
pub fn interval_for(timeout: Duration) -> Duration {
    (timeout / 4).clamp(MIN_INTERVAL, MAX_INTERVAL)
}

/// One worker's socket pair: the supervisor keeps [`Channel::into_supervisor_end`]; the
/// worker's end goes to the command [`Channel::prepare`] was given, and is closed in the
/// supervisor once the worker runs (drop the `Channel` after the spawn).
#[derive(Debug)]
pub struct Channel {
    supervisor: OwnedFd,
    worker: OwnedFd,
}

impl Channel {
    /// A new pair: both ends non-blocking and close-on-exec (no other child inherits either).
    ///
    /// # Errors
    /// The `socketpair` or `fcntl` error (out of descriptors).
    pub fn new() -> io::Result<Channel> {
        let mut fds = [0 as RawFd; 2];
        let kind = libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
        // SAFETY: socketpair writes two descriptors into the 2-element array it is given.
        if unsafe { libc::socketpair(libc::AF_UNIX, kind, 0, fds.as_mut_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: both descriptors were just created by socketpair and belong to no one else.
        let (a, b) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        Ok(Channel {
            supervisor: a,
            worker: above_stdio(b)?,
        })
    }

    /// Hands the worker's end to `cmd`: its number and `interval` in the environment, and
    /// close-on-exec cleared in the child (only in the child: the fork's copy) so it
    /// survives the exec.
    pub fn prepare(&self, cmd: &mut Command, interval: Duration) {
        use std::os::unix::process::CommandExt;
        let fd = self.worker.as_raw_fd();
        cmd.env(FD_ENV, fd.to_string())
            .env(INTERVAL_ENV, interval.as_millis().max(1).to_string());
        // SAFETY: the closure runs between fork and exec and only calls fcntl, a raw system
        // call that is async-signal-safe, on a descriptor number captured before the fork
        // (open in the child: the fork copied it, and it is above 2, so the child's stdio
        // set-up does not replace it); it allocates nothing.
        unsafe {
            cmd.pre_exec(move || {
                if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }

    /// The supervisor's end (the worker's end is closed here).
    pub fn into_supervisor_end(self) -> OwnedFd {
        self.supervisor
    }
}

/// `fd` moved to a number above 2 if it is one of 0–2 (possible when the process was started
/// with stdio closed), so the child's stdio set-up cannot replace it.
fn above_stdio(fd: OwnedFd) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    // SAFETY: F_DUPFD_CLOEXEC on a descriptor we own returns a new descriptor or -1.
    let moved = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
    if moved < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `moved` was just created by fcntl and belongs to no one else.
    Ok(unsafe { OwnedFd::from_raw_fd(moved) })
}

/// Set once the heartbeat descriptor has been taken: it is owned at most once.
static TAKEN: AtomicBool = AtomicBool::new(false);

/// In a worker: if the supervisor passed a heartbeat descriptor ([`FD_ENV`],
/// [`INTERVAL_ENV`]), marks it close-on-exec (the commands a server runs do not inherit it)
/// and spawns the greenlet that beats on it. `Ok(false)`: no heartbeat was asked for (or it
/// was started already).
///
/// # Errors
/// The variables are set but not numbers, or the descriptor is not open.
pub fn start_from_env() -> io::Result<bool> {
    let Some(fd) = std::env::var_os(FD_ENV) else {
        return Ok(false);
    };
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, what.to_string());
    let fd: RawFd = fd
        .to_str()
        .and_then(|s| s.parse().ok())
        .filter(|&n| n > 2)
        .ok_or_else(|| bad(&format!("{FD_ENV} is not a descriptor number above 2")))?;
    let ms: u64 = std::env::var(INTERVAL_ENV)
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&n| n > 0)
        .ok_or_else(|| bad(&format!("{INTERVAL_ENV} is not a number of milliseconds")))?;
    if TAKEN.swap(true, Ordering::SeqCst) {
        return Ok(false);
    }
    // SAFETY: fcntl on a descriptor number only reads or sets its flags; an fd that is not
    // open makes it fail with EBADF, which is reported.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("{FD_ENV}={fd}: {e}")));
    }
    // SAFETY: the descriptor is open (fcntl succeeded); it was made for this process by its
    // supervisor and nothing else in the process knows it: TAKEN makes this the only owner.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let interval = Duration::from_millis(ms);
    mayfly::Builder::new()
        .name("heartbeat")
        .spawn(move || beat(&fd, interval))
        .map_err(io::Error::other)?;
    Ok(true)
}

/// The greenlet: one byte every `interval` until the supervisor's end is gone.
fn beat(fd: &OwnedFd, interval: Duration) {
    loop {
        // SAFETY: send(2) reads one byte from a live static buffer on a descriptor we own;
        // MSG_DONTWAIT never blocks the worker thread, MSG_NOSIGNAL never raises SIGPIPE.
        let sent = unsafe {
            libc::send(
                fd.as_raw_fd(),
                b".".as_ptr().cast(),
                1,
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        };
        if sent < 0 {
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                // The supervisor has not read lately: this beat is not needed.
                Some(libc::EAGAIN) | Some(libc::EINTR) | Some(libc::ENOBUFS) => {}
                // EPIPE, ECONNRESET: no supervisor to tell; the server serves on.
                _ => return,
            }
        }
        mayfly::sleep(interval);
    }
}

/// The supervisor's side: each worker slot's end and when it last beat.
#[derive(Debug, Default)]
pub struct Listener {
    ends: Vec<Option<OwnedFd>>,
    last: Vec<Option<Instant>>,
}

impl Listener {
    /// A listener for `n` slots, none connected.
    pub fn new(n: usize) -> Listener {
        Listener {
            ends: (0..n).map(|_| None).collect(),
            last: vec![None; n],
        }
    }

    /// Slot `i` now belongs to a new worker (started at `now`) whose end is `end`: its
    /// silence is counted from `now`.
    pub fn connect(&mut self, i: usize, end: OwnedFd, now: Instant) {
        self.ends[i] = Some(end);
        self.last[i] = Some(now);
    }

    /// Slot `i` has no worker: nothing to wait for.
    pub fn disconnect(&mut self, i: usize) {
        self.ends[i] = None;
        self.last[i] = None;
    }

    /// How long slot `i`'s worker has been silent at `now` (`None`: no worker in the slot).
    pub fn silent_for(&self, i: usize, now: Instant) -> Option<Duration> {
        self.last[i].map(|t| now.saturating_duration_since(t))
    }

    /// Waits up to `wait` for beats from any slot and notes them; returns early when one
    /// arrives. A slot whose worker closed its end stays silent from then on.
    pub fn poll(&mut self, wait: Duration) {
        let mut fds: Vec<libc::pollfd> = self
            .ends
            .iter()
            .map(|e| libc::pollfd {
                // A negative fd is ignored by poll(2).
                fd: e.as_ref().map_or(-1, AsRawFd::as_raw_fd),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let ms = libc::c_int::try_from(wait.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: poll(2) reads and writes `fds.len()` pollfd entries of a live Vec.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if n <= 0 {
            return;
        }
        let now = Instant::now();
        for (i, p) in fds.iter().enumerate() {
            if p.fd < 0 || p.revents == 0 {
                continue;
            }
            match drain(p.fd) {
                Drained::Beats => self.last[i] = Some(now),
                Drained::Nothing => {}
                // Closed by the worker (it exited or closed it): poll would report it ready
                // on every call, so stop polling it.
                Drained::Closed => self.ends[i] = None,
            }
        }
    }
}

/// What a read of a ready end found.
enum Drained {
    Beats,
    Nothing,
    Closed,
}

/// Reads everything waiting on `fd` (non-blocking).
fn drain(fd: RawFd) -> Drained {
    let mut buf = [0u8; 256];
    let mut got = Drained::Nothing;
    loop {
        // SAFETY: read(2) writes at most `buf.len()` bytes into a live stack buffer.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        match n {
            0 => return Drained::Closed,
            n if n > 0 => got = Drained::Beats,
            _ => {
                return match io::Error::last_os_error().raw_os_error() {
                    Some(libc::EAGAIN) => got,
                    Some(libc::EINTR) => continue,
                    _ => Drained::Closed,
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(fd: &OwnedFd) {
        // SAFETY: as in `beat`.
        let n = unsafe {
            libc::send(
                fd.as_raw_fd(),
                b".".as_ptr().cast(),
                1,
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        };
        assert_eq!(n, 1);
    }

    #[test]
    fn a_beat_resets_the_silence_and_a_closed_end_stops_being_polled() {
        let c = Channel::new().unwrap();
        let worker = c.worker.try_clone().unwrap();
        let mut l = Listener::new(2);
        let start = Instant::now() - Duration::from_secs(5);
        l.connect(0, c.into_supervisor_end(), start);
        assert!(l.silent_for(0, Instant::now()).unwrap() >= Duration::from_secs(5));
        assert_eq!(l.silent_for(1, Instant::now()), None, "an empty slot");
        send(&worker);
        l.poll(Duration::from_secs(1));
        assert!(l.silent_for(0, Instant::now()).unwrap() < Duration::from_secs(1));
        drop(worker);
        let t = Instant::now();
        l.poll(Duration::from_secs(1));
        assert!(l.ends[0].is_none(), "a closed end is dropped");
        // Nothing left to poll: the next poll waits its whole time instead of spinning.
        l.poll(Duration::from_millis(100));
        assert!(t.elapsed() >= Duration::from_millis(100));
    }

    #[test]
    fn a_full_channel_skips_beats_without_blocking_and_a_gone_supervisor_raises_no_sigpipe() {
        let c = Channel::new().unwrap();
        let worker = c.worker.try_clone().unwrap();
        // Nobody reads: the buffer fills, sends fail with EAGAIN at once.
        let mut full = false;
        for _ in 0..10_000_000 {
            // SAFETY: as in `beat`.
            let n = unsafe {
                libc::send(
                    worker.as_raw_fd(),
                    b".".as_ptr().cast(),
                    1,
                    libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                )
            };
            if n < 0 {
                assert_eq!(
                    io::Error::last_os_error().raw_os_error(),
                    Some(libc::EAGAIN)
                );
                full = true;
                break;
            }
        }
        assert!(full);
        drop(c);
        // SAFETY: as in `beat`.
        let n = unsafe {
            libc::send(
                worker.as_raw_fd(),
                b".".as_ptr().cast(),
                1,
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        };
        assert_eq!(n, -1);
        assert_eq!(io::Error::last_os_error().raw_os_error(), Some(libc::EPIPE));
    }

    #[test]
    fn intervals_are_a_quarter_of_the_timeout_within_bounds() {
        assert_eq!(interval_for(Duration::from_millis(1)), MIN_INTERVAL);
        assert_eq!(interval_for(Duration::from_secs(3600)), MAX_INTERVAL);
        assert_eq!(
            interval_for(Duration::from_secs(1)),
            Duration::from_millis(250)
        );
    }
}
