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
    /// More headers than this get 431 and the connection closes.
    pub max_headers: usize,
    /// A `Content-Length` over this gets 413 (before any of the body is read) and the
    /// connection closes.
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
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
            request_timeout: Some(DEFAULT_REQUEST_TIMEOUT),
        }
    }
}
