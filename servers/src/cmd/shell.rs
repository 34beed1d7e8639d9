//! Running one shell command with a time limit and an output cap, on the calling OS thread
//! (the server calls it through the thread pool, never on the worker).

use std::io::{self, Read};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a command produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// stdout and stderr in the order they arrived, at most the cap.
    pub data: Vec<u8>,
    /// The exit code; `None` if it was killed by a signal (our timeout or cap included).
    pub exit_code: Option<i32>,
    /// It printed more than the cap and was killed.
    pub truncated: bool,
    /// It ran past the time limit and was killed.
    pub timed_out: bool,
}

/// Runs `command` with `/bin/sh -c` in its own process group, stdin closed. The whole group
/// is killed when it runs past `timeout` or prints more than `max_output` bytes, and when
/// the shell exits (so nothing it started in the background outlives it).
///
/// ```
/// use std::time::Duration;
/// let out = mayfly_servers::cmd::shell::run("echo hi; echo err >&2", Duration::from_secs(5), 1024).unwrap();
/// assert_eq!(out.exit_code, Some(0));
/// assert_eq!(out.data.len(), 7);
/// ```
pub fn run(command: &str, timeout: Duration, max_output: usize) -> io::Result<Output> {
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()?;
    let pgid = child.id() as i32;
    let kill_group = || {
        // SAFETY: kill(2) with a negative pid signals the process group we created; it has
        // no memory-safety preconditions.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
    };
    let shared = Arc::new(Mutex::new((Vec::new(), false)));
    let readers: Vec<_> = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|mut pipe| {
        let shared = shared.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 16 * 1024];
            loop {
                let n = match pipe.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                let mut g = shared.lock().unwrap();
                let room = max_output - g.0.len().min(max_output);
                g.0.extend_from_slice(&buf[..n.min(room)]);
                if n > room {
                    g.1 = true;
                    return;
                }
            }
        })
    })
    .collect();
    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break st;
        }
        if shared.lock().unwrap().1 {
            kill_group();
        } else if Instant::now() >= deadline {
            timed_out = true;
            kill_group();
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    kill_group();
    for r in readers {
        let _ = r.join();
    }
    let (data, truncated) = std::mem::take(&mut *shared.lock().unwrap());
    Ok(Output {
        data,
        exit_code: status.code(),
        truncated,
        timed_out,
    })
}
