//! The reply shape of every framed mayfly server (file and cmd): a header with `status`
//! (`"ok"` or `"error"`); a refusal adds `code` (machine-readable, one of [`code`]) and
//! `error` (words for a person).
//!
//! Servers build refusals with [`Refusal::new`] and send [`Refusal::header`]; clients read
//! any reply back with [`Refusal::from_reply`]. One type, both directions:
//!
//! ```
//! use mayfly_proto::reply::{self, code, Refusal};
//! let sent = Refusal::new(code::NOT_FOUND, "no such file");
//! assert_eq!(Refusal::from_reply(&sent.header()), Some(sent.clone()));
//! assert_eq!(sent.to_string(), "server refused: no such file (not_found)");
//! assert_eq!(Refusal::from_reply(&reply::ok()), None);
//! ```

use crate::frame::Header;

/// Header field: `"ok"` or `"error"`.
pub const STATUS: &str = "status";
/// Header field of a refusal: machine-readable reason.
pub const CODE: &str = "code";
/// Header field of a refusal: human-readable reason.
pub const ERROR: &str = "error";
/// [`STATUS`] of a success.
pub const OK: &str = "ok";
/// [`STATUS`] of a refusal.
pub const STATUS_ERROR: &str = "error";

/// The refusal codes mayfly's servers send.
pub mod code {
    /// The file does not exist.
    pub const NOT_FOUND: &str = "not_found";
    /// The filename is not a plain name.
    pub const BAD_NAME: &str = "bad_name";
    /// A field is missing, mistyped, or the command is unknown.
    pub const BAD_REQUEST: &str = "bad_request";
    /// The frame itself is malformed (length prefix, JSON).
    pub const BAD_FRAME: &str = "bad_frame";
    /// An `offset` does not fit the file or the partial upload.
    pub const BAD_OFFSET: &str = "bad_offset";
    /// The body is longer than the server accepts.
    pub const TOO_LARGE: &str = "too_large";
    /// The server's disk (or quota) is full.
    pub const DISK_FULL: &str = "disk_full";
    /// The operating system refused access.
    pub const FORBIDDEN: &str = "forbidden";
    /// Another I/O error on the server.
    pub const IO: &str = "io";
    /// Another upload of the same name is in progress (file), or every slot for it is taken
    /// (cmd: connections waiting to log in, threads running commands); try again later.
    pub const BUSY: &str = "busy";
    /// The upload's sha256 is not the one the client announced.
    pub const HASH_MISMATCH: &str = "hash_mismatch";
    /// The HMAC challenge was not answered correctly (cmd).
    pub const AUTH: &str = "auth";
    /// Too many failed logins from this address lately; try again later (cmd).
    pub const RATE_LIMITED: &str = "rate_limited";
    /// The command could not be started (cmd).
    pub const SPAWN: &str = "spawn";
}

/// `{"status": "ok"}`: the start of every successful reply.
pub fn ok() -> Header {
    Header::new().with(STATUS, OK)
}

/// A refused request: what the server sends instead of a result, and what the client gets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("server refused: {error} ({code})")]
pub struct Refusal {
    /// Machine-readable reason (one of [`code`], or another a server chose).
    pub code: String,
    /// Human-readable reason.
    pub error: String,
}

impl Refusal {
    /// A refusal with `code` and the words of `error`.
    pub fn new(code: &str, error: impl ToString) -> Self {
        Refusal {
            code: code.to_owned(),
            error: error.to_string(),
        }
    }

    /// The reply header: `{"status": "error", "code": …, "error": …}`.
    pub fn header(&self) -> Header {
        Header::new()
            .with(STATUS, STATUS_ERROR)
            .with(CODE, self.code.as_str())
            .with(ERROR, self.error.as_str())
    }

    /// The refusal in a reply header, or `None` if its `status` is `"ok"`. Missing fields
    /// read as code `unknown` and reason `no reason given`.
    ///
    /// ```
    /// use mayfly_proto::frame::Header;
    /// use mayfly_proto::Refusal;
    /// assert!(Refusal::from_reply(&Header::new().with("status", "ok")).is_none());
    /// let e = Refusal::from_reply(&Header::new().with("status", "error").with("code", "auth")).unwrap();
    /// assert_eq!((e.code.as_str(), e.error.as_str()), ("auth", "no reason given"));
    /// ```
    pub fn from_reply(h: &Header) -> Option<Refusal> {
        if h.get(STATUS).and_then(|s| s.as_str()) == Some(OK) {
            return None;
        }
        let field = |name: &str, default: &str| {
            h.get(name)
                .and_then(|v| v.as_str())
                .unwrap_or(default)
                .to_owned()
        };
        Some(Refusal {
            code: field(CODE, "unknown"),
            error: field(ERROR, "no reason given"),
        })
    }
}
