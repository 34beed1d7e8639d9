//! What the end-to-end tests share: the `mayfly` binary, and a server child that says where
//! it listens. (Each test file uses a part of it.)
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use mayfly_proto::child::Announce;

/// The `mayfly` binary built for these tests.
pub fn mayfly() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mayfly"))
}

/// A `mayfly serve …` child. Its first stdout line must be `listening on ADDR` (and, when
/// asked for, the second `stats on ADDR`). Killed when dropped.
pub struct ServerChild {
    /// The process.
    pub child: Child,
    /// Where the server listens.
    pub addr: String,
    /// Where its stats page listens, if started with `--stats-addr`.
    pub stats: Option<String>,
}

impl ServerChild {
    /// Spawns `cmd` with stdout piped (stderr as the caller set it) and reads its address.
    pub fn spawn(mut cmd: Command, with_stats: bool) -> ServerChild {
        cmd.stdout(Stdio::piped());
        let mut child = cmd.spawn().expect("mayfly runs");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let addr = match Announce::parse_line(&line) {
            Some(Announce::Listening(a)) => a.to_string(),
            _ => panic!("first line was {line:?}"),
        };
        let stats = with_stats.then(|| {
            line.clear();
            out.read_line(&mut line).unwrap();
            match Announce::parse_line(&line) {
                Some(Announce::Stats(a)) => a.to_string(),
                _ => panic!("second line was {line:?}"),
            }
        });
        ServerChild { child, addr, stats }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// True while the process runs.
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Open file descriptors of the process.
    pub fn fds(&self) -> usize {
        mayfly::process::fd_count(self.pid()).unwrap()
    }

    /// A `/proc/PID/status` field in KiB (`VmRSS:`, `VmHWM:`) or a count (`Threads:`).
    pub fn status(&self, field: &str) -> u64 {
        mayfly::process::status_field(self.pid(), field)
            .unwrap_or_else(|| panic!("no {field} in /proc status"))
    }

    /// SIGTERM, then the exit status (panics if it takes longer than `within`).
    pub fn sigterm_and_wait(&mut self, within: Duration) -> ExitStatus {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let t = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            assert!(t.elapsed() < within, "no exit within {within:?} of SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
