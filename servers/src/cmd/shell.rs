//! Running one shell command with a time limit and an output cap, on the calling OS thread
//! (the server calls it through its own thread pool, never on the worker).
//!
//! The command runs under a subreaper helper ([`super::tree`]), so the time limit, the
//! output cap and the shell's own exit each kill *everything* it started, new sessions
//! (`setsid`) and double forks included. Output is read with `poll` against the deadline:
//! a process holding the pipe open cannot hold the pool thread past the limit, and after the
//! tree is gone output is read for at most [`OUTPUT_DRAIN`] more.

use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::process::{ChildStderr, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use super::tree::Tree;
use mayfly_proto::cmd::secret::SECRET_ENV;

/// How long output is still read once the command's tree has been killed (its pipes should
/// be at end-of-file at once; something that escaped the tree might keep them open).
pub const OUTPUT_DRAIN: Duration = Duration::from_millis(250);

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
    let mut tree = Tree::spawn(cmd)?;
    let mut pipes = Pipes {
        out: tree.child_mut().stdout.take(),
        err: tree.child_mut().stderr.take(),
        stdout: Vec::new(),
        stderr: Vec::new(),
        cap: max_output,
        truncated: false,
    };
    let deadline = mayfly::deadline_after(timeout);
    let mut status: Option<i32> = None;
    let mut status_open = true;
    let mut timed_out = false;
    // Set once the tree is dead: read what is left in the pipes until then.
    let mut drain_until: Option<Instant> = None;
    loop {
        let now = Instant::now();
        if drain_until.is_none() && now >= deadline {
            timed_out = true;
            tree.kill();
            drain_until = Some(now + OUTPUT_DRAIN);
        }
        if pipes.truncated || drain_until.is_some_and(|d| now >= d) {
            break;
        }
        if drain_until.is_some() && pipes.out.is_none() && pipes.err.is_none() {
            break;
        }
        let mut fds = Vec::with_capacity(3);
        let watch_status = status_open && drain_until.is_none();
        if watch_status {
            fds.push(pollfd(tree.status_fd()));
        }
        let out_at = pipes.out.as_ref().map(|p| {
            fds.push(pollfd(p.as_raw_fd()));
            fds.len() - 1
        });
        let err_at = pipes.err.as_ref().map(|p| {
            fds.push(pollfd(p.as_raw_fd()));
            fds.len() - 1
        });
        let until = drain_until.unwrap_or(deadline);
        let wait = until.saturating_duration_since(now);
        let ms = wait.as_millis().clamp(1, i32::MAX as u128) as i32;
        // SAFETY: `fds` is a valid, writable array of `fds.len()` pollfd structs.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        let ready = |i: Option<usize>| i.is_some_and(|i| fds[i].revents != 0);
        if ready(out_at) {
            pipes.read(true);
        }
        if ready(err_at) {
            pipes.read(false);
        }
        if pipes.truncated {
            tree.kill();
        }
        if watch_status && fds[0].revents != 0 {
            match tree.read_status()? {
                Some(st) => status = Some(st),
                None => status_open = false, // the helper died without a word
            }
            // The shell is done: nothing it started outlives it.
            tree.kill();
            drain_until = Some(Instant::now() + OUTPUT_DRAIN);
        }
    }
    tree.kill();
    if status.is_none() && status_open {
        // The helper is gone, so this read does not block: the status, or end-of-file.
        status = tree.read_status().unwrap_or(None);
    }
    let (exit_code, signal) = match status {
        Some(st) if libc::WIFEXITED(st) => (Some(libc::WEXITSTATUS(st)), None),
        Some(st) if libc::WIFSIGNALED(st) => (None, Some(libc::WTERMSIG(st))),
        _ => (None, None),
    };
    Ok(Output {
        stdout: pipes.stdout,
        stderr: pipes.stderr,
        exit_code,
        signal,
        truncated: pipes.truncated,
        timed_out,
    })
}

fn pollfd(fd: i32) -> libc::pollfd {
    libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }
}

/// The command's two output pipes and what came out of them, under one cap.
struct Pipes {
    out: Option<ChildStdout>,
    err: Option<ChildStderr>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    cap: usize,
    truncated: bool,
}

impl Pipes {
    /// One read from stdout (`true`) or stderr after `poll` said it is ready; closes the
    /// pipe at end-of-file or on an error, sets `truncated` past the cap.
    fn read(&mut self, stdout: bool) {
        let mut buf = [0u8; 16 * 1024];
        let got = if stdout {
            self.out.as_mut().map(|p| p.read(&mut buf))
        } else {
            self.err.as_mut().map(|p| p.read(&mut buf))
        };
        let n = match got {
            Some(Ok(n)) if n > 0 => n,
            Some(Err(e)) if e.kind() == io::ErrorKind::Interrupted => return,
            _ => {
                if stdout {
                    self.out = None;
                } else {
                    self.err = None;
                }
                return;
            }
        };
        let room = self.cap - (self.stdout.len() + self.stderr.len()).min(self.cap);
        let keep = n.min(room);
        let dst = if stdout {
            &mut self.stdout
        } else {
            &mut self.stderr
        };
        dst.extend_from_slice(&buf[..keep]);
        if n > room {
            self.truncated = true;
        }
    }
}
