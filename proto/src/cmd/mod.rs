//! The remote-command protocol (`mayfly serve cmd`, `mayfly cmd`): an HMAC challenge, then
//! `run` requests, over frames.
//!
//! | step | from | header | body |
//! |---|---|---|---|
//! | 1 | server | `{"challenge": hex(32 random bytes), "algorithm": "hmac-sha256"}` ([`challenge_header`]) | — |
//! | 2 | client | `{"hmac": hex(HMAC-SHA256(secret, challenge bytes))}` ([`answer_header`]) | — |
//! | 3 | server | `{"status": "ok"}`, or a refusal with `code: "auth"` and the connection closes | — |
//! | 4… | client | `{"cmd": "run", "command": "ls -l"}` ([`run_request`]) | — |
//! | | server | `{"status": "ok", "total_size": N, "stdout_size": M, "exit_code", "signal", "timed_out", "truncated"}` ([`RunReply`]) | N bytes: M of stdout, then N − M of stderr |
//!
//! ```
//! use mayfly_proto::cmd::{self, auth, RunReply};
//! let challenge = [7u8; auth::CHALLENGE_LEN];
//! let h = cmd::challenge_header(&challenge);
//! let back = mayfly_proto::unhex(h.str(cmd::CHALLENGE).unwrap()).unwrap();
//! let answer = cmd::answer_header(&auth::answer(b"0123456789abcdef", &back));
//! assert!(auth::verify(b"0123456789abcdef", &challenge, answer.str(cmd::HMAC).unwrap()));
//!
//! let reply = RunReply { exit_code: None, signal: Some(9), timed_out: true, truncated: false, stdout_size: Some(3) };
//! assert_eq!(RunReply::from_header(&reply.header(5)).unwrap(), reply);
//! ```

pub mod auth;
pub mod course;
pub mod secret;

use crate::frame::{FrameError, Header};
use crate::reply;

/// Header field of step 1: the challenge in hex.
pub const CHALLENGE: &str = "challenge";
/// Header field of step 1: the MAC the answer must use.
pub const ALGORITHM: &str = "algorithm";
/// Header field of step 2: the answer in hex.
pub const HMAC: &str = "hmac";
/// Header field of a request: the command (only [`RUN`] exists).
pub const CMD: &str = "cmd";
/// The one command.
pub const RUN: &str = "run";
/// Header field of `run`: the shell command line.
pub const COMMAND: &str = "command";
/// Reply field: the body's length (the output).
pub const TOTAL_SIZE: &str = "total_size";
/// Reply field: the exit code, `null` if the command was killed.
pub const EXIT_CODE: &str = "exit_code";
/// Reply field: the signal that killed the command, `null` if it exited.
pub const SIGNAL: &str = "signal";
/// Reply field: how many bytes of the body are stdout (the rest is stderr).
pub const STDOUT_SIZE: &str = "stdout_size";
/// Reply field: killed at the server's time limit.
pub const TIMED_OUT: &str = "timed_out";
/// Reply field: output cut at the server's cap.
pub const TRUNCATED: &str = "truncated";

/// Step 1: the server's challenge.
pub fn challenge_header(challenge: &[u8]) -> Header {
    Header::new()
        .with(CHALLENGE, crate::hex(challenge))
        .with(ALGORITHM, auth::ALGORITHM)
}

/// Step 2: the client's answer ([`auth::answer`]).
pub fn answer_header(hmac_hex: &str) -> Header {
    Header::new().with(HMAC, hmac_hex)
}

/// Step 4: run `command`.
pub fn run_request(command: &str) -> Header {
    Header::new().with(CMD, RUN).with(COMMAND, command)
}

