//! The file server's user layer (`mayfly serve file --users FILE`): the login both ends
//! speak, and the directory commands of a logged-in session. Without `--users` none of this
//! is used and the server is the anonymous one of [`file`](crate::file).
//!
//! | step | from | header |
//! |---|---|---|
//! | 1 | server | `{"challenge": hex(32 random bytes), "algorithm": "hmac-sha256"}` (the command server's, [`crate::cmd::challenge_header`]) |
//! | 2 | client | `{"user": NAME, "hmac": hex(HMAC-SHA256(NAME's secret, challenge bytes))}` ([`login_request`]) |
//! | 3 | server | `{"status": "ok", "user", "path": "/", "quota", "used"}`, or a refusal `auth` (after a pause) and the connection closes |
//!
//! Then the file protocol's requests, each inside the session's current directory, and:
//!
//! | request | reply (`status: ok`) |
//! |---|---|
//! | `{"cmd":"pwd"}` | `path` (`/` is the home) |
//! | `{"cmd":"cd","path"}` | `path`: the new current directory |
//! | `{"cmd":"mkdir","path"}` | `path`: the directory made |
//! | `{"cmd":"quota"}` | `quota`, `used` (bytes) |
//! | `{"cmd":"dirs"}` | `count`, `total_size`, `more`; body: a JSON array of the current directory's subdirectory names, in order, at most [`MAX_DIRS`] |
//!
//! (`list` shows files only, as the anonymous server's does.)
//!
//! ```
//! use mayfly_proto::file_users::{self, login_request};
//! let h = login_request("alice", "ab12");
//! assert_eq!(h.str(file_users::USER).unwrap(), "alice");
//! assert_eq!(file_users::cd_request("docs/2024").str(file_users::PATH).unwrap(), "docs/2024");
//! ```

use crate::frame::Header;

/// Header field of the login: the user's name.
pub const USER: &str = "user";
/// Header field: a path inside the home, `/`-separated (`/` alone: the home).
pub const PATH: &str = "path";
/// Header field: the user's quota in bytes.
pub const QUOTA: &str = "quota";
/// Header field: bytes the user's home holds.
pub const USED: &str = "used";
/// Command: the current directory's subdirectories.
pub const DIRS: &str = "dirs";
/// The most subdirectories a `dirs` reply names.
pub const MAX_DIRS: usize = 1000;

/// Command: the current directory.
pub const PWD: &str = "pwd";
/// Command: change the current directory.
pub const CD: &str = "cd";
/// Command: make a directory.
pub const MKDIR: &str = "mkdir";
/// Command: quota and use.
pub const QUOTA_CMD: &str = "quota";

/// Step 2: the user's name and the answer to the challenge.
pub fn login_request(user: &str, hmac_hex: &str) -> Header {
    Header::new()
        .with(USER, user)
        .with(crate::cmd::HMAC, hmac_hex)
}

/// `{"cmd":"cd","path"}`.
pub fn cd_request(path: &str) -> Header {
    Header::new().with(crate::file::CMD, CD).with(PATH, path)
}

/// `{"cmd":"mkdir","path"}`.
pub fn mkdir_request(path: &str) -> Header {
    Header::new().with(crate::file::CMD, MKDIR).with(PATH, path)
}

/// `{"cmd":"pwd"}` or `{"cmd":"quota"}` (`cmd` is [`PWD`] or [`QUOTA_CMD`]).
pub fn plain_request(cmd: &str) -> Header {
    Header::new().with(crate::file::CMD, cmd)
}
