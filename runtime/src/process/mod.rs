//! Readings and limits of whole processes (Linux): CPU time, memory, threads and open files
//! from `/proc`, raising the open-file limit before opening thousands of sockets, and which
//! CPUs a thread or a child may run on ([`affinity`]: [`cpus_allowed`], [`PinnedThread`],
//! [`pin_command`]), a child that dies with its parent ([`parent_death`]:
//! [`die_with_parent`]), what machine this is ([`host`]: the kernel, the CPU model), and when a
//! process started ([`start_time`](fn@start_time)).
//!
//! A leaf: it uses no other part of the runtime, so servers (the stats page, `--workers
//! auto`), clients (`mayfly compare` sampling and pinning a server child) and tests all read
//! `/proc` and ask for CPUs through this one module.
//!
//! ```
//! let me = mayfly::process::sample(std::process::id()).unwrap();
//! assert!(me.threads >= 1 && me.rss_kib > 0);
//! assert!(mayfly::process::fd_count(std::process::id()).unwrap() >= 3);
//! ```

pub mod affinity;
pub mod host;
pub mod parent_death;
pub mod start_time;

use std::fs;
use std::io;
use std::time::Duration;

pub use affinity::{cpus_allowed, parallelism, pin_command, PinnedThread};
pub use parent_death::{die_with_parent, signal_when_parent_dies};
pub use start_time::start_time;

/// One reading of a process.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcSample {
    /// User + system CPU time so far.
    pub cpu: Duration,
    /// User + system CPU time so far in clock ticks (`sysconf(_SC_CLK_TCK)` per second), as
    /// `/proc/PID/stat` counts it.
    pub cpu_ticks: u64,
    /// Resident memory now, KiB.
    pub rss_kib: u64,
    /// Peak resident memory so far (VmHWM), KiB.
    pub peak_rss_kib: u64,
    /// OS threads now.
    pub threads: u64,
}

/// Reads `/proc/<pid>/stat` and `/proc/<pid>/status`; `None` once the process is gone.
///
/// ```
/// let me = mayfly::process::sample(std::process::id()).unwrap();
/// assert!(me.threads >= 1 && me.rss_kib > 0 && me.peak_rss_kib >= me.rss_kib);
/// ```
pub fn sample(pid: u32) -> Option<ProcSample> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state); utime is field 14, stime field 15.
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let cpu = Duration::from_micros((utime + stime) * 1_000_000 / hz);
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| status_value(&status, name).unwrap_or(0);
    Some(ProcSample {
        cpu,
        cpu_ticks: utime + stime,
        rss_kib: field("VmRSS:"),
        peak_rss_kib: field("VmHWM:"),
        threads: field("Threads:"),
    })
}

/// One `/proc/<pid>/status` field as a number: KiB for memory fields (`VmRSS:`, `VmHWM:`),
/// a count for others (`Threads:`). `None` if the process is gone or has no such field.
///
/// ```
/// let threads = mayfly::process::status_field(std::process::id(), "Threads:").unwrap();
/// assert!(threads >= 1);
/// assert_eq!(mayfly::process::status_field(std::process::id(), "NoSuchField:"), None);
/// ```
pub fn status_field(pid: u32, name: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status_value(&status, name)
}

fn status_value(status: &str, name: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// The process's children (from `/proc/<pid>/task/*/children`); empty once it is gone.
///
/// ```
/// let mut child = std::process::Command::new("sleep").arg("5").spawn().unwrap();
/// assert_eq!(mayfly::process::children(std::process::id()), [child.id()]);
/// child.kill().unwrap();
/// child.wait().unwrap();
/// ```
pub fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for t in tasks.flatten() {
        if let Ok(list) = fs::read_to_string(t.path().join("children")) {
            out.extend(
                list.split_whitespace()
                    .filter_map(|c| c.parse::<u32>().ok()),
            );
        }
    }
    out
}

/// The process and all its descendants: `pid` first.
pub fn tree(pid: u32) -> Vec<u32> {
    let mut all = vec![pid];
    let mut i = 0;
    while i < all.len() {
        for c in children(all[i]) {
            if !all.contains(&c) {
                all.push(c);
            }
        }
        i += 1;
    }
    all
}