/// What a command produced, as the server ran it and as the client receives it: the one type
/// both ends (and `mayfly cmd --json`) use. On the wire it is a [`RunReply`] header and a
/// body of stdout followed by stderr ([`CommandOutput::to_frame`],
/// [`CommandOutput::from_frame`]).
///
/// ```
/// use mayfly_proto::cmd::CommandOutput;
/// let out = CommandOutput {
///     stdout: b"hi\n".to_vec(),
///     stderr: b"err\n".to_vec(),
///     exit_code: Some(3),
///     ..CommandOutput::default()
/// };
/// let (header, body) = out.to_frame();
/// assert_eq!(body, b"hi\nerr\n");
/// assert_eq!(CommandOutput::from_frame(&header, body).unwrap(), out);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CommandOutput {
    /// What the command wrote to stdout. (From a server that does not tell the two apart:
    /// stdout and stderr mixed, and `stderr` empty.)
    pub stdout: Vec<u8>,
    /// What the command wrote to stderr.
    pub stderr: Vec<u8>,
    /// Exit code; `None` if it was killed (timeout, output cap, signal).
    pub exit_code: Option<i32>,
    /// The signal that killed it, if one did (9 when the server killed it at its time limit
    /// or output cap).
    pub signal: Option<i32>,
    /// The server killed it at its time limit.
    pub timed_out: bool,
    /// The server cut the output at its cap.
    pub truncated: bool,
}

impl CommandOutput {
    /// The `run` reply: its header and its body (stdout, then stderr).
    pub fn to_frame(&self) -> (Header, Vec<u8>) {
        let header = RunReply {
            exit_code: self.exit_code,
            signal: self.signal,
            timed_out: self.timed_out,
            truncated: self.truncated,
            stdout_size: Some(self.stdout.len() as u64),
        }
        .header(self.stdout.len() + self.stderr.len());
        let mut body = Vec::with_capacity(self.stdout.len() + self.stderr.len());
        body.extend_from_slice(&self.stdout);
        body.extend_from_slice(&self.stderr);
        (header, body)
    }

    /// Reads a successful `run` reply (check [`crate::Refusal::from_reply`] first) and its
    /// body.
    ///
    /// # Errors
    ///
    /// As [`RunReply::from_header`].
    pub fn from_frame(header: &Header, body: Vec<u8>) -> Result<CommandOutput, FrameError> {
        let reply = RunReply::from_header(header)?;
        let mut stdout = body;
        let split = reply
            .stdout_size
            .map_or(stdout.len(), |n| (n as usize).min(stdout.len()));
        let stderr = stdout.split_off(split);
        Ok(CommandOutput {
            stdout,
            stderr,
            exit_code: reply.exit_code,
            signal: reply.signal,
            timed_out: reply.timed_out,
            truncated: reply.truncated,
        })
    }
}

/// How a command ended: the reply header of `run` (the output is its body).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunReply {
    /// Exit code; `None` if it was killed (timeout, output cap, signal).
    pub exit_code: Option<i32>,
    /// The signal that killed it (9 when the server killed it at its time limit or cap).
    pub signal: Option<i32>,
    /// The server killed it at its time limit.
    pub timed_out: bool,
    /// The server cut the output at its cap.
    pub truncated: bool,
    /// Bytes of the body that are stdout; the rest is stderr. `None` from a server that
    /// does not send it: the body is stdout and stderr mixed.
    pub stdout_size: Option<u64>,
}

impl RunReply {
    /// The reply header, followed by `total_size` bytes of output.
    pub fn header(&self, total_size: usize) -> Header {
        reply::ok()
            .with(TOTAL_SIZE, total_size)
            .with(STDOUT_SIZE, self.stdout_size)
            .with(EXIT_CODE, self.exit_code)
            .with(SIGNAL, self.signal)
            .with(TIMED_OUT, self.timed_out)
            .with(TRUNCATED, self.truncated)
    }

    /// Reads a successful reply header (check [`crate::Refusal::from_reply`] first).
    ///
    /// # Errors
    ///
    /// [`FrameError`] if `timed_out` or `truncated` is not a boolean, or `stdout_size` not
    /// a size.
    pub fn from_header(h: &Header) -> Result<RunReply, FrameError> {
        Ok(RunReply {
            exit_code: h.get(EXIT_CODE).and_then(|v| v.as_i64()).map(|c| c as i32),
            signal: h.get(SIGNAL).and_then(|v| v.as_i64()).map(|c| c as i32),
            stdout_size: h.opt_u64(STDOUT_SIZE)?,
            timed_out: h.flag(TIMED_OUT)?,
            truncated: h.flag(TRUNCATED)?,
        })
    }
}
