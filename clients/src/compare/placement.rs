//! Where a run's processes go: the split of this process's CPUs between the server and the
//! client ([`Placement`]), and a child confined to its CPUs and file limit ([`confine`]).
//! The CPUs themselves, and pinning, are `mayfly::process`'s.

use std::fs::File;
use std::process::Command;

use mayfly::process as procfs;

use crate::build::Build;

/// Where a run's processes go ([`Placement::split`]) and the log file.
pub(super) struct Placement {
    /// Server and client on CPUs of their own.
    pub(super) pin: bool,
    /// The CPUs this process may use.
    pub(super) allowed: Vec<usize>,
    /// The servers' and the client's own log lines go here.
    pub(super) log: File,
}

impl Placement {
    /// The CPUs for the server and for the client (both empty when not pinned): one server
    /// CPU per worker process, leaving at least one CPU for the client, which gets the rest.
    pub(super) fn split(&self, build: Build) -> (Vec<usize>, Vec<usize>) {
        if !self.pin || self.allowed.len() < 2 {
            return (Vec::new(), Vec::new());
        }
        let n = build.workers.clamp(1, self.allowed.len() - 1);
        (self.allowed[..n].to_vec(), self.allowed[n..].to_vec())
    }
}

/// Runs `cmd` on `cpus` only (nothing if empty), and with `fd_limit` open files if set.
pub(super) fn confine(cmd: &mut Command, cpus: &[usize], fd_limit: Option<u64>) {
    use std::os::unix::process::CommandExt;
    procfs::pin_command(cmd, cpus);
    let Some(n) = fd_limit else {
        return;
    };
    let limit = libc::rlimit {
        rlim_cur: n,
        rlim_max: n,
    };
    // SAFETY: the closure runs between fork and exec; it only calls setrlimit, a raw system
    // call that is async-signal-safe, on a value prepared before the fork, and allocates
    // nothing (last_os_error reads errno into an unboxed io::Error).
    unsafe {
        cmd.pre_exec(move || {
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}
