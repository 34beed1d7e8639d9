//! When a process started, as wall-clock time: its start in clock ticks after boot
//! (`/proc/PID/stat`, field 22) plus the boot time (`btime` in `/proc/stat`). What
//! Prometheus's `process_start_time_seconds` reports.

use std::fs;
use std::time::{Duration, SystemTime};

/// When process `pid` started; `None` once it is gone (or `/proc` says nothing usable).
///
/// ```
/// use std::time::{Duration, SystemTime};
/// let started = mayfly::process::start_time(std::process::id()).unwrap();
/// let age = SystemTime::now().duration_since(started).unwrap();
/// assert!(age < Duration::from_secs(24 * 3600), "this test process started recently");
/// ```
pub fn start_time(pid: u32) -> Option<SystemTime> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces:
    // rest[0] is field 3 (state), so field 22 (starttime) is rest[19].
    let rest = &stat[stat.rfind(')')? + 2..];
    let ticks: u64 = rest.split_whitespace().nth(19)?.parse().ok()?;
    let boot: u64 = fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let after_boot =
        Duration::from_secs(ticks / hz) + Duration::from_millis(ticks % hz * 1000 / hz);
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(boot) + after_boot)
}
