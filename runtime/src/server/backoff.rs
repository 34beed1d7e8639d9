//! Back-off after accept errors, for any accept loop: gevent's 10 ms doubling to 1 s, so a
//! loop that hits EMFILE (whose accept fails at once, without yielding) does not spin and
//! starve every other greenlet.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

/// First pause after an accept error (gevent: 10 ms, doubling up to 1 s).
pub const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
/// Longest pause after repeated accept errors.
pub const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// The pause between accepts after errors, for any accept loop (StreamServer's, the threads
/// echo build's): [`ACCEPT_BACKOFF_MIN`] doubling to [`ACCEPT_BACKOFF_MAX`], reset by a
/// successful accept; the start and the end of each episode of errors are logged once.
///
/// ```
/// use std::io::Error;
/// use std::time::Duration;
/// use mayfly::server::AcceptBackoff;
/// let mut b = AcceptBackoff::new("example: accept");
/// assert_eq!(b.failed(&Error::from_raw_os_error(libc::ECONNABORTED)), None); // retry now
/// assert_eq!(b.failed(&Error::from_raw_os_error(libc::EMFILE)), Some(Duration::from_millis(10)));
/// assert_eq!(b.failed(&Error::from_raw_os_error(libc::EMFILE)), Some(Duration::from_millis(20)));
/// b.succeeded();
/// assert_eq!(b.pause(), Duration::from_millis(10));
/// ```
#[derive(Debug)]
pub struct AcceptBackoff {
    what: String,
    delay: Duration,
    in_episode: bool,
}

impl AcceptBackoff {
    /// `what` starts the log lines (`"mayfly: accept on 127.0.0.1:8080"`).
    pub fn new(what: impl Into<String>) -> Self {
        AcceptBackoff {
            what: what.into(),
            delay: ACCEPT_BACKOFF_MIN,
            in_episode: false,
        }
    }

    /// [`new`](Self::new) for a loop on a socket: `"{what} on {addr}"`, or just `what` if
    /// the address could not be read.
    ///
    /// ```
    /// use mayfly::server::AcceptBackoff;
    /// let b = AcceptBackoff::on("tokio: accept", Ok("127.0.0.1:8080".parse().unwrap()));
    /// assert!(format!("{b:?}").contains("\"tokio: accept on 127.0.0.1:8080\""));
    /// ```
    pub fn on(what: &str, addr: io::Result<SocketAddr>) -> Self {
        Self::new(match addr {
            Ok(a) => format!("{what} on {a}"),
            Err(_) => what.to_string(),
        })
    }

    /// An accept failed with `e`: `None` to retry at once (a transient error, see
    /// [`accept_error_is_transient`]), else how long to pause first.
    pub fn failed(&mut self, e: &io::Error) -> Option<Duration> {
        if accept_error_is_transient(e) {
            return None;
        }
        if !self.in_episode {
            log::warn!(accept = self.what.as_str(), error:% = e;
                "{} failed: {e}; backing off (10 ms doubling to 1 s)",
                self.what
            );
            self.in_episode = true;
        }
        Some(self.pause())
    }

    /// The next pause, doubling the one after (also for failures other than accept's, such
    /// as no thread or greenlet for a connection).
    pub fn pause(&mut self) -> Duration {
        let d = self.delay;
        self.delay = (d * 2).min(ACCEPT_BACKOFF_MAX);
        d
    }

    /// An accept succeeded: the next pause is the shortest again.
    pub fn succeeded(&mut self) {
        if self.in_episode {
            log::info!(accept = self.what.as_str(), backoff:? = self.delay;
                "{}: accepting again after {:?} back-off",
                self.what, self.delay
            );
            self.in_episode = false;
        }
        self.delay = ACCEPT_BACKOFF_MIN;
    }
}

/// True for accept errors that concern one connection, not the server (ECONNABORTED, EINTR,
/// EPROTO, EPERM, EAGAIN): retry at once, no back-off. EMFILE, ENFILE, ENOBUFS and ENOMEM
/// are not: they back off.
///
/// ```
/// use std::io::Error;
/// assert!(mayfly::server::accept_error_is_transient(&Error::from_raw_os_error(libc::ECONNABORTED)));
/// assert!(!mayfly::server::accept_error_is_transient(&Error::from_raw_os_error(libc::EMFILE)));
/// ```
pub fn accept_error_is_transient(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ECONNABORTED) | Some(libc::EINTR) | Some(libc::EPROTO) | Some(libc::EPERM)
    ) || e.kind() == io::ErrorKind::WouldBlock
}
