//! The FTP homework's interactive client, `mayfly file shell`: the course's `>>: put a.txt`
//! prompt, one command a line, over one connection. This module parses a line
//! ([`parse`]) and runs it ([`Shell::run`]); the binary reads the lines (with line editing
//! on a terminal) and prints what comes back.
//!
//! | command | does |
//! |---|---|
//! | `put PATH` | uploads the local file under its file name (resumable; a cut-off upload of it is continued), sha256 checked |
//! | `get NAME` | downloads into `NAME` here, through `NAME.part` (continued if there), sha256 checked |
//! | `ls` | the current directory: subdirectories (with `/`), then files with their sizes |
//! | `cd PATH`, `mkdir PATH`, `pwd` | directories inside the home (a server with `--users`) |
//! | `help`, `quit` (`exit`) | |
//!
//! ```
//! use mayfly_clients::file_shell::{parse, Command};
//! assert_eq!(parse("put a.txt").unwrap(), Command::Put("a.txt".into()));
//! assert_eq!(parse("  cd  docs/2024 ").unwrap(), Command::Cd("docs/2024".into()));
//! assert_eq!(parse("").unwrap(), Command::Nothing);
//! assert!(parse("rm -rf /").is_err());
//! ```

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::file::{self, FileClient, FileError, GetOptions, PutOptions};
use crate::file_user;

/// The prompt, the course's.
pub const PROMPT: &str = ">>: ";

/// What `help` prints.
pub const HELP: &str = "\
commands:
  put PATH     upload a local file (resumable; sha256 checked)
  get NAME     download NAME into the current local directory (resumable; sha256 checked)
  ls           subdirectories and files of the current directory
  cd PATH      change directory (inside your home; `..` goes up)
  mkdir PATH   make a directory
  pwd          the current directory
  help         this text
  quit         leave (also `exit`, or end of input)";

/// One line of the shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `put PATH`.
    Put(PathBuf),
    /// `get NAME`.
    Get(String),
    /// `ls`.
    Ls,
    /// `cd PATH`.
    Cd(String),
    /// `mkdir PATH`.
    Mkdir(String),
    /// `pwd`.
    Pwd,
    /// `help`.
    Help,
    /// `quit`, `exit`.
    Quit,
    /// An empty line.
    Nothing,
}

/// A line that is not a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0} (type help)")]
pub struct BadLine(pub String);

/// Parses one line: a command word and at most one argument (the rest of the line, so a
/// name may hold spaces).
///
/// # Errors
/// [`BadLine`]: an unknown command, a missing or an unexpected argument.
pub fn parse(line: &str) -> Result<Command, BadLine> {
    let line = line.trim();
    let (word, arg) = match line.split_once(char::is_whitespace) {
        Some((w, a)) => (w, a.trim()),
        None => (line, ""),
    };
    let need = |what: &str| {
        if arg.is_empty() {
            Err(BadLine(format!("{word} needs {what}")))
        } else {
            Ok(arg.to_owned())
        }
    };
    let none = |cmd: Command| {
        if arg.is_empty() {
            Ok(cmd)
        } else {
            Err(BadLine(format!("{word} takes no argument")))
        }
    };
    match word {
        "" => Ok(Command::Nothing),
        "put" => need("a local file").map(|p| Command::Put(PathBuf::from(p))),
        "get" => need("a file name").map(Command::Get),
        "cd" => need("a directory").map(Command::Cd),
        "mkdir" => need("a directory").map(Command::Mkdir),
        "ls" | "dir" => none(Command::Ls),
        "pwd" => none(Command::Pwd),
        "help" | "?" => none(Command::Help),
        "quit" | "exit" => none(Command::Quit),
        other => Err(BadLine(format!("unknown command {other:?}"))),
    }
}

