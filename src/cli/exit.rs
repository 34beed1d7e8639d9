//! Exit codes of `mayfly`: one per kind of failure, named here and nowhere else. `main` maps
//! every error to one with [`of_error`]; the commands return the others (`NO`, the `cmd`
//! codes, `compare`'s stop signals) themselves. [`TABLE`] is the documentation: `mayfly
//! --help` prints it ([`help`]) and README.md carries the same table (a test keeps them
//! equal).

use mayfly_clients::cmd::CmdError;
use mayfly_clients::compare::CompareError;
use mayfly_clients::file::{FileError, NoLocalName, NoRemoteName};
use mayfly_clients::stress::StressOptionsError;
use mayfly_proto::cmd::secret::SecretError;
use mayfly_proto::reply::code;

/// Flags that parse but cannot go together or cannot run: a usage error (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Usage(pub String);

/// Success.
pub const SUCCESS: u8 = 0;
/// The answer is "no": `stress` saw a connection fail, break, go unanswered or get a wrong
/// reply; `compare` saw a wrong reply or a run it could not measure; `file stat`: no such file.
pub const NO: u8 = 1;
/// Bad flags or arguments, or a setup refused at start (clap uses 2 for bad flags too).
pub const USAGE: u8 = 2;
/// Any other error (bind failures, say).
pub const ERROR: u8 = 3;
/// The server could not be reached.
pub const UNREACHABLE: u8 = 4;
/// The connection broke or timed out, or the server's reply made no sense.
pub const CONNECTION: u8 = 5;
/// The server refused the request (its code is printed: `bad_name`, `too_large`, `busy`, …).
pub const REFUSED: u8 = 6;
/// No such file on the server (`file get`).
pub const NOT_FOUND: u8 = 7;
/// Authentication failed: wrong secret, or too many failed logins (`cmd`).
pub const AUTH: u8 = 8;
/// A local file could not be read or written.
pub const LOCAL_IO: u8 = 9;
/// The local destination exists (`file get`: pass `--force`, or `--resume` for a `.part`).
pub const EXISTS: u8 = 10;
/// The sha256 on the two ends differs (nothing is renamed into place).
pub const INTEGRITY: u8 = 11;
/// `cmd`: the server cut the output at its cap and killed the command.
pub const CMD_TRUNCATED: u8 = 123;
/// `cmd`: the server killed the command at its time limit (as `timeout(1)`).
pub const CMD_TIMED_OUT: u8 = 124;
/// `cmd`: the command was killed by signal N: 128 + N (as a shell reports it).
pub const CMD_SIGNALLED: u8 = 128;
/// `compare` stopped by SIGINT (128 + 2, as a shell reports Ctrl-C): its children stopped,
/// the runs measured so far written as a partial report.
pub const INTERRUPTED: u8 = 130;
/// `compare` stopped by SIGTERM (128 + 15): as [`INTERRUPTED`].
pub const TERMINATED: u8 = 143;

/// Every code with its name and meaning, in order.
pub const TABLE: &[(u8, &str)] = &[
    (SUCCESS, "success"),
    (
        NO,
        "the answer is no: stress saw a failed, broken, unanswered or wrong connection; compare a wrong reply or an unmeasured run; file stat no such file",
    ),
    (
        USAGE,
        "bad flags or arguments, or an unsafe setup refused at start",
    ),
    (ERROR, "any other error"),
    (UNREACHABLE, "the server could not be reached"),
    (
        CONNECTION,
        "the connection broke or timed out, or the reply made no sense",
    ),
    (
        REFUSED,
        "the server refused the request (its code is printed)",
    ),
    (NOT_FOUND, "no such file on the server (file get)"),
    (
        AUTH,
        "authentication failed: wrong secret, too many failed logins (cmd); a TLS handshake failed (a certificate refused on either side, no TLS on the server; file, cmd)",
    ),
    (LOCAL_IO, "a local file could not be read or written"),
    (
        EXISTS,
        "file get: the destination or its .part exists (--force, --resume); cert: a file exists (--force)",
    ),
    (INTEGRITY, "sha256 mismatch between the two ends"),
    (
        CMD_TRUNCATED,
        "cmd: output cut at the server's cap, command killed",
    ),
    (CMD_TIMED_OUT, "cmd: killed at the server's time limit"),
    (
        CMD_SIGNALLED,
        "cmd: 128+N, killed by signal N; otherwise the command's own code",
    ),
    (
        INTERRUPTED,
        "compare: SIGINT; children stopped, a partial report written",
    ),
    (
        TERMINATED,
        "compare: SIGTERM; children stopped, a partial report written",
    ),
];

/// What `--help` and README.md say after the table.
const NOTE: &str =
    "`mayfly cmd` passes the remote command's code through, so codes 1-11 may also be
the command's own: a failure of mayfly itself prints `mayfly: ...` on stderr.";

