//! Child processes for greenlets, gevent.subprocess's role: [`Command`] (std's builder),
//! [`Child`] whose pipes are coroutine streams and whose exit is waited for without blocking
//! the worker, [`Child::communicate`], [`check_output`].
//!
//! | gevent.subprocess | mayfly::subprocess |
//! |---|---|
//! | `Popen(args, stdin=PIPE, stdout=PIPE, stderr=PIPE, cwd=…, env=…)` | [`Command::new(prog).args(…).stdin(Stdio::piped())…current_dir(…).env(…).spawn()`](Command::spawn) → [`Child`] |
//! | `PIPE`, `DEVNULL`, inherited (`None`) | [`Stdio::piped()`], [`Stdio::null()`], [`Stdio::inherit()`] (std's [`Stdio`]) |
//! | `p.stdin.write(…)`, `p.stdout.read()` | [`Child::stdin`] (`Write`), [`Child::stdout`] / [`Child::stderr`] (`Read`): a full or empty pipe parks the greenlet |
//! | `p.wait()`, `p.wait(timeout)`, `p.poll()` | [`wait()`](Child::wait), [`wait_timeout(d)`](Child::wait_timeout) → `Option<ExitStatus>` (no exception), [`try_wait()`](Child::try_wait) |
//! | `p.kill()`, `p.terminate()`, `p.send_signal(s)`, `p.pid` | [`kill()`](Child::kill), [`terminate()`](Child::terminate), [`send_signal(s)`](Child::send_signal) (through a pidfd: never a reused pid), [`id()`](Child::id) |
//! | `p.communicate(input)`, `communicate(timeout=…)` | [`communicate(Some(input))`](Child::communicate) → [`Output`], [`communicate_timeout(input, d)`](Child::communicate_timeout) (kills the child, as `run(timeout=…)` does) |
//! | `check_output(args)`, `CalledProcessError` | [`check_output(&mut cmd)`](check_output), [`SubprocessError::Failed`] |
//! | `run(args, capture_output=True)`, `call(args)` | [`Command::output()`](Command::output), [`Command::status()`](Command::status) |
//! | `TimeoutExpired` (`.output` kept) | [`SubprocessError::TimedOut`] (`stdout`, `stderr` kept) |
//! | `gevent.wait([p1, p2], timeout=2)` | [`crate::wait`] with `Child`ren (a `Child` is [`crate::Waitable`]) |
//! | `preexec_fn=`, `start_new_session=True` | [`Command::std_mut()`](Command::std_mut) with `CommandExt::pre_exec` / `process_group(0)` |
//!
//! ```
//! use std::io::Read;
//! use std::time::{Duration, Instant};
//! use mayfly::subprocess::{Command, Stdio};
//! // gevent's examples/processes.py: two jobs at once, waited for together, then their output.
//! mayfly::run(|| {
//!     let t = Instant::now();
//!     let job = |i| Command::new("sh").args(["-c", &format!("sleep 0.3; echo job {i}")])
//!         .stdout(Stdio::piped()).spawn().unwrap();
//!     let (mut p1, mut p2) = (job(1), job(2));
//!     let ready = mayfly::wait(&[&p1, &p2], mayfly::WaitOpts::default().timeout(Duration::from_secs(2)));
//!     assert_eq!(ready.len(), 2);
//!     assert!(t.elapsed() < Duration::from_millis(580), "side by side, not one after the other");
//!     let mut out = String::new();
//!     p2.stdout.take().unwrap().read_to_string(&mut out).unwrap();
//!     assert_eq!(out, "job 2\n");
//!     assert!(p1.try_wait().unwrap().unwrap().success());
//! });
//! ```
//!
//! Linux 5.3 or later (`pidfd_open`). Every call works from a plain OS thread too (it then
//! blocks that thread).
//!
//! ## How waiting works
//!
//! - **The exit**: every child gets a pidfd, watched by one reaper thread (`mayfly-reaper`,
//!   started by the first spawn) in an epoll set of its own. When a child exits the reaper
//!   reaps exactly that pid (`waitpid(pid)`, never `-1`: children spawned with
//!   `std::process` are left alone) and sets an event; [`Child::wait`] is a wait on that
//!   event, so it parks only the greenlet, honours the active [`crate::Timeout`], can be
//!   killed, and resumes on the worker like every other mayfly wait. A child is reaped
//!   whether anyone waits or not — when the greenlet that spawned it was killed, when its
//!   `Child` was dropped or leaked — so it never stays a zombie. Why not a SIGCHLD handler:
//!   it is process-wide state a library should not take, and a reaper calling
//!   `waitpid(-1)` steals other code's children. Why not the pidfd in may's reactor: may's
//!   readiness wait takes no deadline, and reaping would then depend on a greenlet being
//!   there to wait.
//! - **The pipes**: our ends are set nonblocking and registered with may's reactor
//!   (`may::io::CoIo`), and every read and write runs in the same timed loop as the
//!   coroutine sockets ([`crate::net`]): the active `Timeout` bounds it, a kill unwinds it.
//! - **The spawn** itself (fork and exec, std's `Command::spawn`) runs on the calling thread:
//!   a short pause of the worker, as in gevent, which forks in its loop too.
//!
//! ## Soundness
//!
//! The module's `unsafe` is in raw system calls on fds it owns (`pidfd_open`,
//! `pidfd_send_signal`, epoll, `waitpid`, `fcntl`), each argued where it is:
//! - an fd is owned by exactly one [`std::os::fd::OwnedFd`] (a pidfd by its child's shared
//!   record, which the reaper and the `Child` hold by `Arc`, so it is closed only once both
//!   are done with it; a pipe end by its [`ChildStdin`]/[`ChildStdout`]/[`ChildStderr`]), so
//!   no call ever sees a closed or reused fd number;
//! - signals go through the pidfd, which refers to the one process for its whole life: a
//!   signal after the child was reaped fails with `ESRCH`, it cannot reach a process that
//!   reused the pid; and only the reaper reaps, once, the one pid it was given;
//! - `pre_exec` is std's `unsafe` `CommandExt::pre_exec`, reachable only through
//!   [`Command::std_mut`]: the caller's closure runs between fork and exec and must only make
//!   async-signal-safe calls (no allocation, no locks), as std documents. Nothing of this
//!   module runs there; the pipes are made by std with `O_CLOEXEC`, and only our ends are
//!   made nonblocking (a child given one of our ends through [`ChildStdout::into_stdio`] gets
//!   it blocking again).
//!
//! `runtime/tests/subprocess.rs` backs it: no zombie after a killed greenlet or a dropped
//! `Child` (read from `/proc`), `kill` after the exit, fds closed after use, and every call
//! resuming on the worker (`runtime/tests/thread_identity.rs`).

mod child;
mod command;
mod communicate;
mod pipe;
mod reaper;

pub use child::Child;
pub use command::Command;
pub use communicate::{check_output, SubprocessError};
pub use pipe::{ChildStderr, ChildStdin, ChildStdout};
pub use std::process::{ExitStatus, Output, Stdio};
