//! The reaper: one OS thread (`mayfly-reaper`, started by the first spawn) that reaps every
//! child of [`super::Child`] the moment it exits, and wakes whoever waits for it.
//!
//! Each child gets a pidfd (`pidfd_open`, Linux 5.3) in the reaper's own epoll set. A pidfd
//! turns readable when its process ends; the reaper then `waitpid`s that one pid (never
//! `-1`: children spawned by `std::process` or anyone else are left alone), stores the
//! status and sets the child's [`Event`]. Waiting for an exit is therefore an ordinary mayfly
//! wait on an event: it parks only the greenlet, honours the active [`crate::Timeout`] and a
//! kill, and resumes on the worker, by the argument every primitive shares.
//!
//! Why a thread of its own rather than the pidfd in may's reactor, or a SIGCHLD handler:
//! - reaping does not depend on any greenlet: a child whose greenlet was killed, whose
//!   [`super::Child`] was dropped or leaked, is reaped all the same, so no zombie is left;
//! - may's readiness wait (`wait_io`) takes no deadline and cannot be woken by mayfly's
//!   timer thread, so a `wait_timeout` on it would need a timer of its own;
//! - a SIGCHLD handler is process-wide state a library should not take, and a reaper that
//!   calls `waitpid(-1)` steals the children of `std::process::Command` users.
//!
//! The pidfd also makes [`Exit::signal`] safe against pid reuse: a signal sent through it
//! after the child was reaped fails with `ESRCH` instead of reaching a new process.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::event::Event;
use crate::poison::MutexExt;

/// One child's exit, shared by its [`super::Child`] and the reaper.
#[derive(Debug)]
pub(crate) struct Exit {
    pid: u32,
    /// Refers to the process for as long as this lives (pids can be reused; pidfds cannot).
    pidfd: OwnedFd,
    /// The wait status, once reaped (`Err`: the status was lost, the errno of `waitpid`).
    status: Mutex<Option<Result<ExitStatus, i32>>>,
    /// Set once `status` is.
    done: Event,
}

impl Exit {
    /// The status, if the child was reaped.
    ///
    /// # Errors
    /// The child was reaped by someone else (SIGCHLD ignored, or a `waitpid(-1)` elsewhere):
    /// its status is lost.
    pub(crate) fn status(&self) -> io::Result<Option<ExitStatus>> {
        match *self.status.lock_unpoisoned() {
            None => Ok(None),
            Some(Ok(st)) => Ok(Some(st)),
            Some(Err(errno)) => Err(io::Error::new(
                io::Error::from_raw_os_error(errno).kind(),
                format!(
                    "the exit status of child {} was lost (reaped elsewhere: {})",
                    self.pid,
                    io::Error::from_raw_os_error(errno)
                ),
            )),
        }
    }

    /// Waits until the child has been reaped or `until` passes (with the active
    /// [`crate::Timeout`]; an expired one unwinds).
    pub(crate) fn wait_until(&self, until: Option<Instant>) -> io::Result<Option<ExitStatus>> {
        let done = match until {
            None => self.done.wait(None),
            Some(at) => self.done.wait_deadline(at),
        };
        if !done {
            return Ok(None);
        }
        self.status()
    }

    /// The event set on exit (for `Waitable`).
    pub(crate) fn done(&self) -> &Event {
        &self.done
    }

    /// Sends `sig` through the pidfd. A child that has already exited is not an error.
    ///
    /// # Errors
    /// `pidfd_send_signal` fails for another reason than the process being gone.
    pub(crate) fn signal(&self, sig: i32) -> io::Result<()> {
        if self.done.is_set() {
            return Ok(());
        }
        // SAFETY: pidfd_send_signal(2) with a pidfd this struct owns (open for its whole
        // life), a valid signal number or 0, a null siginfo (the kernel fills one in) and no
        // flags; it touches no memory of ours.
        let r = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.pidfd.as_raw_fd(),
                sig,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        if r == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        // Exited (a zombie) or reaped since: nothing to signal.
        if e.raw_os_error() == Some(libc::ESRCH) {
            return Ok(());
        }
        Err(e)
    }
}

/// The reaper's epoll set and the children it watches, by epoll token.
struct Reaper {
    epoll: OwnedFd,
    watched: Mutex<HashMap<u64, Arc<Exit>>>,
    next: AtomicU64,
}

static REAPER: OnceLock<io::Result<Reaper>> = OnceLock::new();

