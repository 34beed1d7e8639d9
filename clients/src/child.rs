//! A server started as a child process: waits for its `listening on ADDR` line, stops it
//! with SIGTERM (checking it drains and exits 0), and kills it if dropped.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};

/// How long [`ServerProcess::stop`] waits after SIGTERM before SIGKILL.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// A running `mayfly serve …` child.
pub struct ServerProcess {
    child: Child,
    /// The address it printed.
    pub addr: String,
}

impl ServerProcess {
    /// Spawns `cmd` (stdout piped, stdin closed) and reads its first line, which must be
    /// `listening on ADDR`.
    pub fn spawn(mut cmd: Command) -> Result<ServerProcess> {
        cmd.stdin(Stdio::null()).stdout(Stdio::piped());
        let mut child = cmd.spawn().context("starting the server")?;
        let stdout = child.stdout.take().expect("piped");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .ok_or_else(|| anyhow!("server said {line:?}, not `listening on ADDR`"))?
            .to_string();
        Ok(ServerProcess { child, addr })
    }

    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then wait (the server drains and exits 0); SIGKILL after [`STOP_TIMEOUT`].
    pub fn stop(mut self) -> Result<()> {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let t = Instant::now();
        while t.elapsed() < STOP_TIMEOUT {
            if let Some(st) = self.child.try_wait()? {
                return if st.success() {
                    Ok(())
                } else {
                    Err(anyhow!("server exited with {st} on SIGTERM"))
                };
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        Err(anyhow!(
            "server did not stop within {STOP_TIMEOUT:?} of SIGTERM"
        ))
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