/// [`TABLE`] as `--help` shows it (and README.md, inside a code block).
pub fn help() -> String {
    let mut s = String::from("Exit codes:\n");
    for (code, meaning) in TABLE {
        s += &format!("{code:>5}  {meaning}\n");
    }
    s + NOTE
}

/// The exit code for an error that reached `main`: the first cause in its chain that names
/// a kind of failure, else [`ERROR`].
pub fn of_error(e: &anyhow::Error) -> u8 {
    for cause in e.chain() {
        if let Some(f) = cause.downcast_ref::<FileError>() {
            return of_file_error(f);
        }
        if let Some(c) = cause.downcast_ref::<CmdError>() {
            return of_cmd_error(c);
        }
        if cause.is::<super::reach::Unreachable>() {
            return UNREACHABLE;
        }
        if cause.is::<SecretError>()
            || cause.is::<NoRemoteName>()
            || cause.is::<NoLocalName>()
            || cause.is::<Usage>()
            || cause.is::<StressOptionsError>()
            || cause.is::<mayfly_servers::file::users::UsersError>()
        {
            return USAGE;
        }
        if let Some(c) = cause.downcast_ref::<CompareError>() {
            if matches!(
                c,
                CompareError::Invalid(_) | CompareError::PinNeedsTwoCpus { .. }
            ) {
                return USAGE;
            }
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            // What a server's start refuses: a short secret, a non-loopback address.
            if matches!(
                io.kind(),
                std::io::ErrorKind::InvalidInput | std::io::ErrorKind::PermissionDenied
            ) {
                return USAGE;
            }
        }
    }
    ERROR
}

fn of_file_error(e: &FileError) -> u8 {
    match e {
        FileError::NoAddress | FileError::Connect { .. } => UNREACHABLE,
        FileError::Tls { .. } => AUTH,
        FileError::Refused(r) if r.code == code::NOT_FOUND => NOT_FOUND,
        FileError::Refused(r) if r.code == code::AUTH => AUTH,
        FileError::Refused(_) => REFUSED,
        FileError::Open { .. } | FileError::WriteLocal(_) | FileError::Rename { .. } => LOCAL_IO,
        FileError::Exists { .. } | FileError::PartExists { .. } => EXISTS,
        FileError::HashMismatch(_) | FileError::PartialTooLong { .. } => INTEGRITY,
        FileError::SendRequest(_)
        | FileError::ReadReply(_)
        | FileError::NoReply
        | FileError::Frame(_)
        | FileError::ListingTooLong { .. }
        | FileError::Listing(_)
        | FileError::SendFile(_)
        | FileError::Receive(_)
        | FileError::WrongLength { .. }
        | FileError::Io(_) => CONNECTION,
    }
}

fn of_cmd_error(e: &CmdError) -> u8 {
    match e {
        CmdError::Connect { .. } => UNREACHABLE,
        CmdError::Tls { .. } => AUTH,
        CmdError::Refused(r) if r.code == code::AUTH || r.code == code::RATE_LIMITED => AUTH,
        CmdError::Refused(_) => REFUSED,
        CmdError::EmptyCommand => USAGE,
        CmdError::Io(_)
        | CmdError::Frame(_)
        | CmdError::NoChallenge
        | CmdError::ChallengeNotHex
        | CmdError::Closed => CONNECTION,
    }
}

/// The exit code of a command stopped by `signal` ([`INTERRUPTED`] for SIGINT,
/// [`TERMINATED`] for SIGTERM; 128 + N for another).
pub fn of_stop_signal(signal: i32) -> u8 {
    match signal {
        libc::SIGINT => INTERRUPTED,
        libc::SIGTERM => TERMINATED,
        n => CMD_SIGNALLED.saturating_add(n.clamp(0, 127) as u8),
    }
}

/// The exit code of `mayfly cmd` for how the remote command ended.
pub fn of_command(out: &mayfly_clients::cmd::CmdOutput) -> u8 {
    if out.timed_out {
        CMD_TIMED_OUT
    } else if out.truncated {
        CMD_TRUNCATED
    } else if let Some(sig) = out.signal {
        CMD_SIGNALLED.saturating_add(sig.clamp(0, 127) as u8)
    } else {
        out.exit_code.map_or(ERROR, |c| c.clamp(0, 255) as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_and_readme_show_the_table() {
        let readme = include_str!("../../README.md");
        assert!(
            readme.contains(&help()),
            "README.md lacks the exit-code table of --help:\n{}",
            help()
        );
    }

    #[test]
    fn stop_signals_exit_as_a_shell_reports_them() {
        assert_eq!(of_stop_signal(libc::SIGINT), 130);
        assert_eq!(of_stop_signal(libc::SIGTERM), 143);
    }

    #[test]
    fn codes_are_distinct() {
        let mut codes: Vec<u8> = TABLE.iter().map(|(c, _)| *c).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), TABLE.len());
    }
}
