//! [`Options`]: every limit an [`HttpServer`](crate::HttpServer) holds its clients to, with
//! its default as a `DEFAULT_*` constant.

use std::time::Duration;

use mayfly::server::Cap;

/// Default [`Options::max_head_bytes`] (may_minihttp's): 8 KiB of request line and headers.
pub const DEFAULT_MAX_HEAD_BYTES: usize = may_minihttp::DEFAULT_MAX_HEAD_BYTES;
/// Default [`Options::max_headers`]: 100.
pub const DEFAULT_MAX_HEADERS: usize = may_minihttp::DEFAULT_MAX_HEADERS;
/// Default [`Options::too_many_headers_status`]: 431.
pub const DEFAULT_TOO_MANY_HEADERS_STATUS: u16 = may_minihttp::DEFAULT_TOO_MANY_HEADERS_STATUS;
/// Default [`Options::max_body_bytes`]: 1 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = may_minihttp::DEFAULT_MAX_BODY_BYTES;
/// Default [`Options::max_output_bytes`]: 256 KiB.
pub const DEFAULT_MAX_OUTPUT_BYTES: usize = may_minihttp::DEFAULT_MAX_OUTPUT_BYTES;
/// Default [`Options::request_timeout`]: 30 s.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = may_minihttp::DEFAULT_REQUEST_TIMEOUT;
/// Default [`Options::read_timeout`]: a connection idle (or a read waiting) 60 s is closed.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Default [`Options::first_request_timeout`]: a new connection has 10 s to send its first
/// request.
pub const DEFAULT_FIRST_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Default [`Options::max_rps`]: no rate cap.
pub const DEFAULT_MAX_RPS: Option<u64> = None;
/// Default [`Options::write_timeout`]: a client that reads nothing for 30 s is cut off.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Default [`Options::linger`]: a connection the server closes is drained for at most
/// 500 ms.
pub const DEFAULT_LINGER: Duration = Duration::from_millis(500);

/// The limits of an [`HttpServer`](crate::HttpServer). `Default` gives the `DEFAULT_*`
/// constants, and the connection caps of
/// [`default_max_connections`](mayfly::server::default_max_connections) and
/// [`default_max_per_peer`](mayfly::server::default_max_per_peer).
///
/// ```
/// use std::time::Duration;
/// let options = mayfly_http::Options {
///     max_body_bytes: 64 * 1024,
///     read_timeout: Some(Duration::from_secs(5)),
///     ..Default::default()
/// };
/// assert_eq!(options.max_headers, mayfly_http::DEFAULT_MAX_HEADERS);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// A request line and headers over this get 431 (and the connection closes).
    pub max_head_bytes: usize,
    /// More headers than this get [`too_many_headers_status`](Options::too_many_headers_status).
    pub max_headers: usize,
    /// The answer to more than [`max_headers`](Options::max_headers) headers: 431, or
    /// another 4xx (400 for a server whose clients have always been told that).
    pub too_many_headers_status: u16,
    /// A `Content-Length` over this gets 413, before the body is read. 0: no bodies at all
    /// (any `Content-Length` but 0, even one that is not a number, and a
    /// `Transfer-Encoding`, get 413; two different lengths are still 400).
    pub max_body_bytes: usize,
    /// Answers waiting to be written at most, before they are written out (a client that
    /// pipelines and never reads holds this much, then its write times out).
    pub max_output_bytes: usize,
    /// A request's head and body must all arrive within this of its first byte (408).
    pub request_timeout: Option<Duration>,
    /// Every read gives up after this: the idle timeout between requests and the longest
    /// pause inside one. Swept by the server, not a timer per read.
    pub read_timeout: Option<Duration>,
    /// A new connection's first request must have arrived within this of its accept (at
    /// most [`read_timeout`](Options::read_timeout)); then the connection is closed
    /// without an answer. So idle connections cannot hold the slots for long. `None`: only
    /// `read_timeout`.
    pub first_request_timeout: Option<Duration>,
    /// Every write gives up after this (a client that does not read).
    pub write_timeout: Option<Duration>,
    /// At most this many connections at once (more wait in the listen backlog).
    /// [`Cap::Default`]: the fd limit less a reserve
    /// ([`default_max_connections`](mayfly::server::default_max_connections)).
    pub max_connections: Cap,
    /// At most this many connections from one peer (more are closed at once).
    /// [`Cap::Default`]: 75% of the connection cap
    /// ([`default_max_per_peer`](mayfly::server::default_max_per_peer)). A connection over
    /// it is answered `503 Service Unavailable` (`Retry-After: 1`) in the accept loop and
    /// closed: it takes no slot and waits for nothing.
    pub max_per_peer: Cap,
    /// Requests per second the whole server answers at most (a token bucket shared by every
    /// connection, bursts of a tenth of a second's worth); a request over it waits its turn
    /// in its greenlet. `None`: no cap. Bounds the share of a worker a busy page can take.
    pub max_rps: Option<u64>,
    /// After the last answer on a connection the server closes (a refusal,
    /// `Connection: close`, HTTP/1.0), its write side is shut and what the client still
    /// sends is read and dropped for at most this long, so the answers are not lost to a
    /// reset. `ZERO`: closed at once.
    pub linger: Duration,
}

impl Options {
    /// The connection cap in force (`None`: no cap).
    pub fn connection_cap(&self) -> Option<u64> {
        self.max_connections
            .limit(|| Some(mayfly::server::default_max_connections(1)))
    }

    /// The first-request timeout in force: the shorter of
    /// [`first_request_timeout`](Options::first_request_timeout) and
    /// [`read_timeout`](Options::read_timeout).
    pub fn first_read_timeout(&self) -> Option<Duration> {
        match (self.first_request_timeout, self.read_timeout) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The per-peer cap in force (`None`: no cap).
    pub fn peer_cap(&self) -> Option<u64> {
        self.max_per_peer.limit(|| {
            self.connection_cap()
                .map(mayfly::server::default_max_per_peer)
        })
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_head_bytes: DEFAULT_MAX_HEAD_BYTES,
            max_headers: DEFAULT_MAX_HEADERS,
            too_many_headers_status: DEFAULT_TOO_MANY_HEADERS_STATUS,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
            request_timeout: Some(DEFAULT_REQUEST_TIMEOUT),
            read_timeout: Some(DEFAULT_READ_TIMEOUT),
            first_request_timeout: Some(DEFAULT_FIRST_REQUEST_TIMEOUT),
            write_timeout: Some(DEFAULT_WRITE_TIMEOUT),
            max_connections: Cap::Default,
            max_per_peer: Cap::Default,
            max_rps: DEFAULT_MAX_RPS,
            linger: DEFAULT_LINGER,
        }
    }
}

impl Options {
    /// The part may_minihttp enforces itself: what a server that runs may_minihttp's loop on
    /// its own connections (a thread per connection, say) passes to `may_minihttp::serve`.
    ///
    /// ```
    /// let o = mayfly_http::Options::default();
    /// assert_eq!(o.limits().max_headers, mayfly_http::DEFAULT_MAX_HEADERS);
    /// ```
    pub fn limits(&self) -> may_minihttp::Limits {
        may_minihttp::Limits {
            max_head_bytes: self.max_head_bytes,
            max_headers: self.max_headers,
            too_many_headers_status: self.too_many_headers_status,
            max_body_bytes: self.max_body_bytes,
            max_output_bytes: self.max_output_bytes,
            request_timeout: self.request_timeout,
        }
    }
}
