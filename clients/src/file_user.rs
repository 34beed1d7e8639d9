//! The client side of the file server's user layer (`mayfly serve file --users`,
//! `mayfly_proto::file_users`): the login, and the directory commands of a session. Every
//! other request goes through [`FileClient`] as it is.
//!
//! ```no_run
//! use mayfly_clients::file::FileClient;
//! use mayfly_clients::file_user;
//! let mut c = FileClient::connect("127.0.0.1:9000").unwrap();
//! let me = file_user::login(&mut c, "alice", b"the secret from adduser").unwrap();
//! file_user::mkdir(&mut c, "docs").unwrap();
//! assert_eq!(file_user::cd(&mut c, "docs").unwrap(), "/docs");
//! println!("{} of {} bytes used", me.used, me.quota);
//! ```

use std::io::{Read, Write};

use mayfly_proto::cmd::{self as cmd_proto, auth};
use mayfly_proto::file_users as proto;
use mayfly_proto::reply::Refusal;

use crate::file::{FileClient, FileError};

/// The most bytes of a `dirs` reply read.
pub const MAX_DIRS_REPLY: u64 = 1 << 20;

/// What the server says after a login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedIn {
    /// The user.
    pub user: String,
    /// Bytes the home may hold.
    pub quota: u64,
    /// Bytes it holds.
    pub used: u64,
}

fn no_challenge() -> FileError {
    FileError::Refused(Refusal::new(
        "bad_reply",
        "the server sent no login challenge: is it started with --users?",
    ))
}

/// Answers the server's challenge as `user` with `secret`.
///
/// # Errors
/// The server sent no challenge (an anonymous server), refused the login (`auth`), or the
/// connection broke.
pub fn login<S: Read + Write>(
    c: &mut FileClient<S>,
    user: &str,
    secret: &[u8],
) -> Result<LoggedIn, FileError> {
    let (h, _) = c.read_frame_header()?;
    if h.get(mayfly_proto::reply::STATUS).is_some() {
        if let Some(refusal) = Refusal::from_reply(&h) {
            return Err(refusal.into());
        }
    }
    let challenge = h
        .opt_str(cmd_proto::CHALLENGE)?
        .and_then(mayfly_proto::unhex)
        .ok_or_else(no_challenge)?;
    let answer = auth::answer(secret, &challenge);
    let (h, _) = c.request(&proto::login_request(user, &answer))?;
    Ok(LoggedIn {
        user: h.opt_str(proto::USER)?.unwrap_or(user).to_owned(),
        quota: h.opt_u64(proto::QUOTA)?.unwrap_or(0),
        used: h.opt_u64(proto::USED)?.unwrap_or(0),
    })
}

fn path_of<S: Read + Write>(
    c: &mut FileClient<S>,
    h: &mayfly_proto::frame::Header,
) -> Result<String, FileError> {
    let (reply, _) = c.request(h)?;
    Ok(reply.opt_str(proto::PATH)?.unwrap_or("/").to_owned())
}

/// The current directory (`/` is the home).
///
/// # Errors
/// A refusal or a broken connection.
pub fn pwd<S: Read + Write>(c: &mut FileClient<S>) -> Result<String, FileError> {
    path_of(c, &proto::plain_request(proto::PWD))
}

/// Changes the current directory; returns the new one.
///
/// # Errors
/// A refusal (`bad_name` for a path above the home or not a plain name, `not_found`,
/// `forbidden` for a symlink) or a broken connection.
pub fn cd<S: Read + Write>(c: &mut FileClient<S>, path: &str) -> Result<String, FileError> {
    path_of(c, &proto::cd_request(path))
}

/// Makes a directory; returns its path.
///
/// # Errors
/// As [`cd`].
pub fn mkdir<S: Read + Write>(c: &mut FileClient<S>, path: &str) -> Result<String, FileError> {
    path_of(c, &proto::mkdir_request(path))
}

/// The current directory's subdirectories.
///
/// # Errors
/// A refusal, a reply over [`MAX_DIRS_REPLY`], or a broken connection.
pub fn dirs<S: Read + Write>(c: &mut FileClient<S>) -> Result<Vec<String>, FileError> {
    let (_, len) = c.request(&proto::plain_request(proto::DIRS))?;
    let body = c.read_body(len, MAX_DIRS_REPLY)?;
    serde_json::from_slice(&body).map_err(FileError::Listing)
}

/// The quota and the bytes used, `(quota, used)`.
///
/// # Errors
/// A refusal or a broken connection.
pub fn quota<S: Read + Write>(c: &mut FileClient<S>) -> Result<(u64, u64), FileError> {
    let (h, _) = c.request(&proto::plain_request(proto::QUOTA_CMD))?;
    Ok((
        h.opt_u64(proto::QUOTA)?.unwrap_or(0),
        h.opt_u64(proto::USED)?.unwrap_or(0),
    ))
}

/// Refuses, before a byte is sent, an upload of `bytes` that the user's quota cannot hold
/// now (the server checks again, and refuses what another upload took meanwhile).
///
/// # Errors
/// A `disk_full` refusal saying how much room is left; the errors of [`quota`].
pub fn check_room<S: Read + Write>(c: &mut FileClient<S>, bytes: u64) -> Result<(), FileError> {
    let (quota, used) = quota(c)?;
    let free = quota.saturating_sub(used);
    if bytes > free {
        return Err(Refusal::new(
            mayfly_proto::reply::code::DISK_FULL,
            format!("quota exceeded: {bytes} bytes do not fit in the {free} left of {quota}"),
        )
        .into());
    }
    Ok(())
}
