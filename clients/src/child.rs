//! A server started as a child process: waits for its `listening on ADDR` line (and, when
//! asked, `stats on ADDR` and `check on ADDR`; read with `mayfly_proto::child::Announce`, the same type the binary
//! prints with), stops it with SIGTERM (checking it drains and exits 0), and kills it if
//! dropped, or if this process dies (SIGKILL on the parent's death,
//! [`mayfly::process::die_with_parent`]). `compare` and `file-bench` drive their servers
//! through it, and so do the end-to-end tests (tests/util).

use std::io::{self, BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use mayfly_proto::child::Announce;

/// How long [`ServerProcess::stop`] waits after SIGTERM before SIGKILL.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// Why a server child could not be started or stopped cleanly.
#[derive(Debug, thiserror::Error)]
pub enum ChildError {
    /// The program could not be started.
    #[error("starting the server")]
    Start(#[source] io::Error),
    /// Reading its output or waiting for it failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// Its first line was not `listening on ADDR`.
    #[error("server said {line:?}, not `listening on ADDR`")]
    NoAnnounce {
        /// The line it printed (empty if it printed nothing).
        line: String,
    },
    /// Started with a stats page, its second line was not `stats on ADDR`.
    #[error("server said {line:?}, not `stats on ADDR`")]
    NoStatsAnnounce {
        /// The line it printed (empty if it printed nothing).
        line: String,
    },
    /// Started with a health-check port, its next line was not `check on ADDR`.
    #[error("server said {line:?}, not `check on ADDR`")]
    NoCheckAnnounce {
        /// The line it printed (empty if it printed nothing).
        line: String,
    },
    /// It exited, but not with success, on SIGTERM.
    #[error("server exited with {0} on SIGTERM")]
    ExitStatus(ExitStatus),
    /// It was still running [`STOP_TIMEOUT`] after SIGTERM (it was then killed).
    #[error("server did not stop within {STOP_TIMEOUT:?} of SIGTERM")]
    StopTimeout,
}

/// A running `mayfly serve …` child.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    /// The address it printed.
    pub addr: String,
    /// Where its stats page listens, when spawned with [`spawn_with_stats`](Self::spawn_with_stats).
    pub stats: Option<String>,
    /// Where its health-check port listens, when spawned with
    /// [`spawn_with_check`](Self::spawn_with_check).
    pub check: Option<String>,
}

impl ServerProcess {
    /// Spawns `cmd` (stdout piped, stdin closed) and reads its first line, which must be
    /// `listening on ADDR`. The child gets SIGKILL when the calling thread ends (Linux ties
    /// the parent-death signal to the thread that spawned it): keep the server on the thread
    /// that started it, or one that outlives it.
    ///
    /// # Errors
    ///
    /// [`ChildError::Start`] if it cannot be started, [`ChildError::NoAnnounce`] if its
    /// first line is not the announcement.
    pub fn spawn(cmd: Command) -> Result<ServerProcess, ChildError> {
        Self::spawn_announcing(cmd, false, false)
    }

    /// Like [`spawn`](Self::spawn) for a server started with `--stats-addr`: its second line
    /// must be `stats on ADDR`, kept in [`stats`](Self::stats).
    ///
    /// # Errors
    ///
    /// As [`spawn`](Self::spawn), and [`ChildError::NoStatsAnnounce`] if the second line is
    /// not the stats page's announcement.
    pub fn spawn_with_stats(cmd: Command) -> Result<ServerProcess, ChildError> {
        Self::spawn_announcing(cmd, true, false)
    }

    /// Like [`spawn`](Self::spawn) for a server started with `--check-addr` (and no
    /// `--stats-addr`): its second line must be `check on ADDR`, kept in
    /// [`check`](Self::check).
    ///
    /// # Errors
    ///
    /// As [`spawn`](Self::spawn), and [`ChildError::NoCheckAnnounce`] if the second line is
    /// not the check port's announcement.
    pub fn spawn_with_check(cmd: Command) -> Result<ServerProcess, ChildError> {
        Self::spawn_announcing(cmd, false, true)
    }

    fn spawn_announcing(
        mut cmd: Command,
        with_stats: bool,
        with_check: bool,
    ) -> Result<ServerProcess, ChildError> {
        cmd.stdin(Stdio::null()).stdout(Stdio::piped());
        mayfly::process::die_with_parent(&mut cmd);
        let child = cmd.spawn().map_err(ChildError::Start)?;
        // From here on a failure drops `server`, which kills the child.
        let mut server = ServerProcess {
            addr: String::new(),
            stats: None,
            check: None,
            child,
        };
        let mut out = BufReader::new(server.child.stdout.take().expect("piped"));
        let mut line = String::new();
        out.read_line(&mut line)?;
        server.addr = match Announce::parse_line(&line) {
            Some(Announce::Listening(addr)) => addr.to_string(),
            _ => return Err(ChildError::NoAnnounce { line }),
        };
        if with_stats {
            line.clear();
            out.read_line(&mut line)?;
            server.stats = match Announce::parse_line(&line) {
                Some(Announce::Stats(addr)) => Some(addr.to_string()),
                _ => return Err(ChildError::NoStatsAnnounce { line }),
            };
        }
        if with_check {
            line.clear();
            out.read_line(&mut line)?;
            server.check = match Announce::parse_line(&line) {
                Some(Announce::Check(addr)) => Some(addr.to_string()),
                _ => return Err(ChildError::NoCheckAnnounce { line }),
            };
        }
        Ok(server)
    }

    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// True while the process runs.
    ///
    /// # Errors
    ///
    /// [`ChildError::Io`] if its state cannot be read.
    pub fn alive(&mut self) -> Result<bool, ChildError> {
        Ok(self.child.try_wait()?.is_none())
    }

    /// Sends SIGTERM and waits up to `within` for the exit; `None` if it is still running
    /// then (it is left running: [`stop`](Self::stop) kills it, and so does dropping it).
    ///
    /// # Errors
    ///
    /// [`ChildError::Io`] if waiting fails.
    pub fn sigterm_and_wait(&mut self, within: Duration) -> Result<Option<ExitStatus>, ChildError> {
        // SAFETY: kill(2) on our own child's pid, which has not been reaped (we hold it).
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let t = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait()? {
                return Ok(Some(st));
            }
            if t.elapsed() >= within {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then wait (the server drains and exits 0); SIGKILL after [`STOP_TIMEOUT`].
    ///
    /// # Errors
    ///
    /// [`ChildError::ExitStatus`] if it exits unsuccessfully, [`ChildError::StopTimeout`]
    /// if it had to be killed.
    pub fn stop(mut self) -> Result<(), ChildError> {
        match self.sigterm_and_wait(STOP_TIMEOUT)? {
            Some(st) if st.success() => Ok(()),
            Some(st) => Err(ChildError::ExitStatus(st)),
            None => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                Err(ChildError::StopTimeout)
            }
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