/// A shell session: one connection, logged in or anonymous.
#[derive(Debug)]
pub struct Shell<S: Read + Write> {
    client: FileClient<S>,
    user: bool,
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    /// The line is not a command.
    #[error(transparent)]
    Line(#[from] BadLine),
    /// The server or a local file said no, or the connection broke.
    #[error(transparent)]
    File(#[from] FileError),
    /// A command of a server with `--users` on an anonymous one.
    #[error("{0} needs a server started with --users (and --user here)")]
    NeedsUsers(&'static str),
    /// A local file name cannot name the upload, or the download's name no local file.
    #[error("{0}")]
    Name(String),
}

impl ShellError {
    /// The connection is gone: the shell cannot go on.
    pub fn is_fatal(&self) -> bool {
        // The server wants a login this shell did not give: it answers nothing else.
        if let ShellError::File(FileError::Refused(r)) = self {
            return r.code == mayfly_proto::reply::code::AUTH;
        }
        matches!(
            self,
            ShellError::File(
                FileError::SendRequest(_)
                    | FileError::ReadReply(_)
                    | FileError::NoReply
                    | FileError::Frame(_)
                    | FileError::Io(_)
            )
        )
    }
}

impl<S: Read + Write> Shell<S> {
    /// A shell on `client`; `user`: it logged in (the directory commands work).
    pub fn new(client: FileClient<S>, user: bool) -> Self {
        Shell { client, user }
    }

    /// Runs `cmd`; what to print (possibly nothing). `progress(done, total)` follows a
    /// transfer.
    ///
    /// # Errors
    /// [`ShellError`]; [`ShellError::is_fatal`] says whether the connection is gone.
    pub fn run(
        &mut self,
        cmd: &Command,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<String, ShellError> {
        let c = &mut self.client;
        Ok(match cmd {
            Command::Nothing | Command::Quit => String::new(),
            Command::Help => HELP.to_owned(),
            Command::Pwd => file_user::pwd(c.need(self.user, "pwd")?)?,
            Command::Cd(p) => file_user::cd(c.need(self.user, "cd")?, p)?,
            Command::Mkdir(p) => {
                format!("made {}", file_user::mkdir(c.need(self.user, "mkdir")?, p)?)
            }
            Command::Ls => {
                let mut out = String::new();
                if self.user {
                    for d in file_user::dirs(c)? {
                        let _ = writeln!(out, "{:>12}  {d}/", "");
                    }
                }
                for e in c.list()? {
                    let _ = writeln!(out, "{:>12}  {}", e.filesize, e.filename);
                }
                out.trim_end().to_owned()
            }
            Command::Put(path) => {
                let name = file::remote_name(path).map_err(|e| ShellError::Name(e.to_string()))?;
                let size = std::fs::metadata(path)
                    .map_err(|source| FileError::Open {
                        path: path.display().to_string(),
                        source,
                    })?
                    .len();
                let partial = c.stat(&name)?.partial_size;
                if self.user && partial.is_none() {
                    file_user::check_room(c, size)?;
                }
                let opts = PutOptions {
                    resumable: true,
                    resume: partial.is_some(),
                    ..PutOptions::default()
                };
                let t = c.put_file(path, &name, &opts, progress)?;
                format!(
                    "sent {} ({} bytes, {} this time), sha256 {} verified",
                    t.filename, t.filesize, t.transferred, t.sha256
                )
            }
            Command::Get(name) => {
                let dest = file::local_name(name).map_err(|e| ShellError::Name(e.to_string()))?;
                let opts = GetOptions {
                    resume: file::part_path(&dest).exists(),
                    overwrite: false,
                };
                let t = c.get_file(name, Path::new(&dest), &opts, progress)?;
                if t.up_to_date {
                    format!("{} is up to date", t.filename)
                } else {
                    format!(
                        "received {} ({} bytes, {} this time), sha256 {} verified",
                        t.filename, t.filesize, t.transferred, t.sha256
                    )
                }
            }
        })
    }
}

trait NeedUsers {
    fn need(&mut self, user: bool, what: &'static str) -> Result<&mut Self, ShellError>;
}

impl<S: Read + Write> NeedUsers for FileClient<S> {
    fn need(&mut self, user: bool, what: &'static str) -> Result<&mut Self, ShellError> {
        if user {
            Ok(self)
        } else {
            Err(ShellError::NeedsUsers(what))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_parses_and_bad_lines_say_why() {
        assert_eq!(
            parse("get my file.txt").unwrap(),
            Command::Get("my file.txt".into())
        );
        assert_eq!(parse("ls").unwrap(), Command::Ls);
        assert_eq!(parse("mkdir a/b").unwrap(), Command::Mkdir("a/b".into()));
        assert_eq!(parse("pwd").unwrap(), Command::Pwd);
        assert_eq!(parse("quit").unwrap(), Command::Quit);
        assert_eq!(parse("exit").unwrap(), Command::Quit);
        assert!(parse("put").unwrap_err().0.contains("needs"));
        assert!(parse("pwd now").unwrap_err().0.contains("no argument"));
        assert!(parse("delete x").unwrap_err().0.contains("unknown"));
    }
}
