//! The file protocol (`mayfly serve file`, `mayfly file`): its commands, field names, the
//! request body rule, and the types both ends put on the wire. `docs/PROTOCOL.md` has the
//! tables.
//!
//! | request header | body | reply header | reply body |
//! |---|---|---|---|
//! | `{"cmd":"put","filename","filesize"[,"sha256"][,"resumable"][,"offset"]}` | `filesize - offset` bytes | `filename`, `filesize`, `sha256` | — |
//! | `{"cmd":"get","filename"[,"offset"]}` | — | `filename`, `filesize`, `offset`, `sha256`, `total_size` | `total_size` bytes from `offset` |
//! | `{"cmd":"list"[,"after"][,"limit"]}` | — | `count`, `total_size`, `more`[, `next`] | JSON array of [`Entry`] |
//! | `{"cmd":"stat","filename"}` | — | `filename`, `filesize`, `mtime`, `sha256`[, `partial_size`] | — |
//!
//! `list` answers one page, in name order: the first `limit` (default and most: the
//! server's) names after `after`. `more` says whether names follow; `next` is then the
//! `after` for the next page ([`list_page_request`]).
//!
//! Every reply also has `status`; a refusal has `code` and `error` ([`crate::reply`]).

use std::io;

use crate::frame::{FrameError, Header};

/// Bytes moved per read/write of a body, on both ends.
pub const CHUNK: usize = 256 * 1024;

/// Header field: the command.
pub const CMD: &str = "cmd";
/// Header field: the file's name on the server.
pub const FILENAME: &str = "filename";
/// Header field: the whole file's size in bytes.
pub const FILESIZE: &str = "filesize";
/// Header field: where a transfer starts (resume).
pub const OFFSET: &str = "offset";
/// Header field: the whole file's sha256, 64 hex digits.
pub const SHA256: &str = "sha256";
/// Header field of `put`: keep the bytes of a cut-off upload.
pub const RESUMABLE: &str = "resumable";
/// Header field of replies with a body: its length.
pub const TOTAL_SIZE: &str = "total_size";
/// Header field of `stat`: modification time, seconds since the epoch.
pub const MTIME: &str = "mtime";
/// Header field of `stat`: bytes of a cut-off resumable upload the server keeps.
pub const PARTIAL_SIZE: &str = "partial_size";
/// Header field of `list`: number of entries.
pub const COUNT: &str = "count";
/// Header field of a `list` request: start after this name.
pub const AFTER: &str = "after";
/// Header field of a `list` request: at most this many entries.
pub const LIMIT: &str = "limit";
/// Header field of a `list` reply: whether more names follow this page.
pub const MORE: &str = "more";
/// Header field of a `list` reply with `more`: the `after` of the next page.
pub const NEXT: &str = "next";

/// Command: upload.
pub const PUT: &str = "put";
/// Command: download.
pub const GET: &str = "get";
/// Command: the server's files.
pub const LIST: &str = "list";
/// Command: what the server has under a name.
pub const STAT: &str = "stat";

/// One finished file, as `list` reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    /// Its name.
    pub filename: String,
    /// Its size in bytes.
    pub filesize: u64,
    /// Last modification, seconds since the epoch.
    pub mtime: i64,
}

/// How long the body of a request is: `filesize - offset` for `put`, nothing otherwise (the
/// server's [`BodyLen`](crate::frame::BodyLen) rule).
///
/// # Errors
///
/// [`FrameError`] if a `put` lacks `filesize`, a field has the wrong type, or `offset` is
/// past `filesize`.
///
/// ```
/// use mayfly_proto::file::{request_body_len, PutRequest};
/// let req = PutRequest { offset: 2, ..PutRequest::new("a.txt", 5) };
/// assert_eq!(request_body_len(&req.header()).unwrap(), 3);
/// assert_eq!(request_body_len(&mayfly_proto::file::get_request("a.txt", 0)).unwrap(), 0);
/// ```
pub fn request_body_len(h: &Header) -> Result<u64, FrameError> {
    if h.get(CMD).and_then(|c| c.as_str()) != Some(PUT) {
        return Ok(0);
    }
    let size = h.u64(FILESIZE)?;
    let offset = h.opt_u64(OFFSET)?.unwrap_or(0);
    if offset > size {
        return Err(FrameError::WrongType {
            field: OFFSET.into(),
            expected: "at most filesize",
        });
    }
    Ok(size - offset)
}

