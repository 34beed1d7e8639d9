//! Talking to a child until it ends: [`Child::communicate`] (gevent's `Popen.communicate`)
//! writes stdin while it reads stdout and stderr, one greenlet per pipe, so a child that
//! fills one pipe while we wait on another never deadlocks; [`Child::communicate_timeout`]
//! (Python's `run(timeout=…)`: kills the child, keeps the partial output); [`check_output`];
//! and [`SubprocessError`], the error of the calls that judge the exit.

use std::io::{self, Read, Write};
use std::process::{ExitStatus, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::child::Child;
use super::command::Command;
use crate::greenlet::{Builder, Greenlet};
use crate::poison::MutexExt;

/// Bytes read from a pipe per read.
const CHUNK: usize = 64 * 1024;

/// Why a call that judges the child's exit failed (Python's `CalledProcessError` and
/// `TimeoutExpired`, or an I/O error).
#[derive(Debug, thiserror::Error)]
pub enum SubprocessError {
    /// Starting the child or talking to it failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The child exited unsuccessfully (Python's `CalledProcessError`).
    #[error("the command failed: {status}")]
    Failed {
        /// How it exited.
        status: ExitStatus,
        /// What it wrote to stdout (if piped).
        stdout: Vec<u8>,
        /// What it wrote to stderr (if piped).
        stderr: Vec<u8>,
    },
    /// The child ran past its time limit and was killed (Python's `TimeoutExpired`).
    #[error("the command timed out after {timeout:?} and was killed")]
    TimedOut {
        /// The time limit.
        timeout: Duration,
        /// What it wrote to stdout before (if piped).
        stdout: Vec<u8>,
        /// What it wrote to stderr before (if piped).
        stderr: Vec<u8>,
    },
}

impl Child {
    /// Writes `input` to the child's stdin (then closes it), reads stdout and stderr to
    /// their ends at the same time, and waits for the exit (gevent's `communicate(input)`).
    /// Pipes that were not piped are left alone and come back empty. Outputs of any size:
    /// nothing waits for one pipe while the child blocks on another.
    ///
    /// ```
    /// use mayfly::subprocess::{Command, Stdio};
    /// let out = mayfly::run(|| {
    ///     Command::new("sh")
    ///         .args(["-c", "echo pineapple >&2; tr a-z A-Z"])
    ///         .stdin(Stdio::piped())
    ///         .stdout(Stdio::piped())
    ///         .stderr(Stdio::piped())
    ///         .spawn()?
    ///         .communicate(Some(b"banana"))
    /// })
    /// .unwrap();
    /// assert_eq!((&out.stdout[..], &out.stderr[..]), (&b"BANANA"[..], &b"pineapple\n"[..]));
    /// ```
    ///
    /// The active [`crate::Timeout`] bounds it; when it (or a kill) unwinds the call, the
    /// pipes' greenlets are killed and the child runs on unless it was spawned with
    /// [`Command::kill_on_drop`].
    ///
    /// # Errors
    /// Reading a pipe fails, or the exit status was lost (see [`Child::wait`]). A child that
    /// exits without reading all of `input` is not an error (its stdin is closed).
    pub fn communicate(&mut self, input: Option<&[u8]>) -> io::Result<Output> {
        match self.communicate_until(input, None) {
            Ok(out) => Ok(out),
            Err(Talk::Io(e)) => Err(e),
            Err(Talk::TimedOut { .. }) => unreachable!("no deadline given"),
        }
    }

    /// [`communicate`](Child::communicate) with a time limit, as Python's
    /// `subprocess.run(..., timeout=…)`: past it the child is SIGKILLed and the error keeps
    /// what it had written.
    ///
    /// ```
    /// use std::time::Duration;
    /// use mayfly::subprocess::{Command, Stdio, SubprocessError};
    /// let r = mayfly::run(|| {
    ///     let mut child = Command::new("sh").args(["-c", "echo BDFL; exec sleep 60"])
    ///         .stdout(Stdio::piped()).spawn().unwrap();
    ///     child.communicate_timeout(None, Duration::from_millis(300))
    /// });
    /// match r {
    ///     Err(SubprocessError::TimedOut { stdout, .. }) => assert_eq!(stdout, b"BDFL\n"),
    ///     other => panic!("{other:?}"),
    /// }
    /// ```
    ///
    /// # Errors
    /// [`SubprocessError::TimedOut`] past the limit, [`SubprocessError::Io`] as
    /// [`communicate`](Child::communicate).
    pub fn communicate_timeout(
        &mut self,
        input: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<Output, SubprocessError> {
        match self.communicate_until(input, Some(crate::timeout::deadline_after(timeout))) {
            Ok(out) => Ok(out),
            Err(Talk::Io(e)) => Err(SubprocessError::Io(e)),
            Err(Talk::TimedOut { stdout, stderr }) => {
                let _ = self.kill();
                Err(SubprocessError::TimedOut {
                    timeout,
                    stdout,
                    stderr,
                })
            }
        }
    }

    fn communicate_until(
        &mut self,
        input: Option<&[u8]>,
        deadline: Option<Instant>,
    ) -> Result<Output, Talk> {
        let pid = self.id();
        let mut helpers = Helpers::default();
        if let Some(mut stdin) = self.stdin.take() {
            if let Some(input) = input.filter(|i| !i.is_empty()) {
                let input = input.to_vec();
                helpers.spawn(format!("subprocess-{pid}-stdin"), move || {
                    match stdin.write_all(&input) {
                        // The child exited or closed its stdin without reading it all.
                        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
                        other => other,
                    }
                })?;
            }
        }
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        if let Some(out) = self.stdout.take() {
            let into = stdout.clone();
            helpers.spawn(format!("subprocess-{pid}-stdout"), move || {
                drain(out, &into)
            })?;
        }
        if let Some(err) = self.stderr.take() {
            let into = stderr.clone();
            helpers.spawn(format!("subprocess-{pid}-stderr"), move || {
                drain(err, &into)
            })?;
        }
        let timed_out = || Talk::TimedOut {
            stdout: take(&stdout),
            stderr: take(&stderr),
        };
        if !helpers.join(deadline)? {
            return Err(timed_out());
        }
        let status = match self.exit_until(deadline)? {
            Some(st) => st,
            None => return Err(timed_out()),
        };
        Ok(Output {
            status,
            stdout: take(&stdout),
            stderr: take(&stderr),
        })
    }

    fn exit_until(&mut self, deadline: Option<Instant>) -> io::Result<Option<ExitStatus>> {
        match deadline {
            None => self.wait().map(Some),
            Some(at) => self.wait_deadline(at),
        }
    }
}

/// Runs `cmd` to its end and returns its stdout (Python's `check_output`): stdout is piped
/// and stdin is `/dev/null` unless set otherwise; stderr is inherited unless set.
///
/// ```
/// use mayfly::subprocess::{check_output, Command, SubprocessError};
/// mayfly::run(|| {
///     assert_eq!(check_output(Command::new("echo").arg("hi")).unwrap(), b"hi\n");
///     match check_output(Command::new("sh").args(["-c", "exit 44"])) {
///         Err(SubprocessError::Failed { status, .. }) => assert_eq!(status.code(), Some(44)),
///         other => panic!("{other:?}"),
///     }
/// });
/// ```
///
/// # Errors
/// [`SubprocessError::Failed`] when it exits unsuccessfully, [`SubprocessError::Io`] when it
/// cannot be started or read.
pub fn check_output(cmd: &mut Command) -> Result<Vec<u8>, SubprocessError> {
    cmd.default_stdout_piped();
    let out = cmd.spawn()?.communicate(None)?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(SubprocessError::Failed {
            status: out.status,
            stdout: out.stdout,
            stderr: out.stderr,
        })
    }
}

/// How `communicate_until` ended without an output.
enum Talk {
    Io(io::Error),
    TimedOut { stdout: Vec<u8>, stderr: Vec<u8> },
}

impl From<io::Error> for Talk {
    fn from(e: io::Error) -> Self {
        Talk::Io(e)
    }
}

/// What a reader collected so far.
fn take(buf: &Mutex<Vec<u8>>) -> Vec<u8> {
    std::mem::take(&mut *buf.lock_unpoisoned())
}

/// Reads `pipe` to its end into `into` (shared, so a timeout keeps what was read).
fn drain(mut pipe: impl Read, into: &Mutex<Vec<u8>>) -> io::Result<()> {
    let mut buf = vec![0u8; CHUNK];
    loop {
        match pipe.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => into.lock_unpoisoned().extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// The pipes' greenlets of one `communicate`; any still running when it ends (a timeout, a
/// kill, an error) are killed.
#[derive(Default)]
struct Helpers(Vec<Greenlet<io::Result<()>>>);

impl Helpers {
    fn spawn(
        &mut self,
        name: String,
        f: impl FnOnce() -> io::Result<()> + Send + 'static,
    ) -> io::Result<()> {
        let g = Builder::new()
            .name(name)
            .spawn(f)
            .map_err(|e| io::Error::other(e.to_string()))?;
        self.0.push(g);
        Ok(())
    }

    /// Joins every helper until `deadline`: whether all finished; the first one's error.
    fn join(&self, deadline: Option<Instant>) -> io::Result<bool> {
        for g in &self.0 {
            let done = match deadline {
                None => g.join(None),
                Some(at) => g.join_deadline(at),
            };
            if !done {
                return Ok(false);
            }
        }
        for g in &self.0 {
            g.clone()
                .into_result()
                .map_err(|e| io::Error::other(e.to_string()))??;
        }
        Ok(true)
    }
}

impl Drop for Helpers {
    fn drop(&mut self) {
        for g in &self.0 {
            g.kill_nowait();
        }
    }
}
