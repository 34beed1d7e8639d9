//! Running one shell command with a time limit and an output cap, in the calling greenlet,
//! on `mayfly::subprocess`: the pipes are coroutine streams, each read by a greenlet of its
//! own, so a command that waits parks only its connection's greenlet and the worker goes on
//! serving the others. (Called from a plain OS thread it blocks that thread.)
//!
//! The command runs under a subreaper helper ([`super::tree`]), so the time limit, the
//! output cap and the shell's own exit each kill *everything* it started, new sessions
//! (`setsid`) and double forks included. Output is read against the deadline: a process
//! holding the pipe open cannot hold the command past the limit, and after the tree is gone
//! output is read for at most [`OUTPUT_DRAIN`] more.

use std::io::{self, Read};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mayfly::event::Event;
use mayfly::subprocess::{Command, Stdio};
use mayfly::{Greenlet, Waitable};

use super::tree::Tree;
use mayfly_proto::cmd::secret::SECRET_ENV;

/// How long output is still read once the command's tree has been killed (its pipes should
/// be at end-of-file at once; something that escaped the tree might keep them open).
pub const OUTPUT_DRAIN: Duration = Duration::from_millis(250);

/// Once the shell has ended, how long its helper gets to exit by itself (it does at once
/// when the shell left nothing running) before a kill scans `/proc` for what is left.
pub const HELPER_EXIT_WAIT: Duration = Duration::from_millis(20);

/// What a command produced: the protocol's type, as the client receives it.
pub use mayfly_proto::cmd::CommandOutput as Output;

/// Runs `command` with `/bin/sh -c`, stdin from `/dev/null`, without the secret's variable
/// ([`SECRET_ENV`]) in its environment. The whole tree is killed when the shell exits, when it
/// runs past `timeout`, or when stdout and stderr together pass `max_output` bytes.
///
/// ```
/// use std::time::Duration;
/// let out = mayfly_servers::cmd::shell::run("echo hi; echo err >&2; exit 3", Duration::from_secs(5), 1024).unwrap();
/// assert_eq!(out.exit_code, Some(3));
/// assert_eq!((&out.stdout[..], &out.stderr[..]), (&b"hi\n"[..], &b"err\n"[..]));
/// ```
///
/// # Errors
///
/// The command cannot be started (fork, pipe, `prctl`), or `poll` fails.
pub fn run(command: &str, timeout: Duration, max_output: usize) -> io::Result<Output> {
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(command)
        .env_remove(SECRET_ENV)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let deadline = mayfly::deadline_after(timeout);
    let mut tree = Tree::spawn(cmd)?;
    let collected = Arc::new(Collected::new(max_output));
    let readers = Readers(
        [
            tree.child_mut()
                .stdout
                .take()
                .map(|p| read_into(p, &collected, true)),
            tree.child_mut()
                .stderr
                .take()
                .map(|p| read_into(p, &collected, false)),
        ]
        .into_iter()
        .flatten()
        .collect(),
    );
    let mut status_pipe = tree.take_status().expect("a new tree has its status pipe");
    let status = mayfly::spawn(move || status_pipe.read_status());
    // Whichever comes first: the shell's end, the output cap, the time limit.
    let first: [&dyn Waitable; 2] = [&status, &collected.over];
    let left = deadline.saturating_duration_since(Instant::now());
    mayfly::wait(&first, mayfly::WaitOpts::default().count(1).timeout(left));
    let timed_out = !collected.over.is_set() && !status.ready();
    if status.ready() && !collected.over.is_set() {
        // Usually nothing is left: the helper exits on its own, no `/proc` rounds needed.
        let _ = tree.child_mut().wait_timeout(HELPER_EXIT_WAIT);
    }
    // The shell is done, cut off, or out of time: nothing it started outlives it.
    tree.kill();
    if !collected.over.is_set() {
        // Read what is left in the pipes, for a little while.
        let drain_until = Instant::now() + OUTPUT_DRAIN;
        for r in &readers.0 {
            r.join_deadline(drain_until);
        }
    }
    drop(readers);
    let truncated = collected.over.is_set();
    // The helper is gone, so this ends at once: the status, or end-of-file.
    status.join(OUTPUT_DRAIN);
    status.kill();
    let status = status.into_result().ok().and_then(|r| r.ok()).flatten();
    let (exit_code, signal) = match status {
        Some(st) if libc::WIFEXITED(st) => (Some(libc::WEXITSTATUS(st)), None),
        Some(st) if libc::WIFSIGNALED(st) => (None, Some(libc::WTERMSIG(st))),
        _ => (None, None),
    };
    let (stdout, stderr) = collected.take();
    Ok(Output {
        stdout,
        stderr,
        exit_code,
        signal,
        truncated,
        timed_out,
    })
}

/// What came out of the command's two pipes, under one cap.
#[derive(Debug)]
struct Collected {
    bufs: Mutex<(Vec<u8>, Vec<u8>)>,
    cap: usize,
    /// Set when the output went past the cap.
    over: Event,
}

impl Collected {
    fn new(cap: usize) -> Self {
        Collected {
            bufs: Mutex::new((Vec::new(), Vec::new())),
            cap,
            over: Event::new(),
        }
    }

    /// Keeps what fits of `data` from stdout (`true`) or stderr; past the cap, sets `over`
    /// and returns false.
    fn add(&self, stdout: bool, data: &[u8]) -> bool {
        let mut b = self.bufs.lock().unwrap_or_else(|e| e.into_inner());
        let room = self.cap - (b.0.len() + b.1.len()).min(self.cap);
        let keep = data.len().min(room);
        let dst = if stdout { &mut b.0 } else { &mut b.1 };
        dst.extend_from_slice(&data[..keep]);
        if data.len() > room {
            self.over.set();
            return false;
        }
        true
    }

    fn take(&self) -> (Vec<u8>, Vec<u8>) {
        let mut b = self.bufs.lock().unwrap_or_else(|e| e.into_inner());
        (std::mem::take(&mut b.0), std::mem::take(&mut b.1))
    }
}

/// A greenlet reading `pipe` into `into` (stdout if `stdout`) until end-of-file, an error,
/// or the cap.
fn read_into(
    mut pipe: impl Read + Send + 'static,
    into: &Arc<Collected>,
    stdout: bool,
) -> Greenlet<()> {
    let into = into.clone();
    mayfly::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    if !into.add(stdout, &buf[..n]) {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    })
}

/// The pipe readers of one command; dropping them kills those still reading (something that
/// escaped the tree holds the pipe open).
struct Readers(Vec<Greenlet<()>>);

impl Drop for Readers {
    fn drop(&mut self) {
        for r in &self.0 {
            r.kill_nowait();
        }
    }
}
