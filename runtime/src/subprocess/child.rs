//! [`Child`]: a running child process, its coroutine pipes, and its exit — waited for
//! without blocking the worker ([`wait`](Child::wait), [`wait_timeout`](Child::wait_timeout),
//! [`try_wait`](Child::try_wait); the reaper thread reaps it, see `reaper`), signalled
//! through its pidfd ([`kill`](Child::kill), [`send_signal`](Child::send_signal)).

use std::io;
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::pipe::{ChildStderr, ChildStdin, ChildStdout};
use super::reaper::{self, Exit};
use crate::waitable::{Subscription, Waitable};

/// A child process started by [`Command::spawn`](super::Command::spawn) (gevent's `Popen`).
///
/// Its pipes are coroutine streams; waiting for its exit parks only the greenlet, honours the
/// active [`crate::Timeout`] and resumes on the worker. It is reaped the moment it exits,
/// whether or not anyone waits — also when the greenlet that started it was killed or the
/// `Child` was dropped — so it never lingers as a zombie. Dropping a `Child` does not kill the
/// child (as in std) unless [`Command::kill_on_drop`](super::Command::kill_on_drop) says so.
///
/// A `Child` is [`Waitable`]: [`crate::wait`] takes it beside greenlets and events (gevent's
/// `gevent.wait([p1, p2])`).
///
/// ```
/// use std::time::Duration;
/// use mayfly::subprocess::Command;
/// mayfly::run(|| {
///     let mut child = Command::new("sleep").arg("5").spawn().unwrap();
///     assert!(child.try_wait().unwrap().is_none());
///     assert!(child.wait_timeout(Duration::from_millis(50)).unwrap().is_none());
///     child.kill().unwrap();
///     let status = child.wait().unwrap();
///     use std::os::unix::process::ExitStatusExt;
///     assert_eq!(status.signal(), Some(libc::SIGKILL));
/// });
/// ```
#[derive(Debug)]
pub struct Child {
    /// The child's stdin, if it was [`Stdio::piped()`](super::Stdio::piped).
    pub stdin: Option<ChildStdin>,
    /// The child's stdout, if piped.
    pub stdout: Option<ChildStdout>,
    /// The child's stderr, if piped.
    pub stderr: Option<ChildStderr>,
    exit: Arc<Exit>,
    pid: u32,
    kill_on_drop: bool,
}

impl Child {
    /// Takes over what std spawned: its pipes become coroutine streams, its exit goes to the
    /// reaper. On failure the child is killed (and reaped) before the error returns.
    pub(crate) fn from_std(mut c: std::process::Child, kill_on_drop: bool) -> io::Result<Child> {
        let pid = c.id();
        let exit = match reaper::watch(pid) {
            Ok(exit) => exit,
            Err(e) => {
                let _ = c.kill();
                let _ = c.wait();
                return Err(io::Error::new(
                    e.kind(),
                    format!("cannot watch child {pid} (pidfd_open needs Linux 5.3+): {e}"),
                ));
            }
        };
        let mut child = Child {
            stdin: None,
            stdout: None,
            stderr: None,
            exit,
            pid,
            // Until the pipes are set up: a failure below must not leave the child running.
            kill_on_drop: true,
        };
        child.stdin = c.stdin.take().map(ChildStdin::from_std).transpose()?;
        child.stdout = c.stdout.take().map(ChildStdout::from_std).transpose()?;
        child.stderr = c.stderr.take().map(ChildStderr::from_std).transpose()?;
        child.kill_on_drop = kill_on_drop;
        Ok(child)
    }

    /// The child's process id (gevent's `pid`). After it has been reaped the id may belong
    /// to another process: signal it with [`send_signal`](Child::send_signal), which cannot
    /// miss.
    pub fn id(&self) -> u32 {
        self.pid
    }

    /// Waits for the child to exit (closing its stdin first, as std does, so a child reading
    /// it sees end of file) and returns its status. Parks only the calling greenlet.
    ///
    /// # Errors
    /// The status was lost: the child was reaped by someone else (the process ignores
    /// SIGCHLD, or something calls `waitpid(-1)`).
    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        match self.exit.wait_until(None)? {
            Some(st) => Ok(st),
            None => unreachable!("a wait without a deadline returns only once the child exits"),
        }
    }

    /// Waits at most `timeout` for the child to exit (gevent's `wait(timeout=…)`, without
    /// the exception): `None` if it still runs. Does not close stdin.
    ///
    /// # Errors
    /// As [`wait`](Child::wait).
    pub fn wait_timeout(&mut self, timeout: Duration) -> io::Result<Option<ExitStatus>> {
        self.wait_deadline(crate::timeout::deadline_after(timeout))
    }

    /// Waits until `deadline` for the child to exit: `None` if it still runs.
    ///
    /// # Errors
    /// As [`wait`](Child::wait).
    pub fn wait_deadline(&mut self, deadline: Instant) -> io::Result<Option<ExitStatus>> {
        self.exit.wait_until(Some(deadline))
    }

    /// The status if the child has exited, without waiting (gevent's `poll()`).
    ///
    /// # Errors
    /// As [`wait`](Child::wait).
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.exit.status()
    }

    /// SIGKILLs the child. Killing a child that has already exited does nothing.
    ///
    /// # Errors
    /// The signal cannot be sent (not for a child that is gone).
    pub fn kill(&mut self) -> io::Result<()> {
        self.exit.signal(libc::SIGKILL)
    }

    /// SIGTERMs the child (gevent's `terminate()`).
    ///
    /// # Errors
    /// As [`kill`](Child::kill).
    pub fn terminate(&mut self) -> io::Result<()> {
        self.exit.signal(libc::SIGTERM)
    }

    /// Sends `signal` (a `libc::SIG*` number) to the child through its pidfd: never to
    /// another process that reused its pid (gevent's `send_signal`).
    ///
    /// # Errors
    /// An invalid signal number, or a child we may not signal.
    pub fn send_signal(&mut self, signal: i32) -> io::Result<()> {
        self.exit.signal(signal)
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.kill_on_drop {
            let _ = self.exit.signal(libc::SIGKILL);
        }
    }
}

impl Waitable for Child {
    fn is_ready(&self) -> bool {
        self.exit.done().is_ready()
    }
    fn subscribe(&self) -> Subscription<'_> {
        self.exit.done().subscribe()
    }
}
