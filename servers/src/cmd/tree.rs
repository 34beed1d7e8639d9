//! A command's whole process tree, contained without privileges: each command runs under a
//! helper process of its own that is a *subreaper* (`PR_SET_CHILD_SUBREAPER`), so whatever
//! the command starts — in the background, in a new session (`setsid`), through a double
//! fork — stays the helper's descendant even after its parent exits. Killing the tree is then
//! a walk of `/proc` for the helper's descendants, repeated until the helper has no child.
//!
//! Why a subreaper and not the alternatives (the server must run unprivileged, here and in
//! CI):
//!
//! - a cgroup per command (`cgroup.kill`) needs a delegated, writable cgroup v2 subtree; an
//!   ordinary user on a CI runner or in a container has none, and cgroup v1 hosts (this VM)
//!   have no `cgroup.kill` at all;
//! - a PID namespace (kill its init, and the kernel kills the rest) needs an unprivileged
//!   user namespace, which Ubuntu 24.04's AppArmor policy
//!   (`kernel.apparmor_restrict_unprivileged_userns`) and Docker's default seccomp profile
//!   refuse;
//! - a process group, which the server used before, is left by `setsid`.
//!
//! `PR_SET_CHILD_SUBREAPER` (Linux 3.4) needs no privilege anywhere. Its limits: a command
//! that kills its own helper (`kill -9 $PPID` from the shell) orphans the rest to init; and a
//! process that passes its output pipe to an unrelated process could hold the pipe, which is
//! why the output is read with a deadline (`shell`).
//!
//! The helper is forked in `pre_exec` (between fork and exec of `/bin/sh`) and runs only
//! async-signal-safe calls: `prctl`, `fork`, `setpgid`, `sigaction`-free `signal`, `close`,
//! `waitpid`, `write`, `_exit`. It reports the shell's wait status on a pipe the moment the
//! shell ends, reaps everything reparented to it, and exits when it has no child left.

use std::collections::HashMap;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

use mayfly::subprocess::{Child, ChildStdout, Command};

/// How long [`Tree::kill`] keeps killing a tree that keeps forking before it gives up on it
/// (and kills the helper, leaving any survivors to init).
pub const KILL_LIMIT: Duration = Duration::from_secs(2);

/// A command running under its subreaper helper. Dropping it kills the tree.
///
/// It runs on `mayfly::subprocess`: its pipes and the status pipe are coroutine streams, and
/// the kill — rounds of `/proc` scans until the helper exits — runs on mayfly's thread pool,
/// so none of it holds the worker.
#[derive(Debug)]
pub struct Tree {
    /// What was spawned: the helper (the program is its child). Its stdio handles are the
    /// pipes the program inherited. `None` once the tree is dead (or handed to a pool thread
    /// to be killed).
    helper: Option<Child>,
    /// Readable once the program has ended: its wait status, 4 bytes, native endian.
    status: Option<StatusPipe>,
}

/// The pipe the helper reports the program's wait status on (a coroutine stream).
#[derive(Debug)]
pub struct StatusPipe(ChildStdout);

