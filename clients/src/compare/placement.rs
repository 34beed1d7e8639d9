//! Where a run's processes go: the CPUs this process may use ([`cpus_allowed`]), the split
//! between the server and the client ([`Placement`]), pinning compare's own thread
//! ([`PinnedThread`]) and confining a child to its CPUs and file limit ([`confine`]).

use std::fs::File;
use std::process::Command;

use crate::build::Build;

/// The CPUs this process may run on, in order.
pub fn cpus_allowed() -> Vec<usize> {
    let Some(set) = affinity() else {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        return (0..n).collect();
    };
    // SAFETY: CPU_ISSET reads one bit of a valid cpu_set_t; the index is below CPU_SETSIZE.
    (0..libc::CPU_SETSIZE as usize)
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect()
}

/// The calling thread's CPU affinity (`None` if the kernel refuses to say).
fn affinity() -> Option<libc::cpu_set_t> {
    // SAFETY: an all-zero cpu_set_t is the empty set, which sched_getaffinity overwrites;
    // `set` is a valid, writable cpu_set_t of the size passed.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        let ok = libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set);
        (ok == 0).then_some(set)
    }
}

/// The set of `cpus`, indices as [`cpus_allowed`] gives them.
fn cpu_set(cpus: &[usize]) -> libc::cpu_set_t {
    // SAFETY: an all-zero cpu_set_t is the empty set; CPU_SET writes one bit of it for each
    // CPU index, all below CPU_SETSIZE (they came from sched_getaffinity).
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &c in cpus {
        unsafe { libc::CPU_SET(c, &mut set) };
    }
    set
}

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

/// The calling thread's CPU affinity, set to `cpus` for as long as it lives, then restored.
/// Threads spawned meanwhile inherit it. Does nothing for an empty list.
pub(super) struct PinnedThread {
    before: Option<libc::cpu_set_t>,
}

impl PinnedThread {
    pub(super) fn to(cpus: &[usize]) -> PinnedThread {
        if cpus.is_empty() {
            return PinnedThread { before: None };
        }
        let Some(before) = affinity() else {
            return PinnedThread { before: None };
        };
        let set = cpu_set(cpus);
        // SAFETY: `set` is a valid cpu_set_t of the size passed; this sets the calling
        // thread's affinity only.
        if unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) } != 0
        {
            return PinnedThread { before: None };
        }
        PinnedThread {
            before: Some(before),
        }
    }
}

impl Drop for PinnedThread {
    fn drop(&mut self) {
        if let Some(before) = &self.before {
            // SAFETY: restores the mask sched_getaffinity returned for this same thread.
            unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), before) };
        }
    }
}

/// Runs `cmd` on `cpus` only (nothing if empty), and with `fd_limit` open files if set.
pub(super) fn confine(cmd: &mut Command, cpus: &[usize], fd_limit: Option<u64>) {
    use std::os::unix::process::CommandExt;
    if cpus.is_empty() && fd_limit.is_none() {
        return;
    }
    let set = cpu_set(cpus);
    let pin = !cpus.is_empty();
    let limit = fd_limit.map(|n| libc::rlimit {
        rlim_cur: n,
        rlim_max: n,
    });
    // SAFETY: the closure runs between fork and exec; it only calls sched_setaffinity and
    // setrlimit, raw system calls that are async-signal-safe, on values prepared before the
    // fork, and allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if pin && libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            if let Some(l) = &limit {
                if libc::setrlimit(libc::RLIMIT_NOFILE, l) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}
