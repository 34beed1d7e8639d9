//! Which CPUs a thread or a child process may run on (Linux `sched_getaffinity` and
//! `sched_setaffinity`): the CPUs this process may use, a thread pinned for a while, a child
//! command pinned before it runs. The one place mayfly asks the kernel: for the servers
//! (`--workers auto`), `mayfly compare` (server on one CPU, client on the others) and tests.

use std::process::Command;

/// The CPUs the calling thread (and so, unless it was pinned alone, this process) may run
/// on, in order. If the kernel will not say, every CPU [`parallelism`] counts: `0..n`.
///
/// ```
/// let cpus = mayfly::process::cpus_allowed();
/// assert!(!cpus.is_empty());
/// assert!(cpus.windows(2).all(|w| w[0] < w[1]));
/// ```
pub fn cpus_allowed() -> Vec<usize> {
    let cpus: Vec<usize> = match affinity() {
        // SAFETY: CPU_ISSET reads one bit of a valid cpu_set_t; the index is below
        // CPU_SETSIZE.
        Some(set) => (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
            .collect(),
        None => Vec::new(),
    };
    if cpus.is_empty() {
        return (0..parallelism()).collect();
    }
    cpus
}

/// How many threads can run at once, as the standard library counts it
/// (`std::thread::available_parallelism`: the CPUs allowed, and a cgroup CPU quota if
/// lower); 1 if it cannot tell.
///
/// ```
/// assert!(mayfly::process::parallelism() >= 1);
/// ```
pub fn parallelism() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
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

/// The set of `cpus`, indices as [`cpus_allowed`] gives them (indices at or above
/// `CPU_SETSIZE` are left out).
fn cpu_set(cpus: &[usize]) -> libc::cpu_set_t {
    // SAFETY: an all-zero cpu_set_t is the empty set; CPU_SET writes one bit of it for each
    // CPU index, all below CPU_SETSIZE (checked here; those from sched_getaffinity are).
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &c in cpus.iter().filter(|&&c| c < libc::CPU_SETSIZE as usize) {
        unsafe { libc::CPU_SET(c, &mut set) };
    }
    set
}

/// The calling thread's CPU affinity, set to some CPUs for as long as this lives, then
/// restored. Threads spawned meanwhile inherit it (and keep it).
///
/// ```
/// let all = mayfly::process::cpus_allowed();
/// let pinned = mayfly::process::PinnedThread::to(&all[..1]);
/// assert!(pinned.is_pinned());
/// assert_eq!(mayfly::process::cpus_allowed(), all[..1]);
/// drop(pinned);
/// assert_eq!(mayfly::process::cpus_allowed(), all);
/// ```
#[derive(Debug)]
pub struct PinnedThread {
    before: Option<libc::cpu_set_t>,
}

impl PinnedThread {
    /// Pins the calling thread to `cpus` (indices as [`cpus_allowed`] gives them). Does
    /// nothing for an empty list, or if the kernel refuses (the thread then runs where it
    /// did; [`is_pinned`](Self::is_pinned) says which).
    pub fn to(cpus: &[usize]) -> PinnedThread {
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

    /// True if the thread was pinned (and will be restored on drop).
    pub fn is_pinned(&self) -> bool {
        self.before.is_some()
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

/// Makes `cmd`'s process run on `cpus` only, from before it executes (nothing for an empty
/// list). Spawning then fails with the OS error if the kernel refuses the set.
///
/// ```
/// use std::process::Command;
/// let first = mayfly::process::cpus_allowed()[0];
/// let mut cmd = Command::new("cat");
/// cmd.arg("/proc/self/status");
/// mayfly::process::pin_command(&mut cmd, &[first]);
/// let status = String::from_utf8(cmd.output().unwrap().stdout).unwrap();
/// let list = status.lines().find_map(|l| l.strip_prefix("Cpus_allowed_list:"));
/// assert_eq!(list.map(str::trim), Some(first.to_string().as_str()));
/// ```
pub fn pin_command(cmd: &mut Command, cpus: &[usize]) {
    use std::os::unix::process::CommandExt;
    if cpus.is_empty() {
        return;
    }
    let set = cpu_set(cpus);
    // SAFETY: the closure runs between fork and exec; it only calls sched_setaffinity, a raw
    // system call that is async-signal-safe, on a set prepared before the fork, and
    // allocates nothing (last_os_error reads errno into an unboxed io::Error).
    unsafe {
        cmd.pre_exec(move || {
            if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}