/// Opens a pidfd for `pid` (a child of this process not reaped yet) and has the reaper
/// watch it. Starts the reaper thread on first use.
///
/// # Errors
/// `pidfd_open` is refused (Linux before 5.3: `ENOSYS`), the reaper cannot start, or epoll
/// refuses the fd.
pub(crate) fn watch(pid: u32) -> io::Result<Arc<Exit>> {
    let reaper = reaper()?;
    // SAFETY: pidfd_open(2) takes a pid and flags and returns a new fd or -1; no memory.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pidfd_open succeeded: `fd` is a new open fd nobody else owns (it is
    // close-on-exec: pidfds always are).
    let pidfd = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
    let exit = Arc::new(Exit {
        pid,
        pidfd,
        status: Mutex::new(None),
        done: Event::new(),
    });
    let token = reaper.next.fetch_add(1, Ordering::Relaxed);
    crate::idle::child_watched();
    reaper.watched.lock_unpoisoned().insert(token, exit.clone());
    let mut ev = libc::epoll_event {
        events: libc::EPOLLIN as u32,
        u64: token,
    };
    // SAFETY: epoll_ctl(2) on the reaper's epoll fd and the pidfd, both open; `ev` is a valid
    // epoll_event the kernel only reads.
    let r = unsafe {
        libc::epoll_ctl(
            reaper.epoll.as_raw_fd(),
            libc::EPOLL_CTL_ADD,
            exit.pidfd.as_raw_fd(),
            &mut ev,
        )
    };
    if r != 0 {
        let e = io::Error::last_os_error();
        reaper.watched.lock_unpoisoned().remove(&token);
        crate::idle::child_done();
        return Err(e);
    }
    Ok(exit)
}

fn reaper() -> io::Result<&'static Reaper> {
    let r = REAPER.get_or_init(|| {
        // SAFETY: epoll_create1(2) returns a new fd or -1; no memory.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a new open fd nobody else owns.
        let epoll = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Reaper {
            epoll,
            watched: Mutex::new(HashMap::new()),
            next: AtomicU64::new(1),
        })
    });
    let reaper = r
        .as_ref()
        .map_err(|e| io::Error::new(e.kind(), format!("the reaper's epoll: {e}")))?;
    start_thread(reaper)?;
    Ok(reaper)
}

/// Starts the reaper thread once; a failed start is retried by the next spawn.
fn start_thread(reaper: &'static Reaper) -> io::Result<()> {
    static STARTED: Mutex<bool> = Mutex::new(false);
    let mut started = STARTED.lock_unpoisoned();
    if *started {
        return Ok(());
    }
    std::thread::Builder::new()
        .name("mayfly-reaper".into())
        .spawn(move || {
            crate::idle::own_thread();
            run(reaper)
        })?;
    *started = true;
    Ok(())
}

/// The reaper thread: wait for pidfds to turn readable, reap those children, wake waiters.
fn run(reaper: &'static Reaper) {
    const BATCH: usize = 64;
    let mut events = [libc::epoll_event { events: 0, u64: 0 }; BATCH];
    loop {
        // SAFETY: `events` is a writable array of BATCH epoll_event structs; the epoll fd is
        // open for the life of the process (it lives in a static).
        let n = unsafe {
            libc::epoll_wait(
                reaper.epoll.as_raw_fd(),
                events.as_mut_ptr(),
                BATCH as i32,
                -1,
            )
        };
        if n < 0 {
            if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                // Nothing sensible to do but not spin.
                std::thread::sleep(Duration::from_millis(10));
            }
            continue;
        }
        for ev in &events[..n as usize] {
            let token = ev.u64;
            let Some(exit) = reaper.watched.lock_unpoisoned().get(&token).cloned() else {
                continue;
            };
            let Some(result) = reap(exit.pid) else {
                continue; // not exited after all: keep watching
            };
            // SAFETY: epoll_ctl(2) DEL of an fd still open (`exit` holds it); the event
            // pointer may be null for DEL since Linux 2.6.9.
            unsafe {
                libc::epoll_ctl(
                    reaper.epoll.as_raw_fd(),
                    libc::EPOLL_CTL_DEL,
                    exit.pidfd.as_raw_fd(),
                    std::ptr::null_mut(),
                );
            }
            reaper.watched.lock_unpoisoned().remove(&token);
            *exit.status.lock_unpoisoned() = Some(result);
            exit.done.set();
            crate::idle::child_done(); // after the set: see `idle`
        }
    }
}

/// `waitpid(pid, WNOHANG)`: the status once it has exited, `None` while it runs, the errno
/// if it cannot be reaped (reaped by someone else).
fn reap(pid: u32) -> Option<Result<ExitStatus, i32>> {
    loop {
        let mut st: libc::c_int = 0;
        // SAFETY: waitpid(2) writes the status into `st`, a valid int; `pid` is a child of
        // this process that only this thread reaps.
        let r = unsafe { libc::waitpid(pid as libc::pid_t, &mut st, libc::WNOHANG) };
        if r == pid as libc::pid_t {
            return Some(Ok(ExitStatus::from_raw(st)));
        }
        if r == 0 {
            return None;
        }
        let errno = io::Error::last_os_error().raw_os_error().unwrap_or(0);
        if errno != libc::EINTR {
            return Some(Err(errno));
        }
    }
}