impl StatusPipe {
    /// Waits (parking the greenlet) until the program has ended: its wait status, or `None`
    /// if the helper died without reporting it.
    ///
    /// # Errors
    ///
    /// The read failed.
    pub fn read_status(&mut self) -> io::Result<Option<i32>> {
        let mut b = [0u8; 4];
        match self.0.read_exact(&mut b) {
            Ok(()) => Ok(Some(i32::from_ne_bytes(b))),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl Tree {
    /// Spawns `cmd` (its stdio already set) under a fresh subreaper helper; the program runs
    /// as the helper's child, in a process group of its own.
    ///
    /// # Errors
    ///
    /// The pipe cannot be made, the fork fails, or `prctl` is refused (Linux before 3.4).
    pub fn spawn(mut cmd: Command) -> io::Result<Tree> {
        let (status_r, status_w) = pipe()?;
        let w = status_w.as_raw_fd();
        // SAFETY: the closure runs in the forked child before exec and calls only
        // async-signal-safe functions (see `helper`); it allocates nothing.
        unsafe { cmd.std_mut().pre_exec(move || helper(w)) };
        let helper = cmd.kill_on_drop(true).spawn();
        drop(status_w); // the helper has its copy; end-of-file here means it is gone
        let helper = helper?;
        Ok(Tree {
            helper: Some(helper),
            status: Some(StatusPipe(ChildStdout::from_fd(status_r)?)),
        })
    }

    /// The spawned `Child` (the helper), to take the program's stdout and stderr from.
    ///
    /// # Panics
    ///
    /// After [`kill`](Tree::kill) (the helper is gone).
    pub fn child_mut(&mut self) -> &mut Child {
        self.helper.as_mut().expect("the tree was killed")
    }

    /// The pipe that turns readable when the program ends (taken once: a greenlet of its
    /// own can wait on it).
    pub fn take_status(&mut self) -> Option<StatusPipe> {
        self.status.take()
    }

    /// Kills every process of the tree (the helper's descendants, whatever their session or
    /// group), round after round until the helper, left without children, exits; after
    /// [`KILL_LIMIT`] kills the helper too. The helper is reaped. Idempotent. The rounds run
    /// on mayfly's thread pool: the calling greenlet parks meanwhile.
    pub fn kill(&mut self) {
        let Some(mut helper) = self.helper.take() else {
            return;
        };
        if let Ok(Some(_)) = helper.try_wait() {
            return;
        }
        // If the pool refuses or this greenlet is killed meanwhile, the job still runs (or
        // the helper is dropped, which SIGKILLs it: `kill_on_drop`).
        let _ = mayfly::threadpool::apply(move || kill_tree(&mut helper));
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Unwinding (a killed greenlet) cannot park: hand the kill to a pool thread.
            if let Some(mut helper) = self.helper.take() {
                let _ = mayfly::threadpool::spawn(move || kill_tree(&mut helper));
            }
        } else {
            self.kill();
        }
    }
}

/// The kill rounds, on a thread that may block: kill the helper's descendants until it exits
/// (it does once it has no child left), at most [`KILL_LIMIT`].
fn kill_tree(helper: &mut Child) {
    let root = helper.id() as i32;
    let until = Instant::now() + KILL_LIMIT;
    loop {
        if let Ok(Some(_)) = helper.try_wait() {
            return;
        }
        kill_descendants(root);
        if Instant::now() >= until {
            let _ = helper.kill();
            let _ = helper.wait();
            return;
        }
        if let Ok(Some(_)) = helper.wait_timeout(Duration::from_millis(1)) {
            return;
        }
    }
}

/// SIGKILLs every descendant of `root` found in `/proc`; returns how many were signalled.
/// (A pid could be reused between the scan and the kill only after the process was reaped
/// and the pid space wrapped around meanwhile.)
fn kill_descendants(root: i32) -> usize {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        if let Some(ppid) = parent_of(pid) {
            children.entry(ppid).or_default().push(pid);
        }
    }
    let mut todo = vec![root];
    let mut killed = 0;
    while let Some(p) = todo.pop() {
        for &c in children.get(&p).map(Vec::as_slice).unwrap_or_default() {
            // SAFETY: kill(2) touches no memory; `c` is a descendant of our helper.
            unsafe { libc::kill(c, libc::SIGKILL) };
            killed += 1;
            todo.push(c);
        }
    }
    killed
}

/// The parent pid of `pid`, from `/proc/PID/stat` (the field after the state, which follows
/// the last `)`: the command name may hold spaces and parentheses).
fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded: both fds are open and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// The forked child's code: become a subreaper, fork the program (which returns to std and
/// execs), and stay behind as the helper.
fn helper(status_w: RawFd) -> io::Result<()> {
    // SAFETY (whole function): only async-signal-safe calls on plain integers; no allocation,
    // no lock. The helper branch never returns (it `_exit`s), so std's exec path runs only in
    // the program's branch.
    unsafe {
        if libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0 {
            return Err(io::Error::last_os_error());
        }
        let pid = libc::fork();
        if pid < 0 {
            return Err(io::Error::last_os_error());
        }
        if pid == 0 {
            // The program: a process group of its own, so its `kill 0` misses the helper.
            libc::setpgid(0, 0);
            return Ok(());
        }
        // The helper keeps no fd but the status pipe: not the program's stdio (the server
        // must see end-of-file when the program's tree is gone), not std's exec-error pipe
        // (spawn would wait for it), not the server's sockets.
        close_all_but(status_w);
        for sig in [libc::SIGHUP, libc::SIGINT, libc::SIGTERM, libc::SIGQUIT] {
            libc::signal(sig, libc::SIG_IGN);
        }
        let mut reported = false;
        loop {
            let mut st: libc::c_int = 0;
            let r = libc::waitpid(-1, &mut st, 0);
            if r == pid && !reported {
                let bytes = st.to_ne_bytes();
                libc::write(status_w, bytes.as_ptr().cast(), bytes.len());
                reported = true;
            } else if r < 0 && *libc::__errno_location() != libc::EINTR {
                libc::_exit(0); // ECHILD: the whole tree is gone
            }
        }
    }
}

/// Closes every fd of the calling process but `keep` (async-signal-safe).
unsafe fn close_all_but(keep: RawFd) {
    let ranges = [(0, keep - 1), (keep + 1, libc::c_int::MAX)];
    for (lo, hi) in ranges {
        if lo > hi {
            continue;
        }
        // SAFETY: close_range(2) only closes fds of this process.
        let r = unsafe { libc::syscall(libc::SYS_close_range, lo as u32, hi as u32, 0) };
        if r != 0 {
            // Before Linux 5.9: close one by one up to the fd limit.
            let mut lim = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: getrlimit fills a valid struct; close on any number is harmless.
            unsafe {
                libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
                let top = (lim.rlim_cur.min(hi as u64 + 1)) as libc::c_int;
                for fd in lo..top {
                    libc::close(fd);
                }
            }
        }
    }
}
