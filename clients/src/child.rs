//! A server started as a child process: waits for its `listening on ADDR` line (read with
//! `mayfly_proto::child::Announce`, the same type the binary prints with), stops it with
//! SIGTERM (checking it drains and exits 0), and kills it if dropped.

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
}

impl ServerProcess {
    /// Spawns `cmd` (stdout piped, stdin closed) and reads its first line, which must be
    /// `listening on ADDR`.
    ///
    /// # Errors
    ///
    /// [`ChildError::Start`] if it cannot be started, [`ChildError::NoAnnounce`] if its
    /// first line is not the announcement.
    pub fn spawn(mut cmd: Command) -> Result<ServerProcess, ChildError> {
        cmd.stdin(Stdio::null()).stdout(Stdio::piped());
        let mut child = cmd.spawn().map_err(ChildError::Start)?;
        let stdout = child.stdout.take().expect("piped");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let addr = match Announce::parse_line(&line) {
            Some(Announce::Listening(addr)) => addr.to_string(),
            _ => return Err(ChildError::NoAnnounce { line }),
        };
        Ok(ServerProcess { child, addr })
    }

    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then wait (the server drains and exits 0); SIGKILL after [`STOP_TIMEOUT`].
    ///
    /// # Errors
    ///
    /// [`ChildError::ExitStatus`] if it exits unsuccessfully, [`ChildError::StopTimeout`]
    /// if it had to be killed.
    pub fn stop(mut self) -> Result<(), ChildError> {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let t = Instant::now();
        while t.elapsed() < STOP_TIMEOUT {
            if let Some(st) = self.child.try_wait()? {
                return if st.success() {
                    Ok(())
                } else {
                    Err(ChildError::ExitStatus(st))
                };
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        Err(ChildError::StopTimeout)
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
