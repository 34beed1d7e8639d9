//! [`Command`]: `std::process::Command`'s builder, whose [`spawn`](Command::spawn) returns a
//! [`Child`] with coroutine pipes and a non-blocking exit wait, and whose
//! [`output`](Command::output) and [`status`](Command::status) park only the greenlet.

use std::ffi::OsStr;
use std::io;
use std::path::Path;
use std::process::{ExitStatus, Output, Stdio};

use super::child::Child;

/// A process to start: [`std::process::Command`]'s builder (program, arguments, environment,
/// working directory, stdio), started with [`spawn`](Command::spawn) into a [`Child`] whose
/// pipes and exit park the greenlet instead of the worker (gevent's `subprocess.Popen`).
///
/// Stdio defaults are std's: [`spawn`](Command::spawn) inherits all three;
/// [`output`](Command::output) pipes stdout and stderr and gives stdin `/dev/null` (for the
/// streams not set explicitly).
///
/// ```
/// use mayfly::subprocess::{Command, Stdio};
/// let out = mayfly::run(|| {
///     Command::new("sh")
///         .args(["-c", "echo \"$GREETING from $(pwd)\""])
///         .env("GREETING", "hello")
///         .current_dir("/")
///         .stdin(Stdio::null())
///         .output()
/// })
/// .unwrap();
/// assert!(out.status.success());
/// assert_eq!(out.stdout, b"hello from /\n");
/// ```
///
/// For what std's builder has and this one does not name (`pre_exec`, `process_group`,
/// `uid`, `arg0`: the `std::os::unix::process::CommandExt` methods), use
/// [`std_mut`](Command::std_mut).
#[derive(Debug)]
pub struct Command {
    inner: std::process::Command,
    stdin_set: bool,
    stdout_set: bool,
    stderr_set: bool,
    kill_on_drop: bool,
}

impl Command {
    /// A command running `program` (looked up in `PATH` when it has no `/`), with no
    /// arguments, the parent's environment and working directory.
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        Command {
            inner: std::process::Command::new(program),
            stdin_set: false,
            stdout_set: false,
            stderr_set: false,
            kill_on_drop: false,
        }
    }

    /// Adds one argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Self {
        self.inner.arg(arg);
        self
    }

    /// Adds several arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.inner.args(args);
        self
    }

    /// Sets one environment variable of the child.
    pub fn env(&mut self, key: impl AsRef<OsStr>, val: impl AsRef<OsStr>) -> &mut Self {
        self.inner.env(key, val);
        self
    }

    /// Sets several environment variables of the child.
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.inner.envs(vars);
        self
    }

    /// Removes one environment variable from the child's environment.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Self {
        self.inner.env_remove(key);
        self
    }

    /// Starts the child with an empty environment (plus what [`env`](Command::env) adds).
    pub fn env_clear(&mut self) -> &mut Self {
        self.inner.env_clear();
        self
    }

    /// The child's working directory (gevent's `cwd=`).
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Self {
        self.inner.current_dir(dir);
        self
    }

    /// The child's stdin: [`Stdio::piped()`] (then [`Child::stdin`] is a coroutine stream),
    /// [`Stdio::null()`], [`Stdio::inherit()`], or a file.
    pub fn stdin(&mut self, cfg: impl Into<Stdio>) -> &mut Self {
        self.inner.stdin(cfg);
        self.stdin_set = true;
        self
    }

    /// The child's stdout (see [`stdin`](Command::stdin)).
    pub fn stdout(&mut self, cfg: impl Into<Stdio>) -> &mut Self {
        self.inner.stdout(cfg);
        self.stdout_set = true;
        self
    }

    /// The child's stderr (see [`stdin`](Command::stdin)).
    pub fn stderr(&mut self, cfg: impl Into<Stdio>) -> &mut Self {
        self.inner.stderr(cfg);
        self.stderr_set = true;
        self
    }

    /// SIGKILLs the child when its [`Child`] is dropped before the child was seen to exit
    /// (off by default, as in std: a dropped `Child` runs on, and is reaped when it exits).
    /// With it, a greenlet killed or timed out while it waits takes its child with it.
    pub fn kill_on_drop(&mut self, kill: bool) -> &mut Self {
        self.kill_on_drop = kill;
        self
    }

    /// The std builder inside, for `std::os::unix::process::CommandExt` (`pre_exec`,
    /// `process_group`, `uid`, …) and anything else std offers. Stdio set here is used as
    /// set; pipes set here are coroutine pipes in the [`Child`] all the same.
    pub fn std_mut(&mut self) -> &mut std::process::Command {
        &mut self.inner
    }

    /// Starts the child.
    ///
    /// The fork and exec happen on the calling thread (std's `spawn`: it returns once the
    /// child has exec'd or failed to), a short pause of the worker; everything after —
    /// pipes, the exit — parks only the greenlet.
    ///
    /// ```
    /// use mayfly::subprocess::Command;
    /// mayfly::run(|| {
    ///     let mut child = Command::new("true").spawn().unwrap();
    ///     assert!(child.wait().unwrap().success());
    ///     let err = Command::new("this_name_must_not_exist").spawn().unwrap_err();
    ///     assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    /// });
    /// ```
    ///
    /// # Errors
    /// The program cannot be found or executed, a pipe or the fork fails, or the exit cannot
    /// be watched (`pidfd_open` needs Linux 5.3; the child is then killed and reaped).
    pub fn spawn(&mut self) -> io::Result<Child> {
        let std_child = self.inner.spawn()?;
        Child::from_std(std_child, self.kill_on_drop)
    }

    /// Runs the child to its end and collects its output (std's `output`, gevent's
    /// `communicate()` after `Popen(..., stdout=PIPE, stderr=PIPE)`): stdout and stderr are
    /// piped and stdin is `/dev/null` unless set otherwise; both outputs are read at once,
    /// so a child that fills one pipe while the other is read does not deadlock.
    ///
    /// # Errors
    /// As [`spawn`](Command::spawn), or reading the pipes fails.
    pub fn output(&mut self) -> io::Result<Output> {
        self.default_stdio(Stdio::piped);
        self.spawn()?.communicate(None)
    }

    /// Runs the child to its end (std's `status`, Python's `subprocess.call`): stdio
    /// inherited unless set otherwise.
    ///
    /// # Errors
    /// As [`spawn`](Command::spawn).
    pub fn status(&mut self) -> io::Result<ExitStatus> {
        self.spawn()?.wait()
    }

    /// Gives the streams not set explicitly `output`'s defaults: stdin `/dev/null`, stdout and
    /// stderr `out()`.
    pub(crate) fn default_stdio(&mut self, out: fn() -> Stdio) {
        if !self.stdin_set {
            self.stdin(Stdio::null());
        }
        if !self.stdout_set {
            self.stdout(out());
        }
        if !self.stderr_set {
            self.stderr(out());
        }
    }

    /// The stdout default of `check_output`: piped unless set; stdin `/dev/null` unless set.
    pub(crate) fn default_stdout_piped(&mut self) {
        if !self.stdin_set {
            self.stdin(Stdio::null());
        }
        if !self.stdout_set {
            self.stdout(Stdio::piped());
        }
    }
}