/// [`sample`] summed over the process and its descendants (a `--workers` supervisor and its
/// workers): CPU, resident and peak memory and threads are totals. `None` once `pid` is gone.
///
/// ```
/// let one = mayfly::process::sample(std::process::id()).unwrap();
/// let all = mayfly::process::sample_tree(std::process::id()).unwrap();
/// assert!(all.threads >= one.threads && all.rss_kib >= one.rss_kib);
/// ```
pub fn sample_tree(pid: u32) -> Option<ProcSample> {
    let mut total = sample(pid)?;
    for p in tree(pid).into_iter().skip(1) {
        if let Some(s) = sample(p) {
            total.cpu += s.cpu;
            total.cpu_ticks += s.cpu_ticks;
            total.rss_kib += s.rss_kib;
            total.peak_rss_kib += s.peak_rss_kib;
            total.threads += s.threads;
        }
    }
    Some(total)
}

/// How many `read(2)`-family and `write(2)`-family system calls a process has made
/// (`/proc/<pid>/io`: `syscr`, `syscw`), whether they moved bytes or failed with `EAGAIN`.
/// `recv`/`send` (and `recvfrom`, `sendto`, `recvmsg`, `sendmsg`) are not counted there, nor
/// are `epoll_wait`, `select` or `accept`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IoCalls {
    /// `read`, `readv`, `pread` calls (`syscr`).
    pub reads: u64,
    /// `write`, `writev`, `pwrite` calls (`syscw`).
    pub writes: u64,
}

/// Reads `/proc/<pid>/io`'s call counts (all the process's threads, live and gone); `None`
/// once the process is gone or the file cannot be read (another user's process).
///
/// ```
/// use std::io::Read;
/// let me = std::process::id();
/// let before = mayfly::process::io_calls(me).unwrap();
/// let _ = std::fs::File::open("/proc/self/stat").unwrap().read(&mut [0u8; 16]);
/// assert!(mayfly::process::io_calls(me).unwrap().reads > before.reads);
/// ```
pub fn io_calls(pid: u32) -> Option<IoCalls> {
    let text = fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    let field = |name: &str| -> Option<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
    };
    Some(IoCalls {
        reads: field("syscr:")?,
        writes: field("syscw:")?,
    })
}

/// [`io_calls`] summed over the process and its descendants (a `--workers` supervisor and
/// its workers); `None` once `pid` is gone.
pub fn io_calls_tree(pid: u32) -> Option<IoCalls> {
    let mut total = io_calls(pid)?;
    for p in tree(pid).into_iter().skip(1) {
        if let Some(c) = io_calls(p) {
            total.reads += c.reads;
            total.writes += c.writes;
        }
    }
    Some(total)
}

/// Open file descriptors of the process (entries of `/proc/<pid>/fd`); `None` once it is
/// gone.
///
/// ```
/// assert!(mayfly::process::fd_count(std::process::id()).unwrap() >= 3);
/// ```
pub fn fd_count(pid: u32) -> Option<usize> {
    Some(fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

/// The process's soft limit on open files (`Max open files` in `/proc/<pid>/limits`);
/// `None` once it is gone, or if the limit is `unlimited`.
///
/// ```
/// assert!(mayfly::process::fd_limit(std::process::id()).unwrap() >= 3);
/// ```
pub fn fd_limit(pid: u32) -> Option<u64> {
    let limits = fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    // A row of the limits table reads like a status field: name, then the soft value first.
    status_value(&limits, "Max open files")
}

/// Raises the soft limit on open files to the hard limit; returns the new soft limit.
///
/// # Errors
///
/// The OS error of `getrlimit` or `setrlimit`.
///
/// ```
/// let n = mayfly::process::raise_nofile().unwrap();
/// assert!(n >= 1024);
/// ```
pub fn raise_nofile() -> io::Result<u64> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `r` is a valid, writable rlimit struct for getrlimit to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if r.rlim_cur < r.rlim_max {
        r.rlim_cur = r.rlim_max;
        // SAFETY: `r` is a valid rlimit struct; raising the soft limit up to the hard limit
        // needs no privilege.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(r.rlim_cur)
}