/// One `put` request, as it goes on the wire.
///
/// ```
/// let req = mayfly_proto::file::PutRequest::new("a.txt", 5);
/// assert_eq!((req.offset, req.resumable, req.sha256.clone()), (0, false, None));
/// assert_eq!(req.header().str("cmd").unwrap(), "put");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutRequest {
    /// Name on the server.
    pub name: String,
    /// Size of the whole file.
    pub filesize: u64,
    /// Where this upload starts (a resumed one: the bytes the server already has).
    pub offset: u64,
    /// The whole file's sha256 in hex: the server refuses the upload if it differs.
    pub sha256: Option<String>,
    /// Ask the server to keep the bytes if the upload is cut off.
    pub resumable: bool,
}

impl PutRequest {
    /// A plain upload of `filesize` bytes as `name` (what the course's client sends).
    pub fn new(name: &str, filesize: u64) -> Self {
        PutRequest {
            name: name.to_owned(),
            filesize,
            offset: 0,
            sha256: None,
            resumable: false,
        }
    }

    /// The request header; optional fields appear only when set.
    pub fn header(&self) -> Header {
        let mut h = Header::new()
            .with(CMD, PUT)
            .with(FILENAME, self.name.as_str())
            .with(FILESIZE, self.filesize);
        if let Some(s) = &self.sha256 {
            h.set(SHA256, s.as_str());
        }
        if self.resumable {
            h.set(RESUMABLE, true);
        }
        if self.offset > 0 {
            h.set(OFFSET, self.offset);
        }
        h
    }
}

/// `{"cmd":"get","filename":name}`, with `offset` when it is not 0.
pub fn get_request(name: &str, offset: u64) -> Header {
    let mut h = Header::new().with(CMD, GET).with(FILENAME, name);
    if offset > 0 {
        h.set(OFFSET, offset);
    }
    h
}

/// `{"cmd":"stat","filename":name}`.
pub fn stat_request(name: &str) -> Header {
    Header::new().with(CMD, STAT).with(FILENAME, name)
}

/// `{"cmd":"list"}`: the first page.
pub fn list_request() -> Header {
    Header::new().with(CMD, LIST)
}

/// `{"cmd":"list","after":after,"limit":limit}`, each field only when given.
///
/// ```
/// let h = mayfly_proto::file::list_page_request(Some("b.txt"), None);
/// assert_eq!(h.str("after").unwrap(), "b.txt");
/// assert!(h.get("limit").is_none());
/// ```
pub fn list_page_request(after: Option<&str>, limit: Option<u64>) -> Header {
    let mut h = list_request();
    if let Some(a) = after {
        h.set(AFTER, a);
    }
    if let Some(l) = limit {
        h.set(LIMIT, l);
    }
    h
}

/// Reads until `buf` is full or the reader ends; returns the bytes read and, if reading
/// failed part-way, the error (the bytes before it are still good: a cut upload or download
/// keeps them).
///
/// ```
/// let mut buf = [0u8; 8];
/// let (n, err) = mayfly_proto::file::read_full(&mut &b"abc"[..], &mut buf);
/// assert_eq!((n, err.is_none()), (3, true));
/// ```
pub fn read_full(r: &mut impl io::Read, buf: &mut [u8]) -> (usize, Option<io::Error>) {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(got) => n += got,
            Err(e) => return (n, Some(e)),
        }
    }
    (n, None)
}
