//! A child process that dies with its parent (Linux `PR_SET_PDEATHSIG`): a server or load
//! client started by `mayfly compare` or `file-bench`, or a `--workers` worker, must not be
//! left running, re-parented to init, when the process that started it is killed.
//!
//! The kernel sends the signal when the *thread* that spawned the child ends, not only the
//! process: spawn from a thread that lives as long as the child should (the main thread, or
//! one that stops its children before it returns).

use std::io;
use std::process::Command;

/// Makes `cmd`'s process get SIGKILL when its parent dies (see the module docs for which
/// thread counts as the parent). If the parent is already gone by the time the child sets
/// this up (it died between the fork and the `prctl`), the child does not run at all.
///
/// ```
/// use std::os::unix::process::ExitStatusExt;
/// use std::process::Command;
///
/// // The signal comes when the thread that spawned the child ends: here, at once.
/// let mut child = std::thread::spawn(|| {
///     let mut cmd = Command::new("sleep");
///     cmd.arg("30");
///     mayfly::process::die_with_parent(&mut cmd);
///     cmd.spawn().unwrap()
/// })
/// .join()
/// .unwrap();
/// assert_eq!(child.wait().unwrap().signal(), Some(9));
/// ```
pub fn die_with_parent(cmd: &mut Command) {
    signal_when_parent_dies(cmd, libc::SIGKILL);
}

/// Like [`die_with_parent`], with another signal: SIGTERM for a child that should drain and
/// exit on its own (a `--workers` worker).
///
/// ```
/// use std::os::unix::process::ExitStatusExt;
/// use std::process::Command;
///
/// let mut child = std::thread::spawn(|| {
///     let mut cmd = Command::new("sleep");
///     cmd.arg("30");
///     mayfly::process::signal_when_parent_dies(&mut cmd, libc::SIGTERM);
///     cmd.spawn().unwrap()
/// })
/// .join()
/// .unwrap();
/// assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGTERM));
/// ```
pub fn signal_when_parent_dies(cmd: &mut Command, signal: libc::c_int) {
    use std::os::unix::process::CommandExt;
    // Captured before the fork: the child compares its parent with it.
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs between fork and exec; it only calls prctl and getppid, raw
    // system calls that are async-signal-safe, on values captured before the fork, and
    // allocates nothing (last_os_error and from_raw_os_error build an unboxed io::Error).
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, signal as libc::c_ulong) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent died before prctl: no signal will come, and the child has been
            // re-parented already. Exiting here (spawn's error path ends in _exit) is what
            // the signal would have done.
            if libc::getppid() != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}
