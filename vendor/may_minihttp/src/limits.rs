//! [`Limits`]: how much of each thing one connection may send, and how long a request may
//! take to arrive.

use std::time::Duration;

/// Default [`Limits::max_head_bytes`]: a request line and headers of at most 8 KiB.
pub const DEFAULT_MAX_HEAD_BYTES: usize = 8 * 1024;
/// Default [`Limits::max_headers`] (Python's `http.client` allows 100 too).
pub const DEFAULT_MAX_HEADERS: usize = 100;
/// Default [`Limits::max_body_bytes`]: 1 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// Default [`Limits::max_output_bytes`]: 256 KiB of answers waiting to be written.
pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 256 * 1024;
/// Default [`Limits::request_timeout`]: 30 s for a request's head and body to arrive.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Default [`Limits::too_many_headers_status`]: 431 Request Header Fields Too Large.
pub const DEFAULT_TOO_MANY_HEADERS_STATUS: u16 = 431;

/// The bounds [`serve`](crate::serve) holds one connection to.
///
/// ```
/// use std::time::Duration;
/// let limits = may_minihttp::Limits {
///     max_body_bytes: 64 * 1024,
///     request_timeout: Some(Duration::from_secs(5)),
///     ..Default::default()
/// };
/// assert_eq!(limits.max_headers, may_minihttp::DEFAULT_MAX_HEADERS);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// A request line and headers longer than this get 431 and the connection closes. It is
    /// also the most the read buffer grows to (it starts at 4 KiB, or this if smaller).
    pub max_head_bytes: usize,
    /// More headers than this get [`too_many_headers_status`](Limits::too_many_headers_status)
    /// and the connection closes.
    pub max_headers: usize,
    /// The answer to more than [`max_headers`](Limits::max_headers) headers: a 4xx status
    /// (431 by default; 400 for a server that has always said so). Anything else reads as
    /// 431.
    pub too_many_headers_status: u16,
    /// A `Content-Length` over this gets 413 (before any of the body is read) and the
    /// connection closes. 0 means no bodies at all: every request that announces one gets
    /// 413 — a `Content-Length` other than 0, even one that is not a number, and a
    /// `Transfer-Encoding` alone. Two different lengths, or a length beside a
    /// `Transfer-Encoding`, are still 400.
    pub max_body_bytes: usize,
    /// Answers are written out whenever this many bytes wait (and after every batch): a client
    /// that pipelines requests and never reads holds at most this much, plus one answer, until
    /// the stream's write timeout cuts it off. A body larger than this is written straight
    /// from the [`Response`](crate::Response), not copied.
    pub max_output_bytes: usize,
    /// A request whose head and body have not all arrived this long after its first byte gets
    /// 408 and the connection closes (a slowloris client trickling one byte per read
    /// timeout). Checked after each read, so the stream's own read timeout bounds the wait
    /// past it. `None`: no limit but the stream's read timeout.
    pub request_timeout: Option<Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head_bytes: DEFAULT_MAX_HEAD_BYTES,
            max_headers: DEFAULT_MAX_HEADERS,
            too_many_headers_status: DEFAULT_TOO_MANY_HEADERS_STATUS,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
            request_timeout: Some(DEFAULT_REQUEST_TIMEOUT),
        }
    }
}
